// Sync add round trip, plain vs. through a zod / valibot contract, interleaved rounds so that
// a shared machine's load falls on all alike; prints each round and the best p50 of each.
// node bench/probes/contract-lat.mjs [rounds] [calls]   (after npm run build)
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
const dist = new URL("../../dist/", import.meta.url);
const { Client } = await import(new URL("src/index.js", dist).href);
const rounds = Number(process.argv[2] ?? 5);
const N = Number(process.argv[3] ?? 50_000);
const variants = [
  ["plain", "bench/peers/shmrpc-server.js", ["0"]],
  ["zod", "bench/peers/shmrpc-contract-server.js", ["zod"]],
  ["valibot", "bench/peers/shmrpc-contract-server.js", ["valibot"]],
];
const best = {};
for (let r = 0; r < rounds; r++) {
  const row = [];
  for (const [label, script, args] of variants) {
    const name = `/contract-lat-${process.pid}-${r}-${label}`;
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, dist)), name, ...args], { stdio: ["pipe", "pipe", "inherit"] });
    await new Promise((resolve) => child.stdout.once("data", resolve));
    const c = new Client(name);
    await c.waitForConnection(5000);
    for (let i = 0; i < 5000; i++) c.call("add", i, 1);
    const s = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      c.call("add", i, 1);
      s[i] = performance.now() - t0;
    }
    c.close();
    child.stdin.end();
    await new Promise((resolve) => child.once("exit", resolve));
    s.sort();
    const p50 = s[N >> 1] * 1000;
    best[label] = Math.min(best[label] ?? Infinity, p50);
    row.push(`${label} p50 ${p50.toFixed(2)} µs`);
  }
  console.log(`round ${r + 1}: ${row.join("  ")}`);
}
console.log(`best p50: ${variants.map(([l]) => `${l} ${best[l].toFixed(2)} µs`).join("  ")}`);
