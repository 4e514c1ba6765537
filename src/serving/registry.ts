// What both Servers (src/server.ts in a process, src/threads/server.ts in a thread) keep of
// their methods: bind, implement and use fill one Methods table (with the reserved
// $shmrpc.describe and $shmrpc.stats), which their serving reads; describe and stats
// report it. Imports nothing of Node: src/threads is bundled for the browser.

import { L } from "../core/layout.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { DESCRIBE_METHOD, STATS_METHOD, METHOD_NAME_MAX_BYTES } from "../protocol.js";
import { Methods } from "./methods.js";
import { checkMiddleware, type Middleware } from "./middleware.js";
import { viewOption, type Handler, type BindOptions } from "./options.js";
import { Endpoint } from "../contracts/endpoint.js";
import { contractEndpoints, refuseReserved } from "../contracts/implement.js";
import { describeService, type ServiceDescription } from "../contracts/describe.js";
import { serviceStats, type ConnectionStats, type ServiceStats } from "../contracts/stats.js";
import type { Contract, ContractSpec, Handlers, ContextHandlers } from "../contracts/types.js";
import type { Channel } from "../channel.js";

/** The reserved methods ($describe, $stats) that every server has. */
const RESERVED_METHODS = 2;
const utf8 = new TextEncoder();

function checkMethodName(method: unknown): void {
  if (typeof method !== "string" || method.length === 0 || utf8.encode(method).length > METHOD_NAME_MAX_BYTES) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name must be a non-empty string of at most ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`);
  }
}

/** A server's methods, its middleware, and what describe() and stats() say of them. */
export class MethodRegistry {
  /** By name and by method id; what the serving side dispatches through. */
  readonly methods = new Methods();
  /** When the server was made (describe(), stats()). */
  readonly started = new Date();

  /** `stats` answers `$shmrpc.stats` (the server decides what a caller may see). */
  constructor(private readonly name: string, stats: () => ServiceStats) {
    this.methods.set(DESCRIBE_METHOD, new Endpoint(DESCRIBE_METHOD, () => this.describe(), undefined));
    this.methods.set(STATS_METHOD, new Endpoint(STATS_METHOD, stats, undefined));
  }

  /** The methods the server's user registered. */
  get size(): number {
    return this.methods.size - RESERVED_METHODS;
  }

  bind(method: string, handler: Handler, options: BindOptions | undefined): void {
    checkMethodName(method);
    if (typeof handler !== "function") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `handler for "${method}" must be a function`);
    }
    refuseReserved(method); // contracts: "$" names are the server's own
    const ep = new Endpoint(method, handler, undefined);
    ep.view = viewOption(options);
    ep.context = options?.context === true;
    this.methods.set(method, ep);
  }

  use(middleware: Middleware): void {
    this.methods.use(checkMiddleware(middleware));
  }

  implement<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S> | ContextHandlers<S>, options: BindOptions | undefined): void {
    const view = viewOption(options);
    const context = options?.context === true;
    const endpoints = contractEndpoints(contract, handlers, context);
    for (const ep of endpoints) {
      checkMethodName(ep.name);
      ep.view = view;
      ep.context = context;
    }
    for (const ep of endpoints) this.methods.set(ep.name, ep);
  }

  describe(): ServiceDescription {
    return describeService(this.name, L.PROTOCOL_VERSION, this.started, this.methods.values());
  }

  stats(instanceId: string, connections: ConnectionStats[]): ServiceStats {
    return serviceStats(this.name, instanceId, this.started, this.methods.values(), connections);
  }
}

/** What stats() shows of one connected client (a thread's: pid and uid -1). */
export function connectionStat(pid: number, uid: number, inFlight: number, channel: Channel): ConnectionStats {
  return {
    pid,
    uid,
    in_flight: inFlight,
    request_ring: { used: channel.reader.used(), capacity: channel.reader.capacity },
    response_ring: { used: channel.writer.used(), capacity: channel.writer.capacity },
    bytes_queued: channel.queuedBytes,
  };
}

/** `$shmrpc.stats` as a caller sees it: everything for a caller of the server's own user
 *  (`ownUid`); for another user, its own connections only and no method's last error text
 *  (another client's arguments may be in it); with no uid (over NATS), no connections and
 *  no error texts. */
export function statsSeenBy(all: ServiceStats, callerUid: number | undefined, ownUid: number): ServiceStats {
  if (callerUid === ownUid) return all;
  const own = callerUid === undefined ? [] : all.connections.filter((c) => c.uid === callerUid);
  return { ...all, connections: own, endpoints: all.endpoints.map((e) => ({ ...e, last_error: "" })) };
}
