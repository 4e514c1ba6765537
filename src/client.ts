// The calling side's public object: options and the call API. Every call goes through
// one attempts loop (src/calls/attempts.ts) over one Transport (src/calls/transport.ts):
// the instances on this host (src/calls/local.ts), NATS (src/nats/call.ts), or the
// locality switch between them (src/calls/locality.ts).

import { EventEmitter } from "node:events";
import { L } from "./core/layout.js";
import { RpcError, ErrorCodes } from "./errors.js";
import { validateName, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RING_BYTES, DEFAULT_TIMEOUT_MS, tokenHash } from "./protocol.js";
import { validateSocketPath } from "./connection/paths.js";
import { positive } from "./options.js";
import type { Connection } from "./calls/connection.js";
import type { Route } from "./calls/route.js";
import type { MethodNames } from "./calls/methods.js";
import { Balancer, validateBalance, type Balance } from "./calls/balance.js";
import { retryPolicy, type RetryPolicy } from "./calls/retry.js";
import type { Call, Transport } from "./calls/transport.js";
import { CallLoop } from "./calls/attempts.js";
import { CallApi, type BoundCalls } from "./calls/api.js";
import type { CallOptions } from "./calls/options.js";
import { closedError } from "./calls/closed.js";
import type { RpcStream } from "./calls/stream.js";
import type { Interceptor } from "./calls/intercept.js";
import { LocalInstances } from "./calls/local.js";
import { Locality } from "./calls/locality.js";
// contracts: typed proxies, describe() and stats() live in src/contracts/
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "./contracts/types.js";
import type { ServiceDescription } from "./contracts/describe.js";
import type { ServiceStats } from "./contracts/stats.js";
// nats: a name that is a NATS URL delegates every call to src/nats/ (the NATS library is
// loaded when such a Client is made)
import { isNatsUrl } from "./nats/connect.js";
import { natsCallsOfName, natsCallsOfUrl } from "./nats/call.js";
import type { NatsClientOptions } from "./nats/options.js";

export type { CallOptions, BoundCalls };

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
  /** NATS, passed through to the NATS client library. When the name is a NATS URL
   *  ("nats://host:4222/calc"): `{ user, pass, token, tls, servers }` (credentials, more
   *  nodes of the cluster). When the name is local ("/calc"): where to call it when no
   *  instance of it is live on this host — "nats://host:4222" or `{ servers, user, pass,
   *  token, tls }` (the locality switch, README "Beyond one host"). */
  nats?: NatsClientOptions;
  /** How a replicated name's replicas share the calls: "least_outstanding" (default: the
   *  fewest calls in flight, ties in turn), "round_robin" or "pick_first". */
  balance?: Balance;
  /** Re-sending of idempotent calls that may have run when their replica was lost
   *  (README, "Discovery and replicas"): maxAttempts (default 3, at most 5),
   *  initialBackoffMs (20), maxBackoffMs (1000), backoffMultiplier (2); over NATS,
   *  attemptTimeoutMs (1000; 0: off), after which an idempotent call's unanswered attempt
   *  is sent again. */
  retry?: Partial<RetryPolicy>;
}

/** What a Client's `retry` event carries: a call lost on attempt `failedAttempt` is sent
 *  again after `delayMs` (0: at once, to another replica). */
export interface RetryInfo {
  /** The method called. */
  method: string;
  /** The attempt that failed (1 for the first). */
  failedAttempt: number;
  /** Why it failed. */
  code: string;
  /** Whether that attempt may have run (false: provably not; the re-send is transparent). */
  maybeExecuted: boolean;
  /** The backoff before the next attempt, in ms. */
  delayMs: number;
}

/** One server instance a Client is connected to (see `Client.instances`). */
export interface InstanceInfo {
  /** Its socket (a replica's own, or the name's). */
  socketPath: string;
  /** Its process id, as the handshake reported it. */
  pid: number;
  /** This client's calls in flight there now. */
  inFlight: number;
}

/**
 * Calls the methods of the server of a name: `call` (blocking) or `asyncCall` (a
 * Promise), or typed through `proxy(contract)`. Connects on first use; emits `connect`
 * and `disconnect` with the server's {@link PeerInfo} (over NATS: `{ nats: "host:port",
 * reason? }` of the NATS connection), and `retry` with a {@link RetryInfo}
 * before a lost call is sent again. A name served by replicas
 * (`ServerOptions.replica`) gets a connection to each, and each call goes to one of them.
 */
export class Client extends EventEmitter {
  /** The server's name, as given ("/calc"). */
  readonly name: string;
  private readonly timeoutMs: number;
  private readonly retry: Readonly<RetryPolicy>;
  /** Where every call goes. */
  private readonly transport: Transport;
  /** The instances on this host (none when the name is a NATS URL). */
  private readonly local: LocalInstances | undefined;
  /** Interceptors, then the attempts loop over `transport` (src/calls/api.ts). */
  private readonly api: CallApi;
  private readonly emitLater = (event: string, peer: object): void => void this.emit(event, peer);
  private readonly reportRetry = (call: Call, failedAttempt: number, e: unknown, delayMs: number): void => {
    if (this.listenerCount("retry") === 0) return;
    const err = e as RpcError;
    const info: RetryInfo = { method: call.method, failedAttempt, code: err.code, maybeExecuted: err.maybeExecuted ?? true, delayMs };
    this.emit("retry", info);
  };

  constructor(name: string, options: ClientOptions = {}) {
    super();
    this.name = isNatsUrl(name) ? name : validateName(name);
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs");
    const maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    const ring = positive(options.ringBytes, DEFAULT_RING_BYTES, "ringBytes");
    if (ring < L.RING_MIN_CAPACITY || ring > L.RING_MAX_CAPACITY || (ring & (ring - 1)) !== 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ringBytes must be a power of two between ${L.RING_MIN_CAPACITY} and ${L.RING_MAX_CAPACITY}`);
    }
    const busyPoll = options.busyPoll === true;
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    const socketPath = validateSocketPath(options.socketPath, "socketPath");
    const serverUid = options.serverUid ?? process.geteuid!();
    if (!Number.isInteger(serverUid) || serverUid < 0 || serverUid >= 2 ** 32 - 1) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option serverUid must be a numeric user id");
    }
    const balancer = new Balancer(validateBalance(options.balance));
    this.retry = retryPolicy(options.retry);
    const tokenKey = options.token === undefined ? undefined : tokenHash(options.token, "token");
    // nats: `connect`/`disconnect` with { nats: "host:port" } as the NATS connection comes and goes.
    const natsEvents = {
      connect: (server: string) => this.emit("connect", { nats: server }),
      disconnect: (server: string, reason: string) => this.emit("disconnect", { nats: server, reason }),
    };
    if (isNatsUrl(name)) {
      this.transport = natsCallsOfUrl(name, options.nats, maxMessageBytes, this.retry, natsEvents, tokenKey);
      this.api = new CallApi(this.transport, new CallLoop(this.transport, this.retry, this.reportRetry), this.timeoutMs);
      return;
    }
    this.local = new LocalInstances(this.name, socketPath, {
      name: this.name, timeoutMs: this.timeoutMs, serverUid, ringBytes: ring, maxMessageBytes, spinMs, busyPoll,
      tokenKey,
    }, balancer, this.timeoutMs, {
      // A route reports from inside the call that connected or lost it (a synchronous
      // call's connect, say, between encoding its arguments and sending them): the events
      // are emitted on a later tick, once that call is done with the client, as
      // net.Socket does. A listener that calls then disturbs nothing.
      connect: (pid) => process.nextTick(this.emitLater, "connect", { pid, uid: serverUid }),
      disconnect: (pid, reason) => process.nextTick(this.emitLater, "disconnect", { pid, uid: serverUid, reason }),
    });
    this.transport = options.nats === undefined ? this.local
      : new Locality(this.local, natsCallsOfName(this.name, options.nats, maxMessageBytes, this.retry, natsEvents, tokenKey));
    this.api = new CallApi(this.transport, new CallLoop(this.transport, this.retry, this.reportRetry), this.timeoutMs);
  }

  /** True while connected to a live server (to at least one replica). */
  get connected(): boolean {
    return this.transport.connected;
  }

  /** The connection of a name served alone (what the hostile-peer tests reach into). */
  private get conn(): Connection | undefined {
    return this.local?.routes[0]?.current;
  }

  /** The instances' routes (what the method-id tests reach into). */
  private get routes(): readonly Route[] {
    return this.local?.routes ?? [];
  }

  /** The method names' table (what the method-id tests reach into). */
  private get methodNames(): MethodNames | undefined {
    return this.local?.methodNames;
  }

  /** The server instances connected now (one, or one per replica): where, which
   *  process, and how many of this client's calls are in flight there. */
  get instances(): InstanceInfo[] {
    return this.routes.filter((r) => r.connected).map((r) => ({ socketPath: r.path, pid: r.serverPid, inFlight: r.outstanding }));
  }

  /** Resolves once a server serves the name and has accepted this client; rejects
   *  with ERR_RPC_NOT_CONNECTED if none did within `timeoutMs` (default: forever).
   *  While no server listens it tries again, backing off from 5 to 100 ms; a refusal
   *  (access, budgets, version) rejects at once with its own code. With option nats (a
   *  local name): connected to an instance on this host if one is live now, else to NATS. */
  waitForConnection(timeoutMs = Infinity): Promise<void> {
    if (this.transport.closed) return Promise.reject(closedError(this.name));
    if (this.transport === this.local) return this.local.waitForConnection(timeoutMs);
    return this.transport.waitForConnection(Math.min(timeoutMs, this.timeoutMs));
  }

  /** Calls `method` and blocks until its result arrives (or throws an RpcError). */
  call<T = unknown>(method: string, ...args: unknown[]): T {
    return this.api.sync(method, args, this.api.defaults, undefined) as T;
  }

  /** Calls `method` without blocking. Never throws: failures reject the promise. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.api.async(method, args, this.api.defaults, undefined) as Promise<T>;
  }

  /** Adds an interceptor, run around every call of this client (and of its withOptions'
   *  calls and proxies, made before or after), in registration order. A synchronous call
   *  runs only synchronous interceptors: with one declared `async` (or one that returns a
   *  Promise) it fails with ERR_RPC_INVALID_ARGUMENT. See {@link Interceptor}. */
  use(interceptor: Interceptor): this {
    this.api.use(interceptor);
    return this;
  }

  /** Calls `method`, whose handler returns an async iterable (an async generator, a
   *  Readable, a ReadableStream), and returns its items as they come:
   *  `for await (const x of client.stream("tail", "app.log"))`. A slow loop holds the
   *  server's producer (credit); `break` cancels the call on the server. Never throws: a
   *  failure ends the loop with its RpcError, after the items sent before it. */
  stream<T = unknown>(method: string, ...args: unknown[]): RpcStream<T> {
    return this.api.stream<T>(method, args);
  }

  /** The same calls with a per-call deadline, AbortSignal and/or idempotence:
   *  `client.withOptions({ timeoutMs: 100, signal, idempotent: true }).asyncCall("m", x)`. */
  withOptions(options: CallOptions): BoundCalls {
    return this.api.withOptions(options);
  }

  // contracts: the typed API, delegating to src/contracts/
  /** One typed function per method of `contract`: `api.add(1, 2)` is a Promise, or with
   *  `{ sync: true }` the value itself; `{ validate: true }` also checks on this side.
   *  Methods declared `idempotent: true` are retried as `withOptions({ idempotent: true })`. */
  proxy<S extends ContractSpec>(contract: Contract<S>, options?: ProxyOptions & { sync?: false }): Proxy<S, false>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions & { sync: true }): Proxy<S, true>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions = {}): Proxy<S, boolean> {
    return this.api.proxy(contract, options);
  }

  /** What the server serves: its methods, with JSON Schema for contract methods. */
  describe(): Promise<ServiceDescription> {
    return this.api.describe();
  }

  /** The server's counters (server.stats()), asked over this connection (of a replicated
   *  name: one replica's; connect to each listing's socketPath for each one's). */
  stats(): Promise<ServiceStats> {
    return this.api.stats();
  }
  // contracts: end

  /** Says goodbye, settles every pending call with ERR_RPC_CLOSED and frees all shared memory; later calls fail at once with ERR_RPC_CLOSED. */
  close(): void {
    this.transport.close();
  }
}
