// The serving side: owns the name, accepts clients, runs handlers, answers.

import { inspect } from "node:util";
import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { native, type Waiter } from "./native.js";
import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import { Segment } from "./core/segment.js";
import { Doorbell, YIELD_AFTER_MS } from "./core/doorbell.js";
import { RingReader, RingWriter } from "./core/ring.js";
import { Channel, OVERSIZED } from "./channel.js";
import { Encoder } from "./codec/encode.js";
import { Decoder } from "./codec/decode.js";
import { RpcError, ErrorCodes } from "./errors.js";
import {
  validateName, clientSegmentName, clientSegmentPrefix, ErrorKind, METHOD_NAME_MAX_BYTES,
  P_ID, P_NAME, P_NAME_LENGTH, DEFAULT_MAX_MESSAGE_BYTES, bodyOffset, HEADROOM, tokenHash,
} from "./protocol.js";
import { localServers, onProcessExit, systemError } from "./lifecycle.js";
import { positive } from "./options.js";
// contracts: typed methods, validation, describe() and stats() live in src/contracts/
import { Endpoint } from "./contracts/endpoint.js";
import { contractEndpoints, refuseReserved } from "./contracts/implement.js";
import { ContractViolation } from "./contracts/validate.js";
import { describeService, type ServiceDescription } from "./contracts/describe.js";
import { serviceStats, type ConnectionStats, type ServiceStats } from "./contracts/stats.js";
import type { Contract, ContractSpec, Handlers } from "./contracts/types.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "./protocol.js";

// `any` parameters, so that handlers can declare their own argument types; nothing checks them at run time.
export type Handler = (...args: any[]) => unknown;

export interface ServerOptions {
  /** Largest message accepted or sent, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Never park: poll the rings continuously for the lowest latency (one core at 100%). */
  busyPoll?: boolean;
  /** How long to keep polling after the last message before parking (default 50 µs). */
  spinMicros?: number;
  /** How often to check that connected clients are still alive (default 250 ms). */
  livenessIntervalMs?: number;
  /** Called with connection-level problems (a client broke the protocol, was refused or
   *  dropped, a handler's promise rejection went unhandled); default: console.warn. */
  onError?: (err: RpcError) => void;
  /** Responses a client may leave unread (queued beyond its full ring) before the server
   *  drops it with ERR_RPC_RESOURCE_EXHAUSTED (default 64 MiB; one message of any size is always allowed). */
  maxQueuedBytes?: number;
  /** Other users (uids) allowed to connect; by default only the server's own user can. */
  allowUsers?: number[];
  /** Groups (gids) whose members may connect (the client process's effective group). */
  allowGroups?: number[];
  /** A shared secret every client must present (`ClientOptions.token`); compared in constant time. */
  token?: string | Uint8Array;
  /** Report a rejection no one handled (say, a promise a handler forgot) through `onError`
   *  instead of letting Node end the process, while the server runs (default true). */
  catchUnhandledRejections?: boolean;
}

/** Longest a serving turn keeps the event loop before yielding to other I/O. */
const TURN_MS = 2;
/** Records taken from one client before looking at the others. */
const BATCH = 256;
/** Idle polls per reading of the clock in a serving turn. */
const IDLE_POLLS_PER_CLOCK = 8;
const MAX_CLIENT_SEGMENT = 1 << 30;
/** How often a client that is sending has its liveness lock checked. */
const ALIVE_CHECK_MS = 1;
/** How long a slot may stay CLAIMED or REJECTED by a live client (filling it in, or
 *  reading why it was refused) before it is reused anyway. */
const STUCK_GRACE_MS = 10_000;

class Connection {
  closed = false;
  /** Handlers of this connection that returned a promise not yet settled. */
  inflight = 0;
  /** When its liveness lock was last seen held (performance.now()). */
  aliveAt = 0;
  /** Where the id of the last request taken goes (an i32 index in linear memory). */
  readonly takenIndex: number;
  constructor(
    readonly slot: number,
    readonly pid: number,
    readonly seg: Segment,
    readonly channel: Channel,
    readonly bell: Doorbell,
  ) {
    this.takenIndex = (seg.offset + L.CLI_TAKEN_ID) >>> 2;
  }
}

const KIND_BYTES: Record<number, Uint8Array> = Object.fromEntries(
  Object.values(ErrorKind).map((k) => [k, Uint8Array.of(k)]),
);

export class Server {
  readonly name: string;
  // contracts: an Endpoint (handler, contract entry, counters) per method, not a bare handler
  private readonly methods = new Map<string, Endpoint>();
  // contracts: what describe() and stats() report
  private readonly started = new Date();
  private readonly instanceId = randomBytes(11).toString("hex");
  private readonly maxMessageBytes: number;
  private readonly busyPoll: boolean;
  private readonly spinMs: number;
  private readonly livenessMs: number;
  private readonly onError: (err: RpcError) => void;
  private readonly maxQueuedBytes: number;
  private readonly allowUsers: Set<number>;
  private readonly allowGroups: Set<number>;
  private readonly tokenHash: Buffer | undefined;
  private readonly catchRejections: boolean;

  private state: "idle" | "running" | "closing" | "closed" = "idle";
  private ctl: Segment | undefined;
  private bell: Doorbell | undefined;
  private readonly conns: Connection[] = [];
  private readonly bySlot = new Map<number, Connection>();
  private seenConnects = -1;
  /** Since when each slot has been REJECTED or CLAIMED (see checkLiveness). */
  private readonly stuckSince = new Map<number, number>();
  private encoder: Encoder | undefined;
  private decoder: Decoder | undefined;
  private waiter: Waiter | undefined;
  private parked = false;
  private scheduled = false;
  private inflight = 0;
  private liveness: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;

  constructor(name: string, options: ServerOptions = {}) {
    this.name = validateName(name);
    this.maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    this.busyPoll = options.busyPoll === true;
    this.spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    this.livenessMs = positive(options.livenessIntervalMs, 250, "livenessIntervalMs");
    this.onError = options.onError ?? ((err) => console.warn(`shmrpc server ${this.name}: ${err.code}: ${err.message}`));
    this.maxQueuedBytes = positive(options.maxQueuedBytes, 64 << 20, "maxQueuedBytes");
    this.allowUsers = new Set(ids(options.allowUsers, "allowUsers"));
    this.allowGroups = new Set(ids(options.allowGroups, "allowGroups"));
    this.tokenHash = options.token === undefined ? undefined : tokenHash(options.token, "token");
    this.catchRejections = options.catchUnhandledRejections !== false;
    // contracts: the reserved requests, answered by the server itself (bind refuses "$" names)
    this.methods.set(DESCRIBE_METHOD, new Endpoint(DESCRIBE_METHOD, () => this.describe(), undefined));
    this.methods.set(STATS_METHOD, new Endpoint(STATS_METHOD, () => this.stats(), undefined));
  }

  /** Registers `handler` under `method` (replacing any previous one). */
  bind(method: string, handler: Handler): this {
    if (typeof method !== "string" || method.length === 0 || Buffer.byteLength(method) > METHOD_NAME_MAX_BYTES) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name must be a non-empty string of at most ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
    }
    if (typeof handler !== "function") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `handler for "${method}" must be a function`);
    }
    refuseReserved(method); // contracts: "$" names are the server's own
    this.methods.set(method, new Endpoint(method, handler, undefined)); // contracts: Endpoint
    return this;
  }

  // contracts: the typed API, delegating to src/contracts/
  /** Registers a handler for every method of `contract`; each call's arguments and result
   *  are validated against its schemas. Mixes with bind(). */
  implement<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S>): this {
    const endpoints = contractEndpoints(contract, handlers);
    for (const ep of endpoints) {
      if (Buffer.byteLength(ep.name) > METHOD_NAME_MAX_BYTES || ep.name.length === 0) {
        throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name must be a non-empty string of at most ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
      }
    }
    for (const ep of endpoints) this.methods.set(ep.name, ep);
    return this;
  }

  /** What this server serves (what `client.describe()` receives). */
  describe(): ServiceDescription {
    return describeService(this.name, L.PROTOCOL_VERSION, this.started, this.methods.values());
  }

  /** Counters per method and per connection, in the shape of a NATS service-stats response. */
  stats(): ServiceStats {
    return serviceStats(this.name, this.instanceId, this.started, this.methods.values(), this.connectionStats());
  }

  /** contracts: what stats() shows of each connected client. */
  private connectionStats(): ConnectionStats[] {
    return this.conns.map((conn) => ({
      pid: conn.pid,
      uid: conn.seg.uid,
      in_flight: conn.inflight,
      request_ring: { used: conn.channel.reader.used(), capacity: conn.channel.reader.capacity },
      response_ring: { used: conn.channel.writer.used(), capacity: conn.channel.writer.capacity },
      bytes_queued: conn.channel.queuedBytes,
    }));
  }
  // contracts: end

  /** Claims the name (before returning) and serves until `close()`; the promise
   *  resolves once close has finished, or rejects if the name cannot be claimed. */
  run(): Promise<void> {
    if (this.state !== "idle") {
      return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `server ${this.name} was already started`));
    }
    try {
      this.claimName();
    } catch (e) {
      this.state = "closed";
      return Promise.reject(e);
    }
    this.state = "running";
    this.encoder = new Encoder(core());
    this.decoder = new Decoder(core());
    this.waiter = new native.Waiter(this.onWake);
    this.waiter.ref(); // a running server keeps its process alive
    this.liveness = setInterval(() => this.checkLiveness(), this.livenessMs);
    this.liveness.unref();
    localServers.add(this.name);
    onProcessExit.add(this.exitHook);
    if (this.catchRejections) process.on("unhandledRejection", this.onUnhandledRejection);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.schedule();
    return this.stopped;
  }

  /** Says goodbye to every client, frees all shared memory and unlinks the name. */
  async close(): Promise<void> {
    if (this.state === "idle") {
      this.state = "closed";
      return;
    }
    if (this.state !== "running") return this.stopped;
    this.state = "closing";
    // Stop the waiter first: it may sleep on a word of the memory unmapped below.
    this.waiter?.close();
    for (const conn of [...this.conns]) this.drop(conn, undefined, L.REASON_CLOSED);
    this.removeStaleClientSegments(); // of clients that died mid-handshake
    this.releaseName();
    this.encoder?.dispose();
    this.decoder?.dispose();
    if (this.liveness) clearInterval(this.liveness);
    localServers.delete(this.name);
    onProcessExit.delete(this.exitHook);
    process.off("unhandledRejection", this.onUnhandledRejection);
    this.state = "closed";
    this.resolveStopped?.();
  }

  private readonly onUnhandledRejection = (reason: unknown): void => {
    const what = reason instanceof Error ? reason.stack ?? reason.message : inspect(reason, { depth: 2, breakLength: Infinity });
    this.onError(new RpcError(ErrorCodes.ERR_RPC_REMOTE, `a promise rejection nobody handled (the server keeps running): ${what}`, { cause: reason }));
  };

  /** Number of connected clients. */
  get connections(): number {
    return this.conns.length;
  }

  // ------------------------------------------------------------- name claim

  private claimName(): void {
    const ctlBytes = L.CONTROL_BYTES;
    const tmp = `${this.name}@tmp${process.pid}.${randomInt(2 ** 32)}`;
    let seg: Segment;
    try {
      seg = Segment.create(tmp, ctlBytes);
    } catch (e) {
      throw systemError(e, `cannot create shared memory for ${this.name}`);
    }
    try {
      if (!seg.lock()) throw new Error("cannot lock a fresh segment");
      if (this.allowUsers.size > 0 || this.allowGroups.size > 0) {
        try {
          seg.grantAccess([...this.allowUsers], [...this.allowGroups]);
        } catch (e) {
          throw systemError(e, `cannot let other users reach ${this.name} (does /dev/shm support POSIX ACLs?)`);
        }
      }
      seg.store(L.SEG_VERSION, L.PROTOCOL_VERSION);
      seg.store(L.SEG_SIZE, ctlBytes);
      seg.store(L.CTL_SERVER_PID, process.pid);
      seg.store(L.CTL_SLOT_COUNT, L.SLOT_COUNT);
      seg.store(L.CTL_SERVER_NONCE, randomInt(2 ** 32));
      seg.store(L.SEG_MAGIC + 4, L.MAGIC_HI);
      seg.store(L.SEG_MAGIC, L.MAGIC_LO); // last: the header is complete
      for (let attempt = 0; ; attempt++) {
        try {
          native.shmLink(tmp, this.name);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 3) throw systemError(e, `cannot publish ${this.name}`);
          this.reclaimStale();
        }
      }
    } catch (e) {
      seg.unlink();
      seg.close();
      throw e;
    }
    native.shmUnlink(tmp);
    this.ctl = seg; // known by its public name from here on (releaseName unlinks that)
    this.bell = new Doorbell(seg, L.CTL_DOORBELL, L.CTL_PARKED);
    this.removeStaleClientSegments();
  }

  /** An existing name: in use if its server is alive, else a leftover to remove. */
  private reclaimStale(): void {
    let old: { fd: number; size: number };
    try {
      old = native.shmOpen(this.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // gone meanwhile: retry
      throw systemError(e, `cannot inspect ${this.name}`);
    }
    try {
      if (native.isLocked(old.fd)) {
        throw new RpcError(ErrorCodes.ERR_RPC_ADDRESS_IN_USE, `a live server already serves ${this.name}`);
      }
      native.shmUnlink(this.name);
    } finally {
      native.closeFd(old.fd);
    }
  }

  /** Client segments nobody holds any more (their owners died before we took them). */
  private removeStaleClientSegments(): void {
    for (const name of native.shmList(clientSegmentPrefix(this.name))) {
      try {
        const { fd } = native.shmOpen(name);
        try {
          if (!native.isLocked(fd)) native.shmUnlink(name);
        } finally {
          native.closeFd(fd);
        }
      } catch {
        // Vanished or not ours to open: leave it.
      }
    }
  }

  private releaseName(): void {
    if (!this.ctl) return;
    native.shmUnlink(this.name);
    this.ctl.close();
    this.ctl = undefined;
  }

  /** The process (or worker thread) is exiting without close(): close now (it is
   *  synchronous), so that clients learn at once and nothing is left behind. */
  private readonly exitHook = (): void => {
    try {
      void this.close();
    } catch {
      // Exiting anyway.
    }
  };

  // ------------------------------------------------------------- accepting

  private acceptPending(): void {
    const ctl = this.ctl!;
    for (let slot = 0; slot < L.SLOT_COUNT; slot++) {
      const at = L.CTL_SLOTS + slot * L.SLOT_BYTES;
      if (ctl.load(at + L.SLOT_STATE) !== L.SLOT_REQUESTED || this.bySlot.has(slot)) continue;
      this.accept(slot, at);
    }
  }

  private accept(slot: number, at: number): void {
    const ctl = this.ctl!;
    // Read each peer-written field once.
    const pid = ctl.load(at + L.SLOT_CLIENT_PID);
    const nonce = ctl.load(at + L.SLOT_NONCE);
    const size = ctl.load(at + L.SLOT_SEGMENT_SIZE);
    const name = clientSegmentName(this.name, nonce);
    let seg: Segment | undefined;
    let channel: Channel | undefined;
    try {
      seg = Segment.open(name, MAX_CLIENT_SEGMENT, size);
      if (seg.load(L.SEG_MAGIC) !== L.MAGIC_LO || seg.load(L.SEG_MAGIC + 4) !== L.MAGIC_HI) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client segment ${name} has a bad magic number`);
      }
      const version = seg.load(L.SEG_VERSION);
      if (version !== L.PROTOCOL_VERSION) {
        throw refusal(L.REASON_VERSION, `client ${pid} speaks protocol version ${version}, this server version ${L.PROTOCOL_VERSION}`);
      }
      this.checkAllowed(seg, pid);
      const reqCap = seg.load(L.CLI_REQ_CAPACITY);
      const resCap = seg.load(L.CLI_RES_CAPACITY);
      if (L.CLIENT_HEADER_BYTES + 2 * L.RING_HEADER_BYTES + reqCap + resCap > size) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client segment ${name} is smaller than its rings`);
      }
      const reqRing = seg.offset + L.CLIENT_HEADER_BYTES;
      const resRing = reqRing + L.RING_HEADER_BYTES + reqCap;
      const writer = new RingWriter(resRing, resCap);
      let reader: RingReader;
      try {
        reader = new RingReader(reqRing, reqCap);
      } catch (e) {
        writer.dispose();
        throw e;
      }
      channel = new Channel(writer, reader, this.maxMessageBytes);
      seg.store(L.CLI_TAKEN_ID, 0);
      seg.store(L.CLI_DROP_REASON, L.REASON_NONE);
      // Both sides hold it now: nothing stays in /dev/shm. (A client of another user
      // unlinks it itself once accepted: /dev/shm is sticky, its name is not ours to remove.)
      unlinkIfAllowed(seg);
      if (ctl.compareExchange(at + L.SLOT_STATE, L.SLOT_REQUESTED, L.SLOT_ACCEPTED) !== L.SLOT_REQUESTED) {
        throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the client left before it was accepted");
      }
    } catch (e) {
      channel?.dispose();
      seg?.close();
      const reason = (e as { reason?: number }).reason ??
        ((e as RpcError).code === ErrorCodes.ERR_RPC_ACCESS_DENIED || (e as NodeJS.ErrnoException).code === "EACCES" ? L.REASON_ACCESS : L.REASON_PROTOCOL);
      ctl.store(at + L.SLOT_REASON, reason); // read by the client once it sees REJECTED
      if (ctl.compareExchange(at + L.SLOT_STATE, L.SLOT_REQUESTED, L.SLOT_REJECTED) === L.SLOT_REQUESTED) {
        this.report(e, `refused client ${pid}`);
      }
      return;
    }
    const conn = new Connection(slot, pid, seg, channel, new Doorbell(seg, L.CLI_DOORBELL, L.CLI_PARKED));
    this.conns.push(conn);
    this.bySlot.set(slot, conn);
    conn.bell.wake();
  }

  /** Throws a refusal unless the segment's creator may connect: our own user, an
   *  allowed user or group (the kernel's record of who created it, which no client
   *  can forge), and with the right token when one is required. */
  private checkAllowed(seg: Segment, pid: number): void {
    if (seg.uid !== process.geteuid!() && !this.allowUsers.has(seg.uid) && !this.allowGroups.has(seg.gid)) {
      throw refusal(L.REASON_ACCESS, `refused client ${pid}: user ${seg.uid} (group ${seg.gid}) is not allowed`);
    }
    if (this.tokenHash === undefined) return;
    // Copied out once, then compared in constant time.
    const present = seg.load(L.CLI_TOKEN_PRESENT) === 1;
    const at = seg.offset + L.CLI_TOKEN_HASH;
    const presented = Buffer.from(core().u8.slice(at, at + L.TOKEN_HASH_BYTES));
    if (!timingSafeEqual(presented, this.tokenHash) || !present) {
      throw refusal(L.REASON_ACCESS, `refused client ${pid}: ${present ? "wrong" : "no"} token`);
    }
  }

  /** Forgets a connection and frees its slot and memory. `why` (reported) and
   *  `reason` (left in the client's segment) say why the server ends it, if it does. */
  private drop(conn: Connection, why: RpcError | undefined, reason = L.REASON_NONE): void {
    if (conn.closed) return;
    conn.closed = true;
    if (why) this.onError(why);
    if (reason !== L.REASON_NONE) {
      conn.seg.store(L.CLI_DROP_REASON, reason);
      // Tell the client, if its response ring has room, so its calls fail at once;
      // otherwise it finds the reason in its segment at its next liveness check.
      try {
        conn.channel.clearQueue();
        conn.channel.sendEmpty(L.T_GOODBYE, true);
        conn.channel.writer.commit();
      } catch {
        // Its ring is broken: the reason in its segment tells it.
      }
      conn.bell.wake();
    }
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    this.bySlot.delete(conn.slot);
    conn.channel.dispose();
    conn.seg.close();
    if (this.ctl) this.ctl.store(L.CTL_SLOTS + conn.slot * L.SLOT_BYTES + L.SLOT_STATE, L.SLOT_FREE);
  }

  private checkLiveness(): void {
    if (this.state !== "running") return;
    for (const conn of [...this.conns]) {
      if (!conn.seg.isLocked()) this.drop(conn, undefined); // the client died
    }
    // Slots claimed or refused by clients that died before finishing the handshake.
    const ctl = this.ctl!;
    const now = performance.now();
    let deadClients = false;
    for (let slot = 0; slot < L.SLOT_COUNT; slot++) {
      const at = L.CTL_SLOTS + slot * L.SLOT_BYTES;
      const state = ctl.load(at + L.SLOT_STATE);
      if (state !== L.SLOT_REJECTED && state !== L.SLOT_CLAIMED) this.stuckSince.delete(slot);
      if (state === L.SLOT_FREE || this.bySlot.has(slot)) continue;
      const pid = ctl.load(at + L.SLOT_CLIENT_PID);
      // ACCEPTED without a connection: we dropped it. REJECTED: the client frees it once
      // it has read the reason. CLAIMED: the client is filling it in (its pid may not be
      // there yet). Those two we free only if the client died, or after a long grace.
      if (state === L.SLOT_REJECTED || state === L.SLOT_CLAIMED) {
        const since = this.stuckSince.get(slot) ?? now;
        this.stuckSince.set(slot, since);
        if (now - since < STUCK_GRACE_MS && (pid === 0 || processAlive(pid))) continue;
        this.stuckSince.delete(slot);
      } else if (state !== L.SLOT_ACCEPTED && processAlive(pid)) {
        continue; // REQUESTED by a live client: accepted on the next pass
      }
      if (ctl.compareExchange(at + L.SLOT_STATE, state, L.SLOT_FREE) === state && state !== L.SLOT_ACCEPTED) deadClients = true;
    }
    // A client that died mid-handshake may have left its segment's name behind.
    if (deadClients) this.removeStaleClientSegments();
    this.schedule();
  }

  // ------------------------------------------------------------- serving

  private schedule(): void {
    if (this.scheduled || this.state !== "running") return;
    if (this.parked) {
      this.parked = false;
      this.waiter!.disarm();
      this.bell!.unpark();
    }
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private readonly onWake = (): void => {
    if (!this.parked) return;
    this.parked = false;
    this.bell!.unpark();
    this.turn();
  };

  private readonly turn = (): void => {
    this.scheduled = false;
    if (this.state !== "running") return;
    const start = performance.now();
    let now = start; // the last clock reading: pollOnce's liveness checks need no fresher one
    let idleSince = -1;
    let quiet = 0;
    let yielding = false;
    for (;;) {
      const did = this.pollOnce(now);
      if (this.state !== "running") return;
      if (did > 0) yielding = false;
      else if (yielding) native.yieldCpu();
      // While idle, read the clock only every few polls (a reading costs about as much
      // as a poll), so a request that arrives is seen sooner; spin and turn overrun by
      // a few polls at most.
      if (did === 0 && idleSince >= 0 && this.inflight === 0 && ++quiet < IDLE_POLLS_PER_CLOCK) continue;
      quiet = 0;
      now = performance.now();
      if (did > 0) idleSince = -1;
      else if (idleSince < 0) idleSince = now;
      else yielding = now - idleSince >= YIELD_AFTER_MS;
      // Yield: handlers' promises settle in microtasks, other I/O needs the loop.
      if (now - start >= TURN_MS || (idleSince >= 0 && this.inflight > 0)) break;
      if (idleSince >= 0 && !this.busyPoll && now - idleSince >= this.spinMs) {
        if (this.park()) return;
        idleSince = -1;
      }
    }
    this.scheduled = true;
    setImmediate(this.turn);
  };

  /** Goes to sleep on the doorbell; false when work turned up meanwhile. */
  private park(): boolean {
    const bell = this.bell!;
    const seq = bell.park();
    if (this.hasWork()) {
      bell.unpark();
      return false;
    }
    this.parked = true;
    this.waiter!.arm(core().u8, bell.address, seq, Infinity);
    return true;
  }

  private hasWork(): boolean {
    if (this.ctl!.load(L.CTL_CONNECT_COUNTER) !== this.seenConnects) return true;
    for (const conn of this.conns) {
      // A client whose responses wait for room is not read from (see drain).
      if (conn.channel.idle ? !conn.channel.reader.empty() : conn.channel.canFlush()) return true;
    }
    return false;
  }

  /** One pass over everything; returns how many records it handled. */
  private pollOnce(now: number): number {
    const connects = this.ctl!.load(L.CTL_CONNECT_COUNTER);
    if (connects !== this.seenConnects) {
      this.seenConnects = connects;
      this.acceptPending();
    }
    let did = 0;
    for (let i = 0; i < this.conns.length; i++) {
      const conn = this.conns[i]!;
      try {
        did += this.drain(conn, now);
      } catch (e) {
        // Whatever a client's data made go wrong costs that client its connection, never the server.
        this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client ${conn.pid} dropped: ${(e as Error).message}`, { cause: e }), L.REASON_PROTOCOL);
        did++;
      }
    }
    return did;
  }

  private drain(conn: Connection, now: number): number {
    const ch = conn.channel;
    if (ch.writeError !== undefined) {
      this.protocolError(conn, ch.writeError);
      return 1;
    }
    if (this.died(conn, now)) return 1;
    const wrote = !ch.idle && ch.flush();
    let n = 0;
    // Backpressure: while responses wait for room in the client's ring, take no new
    // requests (its request ring fills and its own sends wait at its side).
    while (n < BATCH && ch.idle && ch.poll()) {
      n++;
      const type = ch.type;
      if (type === L.T_REQUEST) {
        this.dispatch(conn, ch.payload, ch.length);
      } else if (type === OVERSIZED) {
        if (ch.oversizedId >= 0) {
          this.sendError(conn, ch.oversizedId, ErrorKind.MESSAGE_TOO_LARGE, "Error",
            `request of ${ch.length} bytes is over the server's maxMessageBytes (${this.maxMessageBytes})`);
        }
      } else if (type === L.T_GOODBYE) {
        ch.consumed();
        ch.release();
        this.drop(conn, undefined);
        return n;
      } else {
        this.protocolError(conn, `a record of type ${type}`);
        return n;
      }
      if (conn.closed) return n;
      if (!ch.idle && this.overQueued(conn)) return n;
      // A long handler may have outlived its client: look again every few requests.
      if ((n & 15) === 0 && this.died(conn, performance.now())) return n;
    }
    if (ch.protocolError !== undefined) {
      this.protocolError(conn, ch.protocolError);
      return n;
    }
    if (n > 0) {
      ch.release();
      ch.writer.commit();
    }
    if (n > 0 || wrote || ch.freedRoom) {
      const progress = n + (wrote || ch.freedRoom ? 1 : 0);
      ch.freedRoom = false;
      conn.bell.ring();
      return progress;
    }
    return 0;
  }

  private dispatch(conn: Connection, at: number, length: number): void {
    const c = core();
    if (length < P_NAME) return this.protocolError(conn, "a request shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    // Before anything runs: the client learns from it whether a lost call may have run.
    c.u32[conn.takenIndex] = id;
    const nameLength = c.u8[at + P_NAME_LENGTH]!;
    if (P_NAME + nameLength > length) return this.protocolError(conn, "a method name longer than its request");
    const method = this.decoder!.name(at + P_NAME, at + P_NAME + nameLength);
    const ep = this.methods.get(method); // contracts: Endpoint
    if (ep === undefined) {
      this.sendError(conn, id, ErrorKind.METHOD_NOT_FOUND, "Error", `no method "${method}" on ${this.name}`);
      return;
    }
    let args: unknown;
    try {
      const body = bodyOffset(P_NAME + nameLength);
      if (body > length) return this.protocolError(conn, "a request without arguments");
      args = this.decoder!.decode(at + body, at + length);
    } catch (e) {
      return this.protocolError(conn, `undecodable arguments (${(e as Error).message})`);
    }
    if (!Array.isArray(args)) return this.protocolError(conn, "arguments that are not an array");
    const handler = ep.handler;
    const t0 = ep.start(); // contracts: counting (see TIMING in src/contracts/stats.ts)
    let result: unknown;
    try {
      // Small arities without a spread (it costs an iteration of the array).
      switch (args.length) {
        case 0: result = handler(); break;
        case 1: result = handler(args[0]); break;
        case 2: result = handler(args[0], args[1]); break;
        case 3: result = handler(args[0], args[1], args[2]); break;
        default: result = handler(...args);
      }
    } catch (e) {
      ep.stop(t0); // contracts: counting
      ep.fail(e);
      this.sendThrown(conn, id, e);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      conn.inflight++;
      this.inflight++;
      ep.inflight++; // contracts: counting
      ep.async = true;
      Promise.resolve(result as PromiseLike<unknown>).then(
        (value) => this.settleLater(conn, id, value, false, ep, t0),
        (err) => this.settleLater(conn, id, err, true, ep, t0),
      );
      return;
    }
    ep.stop(t0); // contracts: counting
    const unsent = this.sendResult(conn, id, result);
    if (unsent !== undefined) ep.fail(unsent); // contracts: counting
  }

  /** A handler's promise settled: answer at once (outside a drain batch). */
  private settleLater(conn: Connection, id: number, value: unknown, thrown: boolean, ep: Endpoint, t0: number): void {
    conn.inflight--;
    this.inflight--;
    // contracts: counting, whether or not the caller is still there
    ep.inflight--;
    ep.stop(t0);
    if (thrown) ep.fail(value);
    if (conn.closed || this.state !== "running") return;
    if (thrown) this.sendThrown(conn, id, value);
    else {
      const unsent = this.sendResult(conn, id, value);
      if (unsent !== undefined) ep.fail(unsent); // contracts: counting
    }
    if (!conn.channel.idle && (this.overQueued(conn) || this.brokenRing(conn))) return;
    conn.channel.writer.commit();
    conn.bell.ring();
    if (!conn.channel.idle) this.schedule();
  }

  /** Sends a handler's value; returns undefined, or (contracts: for the counters) why it could not. */
  private sendResult(conn: Connection, id: number, value: unknown): string | undefined {
    let length: number;
    try {
      length = this.encoder!.encode(value, this.maxMessageBytes, "result", HEADROOM);
    } catch (e) {
      let why: string;
      if (e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE) {
        this.sendError(conn, id, ErrorKind.MESSAGE_TOO_LARGE, "Error", why = `the result is too large: ${e.message}`);
      } else {
        this.sendError(conn, id, ErrorKind.REMOTE, "RpcError", why = `the handler's return value could not be sent: ${(e as Error).message}`);
      }
      return why;
    }
    conn.channel.send(L.T_RESPONSE, id, null, this.encoder!.start + HEADROOM, length);
    this.encoder!.shrink(length);
    if (!conn.channel.idle) this.schedule();
    return undefined;
  }

  private sendThrown(conn: Connection, id: number, thrown: unknown): void {
    // contracts: a value that broke a contract's schema travels as its kind, with the issues
    if (thrown instanceof ContractViolation) {
      this.sendError(conn, id, thrown.kind, "RpcError", thrown.message, "", undefined, thrown.issues);
      return;
    }
    if (thrown instanceof Error) {
      const code = (thrown as { code?: unknown }).code;
      this.sendError(conn, id, ErrorKind.REMOTE, thrown.name, thrown.message, thrown.stack ?? "", typeof code === "string" ? code : undefined);
    } else {
      this.sendError(conn, id, ErrorKind.REMOTE, "Error", `the handler threw a non-Error value: ${inspect(thrown, { depth: 2, breakLength: Infinity })}`);
    }
  }

  private sendError(conn: Connection, id: number, kind: number, name: string, message: string, stack = "", code?: string, issues?: unknown[]): void {
    const details: Record<string, unknown> = { name: String(name), message: String(message), stack: String(stack) };
    if (code !== undefined) details.code = code;
    if (issues !== undefined) details.issues = issues; // contracts
    let length: number;
    try {
      length = this.encoder!.encode(details, this.maxMessageBytes, "error", HEADROOM);
    } catch {
      length = this.encoder!.encode({ name: "Error", message: String(message).slice(0, 4096), stack: "" }, this.maxMessageBytes, "error", HEADROOM);
    }
    conn.channel.send(L.T_ERROR, id, KIND_BYTES[kind]!, this.encoder!.start + HEADROOM, length);
  }

  /** Requests of a client that died are not run: while it sends, its lock (a system
   *  call) is looked at every millisecond, not only at the liveness interval.
   *  Drops the connection and returns true when the client is gone. */
  private died(conn: Connection, now: number): boolean {
    // The clock first: most passes end here, without a call into the core.
    if (now - conn.aliveAt < ALIVE_CHECK_MS || conn.channel.reader.empty()) return false;
    conn.aliveAt = now;
    if (conn.seg.isLocked()) return false;
    this.drop(conn, undefined);
    return true;
  }

  /** Drops a client that left more responses unread than allowed (true if it did). */
  private overQueued(conn: Connection): boolean {
    const ch = conn.channel;
    if (ch.queuedBytes <= this.maxQueuedBytes || ch.queuedMessages <= 1) return false;
    this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED,
      `client ${conn.pid} dropped: it left ${ch.queuedBytes} bytes of responses unread (maxQueuedBytes ${this.maxQueuedBytes})`), L.REASON_SLOW_CONSUMER);
    return true;
  }

  /** Drops a client that corrupted its response ring's counter (true if it did). */
  private brokenRing(conn: Connection): boolean {
    const why = conn.channel.writeError;
    if (why === undefined) return false;
    this.protocolError(conn, why);
    return true;
  }

  private protocolError(conn: Connection, why: string): void {
    this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client ${conn.pid} broke the protocol: ${why}`), L.REASON_PROTOCOL);
  }

  private report(e: unknown, context: string): void {
    const err = e instanceof RpcError ? e : new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `${context}: ${(e as Error).message}`, { cause: e });
    this.onError(err);
  }
}

/** An error that refuses a client, with the reason the client will read. */
function refusal(reason: number, message: string): RpcError {
  const err = new RpcError(reason === L.REASON_ACCESS ? ErrorCodes.ERR_RPC_ACCESS_DENIED : ErrorCodes.ERR_RPC_PROTOCOL, message);
  Object.defineProperty(err, "reason", { value: reason });
  return err;
}

function ids(list: unknown, what: string): number[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32 - 1)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be an array of numeric ids`);
  }
  return list as number[];
}

function unlinkIfAllowed(seg: Segment): void {
  try {
    seg.unlink();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw e;
  }
}

function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
