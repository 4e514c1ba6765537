// withOptions' per-call options, checked once and turned into the CallSettings each call
// takes (src/calls/transport.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { positive } from "../options.js";
import { validateMetadata } from "../metadata.js";
import type { CallContext } from "../serving/context.js";
import type { CallSettings } from "./transport.js";

/** Per-call options, through `client.withOptions(...)`. */
export interface CallOptions {
  /** This call's deadline in milliseconds, instead of the client's default. */
  timeoutMs?: number;
  /** Aborting it rejects the pending `asyncCall` with ERR_RPC_ABORTED. */
  signal?: AbortSignal;
  /** The method is safe to run twice: re-sent (up to retry.maxAttempts) even when a lost
   *  replica may have run it. */
  idempotent?: boolean;
  /** String pairs sent with the call, which a `{ context: true }` handler reads as
   *  `ctx.metadata`: keys of [a-z0-9._-] (not starting "shmrpc-"), string values, at most
   *  8 KiB in all (over NATS: message headers). */
  metadata?: Record<string, string>;
  /** A handler's context (`{ context: true }`): the call is a nested call of that one. Its
   *  deadline is at most the parent's, it is aborted when the parent's signal aborts, and
   *  it carries the parent's metadata (under its own). */
  parent?: CallContext;
  /** `stream()` only: binary items (Buffer, Uint8Array) come as views of the connection's
   *  memory instead of copies, each valid until the loop's next `next()` (or `break`): use
   *  or copy it before. While one is held, this client reads nothing else from that server
   *  (other calls' answers wait for the loop to move on; a synchronous call is refused).
   *  Over NATS and between threads, items are copies anyway. */
  view?: boolean;
}

/** The settings of each call made with `options`: (method, sync) => CallSettings. Throws
 *  ERR_RPC_INVALID_ARGUMENT on bad options; the function throws (nothing sent) when a
 *  parent call's deadline has passed or its signal is aborted. */
export function callSettings(options: CallOptions, defaultTimeoutMs: number): (method: string, sync: boolean) => CallSettings {
  const timeoutMs = positive(options.timeoutMs, defaultTimeoutMs, "timeoutMs");
  if (options.idempotent !== undefined && typeof options.idempotent !== "boolean") {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option idempotent must be a boolean");
  }
  if (options.view !== undefined && typeof options.view !== "boolean") {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option view must be a boolean");
  }
  let metadata = options.metadata === undefined ? undefined : validateMetadata(options.metadata);
  let signal = options.signal;
  const parent = options.parent;
  if (parent !== undefined) {
    if (parent === null || typeof parent !== "object" || !(parent.signal instanceof AbortSignal) || typeof parent.deadline !== "number") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option parent must be a handler's context ({ context: true })");
    }
    signal = signal === undefined ? parent.signal : AbortSignal.any([signal, parent.signal]);
    if (Object.keys(parent.metadata).length > 0) metadata = validateMetadata({ ...parent.metadata, ...metadata });
  }
  const settings: CallSettings = { timeoutMs, signal, idempotent: options.idempotent === true, metadata };
  // A synchronous call cannot be aborted: its thread is blocked.
  const syncSettings: CallSettings = { ...settings, signal: undefined };
  if (parent === undefined) return (_method, sync) => (sync ? syncSettings : settings);
  // Nested: each call's deadline is at most what is left of the parent's, when it is made.
  return (method, sync) => {
    const left = parent.deadline - Date.now();
    if (left <= 0 || parent.signal.aborted) {
      const why = left <= 0 ? "deadline has passed" : "signal is aborted";
      throw new RpcError(left <= 0 ? ErrorCodes.ERR_RPC_TIMEOUT : ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" not sent: its parent call's ${why}`, { maybeExecuted: false, cause: parent.signal.reason });
    }
    return { ...(sync ? syncSettings : settings), timeoutMs: Math.min(timeoutMs, left) };
  };
}
