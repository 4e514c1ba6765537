// Server middleware (`server.use`): functions run in registration order around every
// method a server's user registered (bound or implemented; not the server's own $describe
// and $stats), over every transport: the shared invoke (src/serving/invoke.ts) calls
// `around` once a middleware is registered, and anything else that runs a handler (a
// stream's opening) can call it too. With a contract, the arguments are validated before
// the first middleware runs, and what the chain returns is validated as the result.

import { RpcError, ErrorCodes } from "../errors.js";
import type { CallContext } from "./context.js";

/** What a middleware gets: the call's context, with its arguments. */
export interface MiddlewareContext extends CallContext {
  /** The call's arguments as the handler gets them (decoded; with a contract, validated
   *  by its schema). Read-only: a middleware changes what a call does by answering
   *  itself, throwing, or through `state`, not by editing them. */
  readonly args: readonly unknown[];
  /** The call's encoded arguments as they arrived, in bytes (-1 where unknown). */
  readonly requestBytes: number;
  /** Set it to learn the encoded result's size in bytes once it is sent (after the whole
   *  chain has returned); not called when no result is sent (an error, the caller gone).
   *  Chain a function already there (shmrpc/tracing sets one). */
  onAnswered: ((bytes: number) => void) | undefined;
}

/**
 * Runs around a call: `next()` runs the next middleware, or the handler after the last
 * one, and returns what it returned (a value, or a Promise when anything after it is
 * asynchronous). Return it (or another value, without calling `next`: the call is
 * answered with that value) or throw (an `RpcError`'s code reaches the caller). `next`
 * runs at most once per call.
 */
export type Middleware = (ctx: MiddlewareContext, next: () => unknown) => unknown;

/** Runs `list` around `last(ctx)` for the call of `ctx`. */
export function around<X extends MiddlewareContext>(list: readonly Middleware[], ctx: X, last: (ctx: X) => unknown): unknown {
  return step(list, 0, ctx, last);
}

function step<X extends MiddlewareContext>(list: readonly Middleware[], i: number, ctx: X, last: (ctx: X) => unknown): unknown {
  if (i === list.length) return last(ctx);
  let called = false;
  return list[i]!(ctx, () => {
    if (called) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `a middleware of "${ctx.method}" called next() twice`);
    called = true;
    return step(list, i + 1, ctx, last);
  });
}

/** Checks what `server.use` was given. */
export function checkMiddleware(fn: unknown): Middleware {
  if (typeof fn !== "function") throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "use() takes a function (ctx, next) => ...");
  return fn as Middleware;
}
