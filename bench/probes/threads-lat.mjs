import { Worker } from "node:worker_threads";
const { ThreadClient } = await import("shmrpc/threads");
const spin = Number(process.argv[2] ?? 50);
const w = new Worker(`
const { parentPort, workerData } = require("node:worker_threads");
import("shmrpc/threads").then(({ ThreadServer }) => {
  const s = new ThreadServer("b", { spinMicros: workerData });
  s.bind("add", (a, b) => a + b);
  const c = s.connect(); parentPort.postMessage(c, [c.port]);
});`, { eval: true, workerData: spin });
const conn = await new Promise((r) => w.once("message", r));
const c = new ThreadClient(conn, { spinMicros: spin });
for (let i = 0; i < 2000; i++) c.call("add", i, 1);
const N = 20000, s = new Float64Array(N);
for (let i = 0; i < N; i++) { const t = performance.now(); c.call("add", i, 1); s[i] = performance.now() - t; }
s.sort();
let t0 = performance.now(); let sent = 0, done = 0;
await new Promise((res) => { const on = () => { done++; if (sent < 200000) { sent++; c.asyncCall("add", sent, 1).then(on); } else if (done === 200000) res(); }; for (; sent < 256; sent++) c.asyncCall("add", sent, 1).then(on); });
const rate = 200000 / ((performance.now() - t0) / 1000);
console.log(`spin ${spin}: sync p50 ${(s[N >> 1] * 1000).toFixed(1)} µs p99 ${(s[Math.floor(N * 0.99)] * 1000).toFixed(1)} µs; async 256: ${(rate / 1000).toFixed(0)}k/s`);
c.close(); await w.terminate();
