// The CPU cost of middleware, interceptors and tracing per call, without another process
// to wait for: server and client on one thread (as inproc.mjs), asyncCall add with a window
// of 64 in flight, CPU time (user + system) per call, so that a loaded machine's time
// slicing mostly drops out. Interleaved across builds and variants, each measurement in a
// fresh process:   node mw-inproc.mjs ROUNDS N BASE_DIST [THIS_DIST]
// Variants of this build: none, middleware (one pass-through server.use), interceptor (one
// pass-through client.use), traced (traceServer + traceClient, the OTel SDK batching to a
// dropping exporter: dist/bench/peers/otel.js). BASE_DIST (e.g. main's dist/src/index.js) is
// measured without any. Prints each figure, then medians and the paired differences.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const here = new URL("../../dist/src/index.js", import.meta.url).pathname;
const otel = new URL("../../dist/bench/peers/otel.js", import.meta.url).pathname;
const tracing = new URL("../../dist/src/tracing/index.js", import.meta.url).pathname;
const [role, ...rest] = process.argv.slice(2);

async function measure(dist, variant, N) {
  const { Server, Client } = await import(dist);
  const name = `/mwin_${process.pid}`;
  const s = new Server(name, { spinMicros: 0 });
  s.bind("add", (a, b) => a + b);
  const c = new Client(name, { spinMicros: 0 });
  if (variant === "middleware") s.use((_ctx, next) => next());
  if (variant === "interceptor") c.use((_call, next) => next());
  if (variant === "traced") {
    (await import(otel)).setUpDroppingOtel();
    const t = await import(tracing);
    t.traceServer(s);
    t.traceClient(c);
  }
  const done = s.run();
  await c.waitForConnection(5000);
  const run = (n) => new Promise((resolve) => {
    let sent = 0, fin = 0;
    const onDone = () => { fin++; if (sent < n) { sent++; c.asyncCall("add", sent, 1).then(onDone); } else if (fin === n) resolve(); };
    for (; sent < Math.min(64, n);) { sent++; c.asyncCall("add", sent, 1).then(onDone); }
  });
  await run(20000); // warm-up
  const u0 = process.cpuUsage();
  await run(N);
  const u = process.cpuUsage(u0);
  c.close();
  await s.close();
  await done;
  return ((u.user + u.system) * 1000) / N; // ns per call
}

if (role === "one") {
  const [dist, variant, n] = rest;
  console.log(String(await measure(dist, variant, Number(n))));
  process.exit(0);
} else {
  const rounds = Number(role ?? 7);
  const N = Number(rest[0] ?? 200000);
  const base = rest[1];
  const mine = rest[2] ?? here;
  const configs = [...(base ? [["base", base, "none"]] : []), ["none", mine, "none"], ["middleware", mine, "middleware"], ["interceptor", mine, "interceptor"], ["traced", mine, "traced"]];
  const got = new Map(configs.map(([label]) => [label, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [label, dist, variant] of configs) {
      const p = spawnSync(process.execPath, [self, "one", dist, variant, String(label === "traced" ? Math.ceil(N / 10) : N)], { encoding: "utf8", timeout: 300_000 });
      const ns = Number(p.stdout.trim());
      if (!Number.isFinite(ns)) throw new Error(`${label}: ${p.stdout}${p.stderr}`);
      got.get(label).push(ns);
      console.log(`round ${r + 1} ${label.padEnd(12)} ${ns.toFixed(0)} ns CPU/call`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const none = median(got.get("none"));
  console.log(`\nasyncCall add in one thread (server + client), CPU ns per call, median of ${rounds} rounds (${N} calls each; traced ${Math.ceil(N / 10)}):`);
  for (const [label] of configs) {
    const m = median(got.get(label));
    const d = got.get(label).map((x, i) => x - got.get("none")[i]);
    console.log(`${label.padEnd(12)} ${m.toFixed(0).padStart(6)}${label === "none" ? "" : `  x${(m / none).toFixed(3)} of none; paired difference, median: ${median(d) >= 0 ? "+" : ""}${median(d).toFixed(0)} ns`}`);
  }
}
