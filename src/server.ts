// The serving side's public object: owns the name (the listener, src/connection/),
// registers methods, runs and closes. Serving itself (connections, the serving turn,
// dispatch, replies) is src/serving/'s.

import { EventEmitter } from "node:events";
import { inspect } from "node:util";
import { randomBytes } from "./connection/random.js";
import { L } from "./core/layout.js";
import { Spin, IDLE_POLLS_PER_CLOCK } from "./core/spin.js";
import { native } from "./native.js";
import { RpcError, ErrorCodes } from "./errors.js";
import {
  validateName, DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_RING_BYTES, DEFAULT_MAX_MAPPED_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_RING_BYTES, tokenHash,
} from "./protocol.js";
import { Listener } from "./connection/listener.js";
import { validateSocketPath } from "./connection/paths.js";
import { MethodRegistry, connectionStat, statsSeenBy } from "./serving/registry.js";
import type { Middleware } from "./serving/middleware.js";
import { Serving } from "./serving/dispatch.js";
import {
  Budgets, DEFAULT_MAX_INFLIGHT_PER_CONNECTION, DEFAULT_MAX_REASSEMBLY_BYTES, DEFAULT_MAX_REASSEMBLY_BYTES_PER_USER, DEFAULT_MAX_QUEUED_BYTES_TOTAL,
} from "./serving/budgets.js";
import { localServers, onProcessExit } from "./lifecycle.js";
import { positive } from "./options.js";
// contracts: typed methods, validation, describe() and stats() live in src/contracts/
import type { ServiceDescription } from "./contracts/describe.js";
import type { ConnectionStats, ServiceStats } from "./contracts/stats.js";
import type { Contract, ContractSpec, Handlers, ContextHandlers } from "./contracts/types.js";
// nats: serving over NATS too (src/nats/; the NATS library loads only when used)
import { connectionOptions } from "./nats/connect.js";
import { NatsService, serviceVersion } from "./nats/serve.js";
import { RefusalReport } from "./serving/refusals.js";
import { connectionsTheFdLimitAllows, openFilesLimit } from "./connection/fd-limit.js";

// The public types and the check of bind()'s options: src/serving/options.ts
export type { Handler, BindOptions, ServerOptions, PeerInfo } from "./serving/options.js";
import { flagOption, idsOption, type Handler, type BindOptions, type ServerOptions, type PeerInfo } from "./serving/options.js";

/**
 * Serves named methods to clients on this host. `bind` or `implement` methods, then
 * `run()`. Emits `connect` and `disconnect` with a {@link PeerInfo} for each client.
 */
export class Server extends EventEmitter {
  /** The server's name, as given ("/calc"). */
  readonly name: string;
  /** Its methods (an Endpoint each: handler, contract entry, counters), middleware,
   *  describe() and stats() (src/serving/registry.ts). */
  private readonly registry: MethodRegistry;
  /** Unique per Server object: names a replica's socket, and shows in stats() and listServers(). */
  readonly instanceId = randomBytes(11).toString("hex");
  private readonly maxMessageBytes: number;
  /** nats: the NATS side, when the nats option is given; started by run(). */
  private readonly natsService: NatsService | undefined;
  private natsStarted: Promise<void> | undefined;
  private readonly onError: (err: RpcError) => void;
  /** Refused peers and dropped NATS requests, told through onError in aggregate. */
  private readonly refusals: RefusalReport;
  private readonly catchRejections: boolean;
  private readonly listener: Listener;
  /** The serving engine: connections, the serving turn, dispatch (src/serving/). */
  private readonly serving: Serving;

  private state: "idle" | "running" | "closing" | "closed" = "idle";
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;

  constructor(name: string, options: ServerOptions = {}) {
    super();
    this.name = validateName(name);
    this.registry = new MethodRegistry(this.name, () => this.statsForCaller());
    const maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes");
    this.maxMessageBytes = maxMessageBytes;
    const busyPoll = options.busyPoll === true;
    const spinMs = positive(options.spinMicros, 50, "spinMicros", true) / 1000;
    this.onError = options.onError ?? ((err) => console.warn(`shmrpc server ${this.name}: ${err.code}: ${err.message}`));
    const maxQueuedBytes = positive(options.maxQueuedBytes, 64 << 20, "maxQueuedBytes");
    const allowUsers = idsOption(options.allowUsers, "allowUsers");
    const allowGroups = idsOption(options.allowGroups, "allowGroups");
    const socketPath = validateSocketPath(options.socketPath, "socketPath");
    if ((allowUsers.size > 0 || allowGroups.size > 0) && socketPath === undefined) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "options allowUsers and allowGroups need a socketPath that those users can reach (the default directory is private to this user)");
    }
    this.catchRejections = flagOption(options.catchUnhandledRejections, "catchUnhandledRejections");
    const tokenKey = options.token === undefined ? undefined : tokenHash(options.token, "token");
    this.refusals = new RefusalReport((err) => this.onError(err), positive(options.refusalReportMs, 1000, "refusalReportMs", true));
    const exposeStacks = flagOption(options.exposeStacks, "exposeStacks");
    this.serving = new Serving(this.name, this.registry.methods, maxMessageBytes, maxQueuedBytes, new Spin(spinMs, busyPoll, IDLE_POLLS_PER_CLOCK, native.yieldCpu), {
      error: (err) => this.onError(err),
      connect: (peer) => this.emit("connect", peer),
      disconnect: (peer) => this.emit("disconnect", peer),
      idle: () => this.listener.prepareSpare(),
    }, new Budgets({
      maxReassemblyBytes: positive(options.maxReassemblyBytes, DEFAULT_MAX_REASSEMBLY_BYTES, "maxReassemblyBytes"),
      maxReassemblyBytesPerUser: positive(options.maxReassemblyBytesPerUser, DEFAULT_MAX_REASSEMBLY_BYTES_PER_USER, "maxReassemblyBytesPerUser"),
      maxInflightPerConnection: positive(options.maxInflightPerConnection, DEFAULT_MAX_INFLIGHT_PER_CONNECTION, "maxInflightPerConnection"),
      maxQueuedBytesTotal: positive(options.maxQueuedBytesTotal, DEFAULT_MAX_QUEUED_BYTES_TOTAL, "maxQueuedBytesTotal"),
    }), exposeStacks);
    this.listener = new Listener({
      name: this.name,
      usualRingBytes: DEFAULT_RING_BYTES,
      socketPath,
      allowUsers,
      allowGroups,
      tokenKey,
      maxRingBytes: positive(options.maxRingBytes, DEFAULT_MAX_RING_BYTES, "maxRingBytes"),
      maxMappedBytes: positive(options.maxMappedBytes, DEFAULT_MAX_MAPPED_BYTES, "maxMappedBytes"),
      maxConnections: this.connectionsWithinFdLimit(positive(options.maxConnections, DEFAULT_MAX_CONNECTIONS, "maxConnections"), options.maxConnections !== undefined),
      maxConnectionsPerUser: positive(options.maxConnectionsPerUser, DEFAULT_MAX_CONNECTIONS / 2, "maxConnectionsPerUser"),
      maxMappedBytesPerUser: positive(options.maxMappedBytesPerUser, DEFAULT_MAX_MAPPED_BYTES / 2, "maxMappedBytesPerUser"),
      handshakeTimeoutMs: positive(options.handshakeTimeoutMs, 5000, "handshakeTimeoutMs"),
      replica: options.replica === true,
      instanceId: this.instanceId,
    }, {
      established: (c) => this.serving.accept(c),
      refused: (err, kind) => this.refusals.add(err, kind),
      usage: () => ({ mappedBytes: this.serving.mappedBytes, connections: this.serving.conns.length }),
      usageOf: (uid) => this.serving.usageOf(uid),
      info: () => ({ methods: this.registry.size, startedAt: this.registry.started.getTime() }),
    });
    if (options.nats !== undefined) {
      const served = {
        name: this.name, instanceId: this.instanceId, methods: this.registry.methods, maxMessageBytes, exposeStacks,
        stats: () => this.stats(), onError: (err: RpcError) => this.onError(err),
        refused: (err: RpcError, kind: string) => this.refusals.add(err, kind),
      };
      this.natsService = new NatsService(served, connectionOptions(options.nats, "nats"), serviceVersion(L.PROTOCOL_VERSION), tokenKey);
    }
  }

  /** `wanted` connections, clamped to what RLIMIT_NOFILE leaves room for (told through
   *  onError when the option asked for more; the default is clamped silently). */
  private connectionsWithinFdLimit(wanted: number, given: boolean): number {
    const room = connectionsTheFdLimitAllows();
    if (room === undefined || wanted <= room) return wanted;
    if (given) {
      this.onError(new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, `option maxConnections (${wanted}) is over what the process's open-files limit (RLIMIT_NOFILE ${openFilesLimit()}) leaves room for: ${room} connections (raise it with ulimit -n)`));
    }
    return room;
  }

  /** The Unix socket clients connect to (a replica's own, in the name's replicas directory). */
  get socketPath(): string {
    return this.listener.path;
  }

  /** Registers `handler` under `method` (replacing any previous one). With
   *  `{ view: true }`, its `Buffer` and `Uint8Array` arguments are views of the
   *  connection's memory instead of copies, valid only until the handler returns (an
   *  async handler: until its promise settles, the connection's other calls waiting
   *  until then); see {@link BindOptions}. */
  bind(method: string, handler: Handler, options?: BindOptions): this {
    this.registry.bind(method, handler, options);
    return this;
  }

  /** Adds a middleware, run around every call of every method this server's user
   *  registers (before or after), in registration order, over every transport; with a
   *  contract, after its arguments are validated. See {@link Middleware}. */
  use(middleware: Middleware): this {
    this.registry.use(middleware);
    return this;
  }

  // contracts: the typed API, delegating to src/contracts/
  /** Registers a handler for every method of `contract`; each call's arguments and result
   *  are validated against its schemas. Mixes with bind(). `{ view: true }`: as for
   *  bind(), for every method of the contract. With `{ context: true }` each handler gets
   *  the call's {@link CallContext} after its arguments. */
  implement<S extends ContractSpec>(contract: Contract<S>, handlers: ContextHandlers<S>, options: BindOptions & { context: true }): this;
  /** Registers a handler for every method of `contract`; each call's arguments and result
   *  are validated against its schemas. Mixes with bind(). `{ view: true }`: as for
   *  bind(), for every method of the contract. */
  implement<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S>, options?: BindOptions & { context?: false }): this;
  implement<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S> | ContextHandlers<S>, options?: BindOptions): this {
    this.registry.implement(contract, handlers, options);
    return this;
  }

  /** What this server serves (what `client.describe()` receives). */
  describe(): ServiceDescription {
    return this.registry.describe();
  }

  /** Counters per method and per connection, in the shape of a NATS service-stats response. */
  stats(): ServiceStats {
    return this.registry.stats(this.instanceId, this.connectionStats());
  }

  /** `$shmrpc.stats` as the caller may see it (src/serving/registry.ts, statsSeenBy). */
  private statsForCaller(): ServiceStats {
    return statsSeenBy(this.stats(), this.serving.caller?.uid, process.geteuid!());
  }

  /** contracts: what stats() shows of each connected client. */
  private connectionStats(): ConnectionStats[] {
    return this.serving.conns.map((conn) => connectionStat(conn.pid, conn.uid, conn.inflight, conn.channel));
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
      // ready() rejects as run() does (the name taken: ERR_RPC_ADDRESS_IN_USE).
      this.natsStarted = Promise.reject(e);
      this.natsStarted.catch(() => {});
      return Promise.reject(e);
    }
    this.listener.ref(); // a running server keeps its process alive
    this.state = "running";
    this.serving.start();
    this.listener.prepareSpare(); // the first client's memory, made before it asks
    localServers.add(this.name);
    onProcessExit.add(this.exitHook);
    if (this.catchRejections) process.on("unhandledRejection", this.onUnhandledRejection);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    if (this.natsService === undefined) return this.stopped;
    // nats: a NATS server that cannot be reached or refuses us fails run(), and the server closes.
    const started = this.natsService.start();
    this.natsStarted = started;
    started.catch(() => {}); // reported through run(); ready() hands it out again
    const failed = started.then(() => new Promise<void>(() => {}), (e: unknown) => {
      void this.close(); // rejects run() first: stopped resolves only once close has finished
      throw e;
    });
    return Promise.race([this.stopped, failed]);
  }

  /** Resolves once the server serves on every transport: at once for shared memory, once
   *  the NATS server has the subscriptions with the `nats` option; rejects as run() does. */
  ready(): Promise<void> {
    if (this.state === "idle") return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `server ${this.name} is not running: call run() first`));
    return this.natsStarted ?? Promise.resolve();
  }

  /** Says goodbye to every client, frees all shared memory and releases the name.
   *  With `drainMs`, drains first: stops listening (the name is free for a new server),
   *  refuses new calls with ERR_RPC_UNAVAILABLE (they did not run: clients send them
   *  elsewhere), over NATS drains the queue subscriptions, lets running calls finish for
   *  up to `drainMs` ms, then aborts the signals of those still running and closes. */
  async close(options?: {
    /** How long running calls may still finish, in ms (0 or none: close at once). */
    drainMs?: number;
  }): Promise<void> {
    // Checked before anything closes: a bad option leaves the server serving.
    const drainMs = options?.drainMs === undefined ? 0 : positive(options.drainMs, 0, "drainMs", true);
    if (this.state === "idle") {
      this.state = "closed";
      return;
    }
    if (this.state !== "running") return this.stopped;
    this.state = "closing";
    this.listener.close();
    if (drainMs > 0) {
      const nats = this.natsService?.drain(drainMs);
      await Promise.all([this.serving.drainCalls(drainMs), nats]);
    }
    this.serving.close();
    this.refusals.close();
    localServers.delete(this.name);
    onProcessExit.delete(this.exitHook);
    process.off("unhandledRejection", this.onUnhandledRejection);
    this.state = "closed";
    await this.natsService?.close(); // nats
    this.resolveStopped?.();
  }

  private readonly onUnhandledRejection = (reason: unknown): void => {
    const what = reason instanceof Error ? reason.stack ?? reason.message : inspect(reason, { depth: 2, breakLength: Infinity });
    this.onError(new RpcError(ErrorCodes.ERR_RPC_REMOTE, `a promise rejection nobody handled (the server keeps running): ${what}`, { cause: reason }));
  };

  /** Number of connected clients. */
  get connections(): number {
    return this.serving.conns.length;
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

}
