// One direction of a big message inside one process, without the other process's
// scheduling: encode [Buffer] (as a call does), send it through a Channel pair, receive
// and decode it. Time and minor page faults per message; the copies are all there is.
// node bigpath.mjs [bytes] [count]   (SHMRPC_DIST=<dist> for another build; VIEW=1: the receiver decodes
// views and gives a fragmented message's tail back for the next one, as a view stream or view handler
// does, instead of copies)
const dist = process.env.SHMRPC_DIST ?? new URL("../../dist/", import.meta.url).pathname;
const { core } = await import(dist + "src/core/wasm.js");
const { L } = await import(dist + "src/core/layout.js");
const { RingReader, RingWriter } = await import(dist + "src/core/ring.js");
const { Channel } = await import(dist + "src/channel.js");
const { Encoder } = await import(dist + "src/codec/encode.js");
const { Decoder } = await import(dist + "src/codec/decode.js");
const { HEADROOM, P_RESPONSE_BODY } = await import(dist + "src/frames.js");
const { native } = await import(dist + "src/native.js"); // keepFreedMemory, as in a client or server
const size = Number(process.argv[2] ?? 1 << 20);
const n = Number(process.argv[3] ?? 200);
const c = core();
const CAP = 2 << 20; // the default ring
const VIEW = process.env.VIEW === "1";
const region = c.alloc(2 * CAP + 2 * 65536);
const ring = region, other = region + CAP + 65536;
c.exports.ringFormat(ring); c.exports.ringFormat(other);
// The addon's memmove for big copies, as a client and a server have (a plain set() out of shared memory is slow).
const tx = new Channel(new RingWriter(ring, CAP), new RingReader(other, CAP), 1 << 30, native.copyBytes);
const rx = new Channel(new RingWriter(other, CAP), new RingReader(ring, CAP), 1 << 30, native.copyBytes);
const enc = new Encoder(c), dec = new Decoder(c, native.copyBytes);
const arg = Buffer.alloc(size, 7);
let check = 0;
function one() {
  const length = enc.encode([arg], 1 << 30, "args", HEADROOM);
  tx.send(L.T_RESPONSE, 1, null, enc.start + HEADROOM, length, enc.splice);
  for (;;) {
    if (!tx.idle) tx.flush();
    if (rx.poll()) break;
    rx.release();
  }
  const tail = rx.tail ?? null;
  const v = VIEW ? dec.decodeViews(rx.payload + P_RESPONSE_BODY, rx.payload + rx.length, tail) : dec.decode(rx.payload + P_RESPONSE_BODY, rx.payload + rx.length, tail);
  check += v[0][size - 1];
  if (VIEW && tail !== null) rx.keepTail(tail);
  rx.consumed(); rx.release();
}
for (let i = 0; i < 20; i++) one();
// CPU time (one thread, nothing to wait for): a loaded machine's time slicing drops out.
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const f0 = process.resourceUsage().minorPageFault, t0 = cpu();
for (let i = 0; i < n; i++) one();
const dt = (cpu() - t0) / n, f = (process.resourceUsage().minorPageFault - f0) / n;
const t1 = cpu(); for (let i = 0; i < n; i++) { const a = Buffer.allocUnsafe(size); a.fill(i); check += a[0]; }
const at = (cpu() - t1) / n;
const hot = Buffer.alloc(size), t2 = cpu(); for (let i = 0; i < n; i++) hot.set(arg);
const mt = (cpu() - t2) / n;
console.log(`${VIEW ? "views: " : ""}one way ${size} B, CPU per message: ${(dt * 1000).toFixed(0)} µs, ${f.toFixed(1)} faults; alloc+fill ${(at * 1000).toFixed(0)} µs (${(dt / at).toFixed(2)}×); hot memcpy ${(mt * 1000).toFixed(0)} µs (${(dt / mt).toFixed(1)}×)`);
