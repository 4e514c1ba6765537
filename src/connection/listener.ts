// The server's side of connecting: owns the name (a lock file and a listening Unix
// socket), accepts connections, learns each peer's credentials from the kernel, runs
// the handshake (version, budgets, token challenge), and hands each accepted client
// its own sealed memory. A peer that says nothing, sends garbage or floods the
// socket costs only itself: handshakes are bounded in number and in time, and none
// of them blocks another or the serving loop.

import { lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { liveReplicaSockets } from "./replicas.js";
import { native } from "../native.js";
import { L } from "../core/layout.js";
import { Segment, roundToPages, type Reserved } from "../core/segment.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { timerDelay } from "../timers.js";
import { systemError } from "../lifecycle.js";
import { Link, READABLE } from "./link.js";
import { socketPathOf, replicaDirOf, replicaSocketPath } from "./paths.js";
import {
  Msg, MAX_MESSAGE_BYTES, HELLO_HAS_TOKEN, parseMessage, challengeMessage, acceptMessage, refuseMessage,
  newNonce, serverProof, clientProof, sameProof, infoReplyMessage, INFO_REPLICA, INFO_TOKEN, type Hello,
} from "./handshake.js";

export interface ListenerOptions {
  /** The ring size most clients ask for (ClientOptions.ringBytes' default): the one a
   *  spare connection memory is made for ahead. */
  usualRingBytes: number;
  name: string;
  socketPath: string | undefined;
  allowUsers: ReadonlySet<number>;
  allowGroups: ReadonlySet<number>;
  /** HMAC key derived from the token, when one is required. */
  tokenKey: Buffer | undefined;
  maxRingBytes: number;
  maxMappedBytes: number;
  maxConnections: number;
  /** Connections (handshakes included) and connection memory of one user (uid). */
  maxConnectionsPerUser: number;
  maxMappedBytesPerUser: number;
  handshakeTimeoutMs: number;
  /** Serve the name as one of its replicas (`ServerOptions.replica`). */
  replica: boolean;
  instanceId: string;
}

/** A client that finished the handshake: its socket, who it is, and its memory. */
export interface Established {
  link: Link;
  pid: number;
  uid: number;
  gid: number;
  seg: Segment;
  requestRing: number;
  responseRing: number;
}

export interface ListenerEvents {
  established(client: Established): void;
  /** A client refused or dropped during its handshake; `kind` groups it in the aggregate
   *  report (src/serving/refusals.ts). */
  refused(err: RpcError, kind?: string): void;
  /** Bytes of connection memory mapped now, and connections open now. */
  usage(): { mappedBytes: number; connections: number };
  /** The same, of the connections of user `uid`. */
  usageOf(uid: number): { mappedBytes: number; connections: number };
  /** What an INFO probe is told: methods served (reserved ones aside), start time. */
  info(): { methods: number; startedAt: number };
}

/** The next spare is made when the server parks after the new client's first call (a
 *  `fallocate` of a few MiB on the server's thread would hold that call up), or this long
 *  after the handshake if no call comes (or the server never parks: busy-poll). */
const SPARE_AFTER_MS = 5;

/** Connections accepted per event-loop turn, so that a flood of connects cannot keep
 *  the loop from serving. */
const ACCEPTS_PER_TURN = 64;

/** After accept fails (EMFILE: out of fds), the listening socket is not watched for this
 *  long, doubling to the maximum while it goes on. */
const ACCEPT_BACKOFF_MIN_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** A connection's memory made ahead for the next client that asks for `ring`-byte rings:
 *  created, `fallocate`d, sealed and its header written, not mapped. */
interface Spare {
  made: Reserved;
  ring: number;
  size: number;
}

class Handshake {
  stage: "hello" | "auth" = "hello";
  hello: Hello | undefined;
  serverNonce: Buffer | undefined;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly link: Link,
    readonly pid: number,
    readonly uid: number,
    readonly gid: number,
  ) {}
}

export class Listener {
  readonly path: string;
  /** The name's own socket path, `<name>.sock` (the instance's `path` for a server without replicas). */
  private readonly namePath: string;
  private readonly replicaDir: string | undefined;
  private lockFd = -1;
  /** A replica's read lock on the name (`lockFd` is then its instance's lock). */
  private nameLockFd = -1;
  private listenFd = -1;
  private listenLink: Link | undefined;
  private readonly handshakes = new Set<Handshake>();
  private readonly buffer = Buffer.alloc(MAX_MESSAGE_BYTES + 1);
  private closed = false;
  /** At most one, counted in maxMappedBytes; a connect that finds it only sends it. */
  private spare: Spare | undefined;
  private spareTimer: NodeJS.Timeout | undefined;
  /** Why the socket has no place (no usable runtime directory): thrown by claim(). */
  private placeError: unknown;
  /** The pause after accept failed (EMFILE...), doubling while it goes on; 0 when accepting. */
  private acceptBackoffMs = 0;
  private acceptTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: ListenerOptions,
    private readonly events: ListenerEvents,
  ) {
    // Where the socket goes needs the runtime directory, which another user may have made
    // unusable (a squatted /tmp/shmrpc-<uid> and a HOME not our own): that is run()'s
    // failure to report (claim), not the constructor's.
    let namePath = "";
    let replicaDir: string | undefined;
    try {
      namePath = socketPathOf(o.name, o.socketPath);
      replicaDir = o.replica ? replicaDirOf(o.name, o.socketPath) : undefined;
    } catch (e) {
      this.placeError = e;
    }
    this.namePath = namePath;
    this.replicaDir = replicaDir;
    this.path = replicaDir ? replicaSocketPath(replicaDir, o.instanceId) : namePath;
  }

  /** Takes the name: ERR_RPC_ADDRESS_IN_USE while a live server holds it. A server
   *  that died (even by kill -9) left its lock free; its socket file is replaced. */
  claim(): void {
    if (this.placeError !== undefined) throw this.placeError;
    if (this.replicaDir !== undefined) return this.claimReplica(this.replicaDir);
    const lockFd = this.lock(this.path + ".lock", false, true);
    if (lockFd < 0) throw new RpcError(ErrorCodes.ERR_RPC_ADDRESS_IN_USE, `a live server already serves ${this.o.name} (${this.path}), alone or as replicas`);
    this.listen(lockFd);
  }

  /** Joins the replicas of the name: a read lock on the name (which a server without
   *  replicas, holding the write lock, excludes, and which excludes it), then the
   *  instance's own socket in the replicas' directory. */
  private claimReplica(dir: string): void {
    const nameLockFd = this.lock(this.namePath + ".lock", true, true);
    if (nameLockFd < 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_ADDRESS_IN_USE, `a live server already serves ${this.o.name} without replica: true (${this.namePath})`);
    }
    try {
      // No server without replicas can be alive while we hold the read lock: its socket is stale.
      removeIfPresent(this.namePath);
      const shared = this.o.allowUsers.size > 0 || this.o.allowGroups.size > 0;
      try {
        mkdirSync(dir, { mode: shared ? 0o755 : 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.geteuid!()) {
        throw new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `${dir} is not a directory of this user: cannot serve replicas of ${this.o.name} there`);
      }
      liveReplicaSockets(dir); // and removes the stale ones
      const lockFd = this.lock(this.path + ".lock", false);
      if (lockFd < 0) throw new RpcError(ErrorCodes.ERR_RPC_ADDRESS_IN_USE, `instance ${this.o.instanceId} of ${this.o.name} is already served`);
      this.listen(lockFd);
    } catch (e) {
      native.closeFd(nameLockFd);
      throw e;
    }
    this.nameLockFd = nameLockFd;
  }

  /** `private_`: the name's lock, mode 0600 wherever it is. Another user able to open it
   *  could hold a read lock on it and so keep any server without replicas from ever
   *  taking the name again; others learn that the server lives by connecting (INFO,
   *  listServers). A replica's own lock (its instance id is never reused) stays readable
   *  at a shared socket path, so that clients of other users find the live replicas. */
  private lock(lockPath: string, shared: boolean, private_ = false): number {
    if (private_) dropOpenLockFile(lockPath);
    try {
      return native.lockPath(lockPath, shared, private_ || this.o.socketPath === undefined ? 0o600 : 0o644);
    } catch (e) {
      const hint = (e as NodeJS.ErrnoException).code === "EPERM" || (e as NodeJS.ErrnoException).code === "ELOOP" ? ": it is not a regular file of this user (another user may have created it)" : "";
      throw systemError(e, `cannot take the name ${this.o.name} (${lockPath}${hint})`);
    }
  }

  /** Listens on `path`, holding `lockFd` (closed if listening fails). */
  private listen(lockFd: number): void {
    try {
      try {
        unlinkSync(this.path); // a dead server's socket: only the lock holder replaces it
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      const shared = this.o.allowUsers.size > 0 || this.o.allowGroups.size > 0;
      // Others connect only where allowed; the kernel's credentials decide the rest.
      this.listenFd = native.listenUnix(this.path, 511, shared ? 0o666 : 0o600);
    } catch (e) {
      native.closeFd(lockFd);
      throw systemError(e, `cannot listen on ${this.path}`);
    }
    this.lockFd = lockFd;
    this.listenLink = new Link(this.listenFd);
    this.listenLink.onEvent = () => this.acceptSome();
    this.listenLink.watch();
  }

  /** Keeps the process alive while serving. */
  ref(): void {
    this.listenLink?.ref();
  }

  /** Stops listening, drops unfinished handshakes, releases the name. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of [...this.handshakes]) this.end(h);
    clearTimeout(this.spareTimer);
    clearTimeout(this.acceptTimer);
    this.dropSpare();
    if (this.listenLink) {
      // Unlink before closing: a new server that takes the lock next finds no socket.
      for (const path of [this.path, this.path + ".lock"]) {
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      }
      this.listenLink.close();
      this.listenLink = undefined;
    }
    if (this.lockFd >= 0) native.closeFd(this.lockFd);
    this.lockFd = -1;
    // A replica leaves the name's lock file and the directory: another replica may hold
    // the one and be about to listen in the other.
    if (this.nameLockFd >= 0) native.closeFd(this.nameLockFd);
    this.nameLockFd = -1;
  }

  /** Handshakes in progress (for tests and stats). */
  get pending(): number {
    return this.handshakes.size;
  }

  private acceptSome(): void {
    for (let i = 0; i < ACCEPTS_PER_TURN && !this.closed; i++) {
      let fd: number;
      try {
        fd = native.acceptUnix(this.listenFd);
      } catch (e) {
        // EMFILE and the like: the connection waits in the backlog, and the listening
        // socket stays readable. Watching it again at once would spin: stop for a while.
        this.events.refused(systemError(e, `cannot accept a connection on ${this.path} (accepting again in ${this.acceptBackoffMs || ACCEPT_BACKOFF_MIN_MS} ms)`), `accept ${(e as NodeJS.ErrnoException).code ?? "failed"}`);
        this.backOffAccepting();
        return;
      }
      if (fd < 0) return;
      this.acceptBackoffMs = 0;
      this.start(fd);
    }
  }

  /** Stops watching the listening socket for a pause that doubles while accepting fails. */
  private backOffAccepting(): void {
    const link = this.listenLink;
    if (link === undefined) return;
    this.acceptBackoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, this.acceptBackoffMs === 0 ? ACCEPT_BACKOFF_MIN_MS : this.acceptBackoffMs * 2);
    link.unwatch();
    clearTimeout(this.acceptTimer);
    this.acceptTimer = setTimeout(() => {
      if (this.closed || this.listenLink !== link) return;
      link.watch();
      link.ref();
    }, this.acceptBackoffMs); // ref'd: the unwatched socket no longer keeps the process alive
  }

  private start(fd: number): void {
    const link = new Link(fd);
    let cred: { pid: number; uid: number; gid: number };
    try {
      cred = native.peerCred(fd);
    } catch {
      link.close();
      return;
    }
    const h = new Handshake(link, cred.pid, cred.uid, cred.gid);
    const { connections } = this.events.usage();
    if (!this.allowed(cred.uid, cred.gid)) {
      return this.refuse(h, L.REASON_ACCESS, `user ${cred.uid} (group ${cred.gid}) is not allowed`);
    }
    if (connections + this.handshakes.size >= this.o.maxConnections) {
      return this.refuse(h, L.REASON_FULL, `the server has its maximum of ${this.o.maxConnections} connections (option maxConnections)`);
    }
    let mine = this.events.usageOf(cred.uid).connections;
    for (const other of this.handshakes) if (other.uid === cred.uid) mine++;
    if (mine >= this.o.maxConnectionsPerUser) {
      return this.refuse(h, L.REASON_FULL, `user ${cred.uid} has the server's maximum of ${this.o.maxConnectionsPerUser} connections per user (option maxConnectionsPerUser)`);
    }
    this.handshakes.add(h);
    h.timer = setTimeout(() => this.refuse(h, L.REASON_PROTOCOL, `no handshake within ${this.o.handshakeTimeoutMs} ms`), timerDelay(this.o.handshakeTimeoutMs)).unref();
    link.onEvent = (events) => this.onHandshakeEvent(h, events);
    link.watch();
    // A client sends its HELLO right after connecting: it is usually here already, and
    // reading it now saves a turn of the event loop (nothing waiting: recvPacket says so).
    this.onHandshakeEvent(h, READABLE);
  }

  private allowed(uid: number, gid: number): boolean {
    return uid === process.geteuid!() || this.o.allowUsers.has(uid) || this.o.allowGroups.has(gid);
  }

  private onHandshakeEvent(h: Handshake, events: number): void {
    if (h.link.isClosed) return;
    if ((events & READABLE) === 0) return this.end(h); // hung up
    let packet;
    try {
      packet = native.recvPacket(h.link.fd, this.buffer);
    } catch {
      return this.end(h);
    }
    if (packet === null) return;
    for (const fd of packet.fds) native.closeFd(fd); // a client never passes fds
    if (packet.bytes === 0) return this.end(h);
    if (packet.truncated || packet.fds.length > 0) return this.refuse(h, L.REASON_PROTOCOL, "an oversized handshake message, or one carrying fds");
    const m = parseMessage(this.buffer, packet.bytes);
    if (typeof m === "string") return this.refuse(h, L.REASON_PROTOCOL, m);
    if (h.stage === "hello" && m.type === Msg.HELLO) return this.onHello(h, m.hello);
    if (h.stage === "hello" && m.type === Msg.INFO) return this.onInfo(h);
    if (h.stage === "auth" && m.type === Msg.AUTH) {
      const expected = clientProof(this.o.tokenKey!, h.hello!.nonce, h.serverNonce!);
      if (!sameProof(m.proof, expected)) return this.refuse(h, L.REASON_ACCESS, "wrong token");
      return this.establish(h, serverProof(this.o.tokenKey!, h.hello!.nonce, h.serverNonce!));
    }
    return this.refuse(h, L.REASON_PROTOCOL, `message type ${m.type} out of turn`);
  }

  private onHello(h: Handshake, hello: Hello): void {
    if (hello.version !== L.PROTOCOL_VERSION) {
      return this.refuse(h, L.REASON_VERSION, `the client speaks protocol version ${hello.version}, this server version ${L.PROTOCOL_VERSION}`);
    }
    const ring = hello.ringBytes;
    if (ring < L.RING_MIN_CAPACITY || ring > L.RING_MAX_CAPACITY || (ring & (ring - 1)) !== 0) {
      return this.refuse(h, L.REASON_PROTOCOL, `ring size ${ring} is not a power of two between ${L.RING_MIN_CAPACITY} and ${L.RING_MAX_CAPACITY}`);
    }
    if (ring > this.o.maxRingBytes) {
      return this.refuse(h, L.REASON_RESOURCE, `rings of ${ring} bytes are over the server's maxRingBytes (${this.o.maxRingBytes})`);
    }
    h.hello = hello;
    if (this.o.tokenKey === undefined) return this.establish(h);
    if ((hello.flags & HELLO_HAS_TOKEN) === 0) return this.refuse(h, L.REASON_ACCESS, "the server requires a token");
    h.stage = "auth";
    h.serverNonce = newNonce();
    // Nothing derived from the token yet: a peer that only wants a proof to crack offline
    // gets none (our proof travels in ACCEPT, after its AUTH has proven the token).
    this.send(h, challengeMessage(h.serverNonce));
  }

  /** A discovery probe (it passed the credential checks): who we are, then goodbye. */
  private onInfo(h: Handshake): void {
    const { methods, startedAt } = this.events.info();
    const { connections } = this.events.usage();
    const flags = (this.o.replica ? INFO_REPLICA : 0) | (this.o.tokenKey ? INFO_TOKEN : 0);
    this.send(h, infoReplyMessage({
      pid: process.pid, uid: process.geteuid!(), clients: connections, methods, flags, startedAt,
      instanceId: this.o.instanceId, name: this.o.name,
    }));
    this.end(h);
  }

  /** `proof`: the server's proof of the token, for a client that proved it. */
  private establish(h: Handshake, proof?: Buffer): void {
    const ring = h.hello!.ringBytes;
    const size = connectionBytes(ring);
    const mine = this.events.usageOf(h.uid).mappedBytes;
    if (mine + size > this.o.maxMappedBytesPerUser) {
      return this.refuse(h, L.REASON_RESOURCE, `a connection of ${size} bytes would take user ${h.uid}'s shared memory over maxMappedBytesPerUser (${mine} of ${this.o.maxMappedBytesPerUser} in use)`);
    }
    let made = this.takeSpare(ring);
    this.spareTimer ??= setTimeout(this.makeSpare, SPARE_AFTER_MS).unref();
    if (made === undefined) {
      this.dropSpare(); // made for other rings: its room is this client's now
      const { mappedBytes } = this.events.usage();
      if (mappedBytes + size > this.o.maxMappedBytes) {
        return this.refuse(h, L.REASON_RESOURCE, `a connection of ${size} bytes would take the server's shared memory over maxMappedBytes (${mappedBytes} of ${this.o.maxMappedBytes} in use)`);
      }
      try {
        made = this.reserve(ring, size);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === "ENOSPC" || code === "ENOMEM" ? "no memory left for its rings" : (e as Error).message;
        return this.refuse(h, L.REASON_RESOURCE, `cannot make the connection's shared memory (${size} bytes): ${why}`);
      }
    }
    // ACCEPT goes first, our own mapping after it: the client maps and makes its first
    // call meanwhile (the header was written through the fd; the rest is zeros).
    let sent = false;
    try {
      sent = h.link.send(acceptMessage({ size, requestRing: ring, responseRing: ring, pid: process.pid, proof }), [made.fd]);
    } catch {
      // The client left.
    }
    if (!sent) {
      made.cancel();
      return this.end(h);
    }
    let seg: Segment;
    try {
      seg = made.map(); // and closes our fd: the client has its own, the mapping keeps the memory
    } catch (e) {
      // Rare (mmap failing on memory already reserved): the client sees the hang-up.
      this.end(h);
      this.events.refused(new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, `dropped client ${h.pid} (uid ${h.uid}): cannot map its shared memory: ${(e as Error).message}`));
      return;
    }
    this.forget(h);
    this.events.established({ link: h.link, pid: h.pid, uid: h.uid, gid: h.gid, seg, requestRing: ring, responseRing: ring });
  }

  /** A new connection memory: reserved, sealed, its header written through the fd. */
  private reserve(ring: number, size: number): Reserved {
    const made = Segment.reserve(`shmrpc:${this.o.name}`, size);
    try {
      native.writeAt(made.fd, segmentHeader(size, ring), 0);
    } catch (e) {
      made.cancel();
      throw e;
    }
    return made;
  }

  private readonly makeSpare = (): void => {
    this.spareTimer = undefined;
    this.prepareSpare();
  };

  /** Makes the spare connection memory if there is none and the budget has room for it
   *  beside the connections (when the server starts, and after each handshake once the
   *  new client has made its first call: the `fallocate` of a few MiB takes a fraction of a
   *  millisecond that a connect then does not wait for). Each spare goes to one client only: memory another client had
   *  is never handed on. */
  prepareSpare(): void {
    if (this.spare !== undefined || this.closed || this.listenLink === undefined) return;
    const ring = this.o.usualRingBytes;
    if (ring > this.o.maxRingBytes) return;
    const size = connectionBytes(ring);
    if (this.events.usage().mappedBytes + size > this.o.maxMappedBytes) return;
    try {
      this.spare = { made: this.reserve(ring, size), ring, size };
    } catch {
      // No memory now: a connect makes its own, and reports why if it cannot.
    }
  }

  /** Bytes of the spare (counted with the connections' in maxMappedBytes). */
  get spareBytes(): number {
    return this.spare?.size ?? 0;
  }

  private takeSpare(ring: number): Reserved | undefined {
    const spare = this.spare;
    if (spare === undefined || spare.ring !== ring) return undefined;
    this.spare = undefined;
    return spare.made;
  }

  private dropSpare(): void {
    this.spare?.made.cancel();
    this.spare = undefined;
  }

  private send(h: Handshake, message: Buffer): void {
    try {
      if (!h.link.send(message)) this.end(h); // a fresh socket is never full: a peer playing games
    } catch {
      this.end(h);
    }
  }

  /** Tells the client why (if it still listens), reports, and closes. */
  private refuse(h: Handshake, reason: number, why: string): void {
    if (h.link.isClosed) return;
    try {
      h.link.send(refuseMessage(reason, why));
    } catch {
      // Gone already.
    }
    const code = reason === L.REASON_ACCESS ? ErrorCodes.ERR_RPC_ACCESS_DENIED
      : reason === L.REASON_RESOURCE ? ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED
      : reason === L.REASON_FULL ? ErrorCodes.ERR_RPC_SERVER_FULL : ErrorCodes.ERR_RPC_PROTOCOL;
    this.end(h);
    this.events.refused(new RpcError(code, `refused client ${h.pid} (uid ${h.uid}): ${why}`), `${code} uid ${h.uid}`);
  }

  private forget(h: Handshake): void {
    clearTimeout(h.timer);
    this.handshakes.delete(h);
  }

  private end(h: Handshake): void {
    this.forget(h);
    h.link.close();
  }
}

/** A connection's memory for rings of `ring` bytes each way. */
export function connectionBytes(ring: number): number {
  return roundToPages(L.CONN_HEADER_BYTES + 2 * (L.RING_HEADER_BYTES + ring));
}

/** The first bytes of a connection's memory: magic, version, size and ring capacities
 *  (offsets in assembly/layout.ts), little-endian as the memory is read. */
function segmentHeader(size: number, ring: number): Buffer {
  const b = Buffer.alloc(L.CONN_RES_CAPACITY + 4);
  b.writeUInt32LE(L.MAGIC_LO, L.SEG_MAGIC);
  b.writeUInt32LE(L.MAGIC_HI, L.SEG_MAGIC + 4);
  b.writeUInt32LE(L.PROTOCOL_VERSION, L.SEG_VERSION);
  b.writeUInt32LE(size, L.SEG_SIZE);
  b.writeUInt32LE(ring, L.CONN_REQ_CAPACITY);
  b.writeUInt32LE(ring, L.CONN_RES_CAPACITY);
  return b;
}

/** A name's lock file that others could open (an earlier version made it 0644 at a shared
 *  socket path) is replaced unless a live server holds its write lock: a read lock another
 *  user holds on it must not keep the name from being served. */
function dropOpenLockFile(lockPath: string): void {
  let st;
  try {
    st = lstatSync(lockPath);
  } catch {
    return; // none yet: made 0600
  }
  if (!st.isFile() || st.uid !== process.geteuid!() || (st.mode & 0o077) === 0) return;
  if (native.lockState(lockPath) === 1) return; // a live server: ERR_RPC_ADDRESS_IN_USE follows
  removeIfPresent(lockPath);
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

