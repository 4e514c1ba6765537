// shmrpc ping <name>: connects to each replica and times round trips through its rings.
// A round trip asks for "$shmrpc.ping": no server can bind a "$" name, so the server
// answers ERR_RPC_METHOD_NOT_FOUND at once without running anything. That answer is the
// pong; any other outcome is a failure.

import type { Client } from "../client.js";
import type { Invocation } from "./commands.js";
import { Exit, errorReport, exitCodeOf } from "./exit.js";
import { integerOption } from "./parse.js";
import { nanos, table } from "./output.js";
import { clientOfInstance, nameArgument, requireInstances, shortId } from "./target.js";

const PING_METHOD = "$shmrpc.ping";

interface Result {
  instanceId: string;
  pid: number;
  socketPath: string;
  /** The first round trip, which connects: the handshake, the memfd passed and mapped (ns). */
  connectNs: number | null;
  /** Each round trip (ns). */
  roundTripsNs: number[];
  error: Record<string, unknown> | null;
}

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const count = integerOption(inv, "count", 5, 1, 1_000_000);
  const instances = await requireInstances(inv, name);
  const results: Result[] = [];
  let firstError: unknown;
  for (const s of instances) {
    const r: Result = { instanceId: s.instanceId, pid: s.pid, socketPath: s.socketPath, connectNs: null, roundTripsNs: [], error: null };
    const client = clientOfInstance(inv, name, s);
    try {
      // The first round trip connects too (handshake, memfd passed and mapped): timed apart.
      for (let i = 0; i <= count; i++) {
        const t = process.hrtime.bigint();
        await pong(client, name);
        const ns = Number(process.hrtime.bigint() - t);
        if (i === 0) r.connectNs = ns;
        else r.roundTripsNs.push(ns);
      }
    } catch (e) {
      firstError ??= e;
      r.error = errorReport(e);
    } finally {
      client.close();
    }
    results.push(r);
  }
  if (inv.options.json === true) {
    inv.out.json(results.map((r) => ({ ...r, ...summary(r.roundTripsNs) })));
  } else {
    const rows = results.map((r) => {
      const s = summary(r.roundTripsNs);
      return [
        shortId(r.instanceId), r.pid || "?", r.connectNs === null ? "-" : nanos(r.connectNs), r.roundTripsNs.length,
        s.minNs === null ? "-" : nanos(s.minNs), s.medianNs === null ? "-" : nanos(s.medianNs), s.maxNs === null ? "-" : nanos(s.maxNs),
        r.error ? `${String(r.error.code)}: ${String(r.error.message)}` : "ok",
      ];
    });
    inv.out.out(table(["REPLICA", "PID", "CONNECT", "PINGS", "MIN", "MEDIAN", "MAX", "STATUS"], rows, [2, 4, 5, 6]));
  }
  return firstError === undefined ? Exit.OK : exitCodeOf(firstError);
}

/** One round trip: only ERR_RPC_METHOD_NOT_FOUND is the expected answer. */
async function pong(client: Client, name: string): Promise<void> {
  try {
    await client.asyncCall(PING_METHOD);
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_RPC_METHOD_NOT_FOUND") return;
    throw e;
  }
  throw new Error(`${name} answered ${PING_METHOD} as a method`);
}

function summary(ns: number[]): { minNs: number | null; medianNs: number | null; maxNs: number | null } {
  if (ns.length === 0) return { minNs: null, medianNs: null, maxNs: null };
  const sorted = [...ns].sort((a, b) => a - b);
  return { minNs: sorted[0]!, medianNs: sorted[Math.floor((sorted.length - 1) / 2)]!, maxNs: sorted[sorted.length - 1]! };
}
