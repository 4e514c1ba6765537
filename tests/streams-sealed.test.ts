// Streams over NATS under a token (src/nats/stream-seal.ts): every item, credit, streamed
// argument's item and end, and cancel is sealed and numbered, bound to its call; a forged,
// altered or replayed one is dropped (the caller counts it, the server reports it) and the
// stream goes on as if it had not been sent. The attacker is a raw NATS peer without the
// token that sees every message (it subscribes to ">") on the test's loopback nats-server.
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { Client } from "../src/index.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { expectLine, expectLines, killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";
import { drain, guarded } from "./stream-helpers.js";

const sealed = suite("streams over NATS under a token");
const TOKEN = "stream-token-0123456789abcdef";
const name = uniqueName("sstrm");
const service = name.slice(1);
let node: NatsNode;
let server: Child;
let client: Client;
let spy: NatsConnection;
/** Every message the spy saw, in order. */
const seen: Msg[] = [];
const codec = new PayloadCodec();
let setupError: unknown;

sealed.before(async () => {
  try {
    node = await startNats();
    // refusalReportMs 0: each dropped message is reported ("onError ERR_RPC_ACCESS_DENIED").
    server = await spawnFixture("stream-server.js", [name, JSON.stringify({ nats: node.url, token: TOKEN, refusalReportMs: 0 })]);
    client = new Client(`${node.url}${name}`, { timeoutMs: 20_000, token: TOKEN });
    spy = await connect({ servers: node.url });
    spy.subscribe(">", { callback: (err, m) => void (err === null && seen.push(m)) });
    await spy.flush();
  } catch (e) {
    setupError = e;
  }
});
sealed.after(async () => {
  client?.close();
  await spy?.close().catch(() => {});
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
    await node?.stop();
  }
});
const test = guarded(sealed, () => setupError);

/** Replies the client dropped because they did not open under the token. */
const dropped = (): number => (client as unknown as { transport: { dropped: { count: number } } }).transport.dropped.count;
const tagOf = (m: Msg): string => (m.headers?.has("shmrpc-stream") ? m.headers.get("shmrpc-stream") : "");

async function* upTo(n: number, prefix = ""): AsyncGenerator<number | string> {
  for (let i = 1; i <= n; i++) yield prefix === "" ? i : `${prefix}${i}`;
}

/** The reply inbox of the `nth` request to `method` the spy saw (0 first). */
function inboxOf(method: string, nth: number, mark: number): string {
  const requests = seen.slice(mark).filter((m) => m.subject === `shmrpc.${service}.${method}` && m.reply);
  return requests[nth]!.reply!;
}

/** A copy of `m` sent again by the spy to `to`, its payload changed by `change`. */
function resend(m: Msg, to: string, change: (data: Buffer) => Buffer = (d) => d): void {
  const h = headers();
  for (const k of m.headers?.keys() ?? []) h.set(k, m.headers!.get(k));
  spy.publish(to, change(Buffer.from(m.data)), { headers: h });
}

test("under a token a stream goes over NATS sealed: items, result, a streamed argument both ways, break; a subscriber sees no item", async () => {
  const { items, err } = await drain(client.stream<number>("count", 300));
  assert.is(err, undefined);
  assert.equal(items, Array.from({ length: 300 }, (_, i) => i));
  assert.equal(await client.stream("count", 0).next(), { value: "0 sent", done: true });
  assert.is(await client.asyncCall("sum", upTo(500)), 125_250);
  const echoed = (await drain(client.stream<string>("echo", upTo(300, "secret-"), ">"))).items;
  assert.equal(echoed, Array.from({ length: 300 }, (_, i) => `>secret-${i + 1}`));
  const from = server.output().length;
  assert.equal((await drain(client.stream<number>("numbers", "sbreak"), 3)).items, [0, 1, 2]);
  await expectLine(server, "finally sbreak", from);
  await spy.flush();
  const clear = seen.filter((m) => Buffer.from(m.data).includes("secret-"));
  assert.is(clear.length, 0, "no item or argument in clear");
  assert.ok(seen.some((m) => tagOf(m) === "item" && m.headers!.has("Shmrpc-Auth")), "items travel sealed");
  assert.is(dropped(), 0);
});

test("a forged, altered or replayed item is dropped by the caller: a flipped bit, a peer without the token, an item of another stream", async () => {
  const mark = seen.length;
  const a = client.stream<number>("watch", "sa");
  for (let i = 0; i < 3; i++) assert.equal(await a.next(), { value: i, done: false });
  const b = client.stream<number>("watch", "sb");
  for (let i = 0; i < 3; i++) assert.equal(await b.next(), { value: i, done: false });
  await spy.flush();
  const [inboxA, inboxB] = [inboxOf("watch", 0, mark), inboxOf("watch", 1, mark)];
  const itemA = seen.find((m) => m.subject === inboxA && tagOf(m) === "item")!;
  const itemB = seen.find((m) => m.subject === inboxB && tagOf(m) === "item")!;
  const before = dropped();
  resend(itemA, inboxB); // an item of stream A into stream B
  resend(itemB, inboxB); // B's own first item, again
  resend(itemB, inboxB, (d) => {
    d[0]! ^= 1; // one bit flipped
    return d;
  });
  const plain = headers();
  plain.set("shmrpc-stream", "item");
  spy.publish(inboxB, codec.encode(999, 1 << 20, "item"), { headers: plain }); // no token
  await spy.flush();
  await until(() => dropped() >= before + 4, 5000, "the caller to drop the four forged items");
  // B goes on with its own items, in order, none of the forged ones among them.
  for (let i = 3; i < 30; i++) assert.equal(await b.next(), { value: i, done: false });
  await a.return();
  await b.return();
  assert.is(dropped(), before + 4);
});

test("a forged, altered or replayed credit or cancel is dropped by the server: the stream is neither overrun nor cancelled", async () => {
  const mark = seen.length;
  const it = client.stream<number>("numbers", "sc"); // as fast as credit allows
  // Half the window taken: the caller grants credit, its call id in clear beside the proof.
  for (let i = 0; i < STREAM_WINDOW_ITEMS / 2 + 2; i++) assert.equal((await it.next()).value, i);
  const isCredit = (m: Msg): boolean => m.subject === `shmrpc.$credit.${service}`;
  await until(() => seen.slice(mark).some(isCredit), 5000, "the spy to see the credit");
  const credit = seen.slice(mark).find(isCredit)!;
  const callId = credit.string().split(" ")[0]!;
  const from = server.output().length;
  resend(credit, credit.subject); // replayed
  resend(credit, credit.subject, () => Buffer.from(`${callId} 1000000 1000000`)); // its amounts changed
  spy.publish(credit.subject, `${callId} 1000000 1000000`); // no proof
  spy.publish(`shmrpc.$cancel.${service}`, `${callId} a`); // a cancel without proof
  await spy.flush();
  await expectLines(server, "onError ERR_RPC_ACCESS_DENIED", 4, from);
  // Had a credit been taken, items beyond the window would come and fail the stream (ERR_RPC_PROTOCOL).
  for (let i = STREAM_WINDOW_ITEMS / 2 + 2; i < STREAM_WINDOW_ITEMS * 1.6; i++) assert.equal((await it.next()).value, i);
  assert.not.ok(server.output().slice(from).includes("finally sc"), "not cancelled");
  const end = server.output().length;
  await it.return(); // its own, sealed cancel works
  await expectLine(server, "finally sc", end); // the generator closed by the cancel
});

test("a forged or replayed item of a streamed argument is dropped by the server: the handler sums only the caller's", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  async function* gated(): AsyncGenerator<number> {
    yield 1;
    yield 2;
    await gate;
    yield 3;
  }
  const mark = seen.length;
  const call = client.asyncCall<number>("sum", gated());
  const argItem = (m: Msg): boolean => m.subject.startsWith(`shmrpc.$arg.${service}.`) && tagOf(m) === "item";
  await until(() => seen.slice(mark).some(argItem), 5000, "an item of the argument");
  const item = seen.slice(mark).find(argItem)!;
  const from = server.output().length;
  resend(item, item.subject); // replayed
  const plain = headers();
  plain.set("shmrpc-stream", "item");
  spy.publish(item.subject, codec.encode(1000, 1 << 20, "item"), { headers: plain }); // no token
  const end = headers();
  end.set("shmrpc-stream", "end 0");
  spy.publish(item.subject, new Uint8Array(0), { headers: end }); // a forged end
  await spy.flush();
  await expectLines(server, "onError ERR_RPC_ACCESS_DENIED", 3, from);
  release();
  assert.is(await call, 6);
});

sealed.run();
