// Hostile peers against streams over NATS, as raw NATS connections on the test's own
// nats-server: a "server" that floods a caller's inbox with items it has no credit for, and
// callers that lie about their credit, send items after their argument's end, or beyond
// their credit. The victim loses that stream only; a real server's memory stays bounded and
// its other callers' streams go on. The real server (stream-server.js) in another process.
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, createInbox, headers, type NatsConnection } from "@nats-io/transport-node";
import { Client } from "../src/index.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { expectLine, killAll, procStats, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";
import { drain, guarded } from "./stream-helpers.js";

const hostile = suite("hostile peers against streams over NATS");
const name = uniqueName("hnstrm");
const service = name.slice(1);
const MiB = 1024 * 1024;
let node: NatsNode;
let server: Child;
let client: Client;
/** Raw NATS connections made by the tests (closed after). */
const raws: NatsConnection[] = [];
async function rawPeer(): Promise<NatsConnection> {
  const nc = await connect({ servers: node.url });
  raws.push(nc);
  return nc;
}
const codec = new PayloadCodec();
let setupError: unknown;

hostile.before(async () => {
  try {
    node = await startNats();
    server = await spawnFixture("stream-server.js", [name, JSON.stringify({ nats: node.url })]);
    client = new Client(`${node.url}${name}`, { timeoutMs: 20_000 });
  } catch (e) {
    setupError = e;
  }
});
hostile.after(async () => {
  client?.close();
  for (const nc of raws) await nc.close().catch(() => {});
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
    await node?.stop();
  }
});
const test = guarded(hostile, () => setupError);

const tagged = (tag: string) => {
  const h = headers();
  h.set("shmrpc-stream", tag);
  return h;
};

test("a server flooding a caller's inbox beyond its credit: that stream fails with ERR_RPC_PROTOCOL, the caller's memory bounded, its other streams go on", async () => {
  const fake = uniqueName("hnfake");
  const flooder = await spawnFixture("nats-stream-flood.js", [node.url, fake.slice(1), "20000"]);
  const victim = new Client(`${node.url}${fake}`, { timeoutMs: 20_000 });
  try {
    const before = process.memoryUsage().rss;
    // The loop takes one item, then reads nothing until more than its window has arrived.
    const it = victim.stream("flood");
    assert.is((await it.next()).done, false);
    const inMsgs = (): number => (victim as unknown as { transport: { nc: NatsConnection } }).transport.nc.stats().inMsgs;
    await until(() => inMsgs() >= STREAM_WINDOW_ITEMS + 100, 15_000, "the flood to reach the caller"); // beyond its window
    await expectLine(flooder, "sent");
    const { items, err } = await drain(it);
    assert.is(err?.code, "ERR_RPC_PROTOCOL", String(err));
    assert.ok(items.length <= STREAM_WINDOW_ITEMS, `${items.length} items taken`);
    const grew = (process.memoryUsage().rss - before) / MiB;
    console.log(`  flooded caller: 20,000 items (20 MiB) sent, ${items.length} taken, RSS +${grew.toFixed(1)} MiB`);
    assert.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MiB (margin 64)`);
    assert.equal((await drain(client.stream<number>("count", 500))).items.length, 500, "a stream of the real server goes on");
  } finally {
    victim.close();
    flooder.kill();
  }
});

test("a caller that lies about its credit (2^31) and answers probes while the server floods it: the server's memory stays bounded, another caller's stream goes on", async () => {
  const raw = await rawPeer();
  const inbox = createInbox();
  let got = 0;
  // Answers the server's probes; takes the items without reading them.
  const sub = raw.subscribe(inbox, {
    callback: (_err, m) => {
      got++;
      if (m.headers?.get("shmrpc-stream") === "probe") m.respond(new Uint8Array(0), { headers: tagged("pong") });
    },
  });
  const h = headers();
  h.set("shmrpc-stream", "2147483647 2147483647");
  h.set("shmrpc-call", "liar.1");
  h.set("shmrpc-timeout-ms", "6000");
  const base = procStats(server.proc.pid!).rssKiB;
  let peak = base;
  const from = server.output().length;
  raw.publish(`shmrpc.${service}.chunks`, codec.encode([1_000_000, 256 * 1024], MiB, "args"), { reply: inbox, headers: h });
  const sampling = setInterval(() => (peak = Math.max(peak, procStats(server.proc.pid!).rssKiB)), 20);
  try {
    await until(() => got >= 100, 10_000, `the flood to start (${got}) ${server.output().slice(from)}`);
    // Meanwhile another caller's stream and calls go on.
    const other = await drain(client.stream<number>("count", 300));
    assert.equal(other.items.length, 300, `${String(other.err)} ${server.output().slice(from)}`);
    assert.is(await client.asyncCall("add", 1, 2), 3);
    // The liar goes (its inbox unsubscribed): the server's probes find no responder, and it
    // ends the flood; its memory was bounded throughout.
    sub.unsubscribe();
    await until(async () => (await client.stats()).endpoints.find((e) => e.name === "chunks")!.in_flight === 0, 15_000, "the flood to end");
  } finally {
    clearInterval(sampling);
    sub.unsubscribe();
  }
  const grew = (peak - base) / 1024;
  console.log(`  lying caller: ${got} messages delivered to it, server RSS +${grew.toFixed(1)} MiB at the peak`);
  assert.ok(grew < 128, `the server's RSS grew ${grew.toFixed(1)} MiB (margin 128)`);
});

/** Resolves at the first credit message a server publishes (to any inbox). */
function firstCredit(raw: NatsConnection): Promise<void> {
  return new Promise<void>((resolve) => {
    const s = raw.subscribe(">", {
      callback: (_e, m) => {
        if (m.headers?.get("shmrpc-stream")?.startsWith("credit ")) {
          s.unsubscribe();
          resolve();
        }
      },
    });
  });
}

/** Sends a request whose argument 0 is streamed, as a caller does (call id `callId`). */
function streamedRequest(raw: NatsConnection, method: string, args: unknown[], callId: string): string {
  const inbox = createInbox();
  const h = headers();
  h.set("shmrpc-stream-arg", "0");
  h.set("shmrpc-call", callId);
  h.set("shmrpc-timeout-ms", "20000");
  raw.subscribe(inbox, { callback: () => {} });
  raw.publish(`shmrpc.${service}.${method}`, codec.encode(args, MiB, "args"), { reply: inbox, headers: h });
  return `shmrpc.$arg.${service}.${callId}`;
}

test("a caller that floods its streamed argument beyond the credit: the handler's loop fails with ERR_RPC_PROTOCOL, later items are dropped; others go on", async () => {
  const raw = await rawPeer();
  const from = server.output().length;
  // Its items only once the server has subscribed (its first credit), then 5,000 at once.
  const credit = firstCredit(raw);
  await raw.flush();
  const to = streamedRequest(raw, "sumOrWhy", [null, "nflood"], "flooder.1");
  await credit;
  for (let i = 0; i < 5000; i++) raw.publish(to, codec.encode(i, MiB, "item"), { headers: tagged("item") });
  await raw.flush();
  assert.is(await expectLine(server, "argument failed nflood", from), "ERR_RPC_PROTOCOL");
  assert.is(await client.asyncCall("sum", (async function* () { yield* [1, 2, 3]; })()), 6, "another caller's streamed argument goes on");
});

test("a caller that sends items after its cancel: the handler's loop fails with ERR_RPC_ABORTED, the items are dropped, the server serves on", async () => {
  const raw = await rawPeer();
  const from = server.output().length;
  const credit = firstCredit(raw);
  await raw.flush();
  const to = streamedRequest(raw, "sumOrWhy", [null, "nafter"], "after.1");
  await credit;
  for (let i = 0; i < 3; i++) raw.publish(to, codec.encode(i, MiB, "item"), { headers: tagged("item") });
  raw.publish(`shmrpc.$cancel.${service}`, "after.1 a");
  for (let i = 0; i < 3000; i++) raw.publish(to, codec.encode(i, MiB, "item"), { headers: tagged("item") });
  raw.publish(to, new Uint8Array(0), { headers: tagged("end 0") });
  await raw.flush();
  assert.is(await expectLine(server, "argument failed nafter", from), "ERR_RPC_ABORTED");
  assert.not.ok(server.output().slice(from).includes("onError"), server.output().slice(from));
  assert.equal((await drain(client.stream<number>("count", 100))).items.length, 100);
});

test("without a token, a forged credit for another caller's stream costs that stream only (ERR_RPC_PROTOCOL, its generator closed); others go on", async () => {
  const raw = await rawPeer();
  let callId: string | undefined;
  raw.subscribe(`shmrpc.$credit.${service}`, { callback: (_e, m) => void (callId ??= m.string().split(" ")[0]) });
  await raw.flush();
  const from = server.output().length;
  const it = client.stream<number>("numbers", "nforged");
  for (let i = 0; i < STREAM_WINDOW_ITEMS / 2 + 2; i++) assert.equal((await it.next()).value, i); // half the window taken: a credit
  await until(() => callId !== undefined, 5000, "the victim's credit");
  await until(async () => (await client.asyncCall<number>("produced", "nforged")) >= STREAM_WINDOW_ITEMS * 1.5, 5000, "the window filled again");
  raw.publish(`shmrpc.$credit.${service}`, `${callId} 100000 100000000`);
  await raw.flush();
  // The loop reads nothing until the server, taking the forged credit, has made more than the caller
  // granted (1.5 windows): those items arrive beyond the caller's credit. (A loop reading all along
  // grants credit as fast as the items come, and would see none beyond it.)
  await until(async () => (await client.asyncCall<number>("produced", "nforged")) > STREAM_WINDOW_ITEMS * 1.5 + 100, 5000, "the forged credit to be used");
  const { err } = await drain(it);
  assert.is(err?.code, "ERR_RPC_PROTOCOL");
  await expectLine(server, "finally nforged", from);
  assert.equal((await drain(client.stream<number>("count", 100))).items.length, 100);
});

hostile.run();
