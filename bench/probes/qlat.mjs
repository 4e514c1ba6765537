// The quick bench's latency row alone (bench/lib/workloads.ts latency(), the same
// calls and warm-up as `npm run bench -- --quick`), against a server started by ab.sh.
// node qlat.mjs name [calls] [warmup]   prints p50/p99 in µs
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const { latency } = await import("../../dist/bench/lib/workloads.js");
const name = process.argv[2] ?? "/rpc_probe";
const calls = Number(process.argv[3] ?? 3000);
const warmup = Number(process.argv[4] ?? 500);
if (process.env.WARM_ON) {
  // Warms this process's code on another server first (qlat-split.sh cliwarm).
  const w = new Client(process.env.WARM_ON, {});
  await w.waitForConnection(60000);
  for (let i = 0; i < Number(process.env.WARM_CALLS ?? 50000); i++) w.call("add", i, 1);
  w.close();
}
const c = new Client(name, {});
await c.waitForConnection(60000);
const peer = { addSync: (a, b) => c.call("add", a, b), add: (a, b) => c.asyncCall("add", a, b) };
// (1 hour: no time limit, so that a side run under valgrind makes every call.)
const us = Array.from(await latency(peer, calls, Math.min(warmup, calls), Number(process.env.MAX_MS ?? 1000))).sort((a, b) => a - b);
if (us.length === 0) {
  console.log("no calls");
  c.close();
  process.exit(0);
}
const q = (p) => us[Math.min(us.length - 1, Math.floor(us.length * p))].toFixed(2);
console.log(`quick latency x${us.length} (warm-up ${warmup}): p50 ${q(0.5)} µs  p99 ${q(0.99)} µs`);
c.close();
