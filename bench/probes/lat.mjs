// Sync add round trip: p50/p99/p99.9 over N calls after warm-up.
// node lat.mjs [name] [busy] [N]   (start srv.mjs with the same name and mode first)
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const name = process.argv[2] ?? "/rpc_probe";
const busy = process.argv[3] === "busy";
const N = Number(process.argv[4] ?? 200000);
const c = new Client(name, { busyPoll: busy, ...(process.env.SPIN ? { spinMicros: Number(process.env.SPIN) } : {}) });
await c.waitForConnection(2000);
for (let i = 0; i < 20000; i++) c.call("add", i, 1);
const s = new Float64Array(N);
const now = performance.now.bind(performance);
const t00 = now();
for (let i = 0; i < N; i++) { const t0 = now(); c.call("add", i, 1); s[i] = now() - t0; }
const total = now() - t00;
s.sort();
const q = (p) => (s[Math.min(N - 1, Math.floor(N * p))] * 1000).toFixed(2);
console.log(`sync add ${busy ? "busyPoll" : "default"} x${N}: p50 ${q(0.5)} µs  p99 ${q(0.99)} µs  p99.9 ${q(0.999)} µs  mean ${(total / N * 1000).toFixed(2)} µs`);
c.close();
