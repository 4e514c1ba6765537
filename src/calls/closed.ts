// The error of a call made on, or pending at, a Client its owner closed: one definition for
// every transport. Not a loss (retry.ts never sends it again): the caller closed it.

import { ErrorCodes, RpcError } from "../errors.js";

/** A call made after close(): never sent. */
export function closedError(name: string): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_CLOSED, `client of ${name} is closed`, { maybeExecuted: false });
}

/** What close() ends a connection with: the disconnect event's reason, and the error of
 *  calls still pending then (their `maybeExecuted` is set per call). */
export function closingError(name: string, maybeExecuted?: boolean): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_CLOSED, `client of ${name} was closed`, maybeExecuted === undefined ? undefined : { maybeExecuted });
}
