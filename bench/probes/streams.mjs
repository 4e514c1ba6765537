// The stream rows of the bench, alone and quick, against any build (for before/after):
// small items/s, 1 MiB chunks GB/s (copies, and with views when the build has them),
// time to first item against a unary round trip (p50), minor page faults per chunk.
// node streams.mjs [rounds] [dist]   (dist defaults to ../../dist; RING=<bytes>: the client's ringBytes;
// ONLY=small|chunks|views|first: that row alone, e.g. to profile it with SRV_NODE_ARGS=--cpu-prof)
import { spawn } from "node:child_process";
const dist = process.argv[3] ?? new URL("../../dist/", import.meta.url).pathname;
const rounds = Number(process.argv[2] ?? 3);
const { Client } = await import(dist + "src/index.js");
const name = `/ss-probe-${process.pid}`;
const server = spawn(process.execPath, [...(process.env.SRV_NODE_ARGS ?? "").split(" ").filter(Boolean), dist + "bench/peers/stream-server.js", "shm", name], { stdio: ["pipe", "pipe", "inherit"] });
await new Promise((r) => server.stdout.on("data", (d) => String(d).includes("ready") && r()));
const ringBytes = process.env.RING === undefined ? undefined : Number(process.env.RING);
const client = new Client(name, { timeoutMs: 600_000, ringBytes });
const p50 = (a) => a.sort((x, y) => x - y)[a.length >> 1];
try {
  await client.waitForConnection(10_000);
  const only = process.env.ONLY;
  const want = (row) => only === undefined || only === row;
  let small = 0;
  for (let r = 0; r < rounds && want("small"); r++) {
    const t0 = performance.now();
    let n = 0;
    for await (const _ of client.stream("count", 200_000)) n++;
    small = Math.max(small, n / ((performance.now() - t0) / 1000));
  }
  const chunk = 1 << 20;
  const chunks = async (bound) => {
    let best = 0, faults = 0;
    for (let r = 0; r < rounds * (only === undefined ? 1 : 10); r++) {
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = performance.now();
      let bytes = 0;
      for await (const b of bound.stream("chunks", 128, chunk)) bytes += b.length;
      const rate = bytes / ((performance.now() - t0) / 1000);
      if (rate > best) { best = rate; faults = (process.resourceUsage().minorPageFault - f0) / 128; }
    }
    return `${(best / 1e9).toFixed(2)} GB/s (${faults.toFixed(1)} faults/chunk)`;
  };
  const copies = want("chunks") ? await chunks(client) : "-";
  let views = "-";
  try {
    if (want("views")) views = await chunks(client.withOptions({ view: true }));
  } catch (e) {
    views = `n/a (${e.code ?? e.message})`;
  }
  const hot = Buffer.alloc(chunk, 1), dst = Buffer.alloc(chunk);
  for (let i = 0; i < 50; i++) dst.set(hot);
  const t1 = performance.now();
  for (let i = 0; i < 500; i++) dst.set(hot);
  const memcpy = (500 * chunk) / ((performance.now() - t1) / 1000);
  const first = [], unary = [];
  for (let i = 0; i < 2000 && want("first"); i++) {
    let s = performance.now();
    const it = client.stream("count", 1);
    await it.next();
    first.push((performance.now() - s) * 1000);
    await it.next();
    s = performance.now();
    await client.asyncCall("add", 1, 2);
    unary.push((performance.now() - s) * 1000);
  }
  const f = p50(first) ?? NaN, u = p50(unary) ?? NaN;
  console.log(`small ${(small / 1e6).toFixed(2)} M/s | chunks copies ${copies}, views ${views} | memcpy ${(memcpy / 1e9).toFixed(1)} GB/s | first item p50 ${f.toFixed(2)} µs, unary ${u.toFixed(2)} µs (${(f / u).toFixed(2)}×)`);
} finally {
  client.close();
  server.stdin.end();
}
