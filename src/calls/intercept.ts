// Client interceptors (`client.use`): functions run in registration order around every
// call a Client makes (call, asyncCall, withOptions' calls, typed proxies), above the one
// attempts loop (src/calls/attempts.ts), so the same for every transport. Each `next()`
// sends the call as it then is (its metadata and options read at that moment): an
// interceptor may change them, send again, or observe what came back. A synchronous call
// runs only synchronous interceptors: one declared `async`, or returning a Promise, is
// refused with ERR_RPC_INVALID_ARGUMENT (the former before anything is sent). A stream call
// (client.stream, a proxy's streaming method) goes through them too, when it is opened:
// `next()` sends it, once, and returns a Promise of its end (interceptStream).

import { RpcError, ErrorCodes } from "../errors.js";
import { validateMetadata } from "../metadata.js";
import type { CallContext } from "../serving/context.js";
import { newCall, type Call, type CallSettings, type MessageSizes } from "./transport.js";

/** A call as interceptors see it. */
export interface InterceptedCall {
  /** The method called. */
  readonly method: string;
  /** Its arguments (an interceptor may replace them before `next()`). */
  args: unknown[];
  /** The metadata sent with it (a copy of this call's own; add or change keys, as
   *  `withOptions({ metadata })` allows). */
  metadata: Record<string, string>;
  /** Its options, as `next()` will send it. */
  options: InterceptedOptions;
  /** A synchronous call (`call()`, a `{ sync: true }` proxy): `next()` returns the result. */
  readonly sync: boolean;
  /** A stream call (`stream()`, a proxy's streaming method). `next()` opens it (once: a
   *  second `next()` rejects with ERR_RPC_INVALID_ARGUMENT, a stream is never sent again)
   *  and returns a Promise of its end, which settles when the server's end arrives: the
   *  handler's return value, or the stream's error (ERR_RPC_ABORTED when the loop broke
   *  off); items the loop has not taken yet may still be queued then. What the interceptor
   *  returns is the stream's result (the last `next()`'s `done: true` value); what it throws
   *  ends the loop with that error, after the items that came. Items themselves do not go
   *  through interceptors. */
  readonly stream: boolean;
  /** Set it to `{ request: -1, response: -1 }` before `next()` to learn the call's encoded
   *  sizes in bytes once it settles (over shared memory, NATS and between threads; shmrpc/tracing's
   *  size histograms). Unset, nothing is measured. */
  sizes?: MessageSizes;
}

/** What an interceptor may change of a call's options. */
export interface InterceptedOptions {
  /** Its deadline, in ms from when `next()` sends it. */
  timeoutMs: number;
  /** Safe to run twice: retried when a lost instance may have run it. */
  idempotent: boolean;
  /** Aborts it (asynchronous calls only). */
  signal: AbortSignal | undefined;
  /** The handler's context it was made under (`withOptions({ parent: ctx })`), if any. */
  readonly parent: CallContext | undefined;
}

/**
 * Runs around a call: `next()` sends it (through the next interceptor, if any) and
 * returns its result (a synchronous call) or a Promise of it; it may be called again to
 * send the call again. Return `next()`'s value (or another), or throw.
 */
export type Interceptor = (call: InterceptedCall, next: () => unknown) => unknown;

/** Checks what `client.use` was given. */
export function checkInterceptor(fn: unknown): Interceptor {
  if (typeof fn !== "function") throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "use() takes a function (call, next) => ...");
  return fn as Interceptor;
}

/** Sends `call` (made from an intercepted call). */
export type Send = (call: Call) => unknown;

/** A synchronous call through `list`: throws ERR_RPC_INVALID_ARGUMENT, nothing sent, when
 *  one of them is an async function, and when one returned a Promise. */
export function interceptSync(list: readonly Interceptor[], method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined, send: Send): unknown {
  for (const fn of list) {
    if (isAsyncFunction(fn)) throw syncRefusal(method, `${fn.name || "an interceptor"} is an async function`, false);
  }
  const call = intercepted(method, args, settings, parent, true, false);
  const result = step(list, 0, call, () => send(newCall(call.method, call.args, settingsOf(call))));
  if (isThenable(result)) {
    Promise.resolve(result).catch(() => {}); // nobody waits for it
    throw syncRefusal(method, "an interceptor returned a Promise", true);
  }
  return result;
}

/** An asynchronous call (`stream`: a stream call, whose `send` opens it) through `list`:
 *  never throws, failures reject. */
export function interceptAsync(list: readonly Interceptor[], method: string, args: unknown[], settings: CallSettings, parent: CallContext | undefined, send: Send, stream = false): Promise<unknown> {
  try {
    const call = intercepted(method, args, settings, parent, false, stream);
    return Promise.resolve(step(list, 0, call, () => send(newCall(call.method, call.args, settingsOf(call)))));
  } catch (e) {
    return Promise.reject(e);
  }
}

function step(list: readonly Interceptor[], i: number, call: InterceptedCall, last: () => unknown): unknown {
  if (i === list.length) return last();
  return list[i]!(call, () => step(list, i + 1, call, last));
}

function intercepted(method: string, args: unknown[], s: CallSettings, parent: CallContext | undefined, sync: boolean, stream: boolean): InterceptedCall {
  return {
    method, args, sync, stream,
    metadata: s.metadata === undefined ? {} : { ...s.metadata },
    options: { timeoutMs: s.timeoutMs, idempotent: s.idempotent, signal: s.signal, parent },
  };
}

/** The settings `next()` sends `call` with: checked as withOptions checks them. */
function settingsOf(call: InterceptedCall): CallSettings {
  const { timeoutMs, idempotent, signal } = call.options;
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `an interceptor set timeoutMs to ${String(timeoutMs)}: a positive number of ms`);
  if (typeof idempotent !== "boolean") throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "an interceptor set idempotent to a non-boolean");
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "an interceptor set signal to something that is not an AbortSignal");
  if (!Array.isArray(call.args)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "an interceptor set args to something that is not an array");
  const metadata = Object.keys(call.metadata).length === 0 ? undefined : validateMetadata(call.metadata);
  // A synchronous call cannot be aborted: its thread is blocked.
  return { timeoutMs, idempotent, signal: call.sync ? undefined : signal, metadata, sizes: call.sizes };
}

/** `sent`: the chain ran (its Promise may have sent the call). */
function syncRefusal(method: string, why: string, sent: boolean): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT,
    `synchronous call to "${method}" refused: ${why}; a synchronous call runs only synchronous interceptors (use asyncCall, or an interceptor that returns next()'s value)`,
    { maybeExecuted: sent });
}

function isAsyncFunction(fn: Function): boolean {
  return (fn as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === "AsyncFunction";
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === "object" && typeof (x as PromiseLike<unknown>).then === "function";
}
