// Copy rates behind the 1 MiB echo: into/inside the shared WebAssembly memory, and out to a fresh
// Buffer (what the decoder must hand the user) vs a reused one.  node copyrate.mjs
const mem = new WebAssembly.Memory({ initial: 256, maximum: 1024, shared: true });
const u8 = new Uint8Array(mem.buffer); const buf = Buffer.from(mem.buffer);
const M = 1 << 20; const src = Buffer.alloc(M, 1);
const N = 2000;
for (let r = 0; r < 3; r++) {
  let t0 = performance.now(); for (let i = 0; i < N; i++) u8.set(src, 65536 + (i & 3) * M); let dt = performance.now() - t0;
  console.log(`u8.set 1 MiB into shared wasm memory: ${(M * N / dt / 1e6).toFixed(2)} GB/s`);
  t0 = performance.now(); for (let i = 0; i < N; i++) u8.copyWithin(65536 + 8 * M, 65536 + (i & 3) * M, 65536 + (i & 3) * M + M); dt = performance.now() - t0;
  console.log(`copyWithin 1 MiB inside: ${(M * N / dt / 1e6).toFixed(2)} GB/s`);
  t0 = performance.now(); for (let i = 0; i < N; i++) { const b = Buffer.allocUnsafe(M); buf.copy(b, 0, 65536, 65536 + M); } dt = performance.now() - t0;
  console.log(`allocUnsafe + copy out 1 MiB: ${(M * N / dt / 1e6).toFixed(2)} GB/s`);
  const keep = Buffer.allocUnsafe(M);
  t0 = performance.now(); for (let i = 0; i < N; i++) { buf.copy(keep, 0, 65536, 65536 + M); } dt = performance.now() - t0;
  console.log(`copy out 1 MiB into a kept Buffer: ${(M * N / dt / 1e6).toFixed(2)} GB/s`);
}
