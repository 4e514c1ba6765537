// The speed issues 4 and 13 ask of shmrpc, evaluated on one run's figures (ratios within the run).
import { isNa, type RunResults, type SystemResults, type Target } from "./results.js";

function find(results: RunResults, id: string): SystemResults | undefined {
  return results.systems.find((s) => s.id === id);
}

function num<T>(x: T | { na: string } | undefined, pick: (t: T) => number): number | null {
  return x === undefined || isNa(x) ? null : pick(x);
}

/** value must be ≤ (or ≥) threshold; null when either side is missing. */
function check(target: string, unit: string, value: number | null, threshold: number | null, op: "<=" | ">=" | "<", note?: string): Target {
  const met = value === null || threshold === null ? null : op === "<=" ? value <= threshold : op === "<" ? value < threshold : value >= threshold;
  return { target, value, threshold, unit, met, ...(note ? { note } : {}) };
}

export function evaluateTargets(results: RunResults): Target[] {
  const sys = (id: string) => find(results, id);
  const p50 = (id: string) => num(sys(id)?.latency, (d) => d.p50);
  const rate = (id: string, k: string) => num(sys(id)?.throughput[k], (r) => r.perSecond);
  const mib = (id: string) => num(sys(id)?.payloads["1MiB"], (r) => r.bytesPerSecond);
  const div = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  const importMs = (id: string) => num(sys(id)?.importMs, (ms) => ms);
  const floor = p50("floor");
  const shm = p50("shmrpc");
  const busy = p50("shmrpc-busypoll");
  const wakeP50 = (id: string) => num(sys(id)?.wake, (d) => d.p50);
  const p99 = (id: string) => num(sys(id)?.latency, (d) => d.p99);
  if (results.load) {
    // A busy host (issue 13): what still holds with a CPU hog per core.
    return [
      check("under load: sync add p50 ≥ 10 × faster than unix socket JSON-RPC", "×", div(p50("socket"), shm), 10, ">="),
      check("under load: sync add p99 < unix socket JSON-RPC p99", "µs", p99("shmrpc"), p99("socket"), "<"),
      check("under load: asyncCall 256 in flight ≥ 10 × unix socket", "×", div(rate("shmrpc", "256"), rate("socket", "256")), 10, ">="),
    ];
  }
  return [
    check("sync add p50, busy-poll ≤ 2 × C floor", "× floor", div(busy, floor), 2, "<="),
    check("sync add p50, default ≤ 3 × C floor", "× floor", div(shm, floor), 3, "<="),
    check("sync add p50 ≥ 25 × faster than unix socket JSON-RPC", "×", div(p50("socket"), shm), 25, ">="),
    check("sync add p50 ≥ 25 × faster than process.send json", "×", div(p50("ipc-json"), shm), 25, ">="),
    check("sync add p50 ≥ 25 × faster than process.send advanced", "×", div(p50("ipc-advanced"), shm), 25, ">="),
    check("wake-up p50 < unix socket round trip p50", "µs", wakeP50("shmrpc"), p50("socket"), "<"),
    // Issue 13: both sides woken after the same 5 ms idle.
    check("wake-up after 5 ms idle p50 ≤ 0.5 × unix socket's", "×", div(wakeP50("shmrpc"), wakeP50("socket")), 0.5, "<="),
    check("asyncCall 256 in flight ≥ 2,000,000 calls/s", "calls/s", rate("shmrpc", "256"), 2e6, ">="),
    check("asyncCall 256 in flight ≥ 10 × unix socket", "×", div(rate("shmrpc", "256"), rate("socket", "256")), 10, ">="),
    check("1 MiB echo ≥ 2 GB/s each way", "GB/s", mib("shmrpc") === null ? null : mib("shmrpc")! / 1e9, 2, ">="),
    check("1 MiB echo ≥ 10 × unix socket", "×", div(mib("shmrpc"), mib("socket")), 10, ">="),
    check("idle server CPU < 1%", "%", num(sys("shmrpc")?.idle, (i) => i.percent), 1, "<"),
    // Issue 13: a big echo costs at most 4 owned Buffer allocations and fills of its size.
    ...(["1MiB", "16MiB"] as const).map((k) => {
      const echo = num(sys("shmrpc")?.payloads[k], (r) => r.bytesPerSecond);
      const alloc = num(sys("alloc")?.payloads[k], (r) => r.bytesPerSecond);
      return check(`${k.replace("MiB", " MiB")} echo ≤ 4 × one Buffer alloc + fill`, "×", div(alloc, echo), 4, "<=");
    }),
    ...(["1MiB", "16MiB"] as const).map((k) =>
      check(`${k.replace("MiB", " MiB")} echo: < 1 page fault per message, client + server`, "faults", num(sys("shmrpc")?.payloads[k], (r) => (r.clientFaults ?? 0) + (r.serverFaults ?? 0)), 1, "<")),
    // Issue 25: between two threads of one process (shmrpc/threads), with no native code.
    check("threads: sync add p50 ≥ 10 × faster than a MessagePort round trip", "×", div(p50("messageport"), p50("shmrpc-threads")), 10, ">="),
    check("threads: asyncCall 256 in flight ≥ 2,000,000 calls/s", "calls/s", rate("shmrpc-threads", "256"), 2e6, ">="),
    check("threads: asyncCall 256 in flight ≥ 5 × comlink", "×", div(rate("shmrpc-threads", "256"), rate("comlink", "256")), 5, ">="),
    check("connect + first call p50 ≤ 0.5 ms", "ms", num(sys("shmrpc")?.connect, (d) => d.p50), 0.5, "<="),
    // From process start, so Node's own start (the socket peer's import row) is inside it.
    check("process start to import done ≤ 50 ms", "ms", importMs("shmrpc"), 50, "<="),
    check("import beyond a bare Node start (the socket peer's row, node:net) ≤ 50 ms", "ms", minus(importMs("shmrpc"), importMs("socket")), 50, "<="),
    ...streamTargets(results),
  ];
}

/** Issue 23's stream targets (none when the stream rows were not measured). */
function streamTargets(results: RunResults): Target[] {
  const s = results.streams;
  if (s === undefined || isNa(s)) return [];
  return [
    check("stream: small items ≥ 2,000,000 items/s", "items/s", s.smallItemsPerSecond, 2e6, ">="),
    check("stream: small items ≥ 20 × the Unix-socket NDJSON peer (tuned: 256 lines a write)", "×", s.smallItemsPerSecond / s.ndjsonItemsPerSecond, 20, ">=",
      `20 × that peer is ${(20 * s.ndjsonItemsPerSecond / s.ceilingItemsPerSecond).toFixed(1)} × the JS ceiling of a stream here; against the usual peer (a write per item): ${(s.smallItemsPerSecond / s.ndjsonPlainItemsPerSecond).toFixed(1)} ×`),
    check("stream: 1 MiB chunks ≥ 2 GB/s", "GB/s", s.chunkBytesPerSecond / 1e9, 2, ">="),
    check("stream: 1 MiB chunk ≤ 2 × one hot memcpy of it, view consumer", "×", s.memcpyBytesPerSecond / s.chunkViewBytesPerSecond, 2, "<=",
      `with 8 MiB rings: ${(s.memcpyBytesPerSecond / s.chunkViewBigRingBytesPerSecond).toFixed(2)} ×`),
    check("stream: client RSS growth ≤ 64 MiB while chunks stream", "MiB", s.clientRssGrowthMiB, 64, "<="),
    check("stream: server RSS growth ≤ 64 MiB while chunks stream", "MiB", s.serverRssGrowthMiB, 64, "<="),
    check("stream: first item p50 ≤ unary round trip p50 + 20 %", "×", s.firstItem.p50 / s.unary.p50, 1.2, "<="),
  ];
}
