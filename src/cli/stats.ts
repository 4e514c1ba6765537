// shmrpc stats <name> [--watch]: each replica's counters (server.stats()), per method and
// per replica; --watch asks again every --interval, redrawing in place on a terminal.

import type { Client } from "../client.js";
import type { ServiceStats } from "../contracts/stats.js";
import type { ServerListing } from "../connection/discovery.js";
import type { Invocation } from "./commands.js";
import { Exit, errorReport, exitCodeOf } from "./exit.js";
import { durationOption, integerOption } from "./parse.js";
import { fit, nanos, table, uptime, type Cell } from "./output.js";
import { clientOfInstance, instancesOf, nameArgument, requireInstances, shortId } from "./target.js";
import { prometheusText } from "./prometheus.js";

/** One refresh: what each replica answered. */
interface Snapshot {
  name: string;
  time: string;
  replicas: Array<{ instanceId: string; pid: number; socketPath: string; replica: boolean; stats: ServiceStats | null; error: Record<string, unknown> | null }>;
}

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const watch = inv.options.watch === true;
  const intervalMs = durationOption(inv, "interval", 1000);
  const count = integerOption(inv, "count", watch ? Infinity : 1, 1, Number.MAX_SAFE_INTEGER);
  const clients = new Map<string, Client>(); // by socket path: one connection per replica, kept between refreshes
  let stop = false;
  let wake = (): void => {};
  const interrupt = (): void => {
    stop = true;
    wake();
  };
  process.on("SIGINT", interrupt);
  const screen = new Screen(inv, watch);
  let firstError: unknown;
  try {
    await requireInstances(inv, name); // nothing to watch: say so at once
    for (let i = 0; i < count && !stop; i++) {
      if (i > 0) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, intervalMs)));
      if (stop) break;
      const snap = await snapshot(inv, name, clients);
      firstError ??= snap.replicas.find((r) => r.error)?.error;
      screen.show(inv.options.prometheus === true ? prometheusText(snap.name, snap.replicas) : inv.options.json === true ? JSON.stringify(snap) + "\n" : render(snap));
    }
  } finally {
    process.off("SIGINT", interrupt);
    for (const c of clients.values()) c.close();
  }
  // A one-off view fails when a replica did not answer; a watch ends well when interrupted.
  return !watch && firstError ? exitCodeOf(firstError) : Exit.OK;
}

async function snapshot(inv: Invocation, name: string, clients: Map<string, Client>): Promise<Snapshot> {
  const instances: ServerListing[] = await instancesOf(inv, name);
  const live = new Set(instances.map((s) => s.socketPath));
  for (const [path, c] of clients) if (!live.has(path)) (c.close(), clients.delete(path));
  const replicas = await Promise.all(instances.map(async (s) => {
    let client = clients.get(s.socketPath);
    if (!client) clients.set(s.socketPath, (client = clientOfInstance(inv, name, s)));
    const entry = { instanceId: s.instanceId, pid: s.pid, socketPath: s.socketPath, replica: s.replica, stats: null as ServiceStats | null, error: null as Record<string, unknown> | null };
    try {
      entry.stats = await client.stats();
      // Over NATS the listing knows neither: the instance that answered says.
      if (!entry.pid && Number.isSafeInteger(entry.stats.pid)) entry.pid = entry.stats.pid;
      if (s.instanceId === "nats" && typeof entry.stats.id === "string") entry.instanceId = entry.stats.id;
    } catch (e) {
      entry.error = errorReport(e);
      client.close(); // a fresh connection next time
      clients.delete(s.socketPath);
    }
    return entry;
  }));
  return { name, time: new Date().toISOString(), replicas };
}

function render(snap: Snapshot): string {
  const { replicas } = snap;
  const head = `${snap.name}: ${replicas.length} ${replicas.length === 1 ? "instance" : "replicas"} at ${snap.time}\n\n`;
  if (replicas.length === 0) return head;
  const perReplica = table(
    ["REPLICA", "PID", "CLIENTS", "UPTIME", "STATUS"],
    replicas.map((r) => [
      shortId(r.instanceId), r.pid || "?",
      r.stats ? r.stats.connections.filter((c) => c.pid !== process.pid).length : "?", // not this command's own connection
      r.stats ? uptime(Date.parse(r.stats.started)) : "?",
      r.error ? `${String(r.error.code)}: ${String(r.error.message)}` : "ok",
    ]),
  );
  const rows: Cell[][] = [];
  const methods = [...new Set(replicas.flatMap((r) => r.stats?.endpoints.map((e) => e.name) ?? []))];
  for (const m of methods) {
    // With several replicas: the method's total first, then each replica that has had calls of it.
    const per: Cell[][] = [];
    const sum = { calls: 0, errors: 0, inFlight: 0, time: 0, timedCalls: 0 };
    for (const r of replicas) {
      const e = r.stats?.endpoints.find((x) => x.name === m);
      if (!e) continue;
      if (replicas.length === 1 || e.num_requests > 0) {
        per.push([m, shortId(r.instanceId), e.num_requests, e.num_errors, e.in_flight, avg(e.average_processing_time, e.num_requests), nanos(e.processing_time), e.last_error]);
      }
      sum.calls += e.num_requests;
      sum.errors += e.num_errors;
      sum.inFlight += e.in_flight;
      sum.time += e.processing_time;
      sum.timedCalls += e.num_requests - e.in_flight;
    }
    if (replicas.length > 1) rows.push([m, "all", sum.calls, sum.errors, sum.inFlight, avg(sum.timedCalls ? sum.time / sum.timedCalls : 0, sum.timedCalls), nanos(sum.time), ""]);
    rows.push(...per);
  }
  const perMethod = rows.length ? table(["METHOD", "REPLICA", "CALLS", "ERRORS", "IN FLIGHT", "AVG TIME", "TOTAL TIME", "LAST ERROR"], rows, [5, 6]) : "no methods\n";
  return head + perReplica + "\n" + perMethod;
}

function avg(ns: number, calls: number): string {
  return calls > 0 ? nanos(ns) : "-";
}

/** Where refreshes go: in place on a terminal (with --watch), else one after another. */
class Screen {
  private lines = 0;
  private size = "";
  constructor(private readonly inv: Invocation, private readonly watch: boolean) {}

  show(text: string): void {
    const out = this.inv.out;
    const plain = this.inv.options.json === true || this.inv.options.prometheus === true;
    if (!this.watch || !out.stdoutIsTTY || plain) {
      out.out(this.lines++ > 0 && !plain ? "\n" + text : text);
      return;
    }
    // Measured at each refresh (the terminal may have been resized); 0 when never set.
    const width = process.stdout.columns || 80;
    const height = process.stdout.rows || 24;
    // Every line fits the width (a wrapped row would take two lines and the redraw would
    // go up too few), and the frame fits the height (a frame that scrolled is out of reach).
    const rows = text.split("\n").slice(0, -1).map((l) => fit(l, width - 1));
    if (rows.length > height - 1) rows.splice(height - 2, Infinity, fit(`… ${rows.length - height + 2} more lines: a taller terminal shows them`, width - 1));
    const frame = rows.join("\n") + "\n";
    const size = `${width}x${height}`;
    // Up to the first line of the last frame and clear below it; after a resize (the
    // terminal may have rewrapped what it showed), the whole screen.
    const erase = this.lines === 0 ? "" : size === this.size ? `\x1b[${this.lines}F\x1b[J` : "\x1b[H\x1b[2J";
    out.out(erase + frame);
    this.lines = rows.length;
    this.size = size;
  }
}
