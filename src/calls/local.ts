// The instances of a name on this host, as one Transport (src/calls/transport.ts): a name
// served alone has one Route (src/calls/route.ts); a replicated name one per live replica,
// found in its replicas directory and rescanned while in use, with a balancer
// (src/calls/balance.ts) picking one per attempt.

import { closedError } from "./closed.js";
import { lstatSync } from "node:fs";
import { core } from "../core/wasm.js";
import { native } from "../native.js";
import { Encoder } from "../codec/encode.js";
import { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { localServers } from "../lifecycle.js";
import { socketPathOf, replicaDirOf } from "../connection/paths.js";
import { liveReplicaSockets } from "../connection/replicas.js";
import { Route, notSent, type RouteOptions } from "./route.js";
import type { Connection } from "./connection.js";
import { Balancer } from "./balance.js";
import { MethodNames, type MethodName } from "./methods.js";
import type { Call, CallSettings, Refused, Transport } from "./transport.js";

/** waitForConnection's retries while no server listens: from the first delay,
 *  doubling, to the last. */
const CONNECT_RETRY_FIRST_MS = 5;
const CONNECT_RETRY_MAX_MS = 100;
/** How often a client of a replicated name looks for replicas that started or went:
 *  a readdir and a lock query per replica, so that a new one takes calls within a second. */
export const RESCAN_MS = 250;

/** What the instances tell their Client: a connection made or ended. */
export interface LocalEvents {
  connect(pid: number): void;
  disconnect(pid: number, reason: string): void;
}

export class LocalInstances implements Transport {
  /** The instances calls may go to: the name's own socket, or one per replica. */
  routes: Route[] = [];
  /** Whether the name is served by replicas (as last seen). */
  replicated = false;
  closed = false;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly encoder = new Encoder(core());
  private readonly decoder = new Decoder(core(), native.copyBytes);
  /** Metadata's encoder (made on first use). */
  private contextEncoder: Encoder | undefined;
  private readonly contextEncoderOf = (): Encoder => (this.contextEncoder ??= new Encoder(core()));
  readonly methodNames = new MethodNames();
  private readonly routeEvents = {
    connect: (_route: Route, pid: number) => this.events.connect(pid),
    disconnect: (route: Route, pid: number, reason: string) => {
      // A replica that went is forgotten (a rescan finds it again if it comes back).
      if (this.replicated) this.drop(route);
      this.events.disconnect(pid, reason);
    },
  };

  constructor(
    readonly name: string,
    private readonly socketPath: string | undefined,
    private readonly routeOptions: Omit<RouteOptions, "path">,
    private readonly balancer: Balancer,
    /** The connect timeout of replicas found by a rescan. */
    private readonly timeoutMs: number,
    private readonly events: LocalEvents,
  ) {}

  get connected(): boolean {
    for (const r of this.routes) if (r.connected) return true;
    return false;
  }

  mayRetry(settings: CallSettings): boolean {
    return this.replicated || settings.idempotent;
  }

  otherLive(call: Call): boolean {
    return this.otherThan(call.used as Route | undefined);
  }

  /** Another route than `than` is connected now. */
  otherThan(than: Route | undefined): boolean {
    for (const r of this.routes) if (r !== than && r.connected) return true;
    return false;
  }

  /** Resolves once a server serves the name and has accepted this client (see Client.waitForConnection). */
  waitForConnection(timeoutMs: number): Promise<void> {
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

  /** One look for an instance now: resolves with it connected, or rejects. */
  connectOnce(timeoutMs: number): Promise<void> {
    return this.anyRoute(timeoutMs).then(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.rescanTimer);
    const routes = this.routes;
    this.routes = [];
    for (const r of routes) r.close();
    this.encoder.dispose();
    this.contextEncoder?.dispose();
    this.decoder.dispose();
  }

  // ------------------------------------------------------------ attempts

  attemptSync(call: Call, timeoutMs: number): unknown {
    if (localServers.has(this.name)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `a synchronous call cannot reach ${this.name}: its server runs on this thread; use asyncCall`);
    }
    const name = this.methodNames.of(call.method);
    if (!this.replicated) {
      const route = this.soleRoute();
      if (call.used === route && route.refusesNewCalls()) throw refusedHere(this.name, call.method);
      call.used = route;
      try {
        return route.callSync(name, call.method, call.args, timeoutMs, call.settings.metadata, call.settings.sizes);
      } catch (e) {
        // Refused by a draining server: the loop re-sends it within the deadline counted
        // from the wait's first clock reading (see Call.startedAt).
        if (isUnavailable(e)) call.startedAt = route.sync.startedAt;
        // Nobody at the name's own socket: maybe replicas serve it now.
        if (!notConnected(e) || !this.scan()) throw e;
      }
      call.used = undefined;
    }
    const avoid = call.used as Route | undefined;
    if (avoid !== undefined && !avoid.connected) this.drop(avoid);
    const route = this.routeNow(avoid);
    if (avoid !== undefined && route.refusesNewCalls()) throw refusedHere(this.name, call.method);
    call.used = route;
    return route.callSync(name, call.method, call.args, timeoutMs, call.settings.metadata, call.settings.sizes);
  }

  /** The hot path (see Transport.attemptOnce): a name served alone, connected. The
   *  route's promise is the call's, and its AsyncCalls hands a refusal to `refused`. */
  attemptOnce(method: string, args: unknown[], settings: CallSettings, refused: Refused): Promise<unknown> | undefined {
    const route = this.routes[0];
    if (this.replicated || route === undefined) return undefined;
    let name: MethodName;
    try {
      if (route.connection() === undefined) return undefined;
      name = this.methodNames.of(method);
    } catch (e) {
      return Promise.reject(e);
    }
    return route.callAsync(name, method, args, settings.timeoutMs, settings, undefined, refused);
  }

  attemptAsync(call: Call, timeoutMs: number): Promise<unknown> {
    let name: MethodName;
    try {
      name = this.methodNames.of(call.method);
      if (!this.replicated) {
        const route = this.soleRoute();
        if (call.used === route && route.refusesNewCalls()) return Promise.reject(refusedHere(this.name, call.method));
        call.used = route;
        if (route.connection() !== undefined) return route.callAsync(name, call.method, call.args, timeoutMs, call.settings, call.stream);
        // The first call (or the first since the server went): connect from the event
        // loop, then send. Calls made meanwhile wait on the same handshake, in order.
        if (!this.scan()) {
          const start = performance.now();
          return route.connectFromLoop(timeoutMs).then(
            () => this.attemptAsync(call, Math.max(1, timeoutMs - (performance.now() - start))),
            notSent,
          );
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const avoid = call.used as Route | undefined;
    // Sent now when a replica is connected (so that it counts as in flight at once).
    const picked = this.closed ? undefined : this.balancer.pick(this.routes, avoid);
    if (picked !== undefined && picked.connection() !== undefined) {
      if (avoid !== undefined && picked.refusesNewCalls()) return Promise.reject(refusedHere(this.name, call.method));
      call.used = picked;
      return picked.callAsync(name, call.method, call.args, timeoutMs, call.settings, call.stream);
    }
    const start = performance.now();
    return this.anyRoute(timeoutMs, avoid).then(
      (route) => {
        call.used = route;
        return route.callAsync(name, call.method, call.args, Math.max(1, timeoutMs - (performance.now() - start)), call.settings, call.stream);
      },
      notSent,
    );
  }

  // ------------------------------------------------------------ instances

  private closedError(): RpcError {
    return closedError(this.name);
  }

  private newRoute(path: string): Route {
    return new Route({ ...this.routeOptions, path }, this.encoder, this.contextEncoderOf, this.decoder, this.methodNames, this.routeEvents);
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
  scan(): boolean {
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
      if (this.replicated && alone && !this.otherThan(undefined)) {
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

  /** Whether an instance may be live on this host: one is connected, or the name's socket
   *  or a replica is there to connect to. */
  mayBeHere(): boolean {
    for (const r of this.routes) if (r.connected) return true;
    if (!this.scan() && !isSocket(socketPathOf(this.name, this.socketPath))) return false;
    return !(this.replicated && this.routes.length === 0);
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
}

function isUnavailable(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_UNAVAILABLE;
}

/** A re-sent call whose only instance drains: refused here, as the server would refuse it
 *  (a draining server takes no new call), without a round trip that a loaded host may not
 *  finish before the deadline (the call would then end in a timeout that may have run). */
function refusedHere(name: string, method: string): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_UNAVAILABLE, `call to "${method}" refused: ${name}'s only instance is draining`, { maybeExecuted: false });
}

function notConnected(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_NOT_CONNECTED && e.maybeExecuted === false;
}

export function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}
