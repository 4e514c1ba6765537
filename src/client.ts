// The calling side's public object: options, connecting (src/connection/connector.ts)
// and the connection's life, sending requests, and the call API. Waiting for and
// receiving responses are the call paths' (src/calls/).

import { EventEmitter } from "node:events";
import { native } from "./native.js";
import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import { Doorbell, SocketBell } from "./core/doorbell.js";
import { RingReader, RingWriter } from "./core/ring.js";
import { Channel } from "./channel.js";
import { Encoder } from "./codec/encode.js";
import { Decoder } from "./codec/decode.js";
import { RpcError, ErrorCodes } from "./errors.js";
import {
  validateName, METHOD_NAME_MAX_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RING_BYTES, DEFAULT_TIMEOUT_MS, tokenHash,
} from "./protocol.js";
import { HEADROOM, requestExtra } from "./frames.js";
import { localServers, onProcessExit } from "./lifecycle.js";
import { Handshaking, connectSync, type Connected, type ConnectorOptions } from "./connection/connector.js";
import { READABLE } from "./connection/link.js";
import { socketPathOf, validateSocketPath } from "./connection/paths.js";
import { positive } from "./options.js";
import { Connection, LIVENESS_MS, droppedError, wasTaken, type CallHost } from "./calls/connection.js";
import { Receiver } from "./calls/receive.js";
import { SyncCall } from "./calls/sync.js";
import { AsyncCalls } from "./calls/async.js";
// contracts: typed proxies, describe() and stats() live in src/contracts/
import { makeProxy, type Calls } from "./contracts/proxy.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "./contracts/types.js";
import type { ServiceDescription } from "./contracts/describe.js";
import type { ServiceStats } from "./contracts/stats.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "./protocol.js";
// nats: a name that is a NATS URL delegates every call to src/nats/ (types only here: the
// NATS library is loaded when such a Client is made)
import { isNatsUrl } from "./nats/connect.js";
import { NatsCalls, type NatsClientOptions } from "./nats/call.js";

/** Options of {@link Client}; every one has a default. */
export interface ClientOptions {
  /** Default deadline of each call, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Largest message sent or accepted, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Size of each of the two rings, a power of two (default 2 MiB). */
  ringBytes?: number;
  /** Never park while waiting for a response: lowest latency, one core at 100%. */
  busyPoll?: boolean;
  /** How long to poll for a response before parking (default 50 µs). */
  spinMicros?: number;
  /** The shared secret the server requires (`ServerOptions.token`), if it does; proven
   *  by an HMAC over fresh nonces, never sent. */
  token?: string | Uint8Array;
  /** Where the server listens, if not in this user's runtime directory (`ServerOptions.socketPath`). */
  socketPath?: string;
  /** The user the server must run as (default: this process's own user). A client talks
   *  to no other: a server of another user that took the name learns nothing. */
  serverUid?: number;
  /** When the name is a NATS URL ("nats://host:4222/calc"): user, pass, token, TLS options
   *  and more servers of the cluster, passed through to the NATS client library. */
  nats?: NatsClientOptions;
}

/** Per-call options, through `client.withOptions(...)`. */
export interface CallOptions {
  /** This call's deadline in milliseconds, instead of the client's default. */
  timeoutMs?: number;
  /** Aborting it rejects the pending `asyncCall` with ERR_RPC_ABORTED. */
  signal?: AbortSignal;
}

/** The calls of a Client with options bound; see `Client.withOptions`. */
export interface BoundCalls {
  /** As {@link Client.call}, with the bound options. */
  call<T = unknown>(method: string, ...args: unknown[]): T;
  /** As {@link Client.asyncCall}, with the bound options. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
}

/** waitForConnection's retries while no server listens: from the first delay,
 *  doubling, to the last. */
const CONNECT_RETRY_FIRST_MS = 5;
const CONNECT_RETRY_MAX_MS = 100;

/**
 * Calls the methods of the server of a name: `call` (blocking) or `asyncCall` (a
 * Promise), or typed through `proxy(contract)`. Connects on first use; emits `connect`
 * and `disconnect` with the server's {@link PeerInfo}.
 */
export class Client extends EventEmitter {
  /** The server's name, as given ("/calc"). */
  readonly name: string;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly ringBytes: number;
  private readonly tokenHash: Buffer | undefined;
  private readonly socketPath: string | undefined;
  private readonly serverUid: number;
  // The call paths (src/calls/): responses in, the synchronous call, the asyncCalls.
  private readonly receiver: Receiver;
  private readonly sync: SyncCall;
  private readonly async: AsyncCalls;

  private conn: Connection | undefined;
  /** nats: set when the name is a NATS URL; every call goes there. */
  private readonly remote: NatsCalls | undefined;
  /** The handshake in progress from the event loop, if any, and its outcome. */
  private handshake: Handshaking | undefined;
  private connecting: Promise<Connection> | undefined;
  private closed = false;
  private readonly encoder = new Encoder(core());
  private readonly decoder = new Decoder(core());
  private readonly methodNames = new Map<string, Uint8Array>();
  private nextId = 1;
  private lastLivenessCheck = 0;
  /** Whether the next call should first look at the server (see `connection`). */
  private checkDue = false;
  private dueTimer: NodeJS.Timeout | undefined;
  private readonly markCheckDue = (): void => {
    this.checkDue = true;
  };
  private armCheck(): void {
    this.checkDue = false;
    clearTimeout(this.dueTimer);
    this.dueTimer = setTimeout(this.markCheckDue, LIVENESS_MS).unref();
  }

  constructor(name: string, options: ClientOptions = {}) {
    super();
    this.name = isNatsUrl(name) ? name : validateName(name);
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs");
    this.maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const ring = positive(options.ringBytes, DEFAULT_RING_BYTES, "ringBytes");
    if (ring < L.RING_MIN_CAPACITY || ring > L.RING_MAX_CAPACITY || (ring & (ring - 1)) !== 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ringBytes must be a power of two between ${L.RING_MIN_CAPACITY} and ${L.RING_MAX_CAPACITY}`);
    }
    this.ringBytes = ring;
    const busyPoll = options.busyPoll === true;
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    this.tokenHash = options.token === undefined ? undefined : tokenHash(options.token, "token");
    this.socketPath = validateSocketPath(options.socketPath, "socketPath");
    const serverUid = options.serverUid ?? process.geteuid!();
    if (!Number.isInteger(serverUid) || serverUid < 0 || serverUid >= 2 ** 32 - 1) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option serverUid must be a numeric user id");
    }
    this.serverUid = serverUid;
    const host: CallHost = {
      name: this.name,
      current: () => this.conn,
      checkServer: (conn, now, force) => {
        if (force) this.lastLivenessCheck = 0;
        this.checkServer(conn, now);
      },
      disconnect: (err) => this.disconnect(err),
    };
    this.receiver = new Receiver(host, this.decoder, this.maxMessageBytes);
    this.sync = new SyncCall(host, this.receiver, spinMs, busyPoll);
    this.async = new AsyncCalls(host, this.receiver, spinMs, busyPoll);
    this.receiver.deliverTo(this.sync, this.async);
    this.remote = isNatsUrl(name) ? new NatsCalls(name, options.nats, this.maxMessageBytes) : undefined;
  }

  /** True while connected to a live server. */
  get connected(): boolean {
    if (this.remote) return this.remote.connected;
    return this.conn !== undefined && !this.conn.closed;
  }

  /** Resolves once a server serves the name and has accepted this client; rejects
   *  with ERR_RPC_NOT_CONNECTED if none did within `timeoutMs` (default: forever).
   *  While no server listens it tries again, backing off from 5 to 100 ms; a refusal
   *  (access, budgets, version) rejects at once with its own code. */
  waitForConnection(timeoutMs = Infinity): Promise<void> {
    if (this.remote) return this.remote.waitForConnection(Math.min(timeoutMs, this.timeoutMs));
    const deadline = performance.now() + timeoutMs;
    let delay = CONNECT_RETRY_FIRST_MS;
    return new Promise<void>((resolve, reject) => {
      const attempt = (): void => {
        if (this.closed) return reject(this.closedError());
        const left = deadline - performance.now();
        this.connectFromLoop(Math.max(1, Math.min(left, this.timeoutMs))).then(() => resolve(), (e: RpcError) => {
          const retry = e.code === ErrorCodes.ERR_RPC_NOT_CONNECTED || e.code === ErrorCodes.ERR_RPC_DISCONNECTED || e.code === ErrorCodes.ERR_RPC_TIMEOUT;
          if (!retry || this.closed) return reject(this.closed ? this.closedError() : e);
          const now = performance.now();
          if (now >= deadline) {
            return reject(new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `no server accepted a connection on ${this.name} within ${timeoutMs} ms`, { cause: e }));
          }
          setTimeout(attempt, Math.min(delay, deadline - now)); // one last try at the deadline
          delay = Math.min(delay * 2, CONNECT_RETRY_MAX_MS);
        });
      };
      attempt();
    });
  }

  /** Calls `method` and blocks until its result arrives (or throws an RpcError). */
  call<T = unknown>(method: string, ...args: unknown[]): T {
    return this.callSync(method, args, this.timeoutMs) as T;
  }

  /** Calls `method` without blocking. Never throws: failures reject the promise. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.callAsync(method, args, this.timeoutMs, undefined) as Promise<T>;
  }

  /** The same calls with a per-call deadline and/or AbortSignal:
   *  `client.withOptions({ timeoutMs: 100, signal }).asyncCall("m", x)`. */
  withOptions(options: CallOptions): BoundCalls {
    const timeoutMs = positive(options.timeoutMs, this.timeoutMs, "timeoutMs");
    const signal = options.signal;
    return {
      call: <T>(method: string, ...args: unknown[]) => this.callSync(method, args, timeoutMs) as T,
      asyncCall: <T>(method: string, ...args: unknown[]) => this.callAsync(method, args, timeoutMs, signal) as Promise<T>,
    };
  }

  // contracts: the typed API, delegating to src/contracts/
  /** One typed function per method of `contract`: `api.add(1, 2)` is a Promise, or with
   *  `{ sync: true }` the value itself; `{ validate: true }` also checks on this side. */
  proxy<S extends ContractSpec>(contract: Contract<S>, options?: ProxyOptions & { sync?: false }): Proxy<S, false>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions & { sync: true }): Proxy<S, true>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions = {}): Proxy<S, boolean> {
    const calls: Calls = {
      sync: (method, args) => this.callSync(method, args, this.timeoutMs),
      async: (method, args) => this.callAsync(method, args, this.timeoutMs, undefined),
    };
    return makeProxy(contract, calls, options);
  }

  /** What the server serves: its methods, with JSON Schema for contract methods. */
  describe(): Promise<ServiceDescription> {
    return this.callAsync(DESCRIBE_METHOD, [], this.timeoutMs, undefined) as Promise<ServiceDescription>;
  }

  /** The server's counters (server.stats()), asked over this connection. */
  stats(): Promise<ServiceStats> {
    return this.callAsync(STATS_METHOD, [], this.timeoutMs, undefined) as Promise<ServiceStats>;
  }
  // contracts: end

  /** Says goodbye, settles every pending call with ERR_RPC_DISCONNECTED and frees all shared memory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.remote?.close();
    clearTimeout(this.dueTimer);
    // Stop the waiter first: it may sleep on a word of the memory unmapped below.
    this.async.close();
    const conn = this.conn;
    if (conn) {
      if (!conn.closed) {
        // Say goodbye in-band after our requests (closing the socket says it too).
        conn.channel.sendEmpty(L.T_GOODBYE);
        conn.channel.writer.commit();
        conn.serverBell.wake();
      }
      // The server still takes what we sent before the goodbye: any of it may run.
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `client of ${this.name} was closed while the call was pending`), false);
    }
    this.encoder.dispose();
    this.decoder.dispose();
  }

  // ------------------------------------------------------------ connection

  /** The current connection, or undefined when there is none. An idle client may hold
   *  the connection of a server that died or closed since: it looks before its next
   *  call, so that the call goes to a new one. "Idle" is known without a clock read per
   *  call: a timer that only runs when the event loop is free marks the check due. */
  private connection(): Connection | undefined {
    if (this.closed) throw this.closedError();
    const conn = this.conn;
    if (conn === undefined || conn.closed) return undefined;
    if (this.checkDue) {
      this.armCheck();
      this.lastLivenessCheck = 0;
      try {
        this.checkServer(conn, performance.now());
      } catch (e) {
        if ((e as RpcError).code !== ErrorCodes.ERR_RPC_DISCONNECTED) throw e;
      }
      if (conn.closed) return undefined;
    }
    return conn;
  }

  private connectorOptions(): ConnectorOptions {
    return {
      name: this.name,
      path: socketPathOf(this.name, this.socketPath),
      serverUid: this.serverUid,
      ringBytes: this.ringBytes,
      tokenKey: this.tokenHash,
    };
  }

  /** Connects now, blocking this thread for at most `timeoutMs` (a synchronous call's
   *  first use). */
  private connectNow(timeoutMs: number): Connection {
    // A handshake begun from the event loop is finished here, not begun again: the
    // asyncCalls waiting on it then go out on this connection.
    const h = this.handshake;
    this.handshake = undefined;
    try {
      return this.adopt(h ? h.completeSync(timeoutMs) : connectSync(this.connectorOptions(), timeoutMs));
    } catch (e) {
      return notSent(e);
    }
  }

  /** Connects from the event loop (one handshake at a time, shared by every caller). */
  private connectFromLoop(timeoutMs: number): Promise<Connection> {
    if (this.closed) return Promise.reject(this.closedError());
    const conn = this.connection();
    if (conn) return Promise.resolve(conn);
    if (this.connecting) return this.connecting;
    let h: Handshaking;
    try {
      h = new Handshaking(this.connectorOptions(), timeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
    this.handshake = h;
    const connecting = h.promise.then(
      (made) => {
        if (this.connecting === connecting) this.connecting = undefined;
        if (this.handshake === h) this.handshake = undefined;
        // A synchronous call may have finished and adopted it already.
        return this.conn !== undefined && this.conn.link === made.link ? this.conn : this.adopt(made);
      },
      (e: unknown) => {
        if (this.connecting === connecting) this.connecting = undefined;
        if (this.handshake === h) this.handshake = undefined;
        throw e;
      },
    );
    connecting.catch(() => {}); // each caller handles the failure on its own chain
    this.connecting = connecting;
    return connecting;
  }

  /** Takes a connection the handshake made. */
  private adopt(made: Connected): Connection {
    if (this.closed) {
      made.seg.close();
      made.link.close();
      throw this.closedError();
    }
    const seg = made.seg;
    const reqRing = seg.offset + L.CONN_HEADER_BYTES;
    const resRing = reqRing + L.RING_HEADER_BYTES + made.requestRing;
    let channel: Channel;
    try {
      channel = new Channel(new RingWriter(reqRing, made.requestRing), new RingReader(resRing, made.responseRing), this.maxMessageBytes);
    } catch (e) {
      seg.close();
      made.link.close();
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} handed over unusable rings: ${(e as Error).message}`);
    }
    const conn = new Connection(
      made.link, seg, channel,
      new SocketBell(seg, L.CONN_SERVER_PARKED, made.link.fd),
      new Doorbell(seg, L.CONN_CLIENT_DOORBELL, L.CONN_CLIENT_PARKED),
      made.serverPid,
    );
    made.link.onEvent = (events) => this.onSocketEvent(conn, events);
    made.link.watch();
    onProcessExit.add(this.exitHook);
    this.conn = conn;
    this.armCheck();
    this.emit("connect", { pid: made.serverPid, uid: this.serverUid });
    return conn;
  }

  /** The server's socket: it sends nothing after the handshake, so this is its hang-up
   *  (death or close). */
  private onSocketEvent(conn: Connection, events: number): void {
    if (conn.closed) return;
    if ((events & READABLE) !== 0 && native.drainPackets(conn.link.fd) >= 0) return;
    this.receiver.receive(conn); // responses it did send still count
    if (conn.closed) return;
    this.disconnect(droppedError(this.name, conn.seg.load(L.CONN_DROP_REASON)));
  }

  /** The process (or worker thread) is exiting without close(): say goodbye and
   *  free everything, so the server drops us at once and nothing is left behind. */
  private readonly exitHook = (): void => {
    try {
      this.close();
    } catch {
      // Exiting anyway.
    }
  };

  /** Throws (after failing everything pending) when the server dropped this
   *  connection without a goodbye getting through (its ring was full). The reason
   *  is in our own connection's memory. */
  private checkStillAccepted(conn: Connection): void {
    const reason = conn.seg.load(L.CONN_DROP_REASON);
    if (reason === L.REASON_NONE) return;
    this.receiver.receive(conn); // responses it did send still count
    if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.name} ended`);
    const err = droppedError(this.name, reason);
    this.disconnect(err);
    throw err;
  }

  /** Throws (after failing everything pending) when the server died or left: its
   *  socket hung up. At most once per LIVENESS_MS. */
  private checkServer(conn: Connection, now: number): void {
    if (now - this.lastLivenessCheck < LIVENESS_MS) return;
    this.lastLivenessCheck = now;
    if (conn.link.peerGone()) {
      this.receiver.receive(conn);
      if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.name} ended`);
      const err = droppedError(this.name, conn.seg.load(L.CONN_DROP_REASON));
      this.disconnect(err);
      throw err;
    }
    this.checkStillAccepted(conn);
  }

  /** Ends the connection: every pending call fails with `err`; memory is freed.
   *  `exact`: each call's `maybeExecuted` says whether the server took it, from the
   *  id of the last request it took (requests are taken in id order); otherwise true. */
  private disconnect(err: RpcError, exact = true): void {
    const conn = this.conn;
    this.conn = undefined;
    const taken = conn && !conn.closed && exact ? conn.seg.load(L.CONN_TAKEN_ID) : -1;
    const failure = (id: number): RpcError => new RpcError(err.code, err.message, {
      cause: err.cause, maybeExecuted: taken < 0 || wasTaken(id, taken),
    });
    this.async.stopPump(); // before unmapping: the waiter may sleep on our doorbell
    if (conn && !conn.closed) {
      conn.closed = true;
      onProcessExit.delete(this.exitHook);
      conn.link.close();
      conn.channel.dispose();
      conn.seg.close();
      this.emit("disconnect", { pid: conn.serverPid, uid: this.serverUid, reason: err.message });
    }
    this.sync.fail(failure);
    this.async.failAll(failure);
  }

  private closedError(): RpcError {
    return new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `client of ${this.name} is closed`);
  }

  // ------------------------------------------------------------ sending

  private nameBytes(method: string): Uint8Array {
    let bytes = this.methodNames.get(method);
    if (bytes === undefined) {
      if (typeof method !== "string" || method.length === 0) {
        throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "method name must be a non-empty string");
      }
      const utf8 = Buffer.from(method, "utf8");
      if (utf8.length > METHOD_NAME_MAX_BYTES) {
        throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name is longer than ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
      }
      bytes = requestExtra(utf8);
      if (this.methodNames.size < 4096) this.methodNames.set(method, bytes);
    }
    return bytes;
  }

  /** Encodes and sends a request on the current connection (made now, blocking, when
   *  `connectWithin` is given and there is none); returns its id. Throws before sending
   *  anything on bad input. */
  private send(method: string, args: unknown[], connectWithin?: number): number {
    if (this.closed) throw this.closedError();
    const name = this.nameBytes(method);
    const length = this.encoder.encode(args, this.maxMessageBytes, "args", HEADROOM);
    const conn = this.connection() ?? (connectWithin === undefined ? undefined : this.connectNow(connectWithin));
    if (conn === undefined) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `client of ${this.name} is not connected`);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    conn.channel.send(L.T_REQUEST, id, name, this.encoder.start + HEADROOM, length);
    this.encoder.shrink(length);
    conn.channel.writer.commit();
    conn.serverBell.ring();
    return id;
  }

  // ------------------------------------------------------------ synchronous calls

  private callSync(method: string, args: unknown[], timeoutMs: number): unknown {
    if (this.remote) return this.remote.callSync(method, args, timeoutMs);
    if (localServers.has(this.name)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `a synchronous call cannot reach ${this.name}: its server runs on this thread; use asyncCall`);
    }
    if (this.sync.busy) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a synchronous call is already in progress on this client");
    }
    const id = this.send(method, args, timeoutMs);
    try {
      return this.sync.wait(this.conn!, id, method, timeoutMs);
    } finally {
      if (this.async.pending.size > 0) this.async.schedulePump();
    }
  }

  // ------------------------------------------------------------ asynchronous calls

  private callAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.remote) return this.remote.callAsync(method, args, timeoutMs, signal);
    if (signal?.aborted) {
      return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted before it was sent`, { cause: signal.reason }));
    }
    let id: number;
    try {
      if (this.connection() === undefined) {
        // The first call (or the first since the server went): connect from the event
        // loop, then send. Calls made meanwhile wait on the same handshake, in order.
        return this.connectFromLoop(timeoutMs).then(() => this.callAsync(method, args, timeoutMs, signal), notSent);
      }
      id = this.send(method, args);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.async.start(id, method, timeoutMs, signal);
  }
}

/** A failure to connect: the call was never sent, so it never ran. */
function notSent(e: unknown): never {
  if (e instanceof RpcError && e.maybeExecuted === undefined) {
    throw new RpcError(e.code, e.message, { cause: e.cause, maybeExecuted: false });
  }
  throw e;
}
