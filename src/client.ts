// The calling side's public object: options, the call API, and which server instance
// takes each call. A name served alone has one Route (src/calls/route.ts: connecting,
// the connection's life, sending, the call paths); a replicated name has one per live
// replica, found in its replicas directory and rescanned while in use, with a balancer
// (src/calls/balance.ts) picking one per call and a retry policy
// (src/calls/retry.ts) re-sending calls lost with their replica.

import { EventEmitter } from "node:events";
import { lstatSync } from "node:fs";
import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import { Encoder } from "./codec/encode.js";
import { Decoder } from "./codec/decode.js";
import { RpcError, ErrorCodes } from "./errors.js";
import {
  validateName, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RING_BYTES, DEFAULT_TIMEOUT_MS, tokenHash,
} from "./protocol.js";
import { MethodNames, type MethodName } from "./calls/methods.js";
import { localServers } from "./lifecycle.js";
import { socketPathOf, replicaDirOf, validateSocketPath } from "./connection/paths.js";
import { liveReplicaSockets } from "./connection/replicas.js";
import { positive } from "./options.js";
import { Route, notSent, type RouteOptions } from "./calls/route.js";
import type { Connection } from "./calls/connection.js";
import { Balancer, validateBalance, type Balance } from "./calls/balance.js";
import { closedError } from "./calls/closed.js";
import { Attempts, retryPolicy, type RetryPolicy } from "./calls/retry.js";
// contracts: typed proxies, describe() and stats() live in src/contracts/
import { makeProxy, type Calls } from "./contracts/proxy.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "./contracts/types.js";
import type { ServiceDescription } from "./contracts/describe.js";
import type { ServiceStats } from "./contracts/stats.js";
import { DESCRIBE_METHOD, STATS_METHOD } from "./protocol.js";
// nats: a name that is a NATS URL delegates every call to src/nats/ (the NATS library is
// loaded when such a Client is made)
import { isNatsUrl } from "./nats/connect.js";
import { NatsCalls, natsCallsOfName, natsCallsOfUrl } from "./nats/call.js";
import type { NatsClientOptions } from "./nats/options.js";

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

/** Per-call options, through `client.withOptions(...)`. */
export interface CallOptions {
  /** This call's deadline in milliseconds, instead of the client's default. */
  timeoutMs?: number;
  /** Aborting it rejects the pending `asyncCall` with ERR_RPC_ABORTED. */
  signal?: AbortSignal;
  /** The method is safe to run twice: re-sent (up to retry.maxAttempts) even when a lost
   *  replica may have run it. */
  idempotent?: boolean;
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
/** How often a client of a replicated name looks for replicas that started or went:
 *  a readdir and a lock query per replica, so that a new one takes calls within a second. */
const RESCAN_MS = 250;

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
  private readonly socketPath: string | undefined;
  private readonly serverUid: number;
  /** nats: set when the name is a NATS URL; every call goes there. */
  private readonly remote: NatsCalls | undefined;
  /** nats: a local name's NATS side (option nats): calls go there while no instance of the
   *  name is live on this host. */
  private readonly away: NatsCalls | undefined;
  /** When a call last found no local instance (performance.now()): until RESCAN_MS later,
   *  calls go straight to NATS. */
  private localMissAt = -Infinity;
  private readonly routeOptions: Omit<RouteOptions, "path">;
  private readonly balancer: Balancer;
  private readonly retry: Readonly<RetryPolicy>;
  /** The instances calls may go to: the name's own socket, or one per replica. */
  private routes: Route[] = [];
  /** Whether the name is served by replicas (as last seen). */
  private replicated = false;
  private rescanTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly encoder = new Encoder(core());
  private readonly decoder = new Decoder(core());
  private readonly methodNames = new MethodNames();
  // A route reports from inside the call that connected or lost it (a synchronous
  // call's connect, say, between encoding its arguments and sending them): the events
  // are emitted on a later tick, once that call is done with the client, as net.Socket
  // does. A listener that calls then disturbs nothing.
  private readonly routeEvents = {
    connect: (_route: Route, pid: number) => process.nextTick(this.emitLater, "connect", { pid, uid: this.serverUid }),
    disconnect: (route: Route, pid: number, reason: string) => {
      // A replica that went is forgotten (a rescan finds it again if it comes back).
      if (this.replicated) this.drop(route);
      process.nextTick(this.emitLater, "disconnect", { pid, uid: this.serverUid, reason });
    },
  };
  private readonly emitLater = (event: string, peer: object): void => void this.emit(event, peer);

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
    this.socketPath = validateSocketPath(options.socketPath, "socketPath");
    const serverUid = options.serverUid ?? process.geteuid!();
    if (!Number.isInteger(serverUid) || serverUid < 0 || serverUid >= 2 ** 32 - 1) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option serverUid must be a numeric user id");
    }
    this.serverUid = serverUid;
    this.balancer = new Balancer(validateBalance(options.balance));
    this.retry = retryPolicy(options.retry);
    const tokenKey = options.token === undefined ? undefined : tokenHash(options.token, "token");
    this.routeOptions = { name: this.name, serverUid, ringBytes: ring, maxMessageBytes, spinMs, busyPoll, tokenKey };
    // nats: `connect`/`disconnect` with { nats: "host:port" } as the NATS connection comes and goes.
    const natsEvents = {
      connect: (server: string) => this.emit("connect", { nats: server }),
      disconnect: (server: string, reason: string) => this.emit("disconnect", { nats: server, reason }),
    };
    this.remote = isNatsUrl(name) ? natsCallsOfUrl(name, options.nats, maxMessageBytes, this.retry, natsEvents, tokenKey) : undefined;
    this.away = this.remote === undefined && options.nats !== undefined ? natsCallsOfName(this.name, options.nats, maxMessageBytes, this.retry, natsEvents, tokenKey) : undefined;
  }

  /** True while connected to a live server (to at least one replica). */
  get connected(): boolean {
    if (this.remote) return this.remote.connected;
    for (const r of this.routes) if (r.connected) return true;
    return this.away?.connected === true;
  }

  /** The connection of a name served alone (what the hostile-peer tests reach into). */
  private get conn(): Connection | undefined {
    return this.routes[0]?.current;
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
    if (this.closed) return Promise.reject(this.closedError());
    if (this.remote) return this.remote.waitForConnection(Math.min(timeoutMs, this.timeoutMs));
    if (this.away) {
      // An instance on this host now, else NATS (one look here: no loop left behind).
      const away = this.away;
      const within = Math.min(timeoutMs, this.timeoutMs);
      return this.anyRoute(Math.max(1, within)).then(() => undefined, () => away.waitForConnection(within));
    }
    return this.waitForLocal(timeoutMs);
  }

  private waitForLocal(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let delay = CONNECT_RETRY_FIRST_MS;
    return new Promise<void>((resolve, reject) => {
      const attempt = (): void => {
        if (this.closed) return reject(this.closedError());
        const left = deadline - performance.now();
        this.anyRoute(Math.max(1, Math.min(left, this.timeoutMs))).then(() => resolve(), (e: RpcError) => {
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
    return this.callSync(method, args, this.timeoutMs, false) as T;
  }

  /** Calls `method` without blocking. Never throws: failures reject the promise. */
  asyncCall<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.callAsync(method, args, this.timeoutMs, undefined, false) as Promise<T>;
  }

  /** The same calls with a per-call deadline, AbortSignal and/or idempotence:
   *  `client.withOptions({ timeoutMs: 100, signal, idempotent: true }).asyncCall("m", x)`. */
  withOptions(options: CallOptions): BoundCalls {
    const timeoutMs = positive(options.timeoutMs, this.timeoutMs, "timeoutMs");
    const signal = options.signal;
    if (options.idempotent !== undefined && typeof options.idempotent !== "boolean") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option idempotent must be a boolean");
    }
    const idempotent = options.idempotent === true;
    return {
      call: <T>(method: string, ...args: unknown[]) => this.callSync(method, args, timeoutMs, idempotent) as T,
      asyncCall: <T>(method: string, ...args: unknown[]) => this.callAsync(method, args, timeoutMs, signal, idempotent) as Promise<T>,
    };
  }

  // contracts: the typed API, delegating to src/contracts/
  /** One typed function per method of `contract`: `api.add(1, 2)` is a Promise, or with
   *  `{ sync: true }` the value itself; `{ validate: true }` also checks on this side.
   *  Methods declared `idempotent: true` are retried as `withOptions({ idempotent: true })`. */
  proxy<S extends ContractSpec>(contract: Contract<S>, options?: ProxyOptions & { sync?: false }): Proxy<S, false>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions & { sync: true }): Proxy<S, true>;
  proxy<S extends ContractSpec>(contract: Contract<S>, options: ProxyOptions = {}): Proxy<S, boolean> {
    const calls: Calls = {
      sync: (method, args, idempotent) => this.callSync(method, args, this.timeoutMs, idempotent),
      async: (method, args, idempotent) => this.callAsync(method, args, this.timeoutMs, undefined, idempotent),
    };
    return makeProxy(contract, calls, options);
  }

  /** What the server serves: its methods, with JSON Schema for contract methods. */
  describe(): Promise<ServiceDescription> {
    return this.callAsync(DESCRIBE_METHOD, [], this.timeoutMs, undefined, true) as Promise<ServiceDescription>;
  }

  /** The server's counters (server.stats()), asked over this connection (of a replicated
   *  name: one replica's; connect to each listing's socketPath for each one's). */
  stats(): Promise<ServiceStats> {
    return this.callAsync(STATS_METHOD, [], this.timeoutMs, undefined, true) as Promise<ServiceStats>;
  }
  // contracts: end

  /** Says goodbye, settles every pending call with ERR_RPC_CLOSED and frees all shared memory; later calls fail at once with ERR_RPC_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.remote?.close();
    this.away?.close();
    clearInterval(this.rescanTimer);
    const routes = this.routes;
    this.routes = [];
    for (const r of routes) r.close();
    this.encoder.dispose();
    this.decoder.dispose();
  }

  // ------------------------------------------------------------ instances

  private closedError(): RpcError {
    return closedError(this.name);
  }

  private newRoute(path: string): Route {
    return new Route({ ...this.routeOptions, path }, this.encoder, this.decoder, this.methodNames, this.routeEvents);
  }

  /** The route of a name served alone (made on first use). */
  private soleRoute(): Route {
    if (this.closed) throw this.closedError();
    return this.routes[0] ?? (this.routes[0] = this.newRoute(socketPathOf(this.name, this.socketPath)));
  }

  private drop(route: Route): void {
    const i = this.routes.indexOf(route);
    if (i < 0) return;
    this.routes.splice(i, 1);
    // After its failed calls have settled (this runs inside its disconnect).
    queueMicrotask(() => route.close());
  }

  /** Looks at the file system: is the name served alone or by replicas, and which are
   *  live? Starts connecting to replicas not connected yet. Returns whether replicated. */
  private scan(): boolean {
    if (this.closed) return false;
    let live: string[] = [];
    let alone = false;
    try {
      // A socket at the name's own path: served alone (or a dead server's socket: the
      // connect says so), exactly as without replicas.
      alone = isSocket(socketPathOf(this.name, this.socketPath));
      if (!alone) live = liveReplicaSockets(replicaDirOf(this.name, this.socketPath));
    } catch {
      // No runtime directory: connecting will say why.
    }
    if (live.length === 0) {
      // Replicas all gone: still a replicated name (calls fail after their attempts, and
      // the first replica back is found), until a server without replicas takes it.
      if (this.replicated && alone && !this.otherLive(undefined)) {
        this.replicated = false;
        clearInterval(this.rescanTimer);
        this.rescanTimer = undefined;
        for (const r of this.routes.splice(0)) r.close();
      }
      return this.replicated;
    }
    if (!this.replicated) {
      for (const r of this.routes.splice(0)) r.close(); // the name's own socket: nobody there
      this.replicated = true;
      this.rescanTimer = setInterval(() => this.scan(), RESCAN_MS).unref();
    }
    const known = new Set(this.routes.map((r) => r.path));
    for (const path of live) {
      if (known.has(path)) continue;
      const route = this.newRoute(path);
      this.routes.push(route);
      // Connect from the event loop; one that cannot be reached is forgotten.
      route.connectFromLoop(this.timeoutMs).catch(() => this.drop(route));
    }
    return true;
  }

  /** Another route than `than` is connected now. */
  private otherLive(than: Route | undefined): boolean {
    for (const r of this.routes) if (r !== than && r.connected) return true;
    return false;
  }

  /** A connected route, connecting from the event loop if none is (the first to connect wins). */
  private anyRoute(timeoutMs: number, avoid?: Route): Promise<Route> {
    if (this.closed) return Promise.reject(this.closedError());
    const picked = this.balancer.pick(this.routes, avoid);
    if (picked !== undefined && picked.connection() !== undefined) return Promise.resolve(picked);
    if (!this.scan()) {
      const route = this.soleRoute();
      return route.connectFromLoop(timeoutMs).then(() => route);
    }
    const now = this.balancer.pick(this.routes, avoid);
    if (now !== undefined) return Promise.resolve(now);
    const pending = this.routes.map((r) => r.connectFromLoop(timeoutMs).then(() => r));
    if (pending.length === 0) return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `no replica of ${this.name} is live`, { maybeExecuted: false }));
    return Promise.any(pending).catch((e: AggregateError) => {
      throw e.errors[0];
    });
  }

  // ------------------------------------------------------------ calls

  private nameBytes(method: string): MethodName {
    return this.methodNames.of(method);
  }

  private callSync(method: string, args: unknown[], timeoutMs: number, idempotent: boolean): unknown {
    if (this.closed) throw this.closedError(); // at once, on every transport: never sent, never retried
    if (this.remote) return this.remote.callSync(method, args, timeoutMs, idempotent, this.natsRetry(method));
    if (this.away) return this.eitherSync(method, args, timeoutMs, idempotent, this.away);
    return this.localSync(method, args, timeoutMs, idempotent);
  }

  // ------------------------------------------------------------ locality (nats)
  // A local name with option nats: over shared memory while an instance is live on this
  // host, over NATS otherwise. A call that failed locally without running (or an
  // idempotent one lost with its instance) goes on over NATS within its deadline.

  /** Whether to try this host first: an instance is connected, or the last miss is old
   *  enough to look again (a readdir or a connect that fails at once, every RESCAN_MS). */
  private localFirst(): boolean {
    for (const r of this.routes) if (r.connected) return true;
    if (performance.now() - this.localMissAt < RESCAN_MS) return false;
    // Nothing at the name's socket nor in its replicas directory: no need to try.
    if (!this.scan() && !isSocket(socketPathOf(this.name, this.socketPath))) {
      this.localMissAt = performance.now();
      return false;
    }
    if (this.replicated && this.routes.length === 0) {
      this.localMissAt = performance.now();
      return false;
    }
    return true;
  }

  /** After a local attempt failed with `e`: may the call go on over NATS? */
  private awayAfter(e: unknown, idempotent: boolean): boolean {
    if (this.closed || !(e instanceof RpcError) || !LOST_LOCALLY.has(e.code)) return false;
    if (e.maybeExecuted !== false && !idempotent) return false;
    if (!this.otherLive(undefined)) this.localMissAt = performance.now();
    return true;
  }

  private eitherSync(method: string, args: unknown[], timeoutMs: number, idempotent: boolean, away: NatsCalls): unknown {
    if (!this.localFirst()) return away.callSync(method, args, timeoutMs, idempotent, this.natsRetry(method));
    const deadline = performance.now() + timeoutMs;
    try {
      return this.localSync(method, args, timeoutMs, idempotent);
    } catch (e) {
      const left = deadline - performance.now();
      if (left <= 0 || !this.awayAfter(e, idempotent)) throw e;
      this.reportRetry(method, (e as RpcError).attempts, e, 0);
      return away.callSync(method, args, left, idempotent, this.natsRetry(method));
    }
  }

  private eitherAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined, idempotent: boolean, away: NatsCalls): Promise<unknown> {
    if (!this.localFirst()) return away.callAsync(method, args, timeoutMs, signal, idempotent, this.natsRetry(method));
    const deadline = performance.now() + timeoutMs;
    return this.localAsync(method, args, timeoutMs, signal, idempotent).catch((e: unknown) => {
      const left = deadline - performance.now();
      if (left <= 0 || signal?.aborted || !this.awayAfter(e, idempotent)) throw e;
      this.reportRetry(method, (e as RpcError).attempts, e, 0);
      return away.callAsync(method, args, left, signal, idempotent, this.natsRetry(method));
    });
  }

  /** The retry events of calls over NATS. */
  private natsRetry(method: string): ((failedAttempt: number, e: unknown, delayMs: number) => void) | undefined {
    if (this.listenerCount("retry") === 0) return undefined;
    return (failedAttempt, e, delayMs) => this.reportRetry(method, failedAttempt, e, delayMs);
  }

  // ------------------------------------------------------------ calls on this host

  private localSync(method: string, args: unknown[], timeoutMs: number, idempotent: boolean): unknown {
    if (localServers.has(this.name)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `a synchronous call cannot reach ${this.name}: its server runs on this thread; use asyncCall`);
    }
    const name = this.nameBytes(method);
    if (!this.replicated && !idempotent) {
      // A name served alone, no retries: one attempt, as without replicas.
      try {
        return this.soleRoute().callSync(name, method, args, timeoutMs);
      } catch (e) {
        // Nobody at the name's own socket: maybe replicas serve it now.
        if (!notConnected(e) || !this.scan()) throw e;
      }
    }
    const deadline = performance.now() + timeoutMs;
    // The first attempt goes out without the retry bookkeeping, which only a loss needs.
    let route: Route | undefined;
    try {
      route = this.routeNow(undefined);
      return route.callSync(name, method, args, timeoutMs);
    } catch (e) {
      const attempts = new Attempts(this.retry, idempotent, deadline);
      attempts.count = 1;
      return this.retrySync(name, method, args, attempts, route, e);
    }
  }

  /** Emits `retry` (for those who listen) before a lost call is sent again. */
  private reportRetry(method: string, failedAttempt: number, e: unknown, delayMs: number): void {
    if (this.listenerCount("retry") === 0) return;
    const err = e as RpcError;
    const info: RetryInfo = { method, failedAttempt, code: err.code, maybeExecuted: err.maybeExecuted ?? true, delayMs };
    this.emit("retry", info);
  }

  /** A synchronous call sent again after attempt `attempts.count` failed with `failure`
   *  on `failedOn`, as `attempts` allows. */
  private retrySync(name: MethodName, method: string, args: unknown[], attempts: Attempts, failedOn: Route | undefined, failure: unknown): unknown {
    let pause: Int32Array | undefined;
    let route = failedOn;
    let e = failure;
    for (;;) {
      if (route !== undefined && this.replicated && !route.connected) this.drop(route);
      const wait = attempts.next(e, this.otherLive(route));
      if (wait < 0) throw attempts.fail(e);
      this.reportRetry(method, attempts.count, e, wait);
      if (wait > 0) Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, wait);
      const avoid = route;
      route = undefined;
      attempts.count++;
      try {
        route = this.routeNow(avoid);
        return route.callSync(name, method, args, Math.max(1, attempts.deadline - performance.now()));
      } catch (err) {
        e = err;
      }
    }
  }

  /** The route for a synchronous attempt: a connected one, else one to connect (blocking). */
  private routeNow(avoid: Route | undefined): Route {
    if (this.closed) throw this.closedError();
    const picked = this.balancer.pick(this.routes, avoid);
    if (picked !== undefined) return picked;
    if (!this.scan()) return this.soleRoute();
    const picked2 = this.balancer.pick(this.routes, avoid);
    if (picked2 !== undefined) return picked2;
    const any = this.routes[0];
    if (any === undefined) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `no replica of ${this.name} is live`, { maybeExecuted: false });
    return any;
  }

  private callAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined, idempotent: boolean): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closedError()); // at once, on every transport: never sent, never retried
    if (this.remote) return this.remote.callAsync(method, args, timeoutMs, signal, idempotent, this.natsRetry(method));
    if (this.away) return this.eitherAsync(method, args, timeoutMs, signal, idempotent, this.away);
    return this.localAsync(method, args, timeoutMs, signal, idempotent);
  }

  private localAsync(method: string, args: unknown[], timeoutMs: number, signal: AbortSignal | undefined, idempotent: boolean): Promise<unknown> {
    if (signal?.aborted) {
      return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted before it was sent`, { cause: signal.reason }));
    }
    let name: MethodName;
    try {
      name = this.nameBytes(method);
      if (!this.replicated && !idempotent) {
        // A name served alone, no retries: one attempt, as without replicas.
        const route = this.soleRoute();
        if (route.connection() !== undefined) return route.callAsync(name, method, args, timeoutMs, signal);
        // The first call (or the first since the server went): connect from the event
        // loop, then send. Calls made meanwhile wait on the same handshake, in order.
        if (!this.scan()) {
          return route.connectFromLoop(timeoutMs).then(() => this.localAsync(method, args, timeoutMs, signal, idempotent), notSent);
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return this.callAsyncAttempts(name, method, args, signal, new Attempts(this.retry, idempotent, performance.now() + timeoutMs));
  }

  /** An asyncCall sent again after a loss, as `attempts` allows. */
  private callAsyncAttempts(name: MethodName, method: string, args: unknown[], signal: AbortSignal | undefined, attempts: Attempts): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const attempt = (avoid: Route | undefined): void => {
        attempts.count++;
        let used: Route | undefined;
        const left = Math.max(1, attempts.deadline - performance.now());
        // Sent now when a replica is connected (so that it counts as in flight at once).
        const picked = this.closed ? undefined : this.balancer.pick(this.routes, avoid);
        const sent = picked !== undefined && picked.connection() !== undefined
          ? ((used = picked), picked.callAsync(name, method, args, left, signal))
          : this.anyRoute(left, avoid).then(
            (route) => {
              used = route;
              return route.callAsync(name, method, args, Math.max(1, attempts.deadline - performance.now()), signal);
            },
            notSent,
          );
        sent.then(resolve, (e: unknown) => {
          const wait = signal?.aborted ? -1 : attempts.next(e, this.otherLive(used));
          if (wait < 0) return reject(attempts.fail(e));
          this.reportRetry(method, attempts.count, e, wait);
          if (wait === 0) return attempt(used);
          setTimeout(() => attempt(used), wait);
        });
      };
      attempt(undefined);
    });
  }
}

/** Local failures after which a call may go on over NATS (as retry.ts's losses). */
const LOST_LOCALLY: ReadonlySet<string> = new Set([ErrorCodes.ERR_RPC_DISCONNECTED, ErrorCodes.ERR_RPC_NOT_CONNECTED, ErrorCodes.ERR_RPC_SERVER_FULL]);

function notConnected(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_NOT_CONNECTED && e.maybeExecuted === false;
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}
