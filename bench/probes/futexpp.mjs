import { native } from "../../dist/src/native.js";
const role = process.argv[2];
const name = "/futexpp-test";
const mem = new WebAssembly.Memory({ initial: 4, maximum: 16, shared: true });
const u8 = new Uint8Array(mem.buffer); const i32 = new Int32Array(mem.buffer);
let fd;
if (role === "a") { try { native.shmUnlink(name); } catch {} fd = native.shmCreate(name, 65536); } else { fd = native.shmOpen(name).fd; }
native.mapShared(u8, 65536, 65536, fd);
const W = 65536 / 4; // word 0: turn counter
const mine = role === "a" ? 0 : 1;
const N = 2000; const lat = [];
if (role === "a") await new Promise(r => setTimeout(r, 300));
for (let i = 0; i < N; i++) {
  if (role === "a") {
    const t0 = performance.now();
    Atomics.add(i32, W, 1); native.futexWake(u8, 65536, 1);       // odd: b's turn
    for (;;) { const v = Atomics.load(i32, W); if (v % 2 === 0) break; native.futexWait(u8, 65536, v, 1000); }
    lat.push((performance.now() - t0) * 1000);
    await new Promise(r => setTimeout(r, 6)); // idle so the other side sleeps
  } else {
    for (;;) { const v = Atomics.load(i32, W); if (v % 2 === 1) break; native.futexWait(u8, 65536, v, 1000); }
    Atomics.add(i32, W, 1); native.futexWake(u8, 65536, 1);
  }
}
if (role === "a") { lat.sort((x, y) => x - y); console.log(`parked futex ping-pong between processes: p50 ${lat[N/2].toFixed(0)} µs, p99 ${lat[Math.floor(N*0.99)].toFixed(0)} µs`); native.shmUnlink(name); }
