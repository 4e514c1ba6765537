// The cost of middleware, interceptors and tracing on a synchronous add, interleaved across
// builds and variants so that a shared machine's load falls on all alike (as ab.sh):
//   node mw-cost.mjs ROUNDS N BASE_DIST [THIS_DIST]
// BASE_DIST: another build's dist/src/index.js (e.g. main's), measured without middleware;
// THIS_DIST (default this build) with: none, one pass-through server middleware
// ("middleware"), one pass-through client interceptor ("interceptor"), and OpenTelemetry on
// both sides (traceServer/traceClient, the SDK with a BatchSpanProcessor whose exporter drops
// the spans: dist/bench/peers/otel.js). Each measurement: a fresh server process, then a
// client process making N sync adds after 20 000 warm-up calls; prints the mean ns per call of
// each, then per variant the median over rounds and its difference from this build's "none".
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
  const t0 = performance.now();
  for (let i = 0; i < N; i++) c.call("add", i, 1);
  console.log(String(((performance.now() - t0) * 1e6) / N));
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
  const got = new Map(configs.map(([label]) => [label, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [label, dist, variant] of configs) {
      const name = `/mwcost_${process.pid}_${r}_${label}`;
      const server = spawn(process.execPath, [self, "serve", dist, name, variant], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => server.stdout.on("data", (d) => String(d).includes("ready") && resolve()));
      const client = spawnSync(process.execPath, [self, "call", dist, name, variant, String(N)], { encoding: "utf8", timeout: 120_000 });
      server.stdin.end();
      await new Promise((resolve) => server.on("exit", resolve));
      const ns = Number(client.stdout.trim());
      if (!Number.isFinite(ns)) throw new Error(`${label}: ${client.stdout}${client.stderr}`);
      got.get(label).push(ns);
      console.log(`round ${r + 1} ${label.padEnd(12)} ${ns.toFixed(0)} ns/call`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const none = median(got.get("none"));
  console.log(`\nsync add, ${N} calls x ${rounds} rounds, median of rounds (ns per call):`);
  for (const [label] of configs) {
    const m = median(got.get(label));
    console.log(`${label.padEnd(12)} ${m.toFixed(0).padStart(6)}  ${label === "none" ? "" : `${m - none >= 0 ? "+" : ""}${(m - none).toFixed(0)} ns, x${(m / none).toFixed(3)} of none`}`);
  }
  // Paired: the difference within each round, whose median resists the drift between rounds.
  for (const [label] of configs) {
    if (label === "none") continue;
    const d = got.get(label).map((x, i) => x - got.get("none")[i]);
    console.log(`${label.padEnd(12)} paired difference, median of rounds: ${median(d) >= 0 ? "+" : ""}${median(d).toFixed(0)} ns`);
  }
}
