// The cost of the server's per-request cancel check (src/core/cancel-box.ts) while no
// cancel is posted: CancelledIds.dropped(id) in a loop, against the same loop without it.
// node cancel-check.mjs [N]
const dist = process.env.SHMRPC_DIST ?? "../../dist/src/index.js";
const base = dist.replace(/index\.js$/, "");
const { core } = await import(base + "core/wasm.js");
const { L } = await import(base + "core/layout.js");
const { CancelledIds } = await import(base + "core/cancel-box.js");
const N = Number(process.argv[2] ?? 100_000_000);
const c = core();
const offset = c.alloc(L.CONN_HEADER_BYTES);
c.u8.fill(0, offset, offset + L.CONN_HEADER_BYTES);
const ids = new CancelledIds({ offset });
const sink = new Uint32Array(1);
function loop(check) {
  const t0 = performance.now();
  let dropped = 0;
  for (let id = 1; id <= N; id++) {
    sink[0] = id; // the work a request does anyway: a store
    if (check && ids.dropped(id)) dropped++;
  }
  return { ns: ((performance.now() - t0) * 1e6) / N, dropped };
}
for (let r = 0; r < 3; r++) {
  const without = loop(false);
  const withCheck = loop(true);
  console.log(`per request: ${without.ns.toFixed(2)} ns without the check, ${withCheck.ns.toFixed(2)} ns with it (${(withCheck.ns - without.ns).toFixed(2)} ns added; ${withCheck.dropped} dropped)`);
}
