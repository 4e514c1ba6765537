// 1 MiB Buffer echo (sync): bytes per second each way.
// node echo.mjs [name] [bytes] [count]
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const name = process.argv[2] ?? "/rpc_probe";
const size = Number(process.argv[3] ?? 1 << 20);
const n = Number(process.argv[4] ?? 300);
const c = new Client(name);
await c.waitForConnection(2000);
const b = Buffer.alloc(size, 7);
for (let i = 0; i < 30; i++) c.call("echo", b);
const rates = [];
for (let r = 0; r < 3; r++) {
  const t0 = performance.now(); for (let i = 0; i < n; i++) c.call("echo", b); const dt = (performance.now() - t0) / 1000;
  rates.push(size * n / dt / 1e9);
}
console.log(`echo ${size} B x${n}: best ${Math.max(...rates).toFixed(2)} GB/s each way (runs ${rates.map((x) => x.toFixed(2)).join(" ")})`);
c.close();
