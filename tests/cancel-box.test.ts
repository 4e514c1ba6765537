// The cancel slots (src/core/cancel-box.ts): what the client posts, the server drops; and
// whatever a client writes there, the server's list stays bounded.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { core } from "../src/core/wasm.js";
import { L } from "../src/core/layout.js";
import { CancelledIds, postCancel } from "../src/core/cancel-box.js";
import type { Segment } from "../src/core/segment.js";

const box = suite("cancel-box");

/** A connection header's worth of private memory, read and written as a Segment is. */
function header(): Segment & { free(): void } {
  const c = core();
  const offset = c.alloc(L.CONN_HEADER_BYTES);
  c.u8.fill(0, offset, offset + L.CONN_HEADER_BYTES);
  return {
    offset,
    load: (at: number) => Atomics.load(c.i32, (offset + at) >>> 2) >>> 0,
    store: (at: number, v: number) => void Atomics.store(c.i32, (offset + at) >>> 2, v | 0),
    free: () => c.release(offset, L.CONN_HEADER_BYTES, true),
  } as unknown as Segment & { free(): void };
}

box("a posted id is dropped when its request comes; the others, and a repeat, run", () => {
  const seg = header();
  try {
    const ids = new CancelledIds(seg);
    assert.is(ids.dropped(1), false);
    postCancel(seg, 3);
    postCancel(seg, 5);
    assert.equal([2, 3, 4, 5, 5, 6].map((id) => ids.dropped(id)), [false, true, false, true, false, false]);
  } finally {
    seg.free();
  }
});

box("a cancel that came after its request was taken is forgotten at the next request", () => {
  const seg = header();
  try {
    const ids = new CancelledIds(seg);
    assert.is(ids.dropped(7), false);
    postCancel(seg, 7); // too late: 7 was taken
    assert.is(ids.dropped(8), false);
    assert.is((ids as unknown as { ids: number[] }).ids.length, 0);
  } finally {
    seg.free();
  }
});

box("ids wrap around 2^32 (0 skipped)", () => {
  const seg = header();
  try {
    const ids = new CancelledIds(seg);
    postCancel(seg, 0xffffffff);
    postCancel(seg, 1);
    assert.equal([0xfffffffe, 0xffffffff, 1, 2].map((id) => ids.dropped(id)), [false, true, true, false]);
  } finally {
    seg.free();
  }
});

box("garbage from a hostile client: the list never holds more than the slots, each request reads at most 64 words", () => {
  const seg = header();
  try {
    const ids = new CancelledIds(seg);
    const list = (ids as unknown as { ids: number[] }).ids;
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let round = 0; round < 2000; round++) {
      for (let s = 0; s < L.CANCEL_SLOT_COUNT; s++) seg.store(L.CONN_CANCEL_SLOTS + s * 4, rand());
      seg.store(L.CONN_CANCELS_POSTED, rand()); // jumps by anything, backwards too
      ids.dropped(100 + round);
      assert.ok(list.length <= L.CANCEL_SLOT_COUNT, `${list.length} ids kept`);
    }
    // A flood of cancels for ids far ahead: only those ids would be dropped.
    for (let i = 0; i < 10_000; i++) postCancel(seg, 0x40000000 + i);
    assert.ok(list.length <= L.CANCEL_SLOT_COUNT);
    assert.is(ids.dropped(5000), false);
  } finally {
    seg.free();
  }
});

box.run();
