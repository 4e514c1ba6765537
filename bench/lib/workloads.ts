// The five workloads, each on one PeerClient. Times are taken with performance.now()
// around each call (its own cost, ~40 ns, is inside every figure, shmrpc's too).
import { readFileSync } from "node:fs";
import type { PeerClient } from "../peers/peer.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Lets the event loop run (Ctrl-C, children's output) between synchronous calls, outside the timed part. */
const breathe = () => new Promise<void>((r) => setImmediate(r));

/**
 * Round trips of add(i, 1), in µs: synchronous if the peer has it, else awaited one at a time.
 * Stops early, with fewer samples, once `maxMs` has passed (warm-up: a tenth of it).
 */
export async function latency(client: PeerClient, calls: number, warmup: number, maxMs = Infinity): Promise<Float64Array> {
  const us = new Float64Array(calls);
  let bad = 0;
  let n = 0;
  const sync = client.addSync;
  let end = performance.now() + maxMs / 10;
  for (let i = 0; i < warmup && performance.now() < end; i++) {
    if ((i & 1023) === 1023) await breathe();
    if (sync) sync(i, 1);
    else await client.add(i, 1);
  }
  end = performance.now() + maxMs;
  for (; n < calls; n++) {
    // Outside the timed part: the time limit every 64 calls, the event loop every 1024.
    if ((n & 63) === 63 && performance.now() > end) break;
    if ((n & 1023) === 1023) await breathe();
    const t0 = performance.now();
    const r = sync ? sync(n, 1) : await client.add(n, 1);
    us[n] = (performance.now() - t0) * 1000;
    if (r !== n + 1) bad++;
  }
  if (bad > 0) throw new Error(`${bad} wrong sums`);
  return us.subarray(0, n);
}

/** Round trips of add after `idleMs` of silence each (the server has parked), in µs. */
export async function wake(client: PeerClient, calls: number, idleMs: number): Promise<Float64Array> {
  const us = new Float64Array(calls);
  const sync = client.addSync;
  for (let i = 0; i < calls; i++) {
    await sleep(idleMs);
    const t0 = performance.now();
    if (sync) sync(i, 1);
    else await client.add(i, 1);
    us[i] = (performance.now() - t0) * 1000;
  }
  return us;
}

export interface Rate {
  calls: number;
  seconds: number;
  perSecond: number;
  /** Calls/s of each round, when the figure is the median of rounds. */
  rounds?: number[];
}

/** `rounds` runs of `throughput`, back to back: the median round's figures, and every round's rate. */
export async function throughputRounds(client: PeerClient, window: number, durationMs: number, rounds: number): Promise<Rate> {
  const runs: Rate[] = [];
  for (let i = 0; i < rounds; i++) runs.push(await throughput(client, window, durationMs / rounds));
  const sorted = [...runs].sort((a, b) => a.perSecond - b.perSecond);
  return { ...sorted[sorted.length >> 1]!, rounds: runs.map((r) => Math.round(r.perSecond)) };
}

/**
 * Async add calls with `window` in flight: each completion issues the next call.
 * Counts the calls completed until `durationMs` has passed (the drain after is not counted).
 */
export function throughput(client: PeerClient, window: number, durationMs: number): Promise<Rate> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const end = t0 + durationMs;
    let done = 0;
    let inFlight = 0;
    let issued = 0;
    let result: Rate | undefined;
    let failed = false;
    const onError = (err: unknown): void => {
      if (!failed) reject(err);
      failed = true;
    };
    const onDone = (): void => {
      done++;
      inFlight--;
      if (result === undefined && (done & 63) === 0) {
        const now = performance.now();
        if (now >= end) result = { calls: done, seconds: (now - t0) / 1000, perSecond: done / ((now - t0) / 1000) };
      }
      if (result === undefined) issue();
      else if (inFlight === 0 && !failed) resolve(result);
    };
    const issue = (): void => {
      inFlight++;
      client.add(issued++, 1).then(onDone, onError);
    };
    for (let i = 0; i < window; i++) issue();
  });
}

export interface PayloadRate {
  bytes: number;
  calls: number;
  seconds: number;
  /** Payload bytes per second in each direction. */
  bytesPerSecond: number;
  /** Minor page faults per call in this process and in the server's (if it has its own). */
  clientFaults?: number;
  serverFaults?: number;
}

/** Minor page faults of a process so far (man 5 proc: field 10 of /proc/<pid>/stat). */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

/** Allocating and filling one owned Buffer of `bytes`, the reference for a big echo:
 *  its time per Buffer expressed as bytes per second, like an echo's rate. */
export function allocFill(bytes: number, budgetMs: number, minCalls: number): PayloadRate {
  let sum = 0;
  return inProcess(bytes, budgetMs, minCalls, () => sum, (i) => {
    const b = Buffer.allocUnsafe(bytes);
    b.fill(i & 0xff);
    sum += b[bytes - 1]!;
  });
}

/** One hot memcpy of `bytes`: a filled Buffer copied into the same reused Buffer, the
 *  reference for a view handler's echo. Its time per copy as bytes per second. */
export function hotCopy(bytes: number, budgetMs: number, minCalls: number): PayloadRate {
  const from = Buffer.alloc(bytes, 1);
  const to = Buffer.alloc(bytes);
  let sum = 0;
  return inProcess(bytes, budgetMs, minCalls, () => sum, (i) => {
    from[0] = i & 0xff;
    from.copy(to);
    sum += to[0]!;
  });
}

/** Times `once` (after one untimed run) for `minCalls` calls or `budgetMs`, whichever is
 *  longer, with this process's page faults; `observed` keeps its work from being elided. */
function inProcess(bytes: number, budgetMs: number, minCalls: number, observed: () => number, once: (i: number) => void): PayloadRate {
  once(0);
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  let calls = 0;
  let now = t0;
  while (calls < minCalls || now - t0 < budgetMs) {
    once(++calls);
    now = performance.now();
  }
  const seconds = (now - t0) / 1000;
  if (observed() < 0) throw new Error("unreachable");
  return { bytes, calls, seconds, bytesPerSecond: (bytes * calls) / seconds, clientFaults: (process.resourceUsage().minorPageFault - f0) / calls };
}

/** Echoes `payload` one call at a time (synchronously if the peer can) for about `budgetMs`. */
export async function payload(client: PeerClient, payload: string | Buffer, budgetMs: number, minCalls: number, serverPid?: number): Promise<PayloadRate> {
  const bytes = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
  const size = payload.length; // what the reply's length must be: characters or bytes
  const sync = client.echoSync;
  const once = async (): Promise<void> => {
    const r = sync ? sync(payload) : await client.echo(payload);
    if (r.length !== size) throw new Error(`echo returned ${r.length} instead of ${size}`);
  };
  await once(); // warm-up
  await once();
  const f0 = process.resourceUsage().minorPageFault;
  const s0 = serverPid === undefined ? 0 : minorFaults(serverPid);
  const t0 = performance.now();
  let calls = 0;
  let now = t0;
  while (calls < minCalls || now - t0 < budgetMs) {
    await once();
    calls++;
    now = performance.now();
  }
  const seconds = (now - t0) / 1000;
  const clientFaults = (process.resourceUsage().minorPageFault - f0) / calls;
  const serverFaults = serverPid === undefined ? undefined : (minorFaults(serverPid) - s0) / calls;
  return { bytes, calls, seconds, bytesPerSecond: (bytes * calls) / seconds, clientFaults, ...(serverFaults === undefined ? {} : { serverFaults }) };
}

/** CPU time (user + system) of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: state is field 3, utime 14, stime 15 (1-based, man 5 proc).
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU% of process `pid` over `ms` while nothing is asked of it. */
export async function idleCpu(pid: number, ms: number, ticksPerSecond: number): Promise<{ percent: number; seconds: number; ticks: number }> {
  const before = cpuTicks(pid);
  const t0 = performance.now();
  await sleep(ms);
  const ticks = cpuTicks(pid) - before;
  const seconds = (performance.now() - t0) / 1000;
  return { percent: (100 * ticks) / ticksPerSecond / seconds, seconds, ticks };
}

/** A fresh connection to the running server and its first answered call, `times` times
 *  (each closed before the next): milliseconds from asking for the connection. */
export async function connectFirstCall(connect: () => Promise<PeerClient>, times: number): Promise<Float64Array> {
  const samples = new Float64Array(times);
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const client = await connect();
    const sum = client.addSync ? client.addSync(i, 1) : await client.add(i, 1);
    samples[i] = performance.now() - t0;
    if (sum !== i + 1) throw new Error(`add returned ${sum}`);
    await client.close();
  }
  return samples;
}

/** Milliseconds from the start of a fresh node process to `import(specifier)` done
 *  (performance.now() counts from the process's time origin), the median of `times`. */
export async function importTime(specifier: string, times: number): Promise<number> {
  const { execFileSync } = await import("node:child_process");
  const code = `await import(${JSON.stringify(specifier)}); console.log(performance.now())`;
  const runs: number[] = [];
  for (let i = 0; i < times; i++) {
    runs.push(Number(execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" }).trim()));
  }
  runs.sort((a, b) => a - b);
  return runs[runs.length >> 1]!;
}
