// The SPSC ring in plain WebAssembly memory: no addon, no second process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { core } from "../src/core/wasm.js";
import { L } from "../src/core/layout.js";
import { RingReader, RingWriter } from "../src/core/ring.js";

const c = core();

function newRing(capacity: number): { ring: number; w: RingWriter; r: RingReader; free(): void } {
  const bytes = L.RING_HEADER_BYTES + capacity;
  const ring = c.alloc(bytes);
  c.u8.fill(0xee, ring, ring + bytes); // garbage in the data area must not matter
  c.exports.ringFormat(ring);
  const w = new RingWriter(ring, capacity);
  const r = new RingReader(ring, capacity);
  return { ring, w, r, free: () => { w.dispose(); r.dispose(); c.release(ring, bytes); } };
}

function write(w: RingWriter, type: number, bytes: Uint8Array): boolean {
  const at = w.tryClaim(bytes.length, type);
  if (at === 0) return false;
  c.u8.set(bytes, at);
  return true;
}

function read(r: RingReader): { type: number; bytes: Uint8Array } | undefined {
  if (!r.poll()) return undefined;
  const out = { type: r.type, bytes: c.u8.slice(r.payload, r.payload + r.length) };
  r.advance();
  return out;
}

// A small deterministic PRNG, so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("an empty ring polls nothing", () => {
  const { r, free } = newRing(4096);
  assert.is(r.poll(), false);
  assert.is(r.empty(), true);
  free();
});

test("a record is invisible until committed, then read back intact", () => {
  const { w, r, free } = newRing(4096);
  assert.ok(write(w, L.T_REQUEST, new Uint8Array([1, 2, 3])));
  assert.is(r.poll(), false, "not committed yet");
  w.commit();
  const got = read(r);
  assert.ok(got);
  assert.is(got!.type, L.T_REQUEST);
  assert.equal([...got!.bytes], [1, 2, 3]);
  assert.is(r.poll(), false);
  free();
});

test("a full ring refuses a claim, and frees room once the reader releases", () => {
  const { w, r, free } = newRing(4096);
  const payload = new Uint8Array(w.maxPayload); // a quarter of the ring each
  let n = 0;
  while (write(w, L.T_REQUEST, payload)) n++;
  assert.is(n, 4);
  assert.is(w.hasRoom(1), false);
  w.commit();
  assert.ok(read(r));
  assert.is(w.hasRoom(w.maxPayload), false, "not released yet");
  r.release();
  assert.is(w.hasRoom(w.maxPayload), true);
  assert.ok(write(w, L.T_REQUEST, payload));
  free();
});

test("a record bigger than a quarter of the ring is refused as an argument error", () => {
  const { w, free } = newRing(4096);
  assert.is(w.tryClaim(w.maxPayload + 1, L.T_REQUEST), 0);
  assert.is(w.error, 3);
  free();
});

test("records wrap around the end through a padding record at every offset", () => {
  for (let shift = 0; shift < 4096; shift += 8) {
    const { w, r, free } = newRing(4096);
    // Move both counters to `shift` with one throw-away record.
    for (let moved = 0; moved < shift; ) {
      const record = Math.min(shift - moved, w.maxPayload + 8);
      assert.ok(write(w, L.T_REQUEST, new Uint8Array(record - 8)));
      w.commit();
      assert.ok(read(r));
      r.release();
      moved += record;
    }
    for (let i = 0; i < 20; i++) {
      const bytes = new Uint8Array(700).map((_, j) => (i * 31 + j) & 0xff);
      assert.ok(write(w, L.T_RESPONSE, bytes), `write ${i} at shift ${shift}`);
      w.commit();
      const got = read(r)!;
      r.release();
      assert.is(got.type, L.T_RESPONSE);
      assert.equal(got.bytes, bytes);
    }
    free();
  }
});

test("random sizes and batches match a FIFO model over many wrap-arounds", () => {
  const next = rng(42);
  const { w, r, free } = newRing(8192);
  const model: Uint8Array[] = [];
  let written = 0;
  let readCount = 0;
  let seq = 0;
  while (readCount < 20000) {
    // Producer: a random batch, committed once.
    const batch = Math.floor(next() * 8);
    for (let i = 0; i < batch; i++) {
      const size = Math.floor(next() * next() * (w.maxPayload + 1));
      const bytes = new Uint8Array(size);
      for (let j = 0; j < size; j++) bytes[j] = (seq + j) & 0xff;
      if (!write(w, L.T_REQUEST, bytes)) break;
      seq++;
      model.push(bytes);
      written++;
    }
    w.commit();
    // Consumer: a random number of records, released once.
    const take = Math.floor(next() * 8);
    for (let i = 0; i < take; i++) {
      const got = read(r);
      if (!got) {
        assert.is(model.length, 0, "the ring is empty only when the model is");
        break;
      }
      const want = model.shift()!;
      assert.equal(got.bytes, want);
      readCount++;
    }
    r.release();
  }
  assert.ok(written >= readCount);
  assert.is(w.error, 0);
  assert.is(r.error, 0);
  free();
});

test("a tail pushed past the ring's capacity is a protocol error, not a read out of bounds", () => {
  const { ring, r, free } = newRing(4096);
  Atomics.store(c.u32 as unknown as Uint32Array, ring >>> 2, 4096 * 16);
  assert.is(r.poll(), false);
  assert.is(r.error, 1);
  free();
});

test("a record that claims to be longer than what was published is refused", () => {
  const { ring, w, r, free } = newRing(4096);
  assert.ok(write(w, L.T_REQUEST, new Uint8Array(16)));
  w.commit();
  const data = ring + L.RING_HEADER_BYTES;
  c.view.setUint32(data, 4000, true); // the length word of the first record
  assert.is(r.poll(), false);
  assert.is(r.error, 2);
  free();
});

test("a record of unknown type or a misplaced padding record is refused", () => {
  for (const [type, length] of [[99, 24], [0, 24], [L.T_PADDING, 24]] as const) {
    const { ring, w, r, free } = newRing(4096);
    assert.ok(write(w, L.T_REQUEST, new Uint8Array(16)));
    w.commit();
    const data = ring + L.RING_HEADER_BYTES;
    c.view.setUint32(data, length, true);
    c.view.setUint32(data + 4, type, true);
    assert.is(r.poll(), false);
    assert.is(r.error, 2, `type ${type}`);
    free();
  }
});

test("a head moved backwards or past the tail is caught by the producer", () => {
  const { ring, w, free } = newRing(4096);
  const payload = new Uint8Array(w.maxPayload);
  while (write(w, L.T_REQUEST, payload));
  w.commit();
  c.view.setUint32(ring + 128, 0xfffffff8, true); // head far ahead of the tail
  assert.is(w.hasRoom(8), false);
  assert.is(w.error, 1);
  free();
});

test("a bad capacity is refused when attaching", () => {
  const ring = c.alloc(65536);
  assert.throws(() => new RingWriter(ring, 5000), /capacity/);
  assert.throws(() => new RingReader(ring, 1024), /capacity/);
  c.release(ring, 65536);
});

test.run();
