const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const c = new Client(process.argv[2] ?? "/rpc_probe");
await c.waitForConnection(2000);
const s = [];
for (let i = 0; i < 200; i++) { await new Promise(r => setTimeout(r, 6)); const t0 = performance.now(); c.call("add", 1, 2); s.push((performance.now() - t0) * 1000); }
s.sort((a, b) => a - b);
console.log(`parked wake-up sync add: p50 ${s[100].toFixed(0)} µs, p99 ${s[198].toFixed(0)} µs`);
const b = Buffer.alloc(1 << 20);
for (let i = 0; i < 50; i++) c.call("echo", b);
const t0 = performance.now(); for (let i = 0; i < 200; i++) c.call("echo", b); const dt = (performance.now() - t0) / 1000;
console.log(`1 MiB echo: ${(200 * 2 / dt).toFixed(0)} MiB/s moved (both ways)`);
let n = 0; const t1 = performance.now(); const all = []; for (let i = 0; i < 200000; i++) all.push(c.asyncCall("add", i, 1)); await Promise.all(all);
console.log(`asyncCall add, 200000 in flight: ${(200000 / ((performance.now() - t1) / 1000)).toFixed(0)} calls/s`);
c.close();
