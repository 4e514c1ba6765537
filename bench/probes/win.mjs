// asyncCall add with a fixed window of calls in flight: calls/s.
// node win.mjs [name] [window...]   default windows 1 16 256
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const name = process.argv[2] ?? "/rpc_probe";
const windows = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1, 16, 256];
const c = new Client(name);
await c.waitForConnection(2000);
async function run(w, total) {
  let sent = 0, done = 0;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const onDone = () => {
      done++;
      if (sent < total) { sent++; c.asyncCall("add", sent, 1).then(onDone); }
      else if (done === total) resolve(total / ((performance.now() - t0) / 1000));
    };
    for (; sent < Math.min(w, total);) { sent++; c.asyncCall("add", sent, 1).then(onDone); }
  });
}
for (const w of windows) {
  const total = w === 1 ? 50000 : 400000;
  await run(w, total / 10);
  const rates = [];
  for (let r = 0; r < 3; r++) rates.push(await run(w, total));
  console.log(`asyncCall add window ${w}: best ${Math.max(...rates).toFixed(0)} calls/s  (runs ${rates.map((x) => (x / 1000).toFixed(0) + "k").join(" ")})`);
}
c.close();
