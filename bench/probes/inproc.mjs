// Server and client on one thread, asyncCall add with a window in flight, spinMicros 0 so
// that idle sides park at once: a deterministic workload for instruction counts
// (valgrind --tool=callgrind node inproc.mjs N; compare two N).  node inproc.mjs [N] [window]
const { Server, Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const N = Number(process.argv[2] ?? 20000);
const W = Number(process.argv[3] ?? 256);
const name = `/perf_inproc_${process.pid}`;
const s = new Server(name, { spinMicros: 0 }); s.bind("add", (a, b) => a + b);
const done = s.run();
const c = new Client(name, { spinMicros: 0 });
await c.waitForConnection(2000);
const t0 = performance.now();
if (N > 0) await new Promise((resolve) => {
  let sent = 0, fin = 0;
  const onDone = () => { fin++; if (sent < N) { sent++; c.asyncCall("add", sent, 1).then(onDone); } else if (fin === N) resolve(); };
  for (; sent < Math.min(W, N);) { sent++; c.asyncCall("add", sent, 1).then(onDone); }
});
const dt = performance.now() - t0;
console.log(`inproc asyncCall add x${N} window ${W}: ${(N / (dt / 1000)).toFixed(0)} calls/s`);
c.close(); await s.close(); await done;
