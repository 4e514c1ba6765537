// One method a server serves: its handler, its contract entry (none for bind), and the
// counters behind server.stats(). The server's dispatch updates the counters: plain
// number fields, no allocation per call.

import { inspect } from "node:util";
import type { MethodSpec } from "./types.js";
import { TIMING_SAMPLE } from "./stats.js";
import type { Middleware } from "../serving/middleware.js";
import type { Context } from "../serving/context.js";

type Handler = (...args: any[]) => unknown;
/** A contract's checks around `inner`: validates `args`, calls `inner` with the schema's
 *  output, validates what it returns (src/contracts/validate.ts). */
export type Guard = (args: unknown[], inner: (args: unknown[]) => unknown) => unknown;

export class Endpoint {
  /** Calls that reached the handler (or its validation). */
  requests = 0;
  /** Calls that ended in a throw, a rejection, a validation failure or an unsendable result. */
  errors = 0;
  lastError = "";
  /** Handler time of the timed calls, in milliseconds (performance.now()), async ones until settled. */
  timeMs = 0;
  /** Calls whose time is in timeMs (see TIMING in stats.ts). */
  timed = 0;
  /** Calls whose promise has not settled yet. */
  inflight = 0;
  /** Stream calls: a streamed result, a streamed argument, or both. */
  streams = 0;
  /** Stream items sent (results) and received (streamed arguments), and their encoded bytes. */
  items = 0;
  itemBytes = 0;
  /** Once a call returned a promise, every call is timed (see TIMING in stats.ts). */
  async = false;
  /** Bound with `{ view: true }`: binary arguments arrive as views (see Server.bind). */
  view = false;
  /** Bound with `{ context: true }`: the handler gets the call's context after its
   *  arguments (src/serving/context.ts). */
  context = false;
  /** The server's middleware (src/serving/middleware.ts), once one is registered: the
   *  server's one list, shared by its endpoints. */
  middleware: readonly Middleware[] | undefined = undefined;
  /** The user's handler itself (`handler` is it behind its contract's checks, if any). */
  inner: Handler;
  /** The contract's checks, for a contract method. */
  guard: Guard | undefined = undefined;
  /** The end of the middleware chain (src/serving/invoke.ts), made on first need. */
  last: ((ctx: Context) => unknown) | undefined = undefined;

  constructor(
    readonly name: string,
    readonly handler: Handler,
    /** The contract entry, or undefined for a method registered with bind(). */
    readonly spec: MethodSpec | undefined,
  ) {
    this.inner = handler;
  }

  /** Whether a call gets a context (src/serving/context.ts): for the handler, or for middleware. */
  get contextual(): boolean {
    return this.context || this.middleware !== undefined;
  }

  /** Counts a call about to run; returns its start time, or -1 when it is not timed. */
  start(): number {
    return (this.requests++ & (TIMING_SAMPLE - 1)) === 0 || this.async ? performance.now() : -1;
  }

  /** Adds the time of a call `start()` timed. */
  stop(t0: number): void {
    if (t0 < 0) return;
    this.timeMs += performance.now() - t0;
    this.timed++;
  }

  /** Counts a failure: `why` is what was thrown or rejected, or a message. */
  fail(why: unknown): void {
    this.errors++;
    this.lastError = errorText(why);
  }
}

function errorText(why: unknown): string {
  if (typeof why === "string") return why;
  if (why instanceof Error) return `${why.name}: ${why.message}`;
  return `a non-Error value was thrown: ${inspect(why, { depth: 2, breakLength: Infinity })}`;
}
