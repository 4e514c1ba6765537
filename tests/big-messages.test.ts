// Big binaries: spliced by the encoder (copied once, from where they are, into the ring
// or the send queue) and received as a fragmented message's tail (copied once, from the
// ring into a Buffer of their own). Across real processes, and one Channel pair in
// this process to see the tail itself.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../src/index.js";
import { core } from "../src/core/wasm.js";
import { L } from "../src/core/layout.js";
import { RingReader, RingWriter } from "../src/core/ring.js";
import { Channel } from "../src/channel.js";
import { Encoder, SPLICE_MIN_BYTES } from "../src/codec/encode.js";
import { Decoder } from "../src/codec/decode.js";
import { HEADROOM, P_RESPONSE_BODY } from "../src/frames.js";
import { expectLine, killAll, stopServer, spawnFixture, spawnServer, uniqueName, type Child } from "./helpers.js";

const big = suite("big messages");
const name = uniqueName("big");
let server: Child;
let client: Client;

big.before(async () => {
  server = await spawnServer(name);
  client = new Client(name, { timeoutMs: 20_000 });
  await client.waitForConnection(5000);
});
big.after(async () => {
  client.close();
  assert.is(await stopServer(server), 0);
  killAll();
});

/** `n` bytes of a pattern that shows a byte out of place. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 12)) & 0xff;
  return b;
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): Buffer {
  return v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

// Around the splice threshold, one fragment, several, and more than the 2 MiB ring holds.
const SIZES = [SPLICE_MIN_BYTES - 8, SPLICE_MIN_BYTES, (1 << 20) + 8, 5 << 20];
const KINDS: [string, (b: Buffer) => ArrayBufferView | ArrayBuffer][] = [
  ["Buffer", (b) => b],
  ["Uint8Array", (b) => new Uint8Array(b.buffer, b.byteOffset, b.length)],
  ["Float64Array", (b) => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))],
  ["Int16Array", (b) => new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))],
  ["ArrayBuffer", (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer],
  ["DataView", (b) => new DataView(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))],
];

big("big binaries of every kind come back intact, as their own kind, in memory of their own (sync and async)", async () => {
  let seed = 0;
  for (const size of SIZES) {
    for (const [kind, make] of KINDS) {
      const sent = make(pattern(size, ++seed));
      for (const how of ["sync", "async"]) {
        const back = how === "sync" ? client.call<typeof sent>("echo", sent) : await client.asyncCall<typeof sent>("echo", sent);
        const what = `${kind} of ${size} bytes (${how})`;
        assert.is(Object.getPrototypeOf(back), Object.getPrototypeOf(sent), what);
        assert.ok(bytesOf(back).equals(bytesOf(sent)), `${what}: the bytes differ`);
        if (!(back instanceof ArrayBuffer) && !Buffer.isBuffer(back)) {
          assert.is(back.byteOffset, 0, what);
          assert.is(back.buffer.byteLength, size, `${what}: not in memory of its own`);
        }
      }
    }
  }
});

big("a big binary that is not the last value, and two big ones in one message, come back intact", async () => {
  const a = pattern(3 << 20, 1);
  const b = pattern(300_000, 2);
  const back = client.call<unknown[]>("echoAll", a, 5, "between", { b, after: "x".repeat(100) });
  assert.ok((back[0] as Buffer).equals(a));
  assert.is(back[1], 5);
  assert.is(back[2], "between");
  const o = back[3] as { b: Buffer; after: string };
  assert.ok(o.b.equals(b));
  assert.is(o.after, "x".repeat(100));
  const again = await client.asyncCall<unknown[]>("echoAll", { b }, a);
  assert.ok((again[0] as { b: Buffer }).b.equals(b));
  assert.ok((again[1] as Buffer).equals(a));
});

big("an asyncCall sends the bytes its argument had when it was called, also when they wait in the send queue", async () => {
  const sizes = [1 << 20, 6 << 20]; // the second one is mostly queued (the ring holds 2 MiB)
  const sent = sizes.map((n, i) => pattern(n, 40 + i));
  const copies = sent.map((b) => Buffer.from(b));
  const promises = sent.map((b) => client.asyncCall<Buffer>("echo", b));
  for (const b of sent) b.fill(0); // changed at once, before the pump has sent anything more
  const back = await Promise.all(promises);
  back.forEach((b, i) => assert.ok(b.equals(copies[i]!), `message ${i} changed after the call`));
});

big("many big asyncCalls in flight at once all arrive intact", async () => {
  const sent = Array.from({ length: 12 }, (_, i) => pattern(700_000 + i * 8192, 60 + i));
  const back = await Promise.all(sent.map((b) => client.asyncCall<Buffer>("echo", b)));
  back.forEach((b, i) => assert.ok(b.equals(sent[i]!), `message ${i}`));
});

big("a fragmented message whose value ends with a big binary hands it over as the tail, not reassembled", () => {
  const c = core();
  const CAP = 1 << 18;
  const region = c.alloc(2 * CAP + 2 * 65536);
  const ring = region;
  const other = region + CAP + 65536;
  c.exports.ringFormat(ring);
  c.exports.ringFormat(other);
  const sender = new Channel(new RingWriter(ring, CAP), new RingReader(other, CAP), 1 << 24);
  const receiver = new Channel(new RingWriter(other, CAP), new RingReader(ring, CAP), 1 << 24);
  const encoder = new Encoder(c);
  const decoder = new Decoder(c);
  try {
    for (const [value, tailBytes] of [
      [[pattern(200_000, 7)], 200_000], // the binary ends the message: its tail
      [[pattern(200_000, 8), 1], 0], // something follows it: reassembled as before
    ] as const) {
      const length = encoder.encode(value, 1 << 24, "value", HEADROOM);
      assert.ok(encoder.splice.bytes !== null, "the encoder spliced the binary");
      sender.send(L.T_RESPONSE, 9, null, encoder.start + HEADROOM, length, encoder.splice);
      assert.is(encoder.splice.bytes, null, "the channel let go of the binary");
      let got = false;
      for (let round = 0; round < 100 && !got; round++) {
        sender.flush();
        got = receiver.poll();
        if (!got) receiver.release();
      }
      assert.ok(got, "the message arrived");
      assert.is(receiver.tail?.length ?? 0, tailBytes);
      const at = receiver.payload;
      const back = decoder.decode(at + P_RESPONSE_BODY, at + receiver.length, receiver.tail) as unknown[];
      assert.ok((back[0] as Buffer).equals(value[0]));
      if (tailBytes > 0) assert.is(back[0], receiver.tail, "the decoded Buffer is the tail itself");
      receiver.consumed();
      receiver.release();
    }
  } finally {
    encoder.dispose();
    decoder.dispose();
    sender.dispose();
    receiver.dispose();
    c.release(region, 2 * CAP + 2 * 65536);
  }
});

big("a value the memory has no room to encode is ERR_RPC_MESSAGE_TOO_LARGE on either side, never a bare RangeError", async () => {
  // In a process of its own: its WebAssembly memory is filled to the 2 GiB limit.
  const kid = await spawnFixture("full-memory.js", [uniqueName("full")], "result", 60_000);
  const r = JSON.parse(await expectLine(kid, "result")) as Record<string, unknown>;
  assert.equal(r.before, { ok: 1 });
  // The caller's encoder cannot grow: nothing was sent.
  assert.equal(r.argument, { error: "RpcError", code: "ERR_RPC_MESSAGE_TOO_LARGE", maybeExecuted: false });
  // The server's encoder cannot grow for the result: the caller is told so.
  assert.equal(r.result, { error: "RpcError", code: "ERR_RPC_MESSAGE_TOO_LARGE" });
  // Both encoders are whole again once there is memory.
  assert.equal(r.after, { ok: 8 << 20 });
  assert.equal(r.afterResult, { ok: `${8 << 20} chars` });
  assert.is(await kid.exited, 0);
});

big.run();
