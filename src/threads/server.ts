// The serving side in a thread: methods as on a process's Server (bind, implement,
// describe, stats, the reserved $shmrpc methods), served to clients in other threads over
// connections it makes on demand (connect) and hands over with postMessage. No name in
// any namespace, no listener: a connection exists because this side made it.

import { L } from "../core/layout.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../protocol.js";
import { positive } from "../options.js";
import { MethodRegistry, connectionStat } from "../serving/registry.js";
import type { Middleware } from "../serving/middleware.js";
import { flagOption, type Handler, type BindOptions } from "../serving/options.js";
import type { ServiceDescription } from "../contracts/describe.js";
import type { ConnectionStats, ServiceStats } from "../contracts/stats.js";
import type { Contract, ContractSpec, Handlers } from "../contracts/types.js";
import { GONE_SERVER, holdLock, webLocks, makeConnection, type ThreadConnection, type ThreadPort } from "./connection.js";
import { ServedThread, type ServeShared } from "./serve.js";

/** Options of {@link ThreadServer}; every one has a default. */
export interface ThreadServerOptions {
  /** Largest message sent or accepted, encoded (default 128 MiB). */
  maxMessageBytes?: number;
  /** Size of each of a connection's two rings, a power of two (default 256 KiB). */
  ringBytes?: number;
  /** Never park while waiting for requests: lowest latency, one core at 100% per client. */
  busyPoll?: boolean;
  /** How long to poll for requests before parking (default 50 µs). */
  spinMicros?: number;
  /** Send handlers' stack traces to callers (default false). */
  exposeStacks?: boolean;
  /** Told of connection-level problems (a client that broke the protocol); default console.warn. */
  onError?: (err: RpcError) => void;
}

const DEFAULT_THREAD_RING_BYTES = 256 * 1024;

/**
 * Serves methods to clients in other threads: `bind`/`implement` as on a `Server`, then
 * `connect()` once per client and send what it returns to that client's thread
 * (`worker.postMessage(conn, [conn.port])`), where `new ThreadClient(conn)` calls.
 */
export class ThreadServer {
  /** The name errors and describe() report (not a socket: nothing is listening). */
  readonly name: string;
  /** Its methods, middleware, describe() and stats() (src/serving/registry.ts). */
  private readonly registry: MethodRegistry;
  private readonly conns = new Set<ServedThread>();
  private readonly shared: ServeShared;
  private readonly ringBytes: number;
  private numbered = 0;
  private closed = false;
  /** Browsers: the Web Lock this thread holds while the server is open (see ThreadConnection.lock). */
  private readonly lock: string | undefined;
  private lockHeld = false;
  private readonly onLockHeld: (() => void)[] = [];
  private readonly releaseLock: (() => void) | undefined;
  private readonly onExit = (): void => {
    for (const c of this.conns) c.link.leave(GONE_SERVER);
  };

  constructor(name: string, options: ThreadServerOptions = {}) {
    if (typeof name !== "string" || name.length === 0 || name.length > 255) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a thread server's name must be a non-empty string of at most 255 characters");
    }
    this.name = name;
    this.registry = new MethodRegistry(name, () => this.stats());
    const ring = positive(options.ringBytes, DEFAULT_THREAD_RING_BYTES, "ringBytes");
    if (ring < L.RING_MIN_CAPACITY || ring > 1 << 26 || (ring & (ring - 1)) !== 0) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ringBytes must be a power of two between ${L.RING_MIN_CAPACITY} and ${1 << 26}`);
    }
    this.ringBytes = ring;
    const onError = options.onError ?? ((err: RpcError) => console.warn(`shmrpc thread server ${name}: ${err.code}: ${err.message}`));
    this.shared = {
      name,
      methods: this.registry.methods,
      maxMessageBytes: positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, "maxMessageBytes"),
      exposeStacks: flagOption(options.exposeStacks, "exposeStacks"),
      spinMs: positive(options.spinMicros, 50, "spinMicros", true) / 1000,
      busyPoll: options.busyPoll === true,
      error: onError,
      ended: (conn) => this.conns.delete(conn),
    };
    // A Node thread that ends by throwing out (or process.exit) runs 'exit' listeners: the
    // clients learn it from the connection's "gone" word at once, even one blocked in a
    // synchronous call (whose event loop cannot see the port close). terminate() runs none:
    // the port's 'close' tells the clients' event loops.
    globalThis.process?.once?.("exit", this.onExit);
    const locks = webLocks();
    this.lock = locks === undefined ? undefined : `shmrpc-thread-${crypto.randomUUID()}`;
    if (locks !== undefined) {
      this.releaseLock = holdLock(locks, this.lock!, () => {
        this.lockHeld = true;
        for (const f of this.onLockHeld.splice(0)) f();
      });
    } else this.lockHeld = true;
  }

  /** Serves `method` with `handler` (options as `Server.bind`: `view`, `context`). */
  bind(method: string, handler: Handler, options?: BindOptions): this {
    this.registry.bind(method, handler, options);
    return this;
  }

  /** Adds a middleware, run around every call of every method (as `Server.use`). */
  use(middleware: Middleware): this {
    this.registry.use(middleware);
    return this;
  }

  /** Serves a contract's methods, their arguments and results checked (as `Server.implement`). */
  implement<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S>, options?: BindOptions): this {
    this.registry.implement(contract, handlers, options);
    return this;
  }

  /** A new connection for one client: send it with `postMessage(conn, [conn.port])`. */
  connect(): ThreadConnection {
    if (this.closed) throw new RpcError(ErrorCodes.ERR_RPC_CLOSED, `thread server ${this.name} is closed`);
    const { port1, port2 } = new MessageChannel();
    const { link, conn } = makeConnection(this.name, this.ringBytes, this.shared.maxMessageBytes, port2 as unknown as ThreadPort, this.lock);
    const served = new ServedThread(link, port1 as unknown as ThreadPort, ++this.numbered, this.shared, conn.clientLock);
    this.conns.add(served);
    // The client asks for the server's lock once told that the server holds it.
    if (this.lock !== undefined) this.whenLockHeld(() => served.tellLocked());
    return conn;
  }

  /** Resolves once this server's clients can tell when its thread ends: at once in Node;
   *  in a browser, once it holds its Web Lock (a server whose worker is terminated before
   *  that leaves its clients' pending calls to their deadlines). */
  ready(): Promise<void> {
    return new Promise((resolve) => this.whenLockHeld(resolve));
  }

  private whenLockHeld(f: () => void): void {
    if (this.lockHeld) f();
    else this.onLockHeld.push(f);
  }

  /** What it serves: its methods, with JSON Schema for contract methods. */
  describe(): ServiceDescription {
    return this.registry.describe();
  }

  /** Its counters; a thread connection's pid and uid are -1 (it has no process of its own). */
  stats(): ServiceStats {
    const conns: ConnectionStats[] = [...this.conns].map((c) => connectionStat(-1, -1, c.inflight, c.link.channel));
    return this.registry.stats("thread", conns);
  }

  /** Drops every connection (their clients' pending calls fail ERR_RPC_DISCONNECTED,
   *  running handlers' signals abort); connect() is refused after. */
  close(): void {
    this.closed = true;
    globalThis.process?.off?.("exit", this.onExit);
    for (const c of [...this.conns]) c.drop("the server closed", true);
    this.releaseLock?.();
  }
}
