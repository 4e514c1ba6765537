// Which replica takes the next call. Only connected routes are candidates, and a replica
// that drains (it said so in the connection's memory: it refuses new calls) or the one a
// call just failed on only when no other is connected.
//  least_outstanding (default): the fewest calls in flight; among equals, in turn, so that
//    an idle client still spreads its calls. A replica whose handler is stuck keeps its
//    calls in flight and gets no new ones while another has fewer.
//  round_robin: each in turn, whatever their load.
//  pick_first: the first connected (the oldest connection) until it goes.

import { RpcError, ErrorCodes } from "../errors.js";
import type { Route } from "./route.js";

/** How a Client spreads the calls of a replicated name over its replicas (`ClientOptions.balance`). */
export type Balance = "least_outstanding" | "round_robin" | "pick_first";
export const BALANCES: readonly Balance[] = ["least_outstanding", "round_robin", "pick_first"];

export function validateBalance(b: unknown): Balance {
  if (b === undefined) return "least_outstanding";
  if (!BALANCES.includes(b as Balance)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option balance must be one of ${BALANCES.map((x) => `"${x}"`).join(", ")}`);
  }
  return b as Balance;
}

export class Balancer {
  private last = -1;
  constructor(readonly mode: Balance) {}

  /** The route for the next call among `routes`, skipping `avoid` and draining ones when
   *  another is up; undefined when none is connected. */
  pick(routes: readonly Route[], avoid?: Route): Route | undefined {
    const n = routes.length;
    if (this.mode === "pick_first") {
      let fallback: Route | undefined;
      for (const r of routes) {
        if (!r.connected) continue;
        if (r !== avoid && !r.draining) return r;
        fallback = r;
      }
      return fallback;
    }
    // Scan from just after the last one picked: ties (and round_robin) go in turn.
    const start = this.last + 1;
    let best = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const at = (start + i) % n;
      const r = routes[at]!;
      if (!r.connected) continue;
      const shunned = r === avoid || r.draining;
      if (this.mode === "round_robin") {
        if (!shunned) {
          best = at;
          break;
        }
        if (best < 0) best = at;
        continue;
      }
      const load = r.outstanding + (shunned ? AVOIDED : 0);
      if (load < bestLoad) {
        best = at;
        bestLoad = load;
      }
    }
    if (best < 0) return undefined;
    this.last = best;
    return routes[best];
  }
}

/** Added to the load of the route a call just failed on, or of one draining: any other goes first. */
const AVOIDED = 2 ** 30;
