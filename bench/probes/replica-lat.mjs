// Sync add round trip to a name served alone vs by one replica (the client's replica path:
// balancer, retry bookkeeping on failure only), interleaved: node replica-lat.mjs [rounds] [N]
import { spawn } from "node:child_process";
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const fixture = new URL("../../dist/tests/fixtures/server.js", import.meta.url).pathname;
const rounds = Number(process.argv[2] ?? 3);
const N = Number(process.argv[3] ?? 100000);
for (let r = 0; r < rounds; r++) {
  for (const replica of [false, true]) {
    const name = `/replica_lat_${process.pid}_${r}_${replica}`;
    const srv = spawn(process.execPath, [fixture, name, JSON.stringify({ replica })], { stdio: ["pipe", "pipe", "inherit"] });
    await new Promise((res) => srv.stdout.once("data", res));
    const c = new Client(name);
    for (let i = 0; i < 20000; i++) c.call("add", i, 1);
    const s = new Float64Array(N);
    for (let i = 0; i < N; i++) { const t0 = performance.now(); c.call("add", i, 1); s[i] = performance.now() - t0; }
    s.sort();
    const q = (p) => (s[Math.floor(N * p)] * 1000).toFixed(2);
    console.log(`${replica ? "one replica" : "alone      "} sync add x${N}: p50 ${q(0.5)} µs  p99 ${q(0.99)} µs`);
    c.close();
    srv.stdin.end();
    await new Promise((res) => srv.on("exit", res));
  }
}
