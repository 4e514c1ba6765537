const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const c = new Client("/rpc_probe");
await c.waitForConnection(2000);
for (let r = 0; r < 5; r++) {
  const t1 = performance.now(); const all = [];
  for (let i = 0; i < 100000; i++) all.push(c.asyncCall("add", i, 1));
  await Promise.all(all);
  console.log(`asyncCall add x100000: ${(100000 / ((performance.now() - t1) / 1000)).toFixed(0)} calls/s`);
}
c.close();
