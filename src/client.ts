// The calling side: connects on first use, sends requests, matches responses by id.

import { randomInt } from "node:crypto";
import { native, type Waiter } from "./native.js";
import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import { Segment, roundToPages } from "./core/segment.js";
import { Doorbell, YIELD_AFTER_MS } from "./core/doorbell.js";
import { RingReader, RingWriter } from "./core/ring.js";
import { Channel, OVERSIZED } from "./channel.js";
import { Encoder } from "./codec/encode.js";
import { Decoder } from "./codec/decode.js";
import { RpcError, ErrorCodes, type RemoteErrorInfo } from "./errors.js";
import {
  validateName, clientSegmentName, codeOfKind, ErrorKind, METHOD_NAME_MAX_BYTES,
  P_ERROR_DETAILS, P_ERROR_KIND, P_ID, P_RESPONSE_BODY, HEADROOM, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RING_BYTES, DEFAULT_TIMEOUT_MS,
  tokenHash,
} from "./protocol.js";
import { localServers, onProcessExit, systemError } from "./lifecycle.js";
import { positive } from "./options.js";
import { Deadlines, type Timed } from "./deadlines.js";
import { PendingTable } from "./pending.js";
// contracts: typed proxies, describe() and stats() live in src/contracts/
import { makeProxy, type Calls } from "./contracts/proxy.js";
import { receivedIssues } from "./contracts/validate.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "./contracts/types.js";
import type { ServiceDescription } from "./contracts/describe.js";
import type { ServiceStats } from "./contracts/stats.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "./protocol.js";

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
  /** The shared secret the server requires (`ServerOptions.token`), if it does. */
  token?: string | Uint8Array;
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
  call<T = unknown>(method: string, ...args: unknown[]): T;
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
}

/** An asyncCall in flight (a class: one shape for every call, and no closure in it). */
class Pending implements Timed {
  done = false;
  onAbort: (() => void) | undefined = undefined;
  constructor(
    readonly id: number,
    readonly method: string,
    readonly timeoutMs: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: RpcError) => void,
    readonly signal: AbortSignal | undefined,
    readonly deadline: number,
  ) {}
}

// The resolving functions of the Promise being made, taken by one shared executor
// (Node 20 has no Promise.withResolvers): no closure per call.
let takenResolve: (value: unknown) => void = () => {};
let takenReject: (err: RpcError) => void = () => {};
function takeResolvers(resolve: (value: unknown) => void, reject: (err: RpcError) => void): void {
  takenResolve = resolve;
  takenReject = reject;
}

/** Check the server's liveness at least this often while a call waits. */
const LIVENESS_MS = 50;
const TURN_MS = 2;
/** Polls for a synchronous call's response before the clock is first read. */
const QUICK_POLLS = 64;
/** Idle polls per reading of the clock while pumping responses. */
const IDLE_POLLS_PER_CLOCK = 8;
const CONNECT_POLL_MS = 5;
/** Bigger than any control segment: its real size is checked after its version. */
const MAX_CONTROL_BYTES = 1 << 24;

class Connection {
  closed = false;
  accepted = false;
  constructor(
    readonly ctl: Segment,
    readonly seg: Segment,
    readonly slotAt: number,
    readonly nonce: number,
    readonly channel: Channel,
    readonly serverBell: Doorbell,
    readonly bell: Doorbell,
  ) {}
}

export class Client {
  readonly name: string;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly ringBytes: number;
  private readonly busyPoll: boolean;
  private readonly spinMs: number;
  private readonly tokenHash: Buffer | undefined;

  private conn: Connection | undefined;
  private closed = false;
  private readonly encoder = new Encoder(core());
  private readonly decoder = new Decoder(core());
  private readonly pending = new PendingTable<Pending>();
  private readonly deadlines = new Deadlines<Pending>((p) => this.expire(p), () => this.pending.size);
  private readonly methodNames = new Map<string, Uint8Array>();
  private nextId = 1;
  private waiter: Waiter | undefined;
  private parked = false;
  private scheduled = false;
  private liveness: NodeJS.Timeout | undefined;
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

  // The synchronous call in progress, if any.
  private syncId = -1;
  private syncDone = false;
  private syncValue: unknown;
  private syncError: RpcError | undefined;

  constructor(name: string, options: ClientOptions = {}) {
    this.name = validateName(name);
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs");
    this.maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const ring = positive(options.ringBytes, DEFAULT_RING_BYTES, "ringBytes");
    if (ring < L.RING_MIN_CAPACITY || ring > L.RING_MAX_CAPACITY || (ring & (ring - 1)) !== 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ringBytes must be a power of two between ${L.RING_MIN_CAPACITY} and ${L.RING_MAX_CAPACITY}`);
    }
    this.ringBytes = ring;
    this.busyPoll = options.busyPoll === true;
    this.spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    this.tokenHash = options.token === undefined ? undefined : tokenHash(options.token, "token");
  }

  /** True while connected to a live server. */
  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed && this.conn.accepted;
  }

  /** Resolves once a server serves the name and has accepted this client; rejects
   *  with ERR_RPC_NOT_CONNECTED if none did within `timeoutMs` (default: forever). */
  waitForConnection(timeoutMs = Infinity): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    return new Promise<void>((resolve, reject) => {
      const attempt = (): void => {
        if (this.closed) return reject(this.closedError());
        try {
          const conn = this.connection();
          this.checkAccepted(conn);
          if (conn.accepted) return resolve();
        } catch (e) {
          const err = e as RpcError;
          if (err.code !== ErrorCodes.ERR_RPC_NOT_CONNECTED && err.code !== ErrorCodes.ERR_RPC_DISCONNECTED) return reject(err);
        }
        if (performance.now() >= deadline) {
          return reject(new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `no server accepted a connection on ${this.name} within ${timeoutMs} ms`));
        }
        setTimeout(attempt, CONNECT_POLL_MS);
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
    clearTimeout(this.dueTimer);
    // Stop the waiter first: it may sleep on a word of the memory unmapped below.
    this.waiter?.close();
    this.waiter = undefined;
    const conn = this.conn;
    if (conn) {
      if (!conn.closed) {
        // Leave before being accepted, or say goodbye in-band after our requests.
        if (conn.ctl.compareExchange(conn.slotAt + L.SLOT_STATE, L.SLOT_REQUESTED, L.SLOT_FREE) !== L.SLOT_REQUESTED) {
          conn.channel.sendEmpty(L.T_GOODBYE);
          conn.channel.writer.commit();
          conn.serverBell.wake();
        }
      }
      // The server still takes what we sent before the goodbye: any of it may run.
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `client of ${this.name} was closed while the call was pending`), false);
    }
    this.encoder.dispose();
    this.decoder.dispose();
  }

  // ------------------------------------------------------------ connection

  /** The current connection, starting one if there is none (does not wait for
   *  the server to accept: requests may be written at once). */
  private connection(): Connection {
    if (this.closed) throw this.closedError();
    if (this.conn && !this.conn.closed) {
      // An idle client may hold the connection of a server that died or closed since:
      // look before its next call, so that the call goes to a new one. "Idle" is known
      // without a clock read per call: a timer that only runs when the event loop is
      // free marks the check due.
      if (this.checkDue) {
        this.armCheck();
        this.lastLivenessCheck = 0;
        try {
          this.checkServer(this.conn, performance.now());
        } catch (e) {
          if ((e as RpcError).code !== ErrorCodes.ERR_RPC_DISCONNECTED) throw e;
        }
      }
      if (this.conn && !this.conn.closed) return this.conn;
    }
    this.conn = undefined;
    let ctl: Segment;
    try {
      ctl = Segment.open(this.name, MAX_CONTROL_BYTES);
    } catch (e) {
      throw systemError(e, `no server on ${this.name}`);
    }
    let seg: Segment | undefined;
    let slotAt = -1;
    try {
      if (ctl.load(L.SEG_MAGIC) !== L.MAGIC_LO || ctl.load(L.SEG_MAGIC + 4) !== L.MAGIC_HI) {
        throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `${this.name} is not (yet) a shmrpc server`);
      }
      const version = ctl.load(L.SEG_VERSION);
      if (version !== L.PROTOCOL_VERSION) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} speaks protocol version ${version}, this client version ${L.PROTOCOL_VERSION}`);
      }
      const slots = ctl.load(L.CTL_SLOT_COUNT);
      if (ctl.size !== L.CONTROL_BYTES || ctl.load(L.SEG_SIZE) !== L.CONTROL_BYTES || slots !== L.SLOT_COUNT) {
        throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} has a different layout (control segment of ${ctl.size} bytes, ${slots} slots; expected ${L.CONTROL_BYTES} and ${L.SLOT_COUNT})`);
      }
      if (!ctl.isLocked()) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `the server of ${this.name} is gone`);
      for (let slot = 0; slot < L.SLOT_COUNT; slot++) {
        const at = L.CTL_SLOTS + slot * L.SLOT_BYTES;
        if (ctl.compareExchange(at + L.SLOT_STATE, L.SLOT_FREE, L.SLOT_CLAIMED) === L.SLOT_FREE) {
          slotAt = at;
          ctl.store(at + L.SLOT_CLIENT_PID, process.pid); // at once: if we die now, the server can tell
          break;
        }
      }
      if (slotAt < 0) throw new RpcError(ErrorCodes.ERR_RPC_SERVER_FULL, `server ${this.name} has no free client slot`);
      const cap = this.ringBytes;
      const size = roundToPages(L.CLIENT_HEADER_BYTES + 2 * (L.RING_HEADER_BYTES + cap));
      let nonce = 0;
      for (let attempt = 0; seg === undefined; attempt++) {
        nonce = randomInt(2 ** 32);
        try {
          seg = Segment.create(clientSegmentName(this.name, nonce), size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 8) throw systemError(e, "cannot create the client's shared memory");
        }
      }
      seg.lock();
      // A server of another user cannot open a 0600 object: let that one user in.
      if (ctl.uid !== seg.uid) seg.grantAccess([ctl.uid], []);
      if (this.tokenHash) {
        core().u8.set(this.tokenHash, seg.offset + L.CLI_TOKEN_HASH);
        seg.store(L.CLI_TOKEN_PRESENT, 1);
      }
      seg.store(L.SEG_VERSION, L.PROTOCOL_VERSION);
      seg.store(L.SEG_SIZE, size);
      seg.store(L.CLI_REQ_CAPACITY, cap);
      seg.store(L.CLI_RES_CAPACITY, cap);
      seg.store(L.CLI_PID, process.pid);
      seg.store(L.CLI_NONCE, nonce);
      seg.store(L.SEG_MAGIC + 4, L.MAGIC_HI);
      seg.store(L.SEG_MAGIC, L.MAGIC_LO);
      const reqRing = seg.offset + L.CLIENT_HEADER_BYTES;
      const resRing = reqRing + L.RING_HEADER_BYTES + cap;
      const channel = new Channel(new RingWriter(reqRing, cap), new RingReader(resRing, cap), this.maxMessageBytes);
      const conn = new Connection(ctl, seg, slotAt, nonce, channel, new Doorbell(ctl, L.CTL_DOORBELL, L.CTL_PARKED), new Doorbell(seg, L.CLI_DOORBELL, L.CLI_PARKED));
      ctl.store(slotAt + L.SLOT_CLIENT_PID, process.pid);
      ctl.store(slotAt + L.SLOT_NONCE, nonce);
      ctl.store(slotAt + L.SLOT_SEGMENT_SIZE, size);
      ctl.store(slotAt + L.SLOT_STATE, L.SLOT_REQUESTED);
      ctl.add(L.CTL_CONNECT_COUNTER, 1);
      conn.serverBell.wake();
      onProcessExit.add(this.exitHook);
      this.conn = conn;
      this.armCheck();
      return conn;
    } catch (e) {
      if (seg) {
        seg.unlink();
        seg.close();
      }
      if (slotAt >= 0) ctl.store(slotAt + L.SLOT_STATE, L.SLOT_FREE);
      ctl.close();
      throw e;
    }
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

  /** Updates `conn.accepted`; throws if the server refused us or is gone. */
  private checkAccepted(conn: Connection): void {
    if (conn.accepted) return;
    const state = conn.ctl.load(conn.slotAt + L.SLOT_STATE);
    // The nonce tells our slot from a later client's, should the server have recycled it.
    const ours = conn.ctl.load(conn.slotAt + L.SLOT_NONCE) === conn.nonce;
    if (state === L.SLOT_ACCEPTED && ours) {
      conn.accepted = true;
      if (conn.ctl.uid !== conn.seg.uid) conn.seg.unlink(); // a server of another user cannot (sticky /dev/shm)
      return;
    }
    if (state !== L.SLOT_REQUESTED || !ours) {
      const reason = state === L.SLOT_REJECTED && ours ? conn.ctl.load(conn.slotAt + L.SLOT_REASON) : L.REASON_NONE;
      if (state === L.SLOT_REJECTED && ours) conn.ctl.compareExchange(conn.slotAt + L.SLOT_STATE, L.SLOT_REJECTED, L.SLOT_FREE);
      const err = reason === L.REASON_ACCESS
        ? new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `server ${this.name} refused the connection: this user, group or token is not allowed`)
        : reason === L.REASON_VERSION
          ? new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} refused the connection: it speaks another protocol version (${conn.ctl.load(L.SEG_VERSION)}) than this client (${L.PROTOCOL_VERSION})`)
          : new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `server ${this.name} refused the connection`);
      this.disconnect(err);
      throw err;
    }
  }

  /** Throws (after failing everything pending) when the server dropped this
   *  connection without a goodbye getting through (its ring was full). The reason
   *  is in our own segment, which other clients cannot write (the shared slot table
   *  would let them fake a drop). */
  private checkStillAccepted(conn: Connection): void {
    const reason = conn.seg.load(L.CLI_DROP_REASON);
    if (reason === L.REASON_NONE) return;
    this.receive(conn); // responses it did send still count
    if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.name} ended`);
    const err = droppedError(this.name, reason);
    this.disconnect(err);
    throw err;
  }

  /** Throws (after failing everything pending) when the server died. */
  private checkServer(conn: Connection, now: number): void {
    if (now - this.lastLivenessCheck < LIVENESS_MS) return;
    this.lastLivenessCheck = now;
    if (!conn.ctl.isLocked()) {
      const err = new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `the server of ${this.name} is gone`);
      this.disconnect(err);
      throw err;
    }
    if (conn.accepted) this.checkStillAccepted(conn);
    else this.checkAccepted(conn);
  }

  /** Ends the connection: every pending call fails with `err`; memory is freed.
   *  `exact`: each call's `maybeExecuted` says whether the server took it, from the
   *  id of the last request it took (requests are taken in id order); otherwise true. */
  private disconnect(err: RpcError, exact = true): void {
    const conn = this.conn;
    this.conn = undefined;
    const taken = conn && !conn.closed && exact ? conn.seg.load(L.CLI_TAKEN_ID) : -1;
    const failure = (id: number): RpcError => new RpcError(err.code, err.message, {
      cause: err.cause, maybeExecuted: taken < 0 || wasTaken(id, taken),
    });
    this.stopPump(); // before unmapping: the waiter may sleep on our doorbell
    if (conn && !conn.closed) {
      conn.closed = true;
      onProcessExit.delete(this.exitHook);
      if (!conn.accepted) {
        conn.seg.unlink();
        conn.ctl.compareExchange(conn.slotAt + L.SLOT_STATE, L.SLOT_REQUESTED, L.SLOT_FREE);
      }
      conn.channel.dispose();
      conn.seg.close();
      conn.ctl.close();
    }
    if (this.syncId >= 0 && !this.syncDone) {
      this.syncDone = true;
      this.syncError = failure(this.syncId);
    }
    const pending = this.pending.drain();
    this.deadlines.clear();
    for (const p of pending) this.settle(p, undefined, failure(p.id));
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
      bytes = new Uint8Array(1 + utf8.length);
      bytes[0] = utf8.length;
      bytes.set(utf8, 1);
      if (this.methodNames.size < 4096) this.methodNames.set(method, bytes);
    }
    return bytes;
  }

  /** Encodes and sends a request; returns its id. Throws before sending anything on bad input. */
  private send(method: string, args: unknown[]): number {
    if (this.closed) throw this.closedError();
    const name = this.nameBytes(method);
    const length = this.encoder.encode(args, this.maxMessageBytes, "args", HEADROOM);
    const conn = this.connection();
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
    if (localServers.has(this.name)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `a synchronous call cannot reach ${this.name}: its server runs on this thread; use asyncCall`);
    }
    if (this.syncId >= 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a synchronous call is already in progress on this client");
    }
    const id = this.send(method, args);
    const conn = this.conn!;
    this.syncId = id;
    this.syncDone = false;
    this.syncValue = undefined;
    this.syncError = undefined;
    // The first polls go without the clock (a reading costs about as much as a poll), and
    // most responses are in by then. The deadline counts from the first reading, a
    // microsecond or two after the send: it can be that much late, never early.
    let quickPolls = QUICK_POLLS;
    let deadline = -1;
    let lastProgress = 0;
    try {
      for (;;) {
        if (!conn.channel.idle && conn.channel.flush()) conn.serverBell.ring();
        const got = this.receive(conn);
        if (this.syncDone) break;
        if (quickPolls > 0) {
          quickPolls--;
          continue;
        }
        const now = performance.now();
        if (deadline < 0) {
          deadline = now + timeoutMs;
          lastProgress = now;
        } else if (got > 0) {
          lastProgress = now;
        }
        if (now >= deadline) {
          throw new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${method}" on ${this.name} timed out after ${timeoutMs} ms`, { maybeExecuted: this.mayHaveRun(id) });
        }
        try {
          this.checkServer(conn, now);
        } catch (e) {
          if (!this.syncDone) throw e;
        }
        if (this.syncDone) break; // settled by disconnect(): its error says whether it may have run
        if (this.busyPoll || now - lastProgress < this.spinMs) {
          if (now - lastProgress >= YIELD_AFTER_MS) native.yieldCpu();
          continue;
        }
        const seq = conn.bell.park();
        if (conn.channel.reader.empty() && !conn.channel.canFlush()) {
          conn.bell.sleep(seq, Math.min(deadline - now, LIVENESS_MS));
        }
        conn.bell.unpark();
      }
    } finally {
      this.syncId = -1;
      if (this.pending.size > 0) this.schedulePump();
    }
    if (this.syncError) {
      const err = this.syncError;
      this.syncError = undefined;
      throw err;
    }
    const value = this.syncValue;
    this.syncValue = undefined;
    return value;
  }

  // ------------------------------------------------------------ asynchronous calls

  private callAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) {
      return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted before it was sent`, { cause: signal.reason }));
    }
    let id: number;
    try {
      id = this.send(method, args);
    } catch (e) {
      return Promise.reject(e);
    }
    const promise = new Promise<unknown>(takeResolvers);
    const p = new Pending(id, method, timeoutMs, takenResolve, takenReject, signal, performance.now() + timeoutMs);
    try {
      this.deadlines.add(p, timeoutMs);
      if (signal) this.watchAbort(p, signal);
      this.pending.set(p);
      this.schedulePump();
    } catch (e) {
      p.reject(e as RpcError); // as the executor did: asyncCall never throws
    }
    return promise;
  }

  private watchAbort(p: Pending, signal: AbortSignal): void {
    p.onAbort = () => {
      if (this.pending.delete(p.id)) {
        this.settle(p, undefined, new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${p.method}" was aborted`, { cause: signal.reason, maybeExecuted: this.mayHaveRun(p.id) }));
      }
    };
    signal.addEventListener("abort", p.onAbort, { once: true });
  }

  private expire(p: Pending): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    this.settle(p, undefined, new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${p.method}" on ${this.name} timed out after ${p.timeoutMs} ms`, { maybeExecuted: this.mayHaveRun(p.id) }));
  }

  /** Whether the server has taken request `id` from the ring (true when unknown). */
  private mayHaveRun(id: number): boolean {
    const conn = this.conn;
    return conn === undefined || conn.closed || wasTaken(id, conn.seg.load(L.CLI_TAKEN_ID));
  }

  private settle(p: Pending, value: unknown, err: RpcError | undefined): void {
    p.done = true;
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  // The pump reads responses for asyncCall: spin briefly, then park on the
  // doorbell through the addon's waiter thread, which wakes the event loop.

  private schedulePump(): void {
    if (this.scheduled || this.closed) return;
    if (this.parked) {
      this.parked = false;
      this.waiter!.disarm();
      this.conn?.bell.unpark();
    }
    this.scheduled = true;
    this.waiter ??= new native.Waiter(this.onWake);
    this.waiter.ref(); // pending calls keep the process alive
    if (!this.liveness) {
      this.liveness = setInterval(this.livenessTick, LIVENESS_MS * 2);
      this.liveness.unref();
    }
    setImmediate(this.pumpTurn);
  }

  private stopPump(): void {
    if (this.parked) {
      this.parked = false;
      this.waiter?.disarm();
    }
    this.waiter?.unref();
    if (this.liveness) {
      clearInterval(this.liveness);
      this.liveness = undefined;
    }
  }

  private readonly livenessTick = (): void => {
    const conn = this.conn;
    if (!conn || conn.closed) return;
    try {
      this.lastLivenessCheck = 0;
      this.checkServer(conn, performance.now());
    } catch {
      // disconnect() has already failed the pending calls.
    }
  };

  private readonly onWake = (): void => {
    if (!this.parked) return;
    this.parked = false;
    this.conn?.bell.unpark();
    this.pumpTurn();
  };

  private readonly pumpTurn = (): void => {
    this.scheduled = false;
    const conn = this.conn;
    if (!conn || conn.closed) return this.stopPump();
    let start = -1;
    let idleSince = -1;
    let quiet = 0;
    let yielding = false;
    for (;;) {
      if (!conn.channel.idle && conn.channel.flush()) conn.serverBell.ring();
      const got = this.receive(conn);
      if (conn.closed) return;
      if (this.pending.size === 0 && conn.channel.idle) return this.stopPump();
      if (got > 0) break; // let the resolved promises run
      if (yielding) native.yieldCpu();
      // Idle: read the clock only every few polls (a reading costs about as much as a poll).
      if (start >= 0 && ++quiet < IDLE_POLLS_PER_CLOCK) continue;
      quiet = 0;
      const now = performance.now();
      if (start < 0) start = now;
      if (idleSince < 0) idleSince = now;
      yielding = now - idleSince >= YIELD_AFTER_MS;
      if (now - start >= TURN_MS) break;
      if (!this.busyPoll && now - idleSince >= this.spinMs) {
        const seq = conn.bell.park();
        if (conn.channel.reader.empty() && !conn.channel.canFlush()) {
          this.parked = true;
          this.waiter!.arm(core().u8, conn.bell.address, seq, Infinity);
          return;
        }
        conn.bell.unpark();
        idleSince = -1;
      }
    }
    this.scheduled = true;
    setImmediate(this.pumpTurn);
  };

  // ------------------------------------------------------------ receiving

  /** Takes every complete response from the ring; returns how many. */
  private receive(conn: Connection): number {
    try {
      return this.receiveUnguarded(conn);
    } catch (e) {
      // Whatever the server's data made go wrong ends this connection, not the process.
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `connection to ${this.name} dropped: ${(e as Error).message}`, { cause: e }));
      return 1;
    }
  }

  private receiveUnguarded(conn: Connection): number {
    const ch = conn.channel;
    let n = 0;
    while (ch.poll()) {
      n++;
      this.handle(ch.type, ch.payload, ch.length);
      if (conn.closed) return n;
    }
    const broken = ch.protocolError ?? ch.writeError;
    if (broken !== undefined) {
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} broke the protocol: ${broken}`));
      return n;
    }
    if (n > 0 || ch.freedRoom) {
      if (n > 0) ch.release();
      ch.freedRoom = false;
      conn.serverBell.ring(); // the server may be waiting for room
      if (!conn.accepted) this.checkAccepted(conn);
      return Math.max(n, 1);
    }
    return 0;
  }

  private handle(type: number, at: number, length: number): void {
    const c = core();
    if (type === L.T_GOODBYE) {
      this.disconnect(droppedError(this.name, this.conn!.seg.load(L.CLI_DROP_REASON)));
      return;
    }
    if (type === OVERSIZED) {
      const id = this.conn!.channel.oversizedId;
      this.deliver(id, undefined, new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `response of ${length} bytes is over maxMessageBytes (${this.maxMessageBytes})`));
      return;
    }
    if ((type !== L.T_RESPONSE && type !== L.T_ERROR) || length < (type === L.T_ERROR ? P_ERROR_DETAILS : P_RESPONSE_BODY)) {
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} sent a malformed record (type ${type})`));
      return;
    }
    const id = c.view.getUint32(at + P_ID, true);
    if (id !== this.syncId && this.pending.get(id) === undefined) return; // timed out or aborted: drop it
    try {
      if (type === L.T_RESPONSE) {
        this.deliver(id, this.decoder.decode(at + P_RESPONSE_BODY, at + length), undefined);
      } else {
        const kind = c.u8[at + P_ERROR_KIND]!;
        const details = this.decoder.decode(at + P_ERROR_DETAILS, at + length);
        this.deliver(id, undefined, remoteError(kind, details));
      }
    } catch (e) {
      this.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} sent an undecodable response: ${(e as Error).message}`));
    }
  }

  private deliver(id: number, value: unknown, err: RpcError | undefined): void {
    if (id === this.syncId) {
      this.syncDone = true;
      this.syncValue = value;
      this.syncError = err;
      return;
    }
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.settle(p, value, err);
  }
}

/** Ids grow by one per request (wrapping, 0 skipped) and the server takes requests in
 *  order, so `id` was taken when it is not after `taken` (serial-number arithmetic). */
function wasTaken(id: number, taken: number): boolean {
  return taken !== 0 && ((id - taken) | 0) <= 0;
}

/** The error of calls pending when the server ended this connection, by its reason. */
function droppedError(name: string, reason: number): RpcError {
  if (reason === L.REASON_SLOW_CONSUMER) {
    return new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, `server ${name} dropped this client: it left too many responses unread (the server's maxQueuedBytes)`);
  }
  if (reason === L.REASON_PROTOCOL) {
    return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${name} dropped this client for breaking the protocol`);
  }
  return new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `server ${name} closed the connection while the call was pending`);
}

function remoteError(kind: number, details: unknown): RpcError {
  const d = (details !== null && typeof details === "object" ? details : {}) as Record<string, unknown>;
  const info: RemoteErrorInfo = {
    name: typeof d.name === "string" ? d.name : "Error",
    message: typeof d.message === "string" ? d.message : String(d.message),
    stack: typeof d.stack === "string" ? d.stack : "",
  };
  if (typeof d.code === "string") info.code = d.code;
  const code = codeOfKind(kind) ?? ErrorCodes.ERR_RPC_REMOTE;
  if (kind === ErrorKind.REMOTE) return new RpcError(code, info.message, { remote: info });
  // contracts: a contract's schema rejected the arguments or the result
  const issues = receivedIssues(d.issues);
  if (issues !== undefined) return new RpcError(code, info.message, { issues });
  return new RpcError(code, info.message);
}
