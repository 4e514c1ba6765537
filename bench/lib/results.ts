// The shape of a run's results (bench/results/latest.json) and the table built from it.
import type { Distribution } from "./stats.js";
import type { Machine } from "./machine.js";
import type { PayloadRate, Rate } from "./workloads.js";
import type { StreamFigures } from "./streams.js";

export interface NotAvailable {
  na: string;
}
export type Figure<T> = T | NotAvailable;

export function isNa(x: unknown): x is NotAvailable {
  return typeof x === "object" && x !== null && "na" in x;
}

export interface SystemResults {
  id: string;
  label: string;
  latency?: Figure<Distribution>;
  wake?: Figure<Distribution>;
  throughput: Record<string, Figure<Rate>>;
  payloads: Record<string, Figure<PayloadRate>>;
  idle?: Figure<{ percent: number; seconds: number; ticks: number }>;
  /** A new connection to its first answered call, in ms (peers that can connect again). */
  connect?: Figure<Distribution>;
  /** Process start to the import of its module done, in ms (median). */
  importMs?: Figure<number>;
}

export interface Target {
  target: string;
  value: number | null;
  threshold: number | null;
  unit: string;
  met: boolean | null;
  note?: string;
}

export interface RunResults {
  quick: boolean;
  /** Run with a CPU hog per core (--load). */
  load?: boolean;
  machine: Machine;
  config: Record<string, number>;
  durationSeconds: number;
  systems: SystemResults[];
  targets: Target[];
  /** The stream rows (issue 23), when measured. */
  streams?: StreamFigures | NotAvailable;
}

export const THROUGHPUT_KEYS = ["1", "16", "256", "4procs"] as const;
export const PAYLOAD_KEYS = ["1KiB-string", "64KiB", "1MiB", "16MiB"] as const;

type Better = "lower" | "higher";
interface Column {
  header: string;
  get(s: SystemResults): Figure<number> | undefined;
}
export interface Section {
  title: string;
  unit: string;
  better: Better;
  columns: Column[];
}

function stat(key: "latency" | "wake", field: "p50" | "p99" | "p999"): (s: SystemResults) => Figure<number> | undefined {
  return (s) => {
    const d = s[key];
    return d === undefined || isNa(d) ? d : d[field];
  };
}

export const sections: Section[] = [
  {
    title: "Latency: add(i32, i32) round trip, one at a time (sync call for shmrpc, await for the others)",
    unit: "µs",
    better: "lower",
    columns: [
      { header: "p50", get: stat("latency", "p50") },
      { header: "p99", get: stat("latency", "p99") },
      { header: "p99.9", get: stat("latency", "p999") },
    ],
  },
  {
    title: "Wake-up: add round trip after 5 ms idle (server parked)",
    unit: "µs",
    better: "lower",
    columns: [
      { header: "p50", get: stat("wake", "p50") },
      { header: "p99", get: stat("wake", "p99") },
    ],
  },
  {
    title: "Throughput: async add, calls/s (N in flight from one client; 4 client processes × 256)",
    unit: "calls/s",
    better: "higher",
    columns: THROUGHPUT_KEYS.map((k) => ({
      header: k === "4procs" ? "4 procs" : `${k} in flight`,
      get: (s: SystemResults) => {
        const r = s.throughput[k];
        return r === undefined || isNa(r) ? r : r.perSecond;
      },
    })),
  },
  {
    title: "Payloads: echo one at a time, MB/s each way (1 MB = 10^6 bytes)",
    unit: "MB/s",
    better: "higher",
    columns: PAYLOAD_KEYS.map((k) => ({
      header: k === "1KiB-string" ? "1 KiB string" : k.replace("KiB", " KiB").replace("MiB", " MiB"),
      get: (s: SystemResults) => {
        const r = s.payloads[k];
        return r === undefined || isNa(r) ? r : r.bytesPerSecond / 1e6;
      },
    })),
  },
  {
    title: "Page faults: minor faults per big echo in the client (this process) and the server",
    unit: "faults",
    better: "lower",
    columns: (["1MiB", "16MiB"] as const).flatMap((k) =>
      (["clientFaults", "serverFaults"] as const).map((side) => ({
        header: `${k.replace("MiB", " MiB")} ${side === "clientFaults" ? "client" : "server"}`,
        get: (s: SystemResults) => {
          const r = s.payloads[k];
          return r === undefined || isNa(r) ? r : r[side];
        },
      })),
    ),
  },
  {
    title: "Getting connected: a new client to its first answered add, and process start to import done",
    unit: "ms",
    better: "lower",
    columns: [
      { header: "connect p50", get: (s) => (s.connect === undefined || isNa(s.connect) ? s.connect : s.connect.p50) },
      { header: "connect p99", get: (s) => (s.connect === undefined || isNa(s.connect) ? s.connect : s.connect.p99) },
      { header: "import", get: (s) => s.importMs },
    ],
  },
  {
    title: "Idle cost: server CPU with one connected silent client",
    unit: "% of a core",
    better: "lower",
    columns: [
      {
        header: "CPU %",
        get: (s) => (s.idle === undefined || isNa(s.idle) ? s.idle : s.idle.percent),
      },
    ],
  },
];

/** How many times better shmrpc (default mode) is than `value`; undefined if not comparable. */
export function advantage(value: number, base: number, better: Better): number | undefined {
  if (!(value > 0) || !(base > 0)) return undefined;
  return better === "lower" ? value / base : base / value;
}

export function formatValue(x: number, unit: string): string {
  if (unit === "calls/s") {
    if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
    if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
    return x.toFixed(0);
  }
  if (unit === "% of a core") return x.toFixed(2);
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

export function formatRatio(r: number): string {
  return r >= 100 ? `×${r.toFixed(0)}` : r >= 10 ? `×${r.toFixed(1)}` : r >= 0.1 ? `×${r.toFixed(2)}` : `×${Number(r.toPrecision(2))}`;
}

export interface Cell {
  value: string;
  ratio: string;
  /** Why there is no value. */
  na?: string;
}

/** The table as text cells: one grid per section, a row per system. */
export function grid(results: RunResults, section: Section): Cell[][] {
  const base = results.systems.find((s) => s.id === "shmrpc");
  return results.systems.map((s) =>
    section.columns.map((c) => {
      const v = c.get(s);
      if (v === undefined) return { value: "", ratio: "" };
      if (isNa(v)) return { value: "n/a", ratio: "", na: v.na };
      const b = base ? c.get(base) : undefined;
      const r = s !== base && typeof b === "number" ? advantage(v, b, section.better) : undefined;
      return { value: formatValue(v, section.unit), ratio: r === undefined ? "" : formatRatio(r) };
    }),
  );
}
