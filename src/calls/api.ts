// The call API that both Clients expose (src/client.ts in a process, src/threads/client.ts
// in a thread) over their Transport: call, asyncCall, stream, use, withOptions, proxy,
// describe, stats. Each Client keeps what is its own (options, connecting, events) and
// hands its calls to one CallApi. Imports nothing of Node: src/threads is bundled for the
// browser.

import { newCall, type Call, type CallSettings, type Transport } from "./transport.js";
import type { CallLoop } from "./attempts.js";
import { callSettings, type CallOptions } from "./options.js";
import { openStream, type RpcStream } from "./stream.js";
import { checkInterceptor, interceptAsync, interceptSync, type Interceptor } from "./intercept.js";
import type { CallContext } from "../serving/context.js";
import { makeProxy, type Calls } from "../contracts/proxy.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "../contracts/types.js";
import type { ServiceDescription } from "../contracts/describe.js";
import type { ServiceStats } from "../contracts/stats.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "../protocol.js";

/** The calls of a Client with options bound; see `Client.withOptions`. */
export interface BoundCalls {
  /** As {@link Client.call}, with the bound options. */
  call<T = unknown>(method: string, ...args: unknown[]): T;
  /** As {@link Client.asyncCall}, with the bound options. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  /** As {@link Client.stream}, with the bound options (the timeout is the whole stream's). */
  stream<T = unknown>(method: string, ...args: unknown[]): RpcStream<T>;
}

/** The calls of one Client: its interceptors, then the attempts loop over its transport. */
export class CallApi {
  /** The settings of calls made without withOptions. */
  readonly defaults: CallSettings;
  /** The interceptors (`use`), in registration order; shared by withOptions' calls and proxies. */
  private readonly interceptors: Interceptor[] = [];
  private readonly sendSync = (call: Call): unknown => this.loop.sync(call.method, call.args, call.settings);
  private readonly sendAsync = (call: Call): Promise<unknown> => this.loop.async(call.method, call.args, call.settings);

  constructor(private readonly transport: Transport, private readonly loop: CallLoop, private readonly timeoutMs: number) {
    this.defaults = { timeoutMs, signal: undefined, idempotent: false, metadata: undefined };
  }

  /** A synchronous call through the interceptors (none: straight to the attempts loop). */
  sync(method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined): unknown {
    if (this.interceptors.length === 0) return this.loop.sync(method, args, settings);
    return interceptSync(this.interceptors, method, args, settings, parent, this.sendSync);
  }

  /** An asynchronous call through the interceptors (none: straight to the attempts loop). */
  async(method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined): Promise<unknown> {
    if (this.interceptors.length === 0) return this.loop.async(method, args, settings);
    return interceptAsync(this.interceptors, method, args, settings, parent, this.sendAsync);
  }

  /** A stream through the interceptors; `failure` (bad options) ends it at once, nothing sent;
   *  `views`: binary items as views (CallOptions.view). */
  stream<T>(method: string, args: unknown[], settings: CallSettings = this.defaults, failure?: unknown, parent?: CallContext, views = false): RpcStream<T> {
    const call = newCall(method, args, settings);
    if (this.interceptors.length === 0 || failure !== undefined) return openStream<T>(this.transport, call, failure, undefined, views);
    return openStream<T>(this.transport, call, undefined, (send) => interceptAsync(this.interceptors, method, args, settings, parent, send, true), views);
  }

  use(interceptor: Interceptor): void {
    this.interceptors.push(checkInterceptor(interceptor));
  }

  /** The calls with `options` bound (Client.withOptions). */
  withOptions(options: CallOptions): BoundCalls {
    const settings = callSettings(options, this.timeoutMs);
    const parent = options.parent;
    const view = options.view === true;
    return {
      call: <T>(method: string, ...args: unknown[]) => this.sync(method, args, settings(method, true), parent) as T,
      asyncCall: <T>(method: string, ...args: unknown[]) => {
        let s: CallSettings;
        try {
          s = settings(method, false);
        } catch (e) {
          return Promise.reject(e);
        }
        return this.async(method, args, s, parent) as Promise<T>;
      },
      stream: <T>(method: string, ...args: unknown[]) => {
        try {
          return this.stream<T>(method, args, settings(method, false), undefined, parent, view);
        } catch (e) {
          return this.stream<T>(method, args, this.defaults, e, undefined, view);
        }
      },
    };
  }

  /** The typed proxy of `contract` (Client.proxy). */
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions): Proxy<S, boolean> {
    const idempotent: CallSettings = { ...this.defaults, idempotent: true };
    const calls: Calls = {
      sync: (method, args, i) => this.sync(method, args, i ? idempotent : this.defaults, undefined),
      async: (method, args, i) => this.async(method, args, i ? idempotent : this.defaults, undefined),
      stream: (method, args) => this.stream(method, args),
    };
    return makeProxy(contract, calls, options);
  }

  /** The server's `$shmrpc.describe` (idempotent: retried like any such call). */
  describe(): Promise<ServiceDescription> {
    return this.withOptions({ idempotent: true }).asyncCall<ServiceDescription>(DESCRIBE_METHOD);
  }

  /** The server's `$shmrpc.stats` (idempotent). */
  stats(): Promise<ServiceStats> {
    return this.withOptions({ idempotent: true }).asyncCall<ServiceStats>(STATS_METHOD);
  }
}
