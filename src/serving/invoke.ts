// The one server-side invoke, shared by every transport's wire (shared memory:
// src/serving/dispatch.ts; NATS: src/nats/serve.ts): counting (src/contracts/endpoint.ts),
// the handler's call, promises, and the shape of errors. A wire only decodes, sends and
// keeps its own bookkeeping, through the Wire it passes in.

import { thrownDetails } from "./error-details.js";
import { ErrorKind } from "../protocol.js";
import type { Endpoint } from "../contracts/endpoint.js";
import { ContractViolation } from "../contracts/validate.js";
import { asyncIteratorOf, pumpStream, type StreamCredit } from "./stream.js";
import { around } from "./middleware.js";
import type { Context } from "./context.js";
import { refusedOrThrown, statusShape } from "./status.js";

/** What an invocation needs of a transport's wire. `C` is what the wire knows a call by
 *  (a connection and an id; a NATS message and 0), passed on without allocating. */
export interface Wire<C> {
  /** Sends a handler's value; returns its encoded size in bytes, or why it could not be
   *  sent (counted as a failure), or -1 (not sent, and told elsewhere). */
  result(c: C, id: number, value: unknown): number | string;
  /** Sends what a handler threw, shaped by errorShape(). */
  thrown(c: C, id: number, thrown: unknown): void;
  /** The handler returned a promise: the call stays in flight until it settles. */
  pending(c: C, id: number, ep: Endpoint): void;
  /** Its promise settled: false when nobody is left to answer (the caller or the server went). */
  settling(c: C, id: number, ep: Endpoint): boolean;
  /** The settled call's answer is written (`sent`), or writing it threw (then rethrown). */
  answered(c: C, id: number, ep: Endpoint, sent: boolean): void;
  /** Call `id` is a stream call (its caller opened it with credit): the credit, which the
   *  wire keeps up to date until the call settles; undefined for a unary call. */
  stream(c: C, id: number): StreamCredit | undefined;
  /** Sends one item of stream call `id`; returns its size in bytes. Throws when it cannot. */
  item(c: C, id: number, value: unknown): number;
  /** Whether the wire takes another item now, whatever the caller's credit (absent: always);
   *  while it says no, stream pumps wait (src/serving/stream.ts). */
  room?(c: C): boolean;
}

/** Runs `ep`'s handler on `args` (one more argument, `extra`, when given: the call's
 *  context) and answers through `wire`, now or when its promise settles. Returns true
 *  when a promise is pending. With middleware, `extra` is the call's context (the wire
 *  makes one when `ep.contextual`), and the handler gets it when `ep.context`. */
export function invoke<C>(ep: Endpoint, args: unknown[], extra: unknown, wire: Wire<C>, c: C, id: number): boolean {
  if (ep.middleware !== undefined) return invokeAround(ep, args, extra as Context, wire, c, id);
  const handler = ep.handler;
  const t0 = ep.start(); // counting (see TIMING in src/contracts/stats.ts)
  let result: unknown;
  try {
    if (extra !== undefined) result = handler(...args, extra);
    else {
      // Small arities without a spread (it costs an iteration of the array).
      switch (args.length) {
        case 0: result = handler(); break;
        case 1: result = handler(args[0]); break;
        case 2: result = handler(args[0], args[1]); break;
        case 3: result = handler(args[0], args[1], args[2]); break;
        default: result = handler(...args);
      }
    }
  } catch (e) {
    ep.stop(t0);
    ep.fail(e);
    wire.thrown(c, id, e);
    return false;
  }
  return answer(ep, t0, wire, c, id, result);
}

/** invoke() with middleware: the contract's checks, then the middleware, then the handler. */
function invokeAround<C>(ep: Endpoint, args: unknown[], ctx: Context, wire: Wire<C>, c: C, id: number): boolean {
  const t0 = ep.start();
  let result: unknown;
  try {
    result = ep.guard === undefined ? chain(ep, args, ctx) : ep.guard(args, (valid) => chain(ep, valid, ctx));
  } catch (e) {
    ep.stop(t0);
    ep.fail(e);
    wire.thrown(c, id, refusedOrThrown(e, ctx));
    return false;
  }
  return answer(ep, t0, wire, c, id, result, ctx);
}

/** A handler's (or its middleware's) value, answered: streamed, awaited, or sent now.
 *  Returns true when a promise is pending. */
function answer<C>(ep: Endpoint, t0: number, wire: Wire<C>, c: C, id: number, result: unknown, ctx?: Context): boolean {
  // streams: a stream call's answer is its items, then its result (src/serving/stream.ts)
  const credit = wire.stream(c, id);
  if (credit !== undefined) result = streamed(ep, wire, c, id, credit, result);
  if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
    ep.inflight++;
    ep.async = true;
    wire.pending(c, id, ep);
    Promise.resolve(result as PromiseLike<unknown>).then(
      (value) => settle(ep, t0, wire, c, id, value, false, ctx),
      (err) => settle(ep, t0, wire, c, id, err, true, ctx),
    );
    return true;
  }
  ep.stop(t0);
  const sent = wire.result(c, id, result);
  if (typeof sent === "string") ep.fail(sent);
  else if (ctx?.onAnswered !== undefined && sent >= 0) ctx.onAnswered(sent);
  return false;
}

function chain(ep: Endpoint, args: unknown[], ctx: Context): unknown {
  ctx.args = args; // read-only by its type: freezing it would cost about 20 ns a call
  return around(ep.middleware!, ctx, (ep.last ??= lastOf(ep)));
}

/** The end of `ep`'s chain: its handler on the call's (checked) arguments. */
function lastOf(ep: Endpoint): (ctx: Context) => unknown {
  const inner = ep.inner;
  if (ep.context) {
    return (ctx) => {
      ctx.entered = true;
      return inner(...ctx.args, ctx);
    };
  }
  return (ctx) => {
    ctx.entered = true;
    const a = ctx.args;
    switch (a.length) {
      case 0: return inner();
      case 1: return inner(a[0]);
      case 2: return inner(a[0], a[1]);
      case 3: return inner(a[0], a[1], a[2]);
      default: return inner(...a);
    }
  };
}

/** A stream call's answer: `result`'s items pumped within `credit`, counted; a promise of its result. */
function streamed<C>(ep: Endpoint, wire: Wire<C>, c: C, id: number, credit: StreamCredit, result: unknown): Promise<unknown> {
  ep.streams++;
  return pumpStream(result, credit, (value) => {
    const bytes = wire.item(c, id, value);
    ep.items++;
    ep.itemBytes += bytes;
    return bytes;
  }, wire.room === undefined ? undefined : () => wire.room!(c));
}

function settle<C>(ep: Endpoint, t0: number, wire: Wire<C>, c: C, id: number, value: unknown, thrown: boolean, ctx: Context | undefined): void {
  // Counted whether or not the caller is still there.
  ep.inflight--;
  ep.stop(t0);
  if (thrown) ep.fail(value);
  if (!wire.settling(c, id, ep)) return;
  let sent = false;
  try {
    if (thrown) wire.thrown(c, id, ctx === undefined ? value : refusedOrThrown(value, ctx));
    else {
      const sent = wire.result(c, id, value);
      if (typeof sent === "string") ep.fail(sent);
      else if (ctx?.onAnswered !== undefined && sent >= 0) ctx.onAnswered(sent);
    }
    sent = true;
  } finally {
    wire.answered(c, id, ep, sent);
  }
}

/** What a thrown value travels as: an ErrorKind and the details { name, message, stack,
 *  code?, issues? } (src/protocol.ts, ERROR). */
export interface ErrorShape {
  kind: number;
  details: Record<string, unknown>;
}

export function errorShape(thrown: unknown, exposeStacks: boolean): ErrorShape {
  // contracts: a value that broke a contract's schema travels as its kind, with the issues
  if (thrown instanceof ContractViolation) {
    return { kind: thrown.kind, details: { name: "RpcError", message: String(thrown.message), stack: "", issues: thrown.issues } };
  }
  // An RpcError of a code a server sends as itself (src/serving/status.ts) travels as its kind.
  const status = statusShape(thrown, exposeStacks);
  if (status !== undefined) return status;
  // The stack only when the server opts in (src/serving/error-details.ts).
  return { kind: ErrorKind.REMOTE, details: { ...thrownDetails(thrown, exposeStacks) } };
}

/** A handler's value that could not be encoded: what the caller gets instead (and `why`,
 *  counted as the endpoint's failure). */
export function unsendableShape(e: unknown, tooLarge: boolean, value?: unknown): ErrorShape & { why: string } {
  // streams: a stream answered to a unary call is closed, and the caller told how to call it
  const it = tooLarge ? undefined : asyncIteratorOf(value);
  if (it !== undefined) {
    // An iterator never started has no finally to run: a Readable is destroyed, a web stream cancelled.
    const v = value as { destroy?: () => void; cancel?: () => Promise<void> };
    if (typeof v.destroy === "function") v.destroy();
    else if (typeof v.cancel === "function") void v.cancel().catch(() => {});
    else void Promise.resolve(it.return?.()).catch(() => {});
    const why = "the handler returned a stream (an async iterable): call it with client.stream()";
    return { kind: ErrorKind.REMOTE, details: { name: "RpcError", message: why, stack: "" }, why };
  }
  const why = tooLarge ? `the result is too large: ${(e as Error).message}` : `the handler's return value could not be sent: ${(e as Error).message}`;
  return { kind: tooLarge ? ErrorKind.MESSAGE_TOO_LARGE : ErrorKind.REMOTE, details: { name: tooLarge ? "Error" : "RpcError", message: why, stack: "" }, why };
}
