// CPU per small stream item, server and client on one thread (no other process to wait for:
// a loaded machine's time slicing drops out): a stream of N integers, CPU µs per item, the
// median of ROUNDS.  node items-inproc.mjs [rounds] [N]   (SHMRPC_DIST=<dist/src/index.js> for another build)
const { Server, Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const rounds = Number(process.argv[2] ?? 7);
const n = Number(process.argv[3] ?? 200_000);
const name = `/perf_items_${process.pid}`;
const s = new Server(name, { spinMicros: 0 });
s.bind("count", async function* (k) { for (let i = 0; i < k; i++) yield i; });
const done = s.run();
const c = new Client(name, { spinMicros: 0 });
await c.waitForConnection(2000);
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const per = [];
for (let r = 0; r < rounds; r++) {
  const c0 = cpu();
  let got = 0;
  for await (const _ of c.stream("count", n)) got++;
  per.push(((cpu() - c0) * 1000) / got);
}
per.sort((a, b) => a - b);
console.log(`one thread: CPU per stream item ${per[per.length >> 1].toFixed(0)} ns (median of ${rounds} streams of ${n})`);
c.close(); await s.close(); await done;
