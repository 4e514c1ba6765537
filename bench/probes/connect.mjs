// node bench/probes/connect.mjs [times] [sync]: new Client() -> first answered add,
// p50/p90 in ms, against a probe server spawned here (SHMRPC_DIST picks the build).
// "sync": the first call is a blocking call (connects synchronously, as the CLI does).
// BUSY=1: server and clients busy-poll, and one more client stays connected meanwhile
// (as in the bench, whose main client has made asyncCalls before its connect row).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
const dist = process.env.SHMRPC_DIST ?? new URL("../../dist/src/index.js", import.meta.url).href;
const { Client } = await import(dist);
const times = Number(process.argv[2] ?? 200);
const sync = process.argv[3] === "sync";
const name = `/connect-probe-${process.pid}`;
const child = spawn(process.execPath, [...(process.env.SRV_NODE_ARGS?.split(" ") ?? []), fileURLToPath(new URL("./srv.mjs", import.meta.url)), name, ...(process.env.BUSY ? ["busy"] : [])], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, SHMRPC_DIST: dist } });
await new Promise((r) => child.stdout.once("data", r));
const busy = process.env.BUSY ? { busyPoll: true } : {};
let kept;
if (busy.busyPoll) {
  kept = new Client(name, busy); await kept.waitForConnection(30_000);
  for (let i = 0; i < 1000; i++) await kept.asyncCall("add", i, 1);
}
// WAIT=s (with BUSY): the kept client makes sync calls this long before the first connect,
// as the bench's rows before its connect row do (a busy-polling server slowed down with time).
if (kept && process.env.WAIT) {
  const until = performance.now() + Number(process.env.WAIT) * 1000;
  for (let i = 0; performance.now() < until; i++) {
    if (process.env.WAIT_BIG) kept.call("echo", Buffer.alloc(Number(process.env.WAIT_BIG), i));
    else if (process.env.WAIT_ASYNC) await Promise.all(Array.from({ length: 256 }, (_, j) => kept.asyncCall("add", i, j)));
    else kept.call("add", i, 1);
  }
}
const samples = [];
const handshakes = []; // async: new Client() to waitForConnection resolved
for (let i = 0; i < times; i++) {
  const t0 = performance.now();
  const c = new Client(name, { ...busy, ...(process.env.RING ? { ringBytes: Number(process.env.RING) } : {}) });
  let sum;
  if (sync) sum = c.call("add", i, 1);
  else { await c.waitForConnection(30_000); handshakes.push(performance.now() - t0); sum = c.call("add", i, 1); }
  samples.push(performance.now() - t0);
  if (sum !== i + 1) throw new Error("bad sum");
  await c.close();
}
await kept?.close();
child.kill("SIGTERM"); await new Promise((r) => child.once("exit", r));
samples.sort((a, b) => a - b);
const q = (p) => samples[Math.floor(p * (samples.length - 1))].toFixed(3);
handshakes.sort((a, b) => a - b);
if (handshakes.length) console.log(`async handshake alone ms: p50 ${handshakes[handshakes.length >> 1].toFixed(3)}`);
console.log(`${sync ? "sync " : "async"} connect+first call ms: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} (${times})`);
