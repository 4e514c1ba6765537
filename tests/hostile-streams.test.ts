// A hostile server against streams over shared memory (tests/fixtures/hostile-stream-server.ts,
// a real Server whose engine breaks the stream rules on command): items beyond the caller's
// credit, items after the caller's cancel, items for a stream that never existed, and all the
// credit there is for a streamed argument while it reads nothing. The caller loses that
// stream (or its connection, then connects again); its memory stays bounded; another
// client's streams and calls go on.
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, type RpcError } from "../src/index.js";
import { ARG_WINDOW_BYTES } from "../src/protocol.js";
import { ask, expectLine, killAll, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";
import { drain } from "./stream-helpers.js";

const hostile = suite("hostile servers against streams");
const name = uniqueName("hstrm");
/** RSS growth of this process allowed across one attack (the GC's slack on a busy host). */
const RSS_MARGIN = 64 * 1024 * 1024;
let server: Child;
let victim: Client;
let other: Client;

hostile.before(async () => {
  server = await spawnFixture("hostile-stream-server.js", [name]);
  victim = new Client(name, { timeoutMs: 20_000 });
  other = new Client(name, { timeoutMs: 20_000 });
  await victim.waitForConnection(5000);
  await other.waitForConnection(5000);
});
hostile.after(async () => {
  victim?.close();
  other?.close();
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
  }
});

/** The other client, meanwhile: a stream of 2,000 items and calls, all answered. */
async function otherGoesOn(): Promise<void> {
  const { items, err } = await drain(other.stream<number>("count", 2000));
  assert.is(err, undefined);
  assert.is(items.length, 2000);
  assert.is(await other.asyncCall("add", 2, 3), 5);
}

function rss(): number {
  return process.memoryUsage().rss;
}

hostile("items beyond the caller's credit: that stream fails with ERR_RPC_PROTOCOL, its connection is dropped and made again; others go on", async () => {
  const before = rss();
  await ask(server, "arm beyond", "armed");
  // One item taken, then nothing until the client has dropped the connection (the generator is
  // closed: "sent beyond"): no credit is granted meanwhile, so at most a window can have been taken.
  const stream = victim.stream<number>("numbers", "beyond");
  const first = await stream.next();
  assert.is(first.done, false);
  await expectLine(server, "sent beyond");
  const rest = await drain(stream);
  const items = [first.value, ...rest.items];
  const err = rest.err;
  assert.is(err?.code, "ERR_RPC_PROTOCOL");
  assert.ok(items.length <= STREAM_WINDOW_ITEMS + 1, `${items.length} items taken before the protocol broke`);
  await otherGoesOn();
  assert.is(await victim.asyncCall("add", 1, 1), 2, "the victim connects again");
  assert.ok(rss() - before < RSS_MARGIN, `RSS grew ${((rss() - before) / 2 ** 20).toFixed(1)} MiB`);
});

hostile("items after the caller's cancel (200,000 of them) are dropped: the connection lives, memory stays bounded, others go on", async () => {
  const before = rss();
  await ask(server, "arm ghost", "armed");
  const from = server.output().length;
  assert.equal((await drain(victim.stream<number>("count", 200_000, 1024), 3)).items.length, 3);
  // The flood goes on after the break; calls of this connection are answered meanwhile.
  let calls = 0;
  let maxRss = 0;
  const flooded = expectLine(server, "sent count 200000", from, 60_000);
  let ended = false;
  void flooded.then(() => (ended = true), () => (ended = true));
  while (!ended) {
    assert.is(await victim.asyncCall("add", calls, 1), calls + 1);
    calls++;
    maxRss = Math.max(maxRss, rss());
  }
  await flooded;
  await otherGoesOn();
  assert.is(await victim.asyncCall("add", 1, 1), 2);
  assert.not.ok(server.output().slice(from).includes("onError"), "no connection dropped");
  console.log(`  ghost flood: RSS +${((maxRss - before) / 2 ** 20).toFixed(1)} MiB, ${calls} calls answered meanwhile`);
  assert.ok(maxRss - before < RSS_MARGIN, `RSS grew ${((maxRss - before) / 2 ** 20).toFixed(1)} MiB during the flood (${calls} calls meanwhile)`);
});

hostile("items under an id no call has are dropped: the stream ends with its result and no items; the connection lives", async () => {
  await ask(server, "arm never", "armed");
  const it = victim.stream<number>("count", 5000);
  const { items, err } = await drain(it);
  assert.is(err, undefined);
  assert.is(items.length, 0);
  assert.equal(await it.next(), { value: "5000 sent", done: true });
  assert.is(await victim.asyncCall("add", 2, 2), 4);
  await otherGoesOn();
});

hostile("all the credit there is for a streamed argument while the server reads nothing: the caller's source is held by the ring, its memory bounded", async () => {
  const SIZE = 128 * 1024;
  let produced = 0;
  async function* source(): AsyncGenerator<Buffer> {
    while (produced < 1500) {
      produced++;
      yield Buffer.alloc(SIZE, produced & 255); // 192 MiB if all were queued
    }
  }
  const before = rss();
  await ask(server, "arm lie", "armed");
  const from = server.output().length;
  const call = victim.asyncCall("take", source()).catch((e: RpcError) => e.code);
  await expectLine(server, "blocked", from);
  const conn = (victim as unknown as { conn: { channel: { queuedBytes: number } } }).conn;
  let maxQueued = 0;
  let maxRss = 0;
  while (!server.output().slice(from).includes("unblocked")) {
    maxQueued = Math.max(maxQueued, conn.channel.queuedBytes);
    maxRss = Math.max(maxRss, rss());
    await new Promise((r) => setTimeout(r, 20));
  }
  const ringItems = Math.ceil((2 * 1024 * 1024) / SIZE);
  console.log(`  lying credit: ${maxQueued} bytes queued at most, ${produced} items made, RSS +${((maxRss - before) / 2 ** 20).toFixed(1)} MiB`);
  // At most an argument window (1 MiB) and an item wait beyond the ring.
  assert.ok(maxQueued <= ARG_WINDOW_BYTES + SIZE, `${maxQueued} bytes queued beyond the ring while the server read nothing`);
  // Made at most: a window taken before the lie, a ring, a window queued, and a few in hand (of 1,500).
  assert.ok(produced <= ringItems + (2 * ARG_WINDOW_BYTES) / SIZE + 4, `the source made ${produced} items (a ring of ${ringItems})`);
  assert.ok(maxRss - before < RSS_MARGIN, `RSS grew ${((maxRss - before) / 2 ** 20).toFixed(1)} MiB`);
  await call; // the server, reading again, finds items beyond its real window: whatever the end, it ends
  assert.is(await victim.asyncCall("add", 3, 3), 6);
  await otherGoesOn();
});

hostile.run();
