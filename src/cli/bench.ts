// shmrpc bench <name> <method> [args…]: calls the method for --duration with
// --concurrency calls in flight, then prints calls/s and latency percentiles; a progress
// line goes to stderr meanwhile (redrawn on a terminal, a line a second when piped).

import type { Client } from "../client.js";
import type { Invocation } from "./commands.js";
import { Exit, errorReport, exitCodeOf } from "./exit.js";
import { durationOption, integerOption } from "./parse.js";
import { nanos, printable, rate, table } from "./output.js";
import { clientFor, nameArgument } from "./target.js";
import { callArguments } from "./call.js";
import { withMethodHint } from "./suggest.js";

/** Percentiles reported, as fractions. */
const PERCENTILES = [0.5, 0.9, 0.99, 0.999] as const;

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const method = inv.args[1]!;
  const args = callArguments(inv.args.slice(2));
  const durationMs = durationOption(inv, "duration", 5000);
  const warmupMs = durationOption(inv, "warmup", 500, true);
  const concurrency = integerOption(inv, "concurrency", 1, 1, 65_536);
  const client = await clientFor(inv, name);
  const progress = new Progress(inv, `bench ${name} ${method}`, durationMs);
  // Ctrl-C ends the measuring early: what was measured is still reported (exit 0, "interrupted").
  const run = { interrupted: false };
  const interrupt = (): void => {
    run.interrupted = true;
  };
  process.on("SIGINT", interrupt);
  try {
    const r = await measure(client, method, args, concurrency, warmupMs, durationMs, progress, run);
    progress.done();
    if (r.calls === 0 && r.firstError !== undefined) throw await withMethodHint(client, method, r.firstError); // nothing measured: report it as the failure it is
    const percentiles = percentilesOf(r.latenciesMs, r.calls);
    const seconds = r.elapsedMs / 1000;
    const report = {
      name, method, concurrency, durationMs: Math.round(r.elapsedMs), warmupMs, interrupted: run.interrupted, calls: r.calls, errors: r.errors,
      callsPerSecond: Math.round(r.calls / seconds),
      latencyUs: Object.fromEntries(Object.entries(percentiles).map(([k, v]) => [k, Math.round(v * 1e4) / 10])),
    };
    if (inv.options.json === true) inv.out.json(report);
    else {
      const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
      inv.out.out(`${name} ${method}: ${r.calls.toLocaleString("en-US")} calls in ${seconds.toFixed(2)} s, ${concurrency} in flight, ${failed} failed${run.interrupted ? " (interrupted)" : ""}\n\n`);
      const ns = (ms: number) => nanos(ms * 1e6);
      inv.out.out(table(
        ["CALLS/S", "MIN", "P50", "P90", "P99", "P99.9", "MAX", "MEAN"],
        [[rate(r.calls / seconds), ns(percentiles.min), ns(percentiles.p50), ns(percentiles.p90), ns(percentiles.p99), ns(percentiles["p99.9"]), ns(percentiles.max), ns(percentiles.mean)]],
        [0, 1, 2, 3, 4, 5, 6, 7],
      ));
      for (const [code, n] of Object.entries(r.errors)) inv.out.out(`  ${code}: ${n} calls\n`);
    }
    if (r.firstError !== undefined) {
      const e = errorReport(r.firstError);
      inv.out.err(printable(`shmrpc bench: ${String(e.code)}: ${String(e.message)}`) + "\n");
      return exitCodeOf(r.firstError);
    }
    return Exit.OK;
  } finally {
    process.off("SIGINT", interrupt);
    progress.done();
    client.close();
  }
}

interface Measured {
  calls: number;
  /** Latency of each successful measured call, ms; the first `calls` entries. */
  latenciesMs: Float64Array;
  errors: Record<string, number>;
  firstError: unknown;
  elapsedMs: number;
}

async function measure(client: Client, method: string, args: unknown[], concurrency: number, warmupMs: number, durationMs: number, progress: Progress, run: { interrupted: boolean }): Promise<Measured> {
  const m: Measured = { calls: 0, latenciesMs: new Float64Array(1 << 16), errors: {}, firstError: undefined, elapsedMs: 0 };
  const begin = performance.now();
  const measureFrom = begin + warmupMs;
  const end = measureFrom + durationMs;
  let stop = false;
  let succeeded = 0;
  const worker = async (): Promise<void> => {
    while (!stop && !run.interrupted) {
      const t0 = performance.now();
      if (t0 >= end) break;
      try {
        await client.asyncCall(method, ...args);
      } catch (e) {
        const code = String((e as { code?: unknown }).code ?? "INTERNAL");
        m.firstError ??= e;
        if (t0 >= measureFrom) m.errors[code] = (m.errors[code] ?? 0) + 1;
        // Every call failing, or the server gone: going on would only spin.
        if (succeeded === 0 || exitCodeOf(e) === Exit.UNAVAILABLE) stop = true;
        continue;
      }
      succeeded++;
      const t1 = performance.now();
      if (t0 >= measureFrom) {
        if (m.calls === m.latenciesMs.length) {
          const grown = new Float64Array(m.latenciesMs.length * 2);
          grown.set(m.latenciesMs);
          m.latenciesMs = grown;
        }
        m.latenciesMs[m.calls++] = t1 - t0;
      }
      // From the calls' own loop: with responses arriving in microtasks, a timer might wait.
      progress.tick(t1, measureFrom, m.calls);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  m.elapsedMs = Math.max(1, Math.min(performance.now(), end) - measureFrom);
  return m;
}

function percentilesOf(latencies: Float64Array, n: number): Record<"min" | "p50" | "p90" | "p99" | "p99.9" | "max" | "mean", number> {
  const sorted = latencies.subarray(0, n).sort();
  const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const [p50, p90, p99, p999] = PERCENTILES.map(at) as [number, number, number, number];
  return { min: n ? sorted[0]! : 0, p50, p90, p99, "p99.9": p999, max: n ? sorted[n - 1]! : 0, mean: n ? sum / n : 0 };
}

/** The progress line on stderr: redrawn every 200 ms on a terminal, a new line every second otherwise. */
class Progress {
  private next = 0;
  private drawn = false;
  private readonly everyMs: number;
  constructor(private readonly inv: Invocation, private readonly what: string, private readonly durationMs: number) {
    this.everyMs = inv.out.stderrIsTTY ? 200 : 1000;
  }

  tick(now: number, measureFrom: number, calls: number): void {
    if (now < this.next) return;
    this.next = now + this.everyMs;
    const line = now < measureFrom
      ? `${this.what}: warming up`
      : `${this.what}: ${((now - measureFrom) / 1000).toFixed(1)} s of ${(this.durationMs / 1000).toFixed(1)} s, ${calls.toLocaleString("en-US")} calls, ${rate(calls / Math.max(1e-3, (now - measureFrom) / 1000))} calls/s`;
    if (this.inv.out.stderrIsTTY) {
      this.inv.out.err(`\r\x1b[K${line}`);
      this.drawn = true;
    } else this.inv.out.err(line + "\n");
  }

  done(): void {
    if (this.drawn) this.inv.out.err("\r\x1b[K");
    this.drawn = false;
  }
}
