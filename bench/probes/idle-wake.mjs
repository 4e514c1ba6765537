// sync add after 5 ms idle (both sides parked), p50 and p90: the wake-up row alone.
// node idle-wake.mjs [name] [calls]
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const c = new Client(process.argv[2] ?? "/rpc_probe");
await c.waitForConnection(2000);
const n = Number(process.argv[3] ?? 200);
const s = [];
for (let i = 0; i < n; i++) { await new Promise(r => setTimeout(r, 5)); const t0 = performance.now(); c.call("add", 1, 2); s.push((performance.now() - t0) * 1000); }
s.sort((a, b) => a - b);
console.log(`wake p50 ${s[n >> 1].toFixed(0)} p90 ${s[Math.floor(n * 0.9)].toFixed(0)} µs`);
c.close();
