// `shmrpc stats NAME --prometheus`: the stats of each replica (server.stats(), ADR-32) in
// the Prometheus text exposition format (version 0.0.4), for a node exporter's textfile
// collector or a scrape through a small wrapper. One series per method and replica,
// labelled service, instance (the replica's id) and method; times in seconds.

import type { ServiceStats } from "../contracts/stats.js";

/** A replica as `shmrpc stats` saw it: its stats, or null when it did not answer. */
export interface ReplicaStats {
  instanceId: string;
  pid: number;
  stats: ServiceStats | null;
}

interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: string[];
}

/** The text of one refresh: every metric family once, HELP and TYPE before its samples. */
export function prometheusText(service: string, replicas: readonly ReplicaStats[]): string {
  const family = (name: string, type: Family["type"], help: string): Family => ({ name, type, help, samples: [] });
  const up = family("shmrpc_up", "gauge", "1 when the replica answered its stats request, else 0.");
  const started = family("shmrpc_start_time_seconds", "gauge", "When the replica's server was made, in seconds since the epoch.");
  const clients = family("shmrpc_connections", "gauge", "Clients connected to the replica (shared memory).");
  const requests = family("shmrpc_requests_total", "counter", "Calls that reached the method's handler or its argument validation, in-flight ones included.");
  const errors = family("shmrpc_errors_total", "counter", "Calls that ended in a throw, a rejection, a failed validation or an unsendable result.");
  const inFlight = family("shmrpc_in_flight", "gauge", "Calls whose handler's promise has not settled yet.");
  const time = family("shmrpc_processing_seconds_total", "counter", "Handler time of the settled calls, in seconds (sampled for methods whose calls were all synchronous).");
  for (const r of replicas) {
    const base = `service="${escape(service)}",instance="${escape(r.instanceId)}"`;
    up.samples.push(`${up.name}{${base}} ${r.stats === null ? 0 : 1}`);
    if (r.stats === null) continue;
    const t = Date.parse(r.stats.started);
    if (Number.isFinite(t)) started.samples.push(`${started.name}{${base}} ${t / 1000}`);
    clients.samples.push(`${clients.name}{${base}} ${r.stats.connections.length}`);
    for (const e of r.stats.endpoints) {
      const labels = `{${base},method="${escape(e.name)}"}`;
      requests.samples.push(`${requests.name}${labels} ${num(e.num_requests)}`);
      errors.samples.push(`${errors.name}${labels} ${num(e.num_errors)}`);
      inFlight.samples.push(`${inFlight.name}${labels} ${num(e.in_flight)}`);
      time.samples.push(`${time.name}${labels} ${num(e.processing_time / 1e9)}`);
    }
  }
  let out = "";
  for (const f of [up, started, clients, requests, errors, inFlight, time]) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += s + "\n";
  }
  return out;
}

/** A label value: backslash, double quote and line feed escaped, as the format requires. */
function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value: a number the server sent, or NaN for anything else. */
function num(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? String(v) : "NaN";
}
