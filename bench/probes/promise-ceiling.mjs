// The ceiling of a Promise per call in this Node: create, resolve later, continue with .then,
// keeping a window of W in flight (no IPC at all). node promise-ceiling.mjs
let res; const exec = (r) => { res = r; };
function bare(W, total) {
  return new Promise((done) => {
    const q = []; let sent = 0, fin = 0;
    const onDone = () => { fin++; if (sent < total) { sent++; q.push(mk()); } else if (fin === total) done(); };
    const mk = () => { const p = new Promise(exec); const r = res; p.then(onDone); return r; };
    for (; sent < W; sent++) q.push(mk());
    // "responses": resolve in batches of what is queued, one macrotask per batch
    const pump = () => { const batch = q.splice(0, q.length); for (const r of batch) r(1); if (fin < total) setImmediate(pump); };
    setImmediate(pump);
  });
}
for (const W of [1, 16, 256]) {
  const total = 1000000;
  await bare(W, 100000);
  const rates = [];
  for (let r = 0; r < 3; r++) { const t0 = performance.now(); await bare(W, total); rates.push(total / ((performance.now() - t0) / 1000)); }
  console.log(`bare Promise per call, window ${W}: best ${(Math.max(...rates) / 1e6).toFixed(2)} M/s (${rates.map((x) => (x / 1e6).toFixed(2)).join(" ")})`);
}
// Promise.all style (as athr.mjs): N created at once
{
  const N = 100000;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now(); const rs = []; const all = [];
    for (let i = 0; i < N; i++) { all.push(new Promise(exec)); rs.push(res); }
    setImmediate(() => { for (const x of rs) x(1); });
    await Promise.all(all);
    console.log(`bare Promise x${N} at once + Promise.all: ${(N / ((performance.now() - t0) / 1000) / 1e6).toFixed(2)} M/s`);
  }
}
