// The cost of middleware, interceptors and tracing on a synchronous add, interleaved across
// builds and variants so that a shared machine's load falls on all alike (as ab.sh):
//   node mw-cost.mjs ROUNDS N BASE_DIST [THIS_DIST]
// BASE_DIST: another build's dist/src/index.js (e.g. main's), measured without middleware;
// THIS_DIST (default this build) with: none, one pass-through server middleware
// ("middleware"), one pass-through client interceptor ("interceptor"), and OpenTelemetry on
// both sides (traceServer/traceClient, the SDK with a BatchSpanProcessor whose exporter drops
// the spans: dist/bench/peers/otel.js). Each measurement: a fresh server process, then a
// client process making N sync adds after 20 000 warm-up calls; prints the wall time and the
// CPU time of both processes per call of each, then per variant the median over rounds and
// the paired difference from this build's "none" (the server's CPU counted from a "mark"
// call to a "report" call around the measured ones).
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const here = new URL("../../dist/src/index.js", import.meta.url).pathname;
const otel = new URL("../../dist/bench/peers/otel.js", import.meta.url).pathname;
const tracing = new URL("../../dist/src/tracing/index.js", import.meta.url).pathname;
const [role, ...rest] = process.argv.slice(2);

if (role === "serve") {
  const [dist, name, variant] = rest;
  const { Server } = await import(dist);
  const s = new Server(name);
  s.bind("add", (a, b) => a + b);
  // The server's CPU time from "mark" to "report" (the measured calls' share).
  let base = process.cpuUsage();
  s.bind("mark", () => void (base = process.cpuUsage()));
  s.bind("report", () => { const u = process.cpuUsage(base); return u.user + u.system; });
  if (variant === "middleware") s.use((_ctx, next) => next());
  if (variant === "traced") {
    (await import(otel)).setUpDroppingOtel();
    (await import(tracing)).traceServer(s);
  }
  const d = s.run();
  await s.ready();
  console.log("ready");
  process.stdin.on("end", () => void s.close());
  process.stdin.resume();
  await d;
  process.exit(0);
} else if (role === "call") {
  const [dist, name, variant, n] = rest;
  const { Client } = await import(dist);
  const c = new Client(name);
  if (variant === "interceptor") c.use((_call, next) => next());
  if (variant === "traced") {
    (await import(otel)).setUpDroppingOtel();
    (await import(tracing)).traceClient(c);
  }
  await c.waitForConnection(5000);
  for (let i = 0; i < 20000; i++) c.call("add", i, 1);
  const N = Number(n);
  c.call("mark");
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) c.call("add", i, 1);
  const wall = ((performance.now() - t0) * 1e6) / N;
  const u = process.cpuUsage(u0);
  const serverCpu = c.call("report");
  console.log(`${wall} ${((u.user + u.system + serverCpu) * 1000) / N}`);
  c.close();
} else {
  const rounds = Number(role ?? 5);
  const N = Number(rest[0] ?? 200000);
  const base = rest[1];
  const mine = rest[2] ?? here;
  const configs = [
    ...(base ? [["base", base, "none"]] : []),
    ["none", mine, "none"], ["middleware", mine, "middleware"], ["interceptor", mine, "interceptor"], ["traced", mine, "traced"],
  ];
  const got = new Map(configs.map(([label]) => [label, { wall: [], cpu: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const [label, dist, variant] of configs) {
      const name = `/mwcost_${process.pid}_${r}_${label}`;
      const server = spawn(process.execPath, [self, "serve", dist, name, variant], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => server.stdout.on("data", (d) => String(d).includes("ready") && resolve()));
      const client = spawnSync(process.execPath, [self, "call", dist, name, variant, String(N)], { encoding: "utf8", timeout: 300_000 });
      server.stdin.end();
      await new Promise((resolve) => server.on("exit", resolve));
      const [wall, cpu] = client.stdout.trim().split(" ").map(Number);
      if (!Number.isFinite(wall) || !Number.isFinite(cpu)) throw new Error(`${label}: ${client.stdout}${client.stderr}`);
      got.get(label).wall.push(wall);
      got.get(label).cpu.push(cpu);
      console.log(`round ${r + 1} ${label.padEnd(12)} ${wall.toFixed(0)} ns wall, ${cpu.toFixed(0)} ns CPU (both sides) per call`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const what of ["wall", "cpu"]) {
    const none = median(got.get("none")[what]);
    console.log(`\nsync add, ${what === "wall" ? "wall time" : "CPU time of client + server"} per call (ns), median of ${rounds} rounds of ${N} calls:`);
    for (const [label] of configs) {
      const xs = got.get(label)[what];
      const m = median(xs);
      const d = xs.map((x, i) => x - got.get("none")[what][i]);
      console.log(`${label.padEnd(12)} ${m.toFixed(0).padStart(7)}${label === "none" ? "" : `  x${(m / none).toFixed(3)} of none; paired difference, median: ${median(d) >= 0 ? "+" : ""}${median(d).toFixed(0)} ns`}`);
    }
  }
}
