// The calling side in a thread: made from what ThreadServer.connect() handed over. The
// same call API as a process's Client (src/client.ts): call, asyncCall, withOptions,
// proxy, describe, stats, close; every call goes through the one attempts loop
// (src/calls/attempts.ts) over this connection's Transport (src/threads/calls.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from "../protocol.js";
import { positive } from "../options.js";
import { retryPolicy } from "../calls/retry.js";
import { CallLoop } from "../calls/attempts.js";
import { CallApi, type BoundCalls } from "../calls/api.js";
import type { CallOptions } from "../calls/options.js";
import type { RpcStream } from "../calls/stream.js";
import type { Interceptor } from "../calls/intercept.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "../contracts/types.js";
import type { ServiceDescription } from "../contracts/describe.js";
import type { ServiceStats } from "../contracts/stats.js";
import { adoptConnection, type ThreadConnection } from "./connection.js";
import { ThreadCalls } from "./calls.js";

/** Options of {@link ThreadClient}; every one has a default. */
export interface ThreadClientOptions {
  /** Default deadline of each call, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Largest response accepted, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Never park while waiting for a response: lowest latency, one core at 100%. */
  busyPoll?: boolean;
  /** How long to poll for a response before parking (default 50 µs). */
  spinMicros?: number;
}

const noReport = (): void => {};

/**
 * Calls the methods of a {@link ThreadServer} in another thread (a worker, or the page that
 * started it): `new ThreadClient(conn)` with the `conn` that `server.connect()` made and
 * `postMessage` carried. `call` blocks in Atomics.wait (refused where a thread may not
 * block, such as a browser's main thread); `asyncCall` never blocks.
 */
export class ThreadClient {
  /** The server's name, as it gave it. */
  readonly name: string;
  private readonly transport: ThreadCalls;
  /** Interceptors, then the attempts loop over `transport` (src/calls/api.ts). */
  private readonly api: CallApi;

  constructor(conn: ThreadConnection, options: ThreadClientOptions = {}) {
    const timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs");
    const maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    const link = adoptConnection(conn, maxMessageBytes);
    this.name = typeof conn.name === "string" ? conn.name : "(thread)";
    this.transport = new ThreadCalls(link, conn.port, { name: this.name, timeoutMs, maxMessageBytes, spinMs, busyPoll: options.busyPoll === true }, conn.lock, conn.clientLock);
    this.api = new CallApi(this.transport, new CallLoop(this.transport, retryPolicy(undefined), noReport), timeoutMs);
  }

  /** True until the server's side or this client closed the connection. */
  get connected(): boolean {
    return this.transport.connected;
  }

  /** Calls `method` and blocks until its result arrives (or throws an RpcError). Throws
   *  ERR_RPC_INVALID_ARGUMENT on a thread that may not block, or whose own server it is. */
  call<T = unknown>(method: string, ...args: unknown[]): T {
    return this.api.sync(method, args, this.api.defaults, undefined) as T;
  }

  /** Calls `method` without blocking. Never throws: failures reject the promise. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.api.async(method, args, this.api.defaults, undefined) as Promise<T>;
  }

  /** Calls a method that streams its answer (as `Client.stream`): its items as they come,
   *  within a credit window, then its return value; `break` cancels it on the server. */
  stream<T = unknown>(method: string, ...args: unknown[]): RpcStream<T> {
    return this.api.stream<T>(method, args);
  }

  /** Adds an interceptor, run around every call of this client (as `Client.use`). */
  use(interceptor: Interceptor): this {
    this.api.use(interceptor);
    return this;
  }

  /** The same calls with a per-call deadline, AbortSignal, metadata or parent context. */
  withOptions(options: CallOptions): BoundCalls {
    return this.api.withOptions(options);
  }

  /** One typed function per method of `contract` (as `Client.proxy`). */
  proxy<S extends ContractSpec>(contract: Contract<S>, options?: ProxyOptions & { sync?: false }): Proxy<S, false>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions & { sync: true }): Proxy<S, true>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions = {}): Proxy<S, boolean> {
    return this.api.proxy(contract, options);
  }

  /** What the server serves: its methods, with JSON Schema for contract methods. */
  describe(): Promise<ServiceDescription> {
    return this.api.describe();
  }

  /** The server's counters (`server.stats()`). */
  stats(): Promise<ServiceStats> {
    return this.api.stats();
  }

  /** Says goodbye and settles every pending call with ERR_RPC_CLOSED; later calls fail at
   *  once with ERR_RPC_CLOSED. */
  close(): void {
    this.transport.close();
  }
}

export { RpcError, ErrorCodes };
