// Bugs the fuzzer (tests/fuzz/) found, each kept as the smallest input that showed it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { core } from "../src/core/wasm.js";
import { L } from "../src/core/layout.js";
import { RingReader, RingWriter } from "../src/core/ring.js";
import { Channel } from "../src/channel.js";

const c = core();
const CAP = L.RING_MIN_CAPACITY;

// Found by frames-sent (seed 20261126): the last of [request 1825 B, goodbye, request 9 B,
// request 1928 B, request 1 B, goodbye] never arrived. Channel.sendPayload returns when
// `sent === total`, which for an empty message (GOODBYE, total 0) is true even though
// tryClaim found the ring full and wrote nothing: the GOODBYE is dropped instead of queued,
// so a server closing (or dropping a client) whose response ring is full never tells that
// client, nor a closing client a server whose request ring is full.
// Fixed in src/channel.ts (sendPayload returns early only from the fragment branch).
test("an empty message (GOODBYE) that meets a full ring is queued and arrives once there is room", () => {
  const region = c.alloc(3 * 65536);
  const ring = region;
  const other = region + 65536;
  c.exports.ringFormat(ring);
  c.exports.ringFormat(other);
  const sender = new Channel(new RingWriter(ring, CAP), new RingReader(other, CAP), 1 << 20);
  const receiver = new Channel(new RingWriter(other, CAP), new RingReader(ring, CAP), 1 << 20);
  try {
    // Fill the ring exactly, with empty records (8 bytes each).
    let sent = 0;
    while (sender.writer.hasRoom(0) && sent < CAP) {
      sender.sendEmpty(L.T_GOODBYE);
      sent++;
    }
    sender.writer.commit();
    assert.ok(sender.idle, "the ring took every record so far");
    sender.sendEmpty(L.T_GOODBYE);
    assert.not.ok(sender.idle, "the GOODBYE waits in the queue");
    const types: number[] = [];
    for (let round = 0; round < 10 && types.length <= sent; round++) {
      while (receiver.poll()) types.push(receiver.type);
      receiver.release();
      sender.flush();
    }
    assert.is(types.length, sent + 1);
    assert.is(types.at(-1), L.T_GOODBYE);
  } finally {
    sender.dispose();
    receiver.dispose();
    c.release(region, 3 * 65536);
  }
});


// Found in review of the hostile tests: a first fragment that announced a huge message
// made the receiver reserve all of it at once, so a few peers announcing and never
// sending could use up the WebAssembly memory. The region now grows as bytes arrive.
test("a first fragment announcing a huge message reserves memory only for what arrives", () => {
  const region = c.alloc(2 * 65536);
  const ring = region;
  const other = region + 65536 / 2;
  c.exports.ringFormat(ring);
  c.exports.ringFormat(other);
  const writer = new RingWriter(ring, CAP);
  const receiver = new Channel(new RingWriter(other, CAP), new RingReader(ring, CAP), 1 << 30);
  try {
    const before = c.memory.buffer.byteLength;
    const at = writer.tryClaim(16 + 64, L.T_FRAGMENT_FIRST);
    c.view.setUint32(at, 512 << 20, true); // 512 MiB announced
    c.view.setUint32(at + 4, L.T_REQUEST, true);
    c.view.setUint32(at + 8, 0, true); // no tail
    writer.commit();
    assert.not.ok(receiver.poll(), "nothing complete yet");
    assert.is(receiver.protocolError, undefined);
    const grown = c.memory.buffer.byteLength - before;
    assert.ok(grown <= 2 << 20, `the memory grew by ${grown} bytes`);
  } finally {
    receiver.dispose();
    writer.dispose();
    c.release(region, 2 * 65536);
  }
});

test.run();
