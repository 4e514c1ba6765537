// The calling side in a thread: made from what ThreadServer.connect() handed over. The
// same call API as a process's Client (src/client.ts): call, asyncCall, withOptions,
// proxy, describe, stats, close; every call goes through the one attempts loop
// (src/calls/attempts.ts) over this connection's Transport (src/threads/calls.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS, DESCRIBE_METHOD, STATS_METHOD } from "../protocol.js";
import { positive } from "../options.js";
import { retryPolicy, type RetryPolicy } from "../calls/retry.js";
import { newCall, type CallSettings } from "../calls/transport.js";
import { CallLoop } from "../calls/attempts.js";
import { openStream, type RpcStream } from "../calls/stream.js";
import { callSettings } from "../calls/options.js";
import { makeProxy, type Calls } from "../contracts/proxy.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "../contracts/types.js";
import type { ServiceDescription } from "../contracts/describe.js";
import type { ServiceStats } from "../contracts/stats.js";
import type { BoundCalls, CallOptions } from "../client.js";
import type { CallContext } from "../serving/context.js";
import { checkInterceptor, interceptAsync, interceptSync, type Interceptor } from "../calls/intercept.js";
import type { Call } from "../calls/transport.js";
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
  private readonly timeoutMs: number;
  private readonly retry: Readonly<RetryPolicy> = retryPolicy(undefined);
  private readonly transport: ThreadCalls;
  private readonly defaults: CallSettings;
  /** The interceptors (`use`), in registration order. */
  private readonly interceptors: Interceptor[] = [];
  private readonly calls: CallLoop;
  private readonly sendSync = (call: Call): unknown => this.calls.sync(call.method, call.args, call.settings);
  private readonly sendAsync = (call: Call): Promise<unknown> => this.calls.async(call.method, call.args, call.settings);

  constructor(conn: ThreadConnection, options: ThreadClientOptions = {}) {
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs");
    const maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    const link = adoptConnection(conn, maxMessageBytes);
    this.name = typeof conn.name === "string" ? conn.name : "(thread)";
    this.defaults = { timeoutMs: this.timeoutMs, signal: undefined, idempotent: false, metadata: undefined };
    this.transport = new ThreadCalls(link, conn.port, { name: this.name, timeoutMs: this.timeoutMs, maxMessageBytes, spinMs, busyPoll: options.busyPoll === true }, conn.lock, conn.clientLock);
    this.calls = new CallLoop(this.transport, this.retry, noReport);
  }

  /** True until the server's side or this client closed the connection. */
  get connected(): boolean {
    return this.transport.connected;
  }

  /** Calls `method` and blocks until its result arrives (or throws an RpcError). Throws
   *  ERR_RPC_INVALID_ARGUMENT on a thread that may not block, or whose own server it is. */
  call<T = unknown>(method: string, ...args: unknown[]): T {
    return this.syncCall(method, args, this.defaults, undefined) as T;
  }

  /** Calls `method` without blocking. Never throws: failures reject the promise. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.asyncCallOf(method, args, this.defaults, undefined) as Promise<T>;
  }

  /** Calls a method that streams its answer (as `Client.stream`): its items as they come,
   *  within a credit window, then its return value; `break` cancels it on the server. */
  stream<T = unknown>(method: string, ...args: unknown[]): RpcStream<T> {
    return openStream<T>(this.transport, newCall(method, args, this.defaults));
  }

  /** Adds an interceptor, run around every call of this client (as `Client.use`). */
  use(interceptor: Interceptor): this {
    this.interceptors.push(checkInterceptor(interceptor));
    return this;
  }

  private syncCall(method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined): unknown {
    if (this.interceptors.length === 0) return this.calls.sync(method, args, settings);
    return interceptSync(this.interceptors, method, args, settings, parent, this.sendSync);
  }

  private asyncCallOf(method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined): Promise<unknown> {
    if (this.interceptors.length === 0) return this.calls.async(method, args, settings);
    return interceptAsync(this.interceptors, method, args, settings, parent, this.sendAsync);
  }

  /** The same calls with a per-call deadline, AbortSignal, metadata or parent context. */
  withOptions(options: CallOptions): BoundCalls {
    const settings = callSettings(options, this.timeoutMs);
    const parent = options.parent;
    return {
      call: <T>(method: string, ...args: unknown[]) => this.syncCall(method, args, settings(method, true), parent) as T,
      asyncCall: <T>(method: string, ...args: unknown[]) => {
        let s: CallSettings;
        try {
          s = settings(method, false);
        } catch (e) {
          return Promise.reject(e);
        }
        return this.asyncCallOf(method, args, s, parent) as Promise<T>;
      },
      stream: <T>(method: string, ...args: unknown[]) => openStream<T>(this.transport, newCall(method, args, settings(method, false))),
    };
  }

  /** One typed function per method of `contract` (as `Client.proxy`). */
  proxy<S extends ContractSpec>(contract: Contract<S>, options?: ProxyOptions & { sync?: false }): Proxy<S, false>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions & { sync: true }): Proxy<S, true>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions = {}): Proxy<S, boolean> {
    const idempotent: CallSettings = { ...this.defaults, idempotent: true };
    const calls: Calls = {
      sync: (method, args, i) => this.syncCall(method, args, i ? idempotent : this.defaults, undefined),
      async: (method, args, i) => this.asyncCallOf(method, args, i ? idempotent : this.defaults, undefined),
      stream: (method, args) => openStream(this.transport, newCall(method, args, this.defaults)),
    };
    return makeProxy(contract, calls, options);
  }

  /** What the server serves: its methods, with JSON Schema for contract methods. */
  describe(): Promise<ServiceDescription> {
    return this.asyncCall<ServiceDescription>(DESCRIBE_METHOD);
  }

  /** The server's counters (`server.stats()`). */
  stats(): Promise<ServiceStats> {
    return this.asyncCall<ServiceStats>(STATS_METHOD);
  }

  /** Says goodbye and settles every pending call with ERR_RPC_CLOSED; later calls fail at
   *  once with ERR_RPC_CLOSED. */
  close(): void {
    this.transport.close();
  }
}

export { RpcError, ErrorCodes };
