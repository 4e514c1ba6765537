// npm run bench [-- --quick] [-- --load] [-- --only=shmrpc,socket]: measures shmrpc and its peers on the
// same workloads in one run, prints the table, and writes bench/results/latest.{json,md}
// and bench/results/latency.svg. See bench/README.md for the method. --load runs everything
// with a CPU hog per core (a node busy loop, normal priority) and writes latest-load.*.
// `node dist/bench/run.js --render` only rewrites latest.md and latency.svg from latest.json.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { floorSpin, floorWake } from "./floor/floor.js";
import { atExit, spawnTracked, stopChild, type Child } from "./lib/children.js";
import { clockTicks, currentLoad, machine } from "./lib/machine.js";
import { markdown, terminalTable } from "./lib/report.js";
import type { NotAvailable, RunResults, SystemResults } from "./lib/results.js";
import { distribution } from "./lib/stats.js";
import { latencySvg } from "./lib/svg.js";
import { evaluateTargets } from "./lib/targets.js";
import { allocFill, hotCopy, connectFirstCall, idleCpu, importTime, latency, payload, throughput, throughputRounds, wake, type Rate } from "./lib/workloads.js";
import { peers } from "./peers/index.js";
import { measureStreams } from "./lib/streams.js";
import type { Peer, PeerClient, PeerServer } from "./peers/peer.js";
import { NAME_PREFIX } from "./peers/shmrpc.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const LOADGEN = fileURLToPath(new URL("./loadgen.js", import.meta.url));

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const load = argv.includes("--load");
const onlyArg = argv.find((a) => a.startsWith("--only="));
const only = onlyArg ? new Set(onlyArg.slice(7).split(",")) : undefined;

const config = quick
  ? { latencyCalls: 3_000, latencyWarmup: 500, latencyMaxMs: 1_000, wakeCalls: 40, wakeIdleMs: 5, throughputMs: 200, throughputRounds: 1, throughputWarmupMs: 50, loadgenMs: 300, payloadMs: 100, payloadMinCalls: 1, idleMs: 500, idleSettleMs: 100, connectTimes: 20, importTimes: 3, stepTimeoutMs: 15_000 }
  : { latencyCalls: 200_000, latencyWarmup: 20_000, latencyMaxMs: 3_600_000, wakeCalls: 1_000, wakeIdleMs: 5, throughputMs: 2_500, throughputRounds: 5, throughputWarmupMs: 300, loadgenMs: 2_000, payloadMs: 1_500, payloadMinCalls: 3, idleMs: 5_000, idleSettleMs: 500, connectTimes: 200, importTimes: 10, stepTimeoutMs: 600_000 };

const PAYLOADS: Array<[string, () => string | Buffer]> = [
  ["1KiB-string", () => "x".repeat(1024)],
  ["64KiB", () => Buffer.alloc(64 * 1024, 1)],
  ["1MiB", () => Buffer.alloc(1024 * 1024, 2)],
  ["16MiB", () => Buffer.alloc(16 * 1024 * 1024, 3)],
];

const log = (s: string) => process.stderr.write(s + "\n");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Timeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Timeout(`timed out after ${ms / 1000} s`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0]!.slice(0, 120);
}

// Nothing of this run may stay in /dev/shm, whatever happens.
atExit(() => {
  const prefix = NAME_PREFIX.slice(1);
  for (const f of readdirSync("/dev/shm")) {
    if (f.startsWith(prefix)) {
      rmSync(`/dev/shm/${f}`, { force: true });
      log(`removed leftover /dev/shm/${f}`);
    }
  }
});

/** Runs 4 client processes of `peer` at once, each with 256 in flight; the sum of their rates. */
async function multiProcess(peer: Peer, server: PeerServer): Promise<Rate> {
  if (!server.loadgen) throw new Error(server.noLoadgen ?? "no loadgen");
  if (peer.id === "shmrpc-busypoll" && results.machine.cores < 6) {
    throw new Error(`5 busy-polling processes need 6 cores, this machine has ${results.machine.cores}`);
  }
  const children: Child[] = [];
  try {
    for (let i = 0; i < 4; i++) children.push(spawnTracked(LOADGEN, [peer.id, "256", String(config.loadgenMs), ...server.loadgen]));
    await Promise.all(children.map((c) => c.line("ready", 30_000)));
    for (const c of children) c.proc.stdin!.write("go\n");
    const lines = await Promise.all(children.map((c) => c.line("result", config.loadgenMs + 30_000)));
    const rates = lines.map((l) => JSON.parse(l.slice(7)) as Rate);
    const calls = rates.reduce((a, r) => a + r.calls, 0);
    return { calls, seconds: Math.max(...rates.map((r) => r.seconds)), perSecond: rates.reduce((a, r) => a + r.perSecond, 0) };
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 1000)));
  }
}

async function measure(peer: Peer): Promise<SystemResults> {
  const sys: SystemResults = { id: peer.id, label: peer.label, throughput: {}, payloads: {} };
  const steps: Array<[string, (server: PeerServer, client: PeerClient) => Promise<void>]> = [
    ["latency", async (_, c) => void (sys.latency = distribution(await latency(c, config.latencyCalls, config.latencyWarmup, config.latencyMaxMs)))],
    ["wake", async (_, c) => void (sys.wake = distribution(await wake(c, config.wakeCalls, config.wakeIdleMs)))],
    ...(["1", "16", "256"] as const).map(
      (w): [string, (s: PeerServer, c: PeerClient) => Promise<void>] => [
        `throughput ${w}`,
        async (_, c) => {
          await throughput(c, Number(w), config.throughputWarmupMs);
          sys.throughput[w] = await throughputRounds(c, Number(w), config.throughputMs, config.throughputRounds);
        },
      ],
    ),
    ["throughput 4 processes", async (s) => void (sys.throughput["4procs"] = await multiProcess(peer, s))],
    ...PAYLOADS.map(
      ([key, make]): [string, (s: PeerServer, c: PeerClient) => Promise<void>] => [
        `payload ${key}`,
        async (s, c) => void (sys.payloads[key] = await payload(c, make(), config.payloadMs, config.payloadMinCalls, s.pid)),
      ],
    ),
    [
      "connect",
      async (s) => {
        if (!s.loadgen) throw new Error("one channel per server process");
        sys.connect = distribution(await connectFirstCall(() => s.connect(), config.connectTimes));
      },
    ],
    [
      "import",
      async () => {
        if (!peer.module) throw new Error("same module as another row");
        // Resolved here, so the child finds it whatever its working directory.
        sys.importMs = await importTime(import.meta.resolve(peer.module), config.importTimes);
      },
    ],
    [
      "idle",
      async (s) => {
        if (s.pid === undefined) throw new Error("server runs in this process");
        await sleep(config.idleSettleMs);
        sys.idle = await idleCpu(s.pid, config.idleMs, TICKS);
      },
    ],
  ];
  const setNa = (step: string, na: NotAvailable) => {
    if (step === "latency") sys.latency = na;
    else if (step === "wake") sys.wake = na;
    else if (step === "idle") sys.idle = na;
    else if (step === "connect") sys.connect = na;
    else if (step === "import") sys.importMs = na;
    else if (step.startsWith("throughput")) sys.throughput[step.endsWith("processes") ? "4procs" : step.slice(11)] = na;
    else sys.payloads[step.slice(8)] = na;
  };
  let server: PeerServer | undefined;
  let client: PeerClient | undefined;
  if (peer.payloadsOnly) {
    for (const [step] of steps.filter(([s]) => !s.startsWith("payload "))) setNa(step, { na: peer.payloadsOnly });
    steps.splice(0, steps.length, ...steps.filter(([s]) => s.startsWith("payload ")));
  }
  try {
    server = await withTimeout(peer.start(), 30_000);
    client = await withTimeout(server.connect(), 30_000);
  } catch (e) {
    for (const [step] of steps) setNa(step, { na: `could not start: ${reason(e)}` });
    await server?.stop().catch(() => {});
    return sys;
  }
  let broken: string | undefined;
  for (const [step, run] of steps) {
    if (broken) {
      setNa(step, { na: broken });
      continue;
    }
    const t0 = performance.now();
    try {
      await withTimeout(run(server, client), config.stepTimeoutMs);
      log(`  ${peer.label}: ${step} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      setNa(step, { na: reason(e) });
      // The client of this process may be stuck in a call: the steps that use it are skipped.
      if (e instanceof Timeout && !step.endsWith("processes")) broken = `skipped after ${step} timed out`;
      log(`  ${peer.label}: ${step}: n/a: ${reason(e)}`);
    }
  }
  try {
    await client.close();
  } catch {
    // the server is stopped next anyway
  }
  await server.stop();
  return sys;
}

async function measureFloor(): Promise<SystemResults> {
  const sys: SystemResults = { id: "floor", label: "C floor (shared cache line)", throughput: {}, payloads: {} };
  log("  C floor: latency");
  try {
    sys.latency = distribution(await floorSpin(config.latencyCalls, config.latencyWarmup, config.stepTimeoutMs));
  } catch (e) {
    sys.latency = { na: reason(e) };
  }
  log("  C floor: wake");
  try {
    sys.wake = distribution(await floorWake(config.wakeCalls, config.wakeIdleMs * 1000, config.stepTimeoutMs));
  } catch (e) {
    sys.wake = { na: reason(e) };
  }
  return sys;
}

/** The reference rows for big messages, measured here: one owned Buffer allocated and
 *  filled (the default path's), and one hot memcpy into a reused Buffer (a view handler's). */
function measureAlloc(): SystemResults[] {
  const alloc: SystemResults = { id: "alloc", label: "Buffer alloc + fill (reference)", throughput: {}, payloads: {} };
  const copy: SystemResults = { id: "memcpy", label: "hot memcpy (reference)", throughput: {}, payloads: {} };
  log("  Buffer alloc + fill, hot memcpy: payloads");
  for (const [key, make] of PAYLOADS) {
    const x = make();
    if (typeof x === "string") continue;
    alloc.payloads[key] = allocFill(x.length, config.payloadMs, config.payloadMinCalls);
    copy.payloads[key] = hotCopy(x.length, config.payloadMs, config.payloadMinCalls);
  }
  return [alloc, copy];
}

if (argv.includes("--render")) {
  const suffix = load ? "-load" : "";
  const saved = JSON.parse(readFileSync(`${RESULTS}latest${suffix}.json`, "utf8")) as RunResults;
  saved.targets = evaluateTargets(saved);
  writeFileSync(`${RESULTS}latest${suffix}.md`, markdown(saved));
  writeFileSync(`${RESULTS}latency${suffix}.svg`, latencySvg(saved));
  console.log(terminalTable(saved));
  process.exit(0);
}

/** One busy loop per core at normal priority, for the whole run: a busy host. */
function startHogs(): Child[] {
  return Array.from({ length: availableParallelism() }, () => spawnTracked("", ["-e", "for(;;);"], { command: process.execPath }));
}

const TICKS = clockTicks();
const started = performance.now();
const results: RunResults = {
  quick,
  load,
  machine: machine(),
  config,
  durationSeconds: 0,
  systems: [],
  targets: [],
};
log(`shmrpc bench${quick ? " --quick" : ""}${load ? " --load" : ""}: ${peers.length} systems and the C floor`);
const hogs = load ? startHogs() : [];
for (const peer of peers) {
  if (only && !only.has(peer.id)) continue;
  results.systems.push(await measure(peer));
}
if (!only || only.has("floor")) results.systems.push(await measureFloor());
if (!only || only.has("alloc")) results.systems.push(...measureAlloc());
if (!only || only.has("streams")) {
  try {
    results.streams = await withTimeout(measureStreams({ quick }, log), config.stepTimeoutMs);
  } catch (e) {
    results.streams = { na: reason(e) };
    log(`  streams: n/a: ${reason(e)}`);
  }
}
results.machine.loadAverageEnd = currentLoad();
for (const h of hogs) h.kill();
results.durationSeconds = Math.round((performance.now() - started) / 100) / 10;
results.targets = evaluateTargets(results);

mkdirSync(RESULTS, { recursive: true });
const suffix = (load ? "-load" : "") + (only ? "-partial" : quick ? "-quick" : "");
writeFileSync(`${RESULTS}latest${suffix}.json`, JSON.stringify(results, null, 1) + "\n");
writeFileSync(`${RESULTS}latest${suffix}.md`, markdown(results));
writeFileSync(`${RESULTS}latency${suffix}.svg`, latencySvg(results));
console.log(terminalTable(results));
log(`\n${results.durationSeconds} s; wrote bench/results/latest${suffix}.json, latest${suffix}.md, latency${suffix}.svg`);
process.exit(0);
