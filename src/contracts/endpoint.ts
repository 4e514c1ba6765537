// One method a server serves: its handler, its contract entry (none for bind), and the
// counters behind server.stats(). The server's dispatch updates the counters: plain
// number fields, no allocation per call.

import { inspect } from "node:util";
import type { MethodSpec } from "./types.js";

type Handler = (...args: any[]) => unknown;

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

  constructor(
    readonly name: string,
    readonly handler: Handler,
    /** The contract entry, or undefined for a method registered with bind(). */
    readonly spec: MethodSpec | undefined,
  ) {}

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
