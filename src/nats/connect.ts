// Connecting to NATS: the options a user gives (passed through to @nats-io/transport-node),
// the library loaded only when NATS is used, and what its failures mean as RpcErrors.

import { RpcError, ErrorCodes } from "../errors.js";
import type { ConnectionOptions as LibraryOptions, NatsConnection } from "@nats-io/transport-node";
import type { ConnectOptions, NatsOptions, NatsTarget } from "./options.js";
import { DEFAULT_LIVENESS_MS } from "./liveness.js";

export type { NatsOptions, NatsTarget } from "./options.js";

type Library = typeof import("@nats-io/transport-node");
let library: Promise<Library> | undefined;
/** The NATS client library, imported on first use: importing shmrpc does not load it. */
export function natsLibrary(): Promise<Library> {
  return (library ??= import("@nats-io/transport-node"));
}

export function isNatsUrl(name: unknown): name is string {
  return typeof name === "string" && /^(nats|tls):\/\//.test(name);
}

/** Checks the option and returns what the library's connect() takes (structured-clonable,
 *  for the worker thread of synchronous calls). */
export function connectionOptions(target: NatsTarget, what: string): ConnectOptions {
  const opts: NatsOptions = typeof target === "string" ? { servers: target } : target;
  if (opts === null || typeof opts !== "object") throw invalid(what);
  const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
  if (servers.length === 0 || !servers.every((s) => typeof s === "string" && s.length > 0)) throw invalid(what);
  for (const key of ["user", "pass", "token", "name"] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== "string") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what}.${key} must be a string`);
    }
  }
  const liveness = opts.livenessMs ?? DEFAULT_LIVENESS_MS;
  if (typeof liveness !== "number" || !Number.isFinite(liveness) || liveness < 0) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what}.livenessMs must be a number of ms (0: off)`);
  }
  const out: ConnectOptions = { servers, maxReconnectAttempts: -1, reconnectTimeWait: 250, livenessMs: liveness };
  if (opts.user !== undefined) out.user = opts.user;
  if (opts.pass !== undefined) out.pass = opts.pass;
  if (opts.token !== undefined) out.token = opts.token;
  if (opts.name !== undefined) out.name = opts.name;
  if (opts.tls !== undefined) out.tls = opts.tls;
  return out;
}

function invalid(what: string): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be a NATS URL or { servers, user?, pass?, token?, tls? }`);
}

/** Connects; a refusal of the credentials is ERR_RPC_ACCESS_DENIED, anything else
 *  ERR_RPC_NOT_CONNECTED; nothing was sent either way. */
export async function connectNats(options: ConnectOptions, timeoutMs: number): Promise<NatsConnection> {
  const { connect } = await natsLibrary();
  try {
    // No reconnecting before the first connection: a wrong address fails at once.
    const { livenessMs: _, ...library } = options;
    return await connect({ ...(library as LibraryOptions), timeout: Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)) });
  } catch (e) {
    throw connectError(e, String(options.servers));
  }
}

/** The failure of a connection attempt as an RpcError code and text. */
export function connectFailure(e: unknown): { code: "ERR_RPC_ACCESS_DENIED" | "ERR_RPC_NOT_CONNECTED"; message: string } {
  // By the library's error classes (their names), never by the text of their messages.
  const names = errorNames(e);
  const denied = DENIED.some((n) => names.has(n));
  return { code: denied ? ErrorCodes.ERR_RPC_ACCESS_DENIED : ErrorCodes.ERR_RPC_NOT_CONNECTED, message: chain(e) };
}

/** The library's errors of a refusal of the credentials or of what they allow. */
const DENIED = ["AuthorizationError", "UserAuthenticationExpiredError", "PermissionViolationError"];

function connectError(e: unknown, where: string): RpcError {
  const { code, message } = connectFailure(e);
  return new RpcError(code, `NATS at ${where} ${code === ErrorCodes.ERR_RPC_ACCESS_DENIED ? "refused the credentials" : "could not be reached"}: ${message}`, { cause: e, maybeExecuted: false });
}

/** What a failed request means for the caller: the code, and whether the request may have run. */
export function requestFailure(e: unknown): { code: "ERR_RPC_NOT_CONNECTED" | "ERR_RPC_TIMEOUT" | "ERR_RPC_ACCESS_DENIED" | "ERR_RPC_DISCONNECTED"; maybeExecuted: boolean; message: string } {
  const names = errorNames(e);
  const message = chain(e);
  // The NATS server said nobody subscribes to the subject: nothing ran.
  if (names.has("NoRespondersError") || (e as { isNoResponders?: () => boolean })?.isNoResponders?.() === true) {
    return { code: ErrorCodes.ERR_RPC_NOT_CONNECTED, maybeExecuted: false, message };
  }
  if (names.has("TimeoutError")) return { code: ErrorCodes.ERR_RPC_TIMEOUT, maybeExecuted: true, message };
  if (DENIED.some((n) => names.has(n))) {
    return { code: ErrorCodes.ERR_RPC_ACCESS_DENIED, maybeExecuted: false, message };
  }
  // Anything else ended the request after it was handed to an open connection (callers
  // never issue one on a closed connection): it may have gone out and run.
  return { code: ErrorCodes.ERR_RPC_DISCONNECTED, maybeExecuted: true, message };
}

function errorNames(e: unknown): Set<string> {
  const names = new Set<string>();
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; x = x.cause, depth++) names.add(x.name);
  return names;
}

function chain(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, depth = 0; x !== undefined && depth < 5; x = (x as Error)?.cause, depth++) {
    parts.push(x instanceof Error ? x.message : String(x));
    if (!(x instanceof Error)) break;
  }
  return parts.join(": ");
}
