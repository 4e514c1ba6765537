// A stream's first item against a unary call, server and client on one thread (no other
// process's scheduling: the cost of each path's work and event-loop hops). Batches of
// sequential calls, interleaved; median µs per call of each.  node first-inproc.mjs [batches] [per batch]
const { Server, Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const batches = Number(process.argv[2] ?? 30);
const per = Number(process.argv[3] ?? 200);
const name = `/perf_first_${process.pid}`;
const s = new Server(name, { spinMicros: 0 });
s.bind("add", (a, b) => a + b);
s.bind("count", async function* (n) { for (let i = 0; i < n; i++) yield i; });
const done = s.run();
const c = new Client(name, { spinMicros: 0 });
await c.waitForConnection(2000);
const first = [], unary = [], firstCpu = [], unaryCpu = [];
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
for (let b = 0; b < batches; b++) {
  let t = performance.now(), c0 = cpu();
  for (let i = 0; i < per; i++) {
    const it = c.stream("count", 1);
    await it.next();
    await it.next();
  }
  first.push(((performance.now() - t) * 1000) / per);
  firstCpu.push((cpu() - c0) / per);
  t = performance.now(); c0 = cpu();
  for (let i = 0; i < per; i++) await c.asyncCall("add", 1, 2);
  unary.push(((performance.now() - t) * 1000) / per);
  unaryCpu.push((cpu() - c0) / per);
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
console.log(`one thread: stream of 1 item (open, item, end) ${med(first).toFixed(2)} µs (CPU ${med(firstCpu).toFixed(2)} µs), asyncCall ${med(unary).toFixed(2)} µs (CPU ${med(unaryCpu).toFixed(2)} µs): ${(med(first) / med(unary)).toFixed(2)}× (CPU ${(med(firstCpu) / med(unaryCpu)).toFixed(2)}×)`);
c.close(); await s.close(); await done;
