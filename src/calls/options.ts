// withOptions' per-call options, checked once and turned into the CallSettings each call
// takes (src/calls/transport.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { positive } from "../options.js";
import { validateMetadata } from "../metadata.js";
import type { CallOptions } from "../client.js";
import type { CallSettings } from "./transport.js";

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
