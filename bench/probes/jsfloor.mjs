// The floor for JavaScript: two Node processes ping-pong a word through shared memory,
// spinning on Atomics.load (no codec, no rings): what a sync call could cost at best.
// node jsfloor.mjs a & node jsfloor.mjs b
const { native } = await import((process.env.SHMRPC_DIST ?? "../../dist/src/index.js").replace(/index\.js$/, "native.js"));
const role = process.argv[2];
const name = "/jsfloor-" + (process.argv[3] ?? "probe");
const mem = new WebAssembly.Memory({ initial: 4, maximum: 16, shared: true });
const u8 = new Uint8Array(mem.buffer); const i32 = new Int32Array(mem.buffer);
let fd;
if (role === "a") { try { native.shmUnlink(name); } catch {} fd = native.shmCreate(name, 65536); } else { for (;;) { try { fd = native.shmOpen(name).fd; break; } catch { await new Promise((r) => setTimeout(r, 10)); } } }
native.mapShared(u8, 65536, 65536, fd);
const PING = 65536 / 4, PONG = PING + 32; // separate 128-byte lines
const N = 200000, WARM = 20000;
if (role === "a") {
  while (Atomics.load(i32, PONG) !== -1) ; // b is ready
  const s = new Float64Array(N);
  for (let i = 1; i <= N + WARM; i++) {
    const t0 = performance.now();
    Atomics.store(i32, PING, i);
    while (Atomics.load(i32, PONG) !== i) ;
    if (i > WARM) s[i - WARM - 1] = performance.now() - t0;
  }
  s.sort();
  console.log(`JS Atomics ping-pong between processes x${N}: p50 ${(s[N / 2] * 1000).toFixed(3)} µs  p99 ${(s[Math.floor(N * 0.99)] * 1000).toFixed(3)} µs (includes two performance.now() of ~0.05 µs)`);
  native.shmUnlink(name);
} else {
  Atomics.store(i32, PONG, -1);
  for (let i = 1; i <= N + WARM; i++) { while (Atomics.load(i32, PING) !== i) ; Atomics.store(i32, PONG, i); }
}
