// Which codes a server sends as themselves, as a gRPC server returns a status: an RpcError
// that a middleware or a handler throws with one of these codes reaches the caller with
// that code (the error's name, message and code still in `err.remote`); any other thrown
// value is ERR_RPC_REMOTE. The caller's own codes (ERR_RPC_TIMEOUT, ERR_RPC_ABORTED,
// ERR_RPC_DISCONNECTED, ERR_RPC_NOT_CONNECTED, ERR_RPC_CLOSED, ...) are never among them:
// a handler that rethrows a nested call's timeout, or a server that means harm, cannot make
// its caller believe that its own deadline passed or its connection was lost (and retry).
//
// | code                        | sent for                       | retried by the attempts loop            |
// | ERR_RPC_INVALID_ARGUMENT    | the caller's input is wrong    | never                                   |
// | ERR_RPC_UNAUTHENTICATED     | no valid credentials           | never                                   |
// | ERR_RPC_ACCESS_DENIED       | not allowed                    | never                                   |
// | ERR_RPC_RESOURCE_EXHAUSTED  | a rate limit, a quota          | never                                   |
// | ERR_RPC_UNAVAILABLE         | try again (elsewhere)          | as a drain's refusal: not run, any call; |
// |                             |                                | run, an idempotent one                  |
// The caller's `maybeExecuted`: false when a middleware threw it before the handler started
// (a refusal: nothing ran), true once the handler had started.

import { RpcError, ErrorCodes, type ErrorCode } from "../errors.js";
import { ErrorKind } from "../protocol.js";
import { thrownDetails } from "./error-details.js";
import type { Context } from "./context.js";

const SENT_AS_ITSELF: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.ERR_RPC_INVALID_ARGUMENT]: ErrorKind.INVALID_ARGUMENT,
  [ErrorCodes.ERR_RPC_UNAUTHENTICATED]: ErrorKind.UNAUTHENTICATED,
  [ErrorCodes.ERR_RPC_ACCESS_DENIED]: ErrorKind.ACCESS_DENIED,
  [ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED]: ErrorKind.RESOURCE_EXHAUSTED,
  [ErrorCodes.ERR_RPC_UNAVAILABLE]: ErrorKind.UNAVAILABLE,
};

/** A status a middleware threw before the handler of its call started. */
class Refused {
  constructor(readonly error: RpcError) {}
}

/** What a wire is handed for `thrown`, a call's failure with middleware: a status thrown
 *  before the handler started (`ctx.entered` false) is marked as such. */
export function refusedOrThrown(thrown: unknown, ctx: Context): unknown {
  return !ctx.entered && thrown instanceof RpcError && SENT_AS_ITSELF[thrown.code] !== undefined ? new Refused(thrown) : thrown;
}

/** The kind and details of `thrown` when it is a status a server sends as itself, else
 *  undefined. The details are ERR_RPC_REMOTE's, with `maybeExecuted` (and a contract's
 *  `issues`, when the error has them). */
export function statusShape(thrown: unknown, exposeStacks: boolean): { kind: number; details: Record<string, unknown> } | undefined {
  const refused = thrown instanceof Refused;
  const error = refused ? thrown.error : thrown;
  if (!(error instanceof RpcError)) return undefined;
  const kind = SENT_AS_ITSELF[error.code];
  if (kind === undefined) return undefined;
  const details: Record<string, unknown> = { ...thrownDetails(error, exposeStacks), maybeExecuted: !refused };
  if (error.issues !== undefined) details.issues = error.issues;
  return { kind, details };
}
