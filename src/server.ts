// The serving side: owns the name, accepts clients (src/connection/listener.ts),
// runs handlers, answers.

import { EventEmitter } from "node:events";
import { inspect } from "node:util";
import { randomBytes } from "node:crypto";
import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import type { Segment } from "./core/segment.js";
import { Doorbell } from "./core/doorbell.js";
import { Spin, IDLE_POLLS_PER_CLOCK } from "./core/spin.js";
import { RingReader, RingWriter } from "./core/ring.js";
import { native } from "./native.js";
import { Channel, OVERSIZED } from "./channel.js";
import { Encoder } from "./codec/encode.js";
import { Decoder } from "./codec/decode.js";
import { RpcError, ErrorCodes } from "./errors.js";
import {
  validateName, ErrorKind, METHOD_NAME_MAX_BYTES, DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_RING_BYTES, DEFAULT_MAX_MAPPED_BYTES, DEFAULT_MAX_CONNECTIONS, tokenHash,
} from "./protocol.js";
import { P_ID, P_NAME, P_NAME_LENGTH, bodyOffset, HEADROOM, errorExtra } from "./frames.js";
import { Listener, type Established } from "./connection/listener.js";
import type { Link } from "./connection/link.js";
import { READABLE } from "./connection/link.js";
import { validateSocketPath } from "./connection/paths.js";
import { localServers, onProcessExit } from "./lifecycle.js";
import { positive } from "./options.js";
// contracts: typed methods, validation, describe() and stats() live in src/contracts/
import { Endpoint } from "./contracts/endpoint.js";
import { contractEndpoints, refuseReserved } from "./contracts/implement.js";
import { ContractViolation } from "./contracts/validate.js";
import { describeService, type ServiceDescription } from "./contracts/describe.js";
import { serviceStats, type ConnectionStats, type ServiceStats } from "./contracts/stats.js";
import type { Contract, ContractSpec, Handlers } from "./contracts/types.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "./protocol.js";

/** A method's implementation: takes the call's arguments, returns a value or a Promise.
 *  (`any` parameters, so that handlers can declare their own argument types; nothing
 *  checks them at run time unless the method comes from a contract.) */
export type Handler = (...args: any[]) => unknown;

/** Options of {@link Server}; every one has a default. */
export interface ServerOptions {
  /** Largest message accepted or sent, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Never park: poll the rings continuously for the lowest latency (one core at 100%). */
  busyPoll?: boolean;
  /** How long to keep polling after the last message before parking (default 50 µs). */
  spinMicros?: number;
  /** Called with connection-level problems (a client broke the protocol, was refused or
   *  dropped, a handler's promise rejection went unhandled); default: console.warn. */
  onError?: (err: RpcError) => void;
  /** Responses a client may leave unread (queued beyond its full ring) before the server
   *  drops it with ERR_RPC_RESOURCE_EXHAUSTED (default 64 MiB; one message of any size is always allowed). */
  maxQueuedBytes?: number;
  /** Other users (uids) allowed to connect; by default only the server's own user can.
   *  Needs `socketPath` in a directory they can reach. */
  allowUsers?: number[];
  /** Groups (gids) whose members may connect (the client process's effective group). */
  allowGroups?: number[];
  /** A shared secret every client must prove it knows (`ClientOptions.token`), by an HMAC
   *  over fresh nonces: never sent, never replayable. */
  token?: string | Uint8Array;
  /** Report a rejection no one handled (say, a promise a handler forgot) through `onError`
   *  instead of letting Node end the process, while the server runs (default true). */
  catchUnhandledRejections?: boolean;
  /** Where to listen, instead of the per-user runtime directory (for serving other users). */
  socketPath?: string;
  /** Largest ring a client may ask for, in bytes (default 64 MiB). */
  maxRingBytes?: number;
  /** Shared memory all connections together may take, in bytes (default 1 GiB). */
  maxMappedBytes?: number;
  /** Connections served at once, handshakes included (default 1024). */
  maxConnections?: number;
  /** How long a client may take to finish its handshake (default 5000 ms). */
  handshakeTimeoutMs?: number;
}

/** What `connect` and `disconnect` events carry: the peer as the kernel reported it
 *  when it connected (SO_PEERCRED), not as it described itself. */
export interface PeerInfo {
  /** The peer's process id. */
  pid: number;
  /** Its user id. */
  uid: number;
  /** Its group id (the server's side only knows it for clients). */
  gid?: number;
  /** For `disconnect`: why the connection ended. */
  reason?: string;
}

/** Longest a serving turn keeps the event loop before yielding to other I/O. */
const TURN_MS = 2;
/** Records taken from one client before looking at the others. */
const BATCH = 256;
/** How often a client that is sending has its socket checked for a hang-up while the
 *  server is too busy to return to the event loop. */
const ALIVE_CHECK_MS = 1;

class Connection {
  closed = false;
  /** Handlers of this connection that returned a promise not yet settled. */
  inflight = 0;
  /** When its socket was last seen open (performance.now()). */
  aliveAt = 0;
  /** Where the id of the last request taken goes (an i32 index in linear memory). */
  readonly takenIndex: number;
  constructor(
    readonly link: Link,
    readonly pid: number,
    readonly uid: number,
    readonly gid: number,
    readonly seg: Segment,
    readonly channel: Channel,
    readonly bell: Doorbell,
  ) {
    this.takenIndex = (seg.offset + L.CONN_TAKEN_ID) >>> 2;
  }
}

/**
 * Serves named methods to clients on this host. `bind` or `implement` methods, then
 * `run()`. Emits `connect` and `disconnect` with a {@link PeerInfo} for each client.
 */
export class Server extends EventEmitter {
  /** The server's name, as given ("/calc"). */
  readonly name: string;
  // contracts: an Endpoint (handler, contract entry, counters) per method, not a bare handler
  private readonly methods = new Map<string, Endpoint>();
  // contracts: what describe() and stats() report
  private readonly started = new Date();
  private readonly instanceId = randomBytes(11).toString("hex");
  private readonly maxMessageBytes: number;
  private readonly onError: (err: RpcError) => void;
  private readonly maxQueuedBytes: number;
  private readonly catchRejections: boolean;
  private readonly listener: Listener;
  /** When a serving turn spins, yields or parks. */
  private readonly spin: Spin;

  private state: "idle" | "running" | "closing" | "closed" = "idle";
  private readonly conns: Connection[] = [];
  private mappedBytes = 0;
  private encoder: Encoder | undefined;
  private decoder: Decoder | undefined;
  private parked = false;
  private scheduled = false;
  private inflight = 0;
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;

  constructor(name: string, options: ServerOptions = {}) {
    super();
    this.name = validateName(name);
    this.maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const busyPoll = options.busyPoll === true;
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    this.spin = new Spin(spinMs, busyPoll, IDLE_POLLS_PER_CLOCK);
    this.onError = options.onError ?? ((err) => console.warn(`shmrpc server ${this.name}: ${err.code}: ${err.message}`));
    this.maxQueuedBytes = positive(options.maxQueuedBytes, 64 << 20, "maxQueuedBytes");
    const allowUsers = new Set(ids(options.allowUsers, "allowUsers"));
    const allowGroups = new Set(ids(options.allowGroups, "allowGroups"));
    const socketPath = validateSocketPath(options.socketPath, "socketPath");
    if ((allowUsers.size > 0 || allowGroups.size > 0) && socketPath === undefined) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "options allowUsers and allowGroups need a socketPath that those users can reach (the default directory is private to this user)");
    }
    this.catchRejections = options.catchUnhandledRejections !== false;
    // contracts: the reserved requests, answered by the server itself (bind refuses "$" names)
    this.methods.set(DESCRIBE_METHOD, new Endpoint(DESCRIBE_METHOD, () => this.describe(), undefined));
    this.methods.set(STATS_METHOD, new Endpoint(STATS_METHOD, () => this.stats(), undefined));
    this.listener = new Listener({
      name: this.name,
      socketPath,
      allowUsers,
      allowGroups,
      tokenKey: options.token === undefined ? undefined : tokenHash(options.token, "token"),
      maxRingBytes: positive(options.maxRingBytes, DEFAULT_MAX_RING_BYTES, "maxRingBytes"),
      maxMappedBytes: positive(options.maxMappedBytes, DEFAULT_MAX_MAPPED_BYTES, "maxMappedBytes"),
      maxConnections: positive(options.maxConnections, DEFAULT_MAX_CONNECTIONS, "maxConnections"),
      handshakeTimeoutMs: positive(options.handshakeTimeoutMs, 5000, "handshakeTimeoutMs"),
    }, {
      established: (c) => this.accept(c),
      refused: (err) => this.onError(err),
      usage: () => ({ mappedBytes: this.mappedBytes, connections: this.conns.length }),
    });
  }

  /** The Unix socket clients connect to. */
  get socketPath(): string {
    return this.listener.path;
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
      uid: conn.uid,
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
      this.listener.claim();
    } catch (e) {
      this.state = "closed";
      return Promise.reject(e);
    }
    this.listener.ref(); // a running server keeps its process alive
    this.state = "running";
    this.encoder = new Encoder(core());
    this.decoder = new Decoder(core());
    localServers.add(this.name);
    onProcessExit.add(this.exitHook);
    if (this.catchRejections) process.on("unhandledRejection", this.onUnhandledRejection);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    return this.stopped;
  }

  /** Says goodbye to every client, frees all shared memory and releases the name. */
  async close(): Promise<void> {
    if (this.state === "idle") {
      this.state = "closed";
      return;
    }
    if (this.state !== "running") return this.stopped;
    this.state = "closing";
    this.listener.close();
    for (const conn of [...this.conns]) this.drop(conn, undefined, L.REASON_CLOSED, "the server closed");
    this.encoder?.dispose();
    this.decoder?.dispose();
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

  /** The process (or worker thread) is exiting without close(): close now (it is
   *  synchronous), so that clients learn at once. */
  private readonly exitHook = (): void => {
    try {
      void this.close();
    } catch {
      // Exiting anyway.
    }
  };

  // ------------------------------------------------------------- connections

  private accept(c: Established): void {
    const seg = c.seg;
    let channel: Channel;
    try {
      if (this.state !== "running") throw new Error("closing");
      const reqRing = seg.offset + L.CONN_HEADER_BYTES;
      const resRing = reqRing + L.RING_HEADER_BYTES + c.requestRing;
      const writer = new RingWriter(resRing, c.responseRing);
      let reader: RingReader;
      try {
        reader = new RingReader(reqRing, c.requestRing);
      } catch (e) {
        writer.dispose();
        throw e;
      }
      channel = new Channel(writer, reader, this.maxMessageBytes);
    } catch {
      seg.close();
      c.link.close();
      return;
    }
    const conn = new Connection(c.link, c.pid, c.uid, c.gid, seg, channel, new Doorbell(seg, L.CONN_CLIENT_DOORBELL, L.CONN_CLIENT_PARKED));
    this.conns.push(conn);
    this.mappedBytes += seg.size;
    c.link.onEvent = (events) => this.onSocketEvent(conn, events);
    if (this.parked) seg.store(L.CONN_SERVER_PARKED, 1);
    this.emit("connect", { pid: conn.pid, uid: conn.uid, gid: conn.gid } satisfies PeerInfo);
    this.schedule();
  }

  /** The client's socket: wake-ups, or its hang-up (its death or close). */
  private onSocketEvent(conn: Connection, events: number): void {
    if (conn.closed) return;
    const got = (events & READABLE) !== 0 ? native.drainPackets(conn.link.fd) : -1;
    if (got < 0) {
      this.drop(conn, undefined, L.REASON_NONE, "the client closed or died");
      return;
    }
    if (this.parked) {
      this.unpark();
      this.turn();
    }
  }

  /** Forgets a connection and frees its memory. `why` (reported) and `reason` (left in
   *  the client's memory) say why the server ends it, if it does. */
  private drop(conn: Connection, why: RpcError | undefined, reason = L.REASON_NONE, text = why?.message ?? ""): void {
    if (conn.closed) return;
    conn.closed = true;
    if (why) this.onError(why);
    if (reason !== L.REASON_NONE) {
      conn.seg.store(L.CONN_DROP_REASON, reason);
      // Tell the client in-band too, if its response ring has room, so its calls fail
      // at once even before it sees the socket close.
      try {
        conn.channel.clearQueue();
        conn.channel.sendEmpty(L.T_GOODBYE, true);
        conn.channel.writer.commit();
      } catch {
        // Its ring is broken: the reason in its memory tells it.
      }
      conn.bell.wake();
    }
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    this.mappedBytes -= conn.seg.size;
    conn.link.close();
    conn.channel.dispose();
    conn.seg.close();
    this.emit("disconnect", { pid: conn.pid, uid: conn.uid, gid: conn.gid, reason: text } satisfies PeerInfo);
  }

  // ------------------------------------------------------------- serving

  private schedule(): void {
    if (this.scheduled || this.state !== "running") return;
    if (this.parked) this.unpark();
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    if (this.state !== "running") return;
    const spin = this.spin;
    spin.begin();
    const start = performance.now();
    let now = start; // the last clock reading: pollOnce's liveness checks need no fresher one
    for (;;) {
      const did = this.pollOnce(now);
      if (this.state !== "running") return;
      // Yield: handlers' promises settle in microtasks, other I/O needs the loop.
      if (did === 0 && this.inflight > 0) break;
      // While idle the clock is read only every few polls, so a request that arrives is
      // seen sooner; spin and turn overrun by a few polls at most.
      if (!spin.due(did)) continue;
      now = performance.now();
      if (now - start >= TURN_MS) break;
      if (spin.tick(now)) {
        if (this.park()) return;
        spin.rest();
      }
    }
    this.scheduled = true;
    setImmediate(this.turn);
  };

  /** Parks in the event loop: tells every client that it must wake us through its
   *  socket, then looks once more; false when work turned up meanwhile. (A client
   *  publishes, then reads our word; we set our word, then read its ring: with
   *  sequentially consistent atomics on both sides one of us sees the other.) */
  private park(): boolean {
    for (const conn of this.conns) conn.seg.store(L.CONN_SERVER_PARKED, 1);
    if (this.hasWork()) {
      this.unpark();
      return false;
    }
    this.parked = true;
    return true;
  }

  private unpark(): void {
    this.parked = false;
    for (const conn of this.conns) conn.seg.store(L.CONN_SERVER_PARKED, 0);
  }

  private hasWork(): boolean {
    for (const conn of this.conns) {
      // A client whose responses wait for room is not read from (see drain).
      if (conn.channel.idle ? !conn.channel.reader.empty() : conn.channel.canFlush()) return true;
    }
    return false;
  }

  /** One pass over everything; returns how many records it handled. */
  private pollOnce(now: number): number {
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
        this.drop(conn, undefined, L.REASON_NONE, "the client said goodbye");
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
    conn.channel.send(L.T_ERROR, id, errorExtra(kind), this.encoder!.start + HEADROOM, length);
  }

  /** Requests of a client that died are not run. The event loop reports a hang-up, but
   *  a busy server may not return to it for a while: while a client sends, its socket
   *  is also polled (a system call) every millisecond. Drops the connection and
   *  returns true when the client is gone. */
  private died(conn: Connection, now: number): boolean {
    // The clock first: most passes end here, without a call into the core.
    if (now - conn.aliveAt < ALIVE_CHECK_MS || conn.channel.reader.empty()) return false;
    conn.aliveAt = now;
    if (!conn.link.peerGone()) return false;
    this.drop(conn, undefined, L.REASON_NONE, "the client closed or died");
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
}

function ids(list: unknown, what: string): number[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32 - 1)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be an array of numeric ids`);
  }
  return list as number[];
}
