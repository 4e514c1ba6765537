// Views of stream items (issue 23, point 4): a consumer that asks for them
// (`withOptions({ view: true }).stream()`) and a `{ view: true }` handler's streamed
// argument get binary items as views of the connection's memory (the ring, or a
// fragmented item's reassembled tail, whose memory takes the next item), each valid until
// the next item is asked for; while one is held, that side reads nothing else of the
// connection. Server in a separate process.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { Client, Server, defineContract, type RpcError } from "../src/index.js";
import { core } from "../src/core/wasm.js";
import { killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";

const views = suite("stream views");
const name = uniqueName("strmview");
let server: Child;
let client: Client;

views.before(async () => {
  server = await spawnFixture("stream-view-server.js", [name]);
  client = new Client(name, { timeoutMs: 20_000 });
  await client.waitForConnection(5000);
});
views.after(async () => {
  client?.close();
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
  }
});

const KiB64 = 64 * 1024;
const MiB = 1024 * 1024;
const inRing = (b: Uint8Array) => b.buffer === core().u8.buffer;

views("a view consumer's binary items are views of the ring, each right until next(); the ring's memory is then reused", async () => {
  const got: Uint8Array[] = [];
  let i = 0;
  for await (const b of client.withOptions({ view: true }).stream<Buffer>("chunks", 64, KiB64)) {
    assert.ok(inRing(b), `item ${i} is not a view of the ring`);
    assert.ok(b.every((x) => x === (i & 255)), `item ${i}'s bytes are wrong while it is current`);
    got.push(b);
    i++;
  }
  assert.is(i, 64);
  // 4 MiB went through a 2 MiB ring: the first item's memory holds later bytes now.
  assert.ok(got[0]!.some((x) => x !== 0), "the first view still shows its bytes: the ring was not reused");
  // Without the option: copies, each its own.
  const copies: Uint8Array[] = [];
  for await (const b of client.stream<Buffer>("chunks", 64, KiB64)) copies.push(b);
  assert.ok(copies.every((b, k) => !inRing(b) && b.every((x) => x === (k & 255))));
});

views("a 1 MiB item (fragmented) as a view: each comes in the memory of the one before (reused), right until next()", async () => {
  const got: Uint8Array[] = [];
  let i = 0;
  for await (const b of client.withOptions({ view: true }).stream<Buffer>("chunks", 8, MiB)) {
    assert.is(b.length, MiB);
    assert.ok(b.every((x) => x === (i & 255)), `item ${i}'s bytes are wrong while it is current`);
    got.push(b);
    i++;
  }
  assert.is(i, 8);
  for (let k = 1; k < 8; k++) assert.is(got[k]!.buffer, got[0]!.buffer, `item ${k} is not in the reused memory`);
  const copies: Uint8Array[] = [];
  for await (const b of client.stream<Buffer>("chunks", 3, MiB)) copies.push(b);
  assert.is.not(copies[1]!.buffer, copies[2]!.buffer);
  assert.ok(copies.every((b, k) => b.every((x) => x === k)));
});

views("while a view is held nothing else is read: a synchronous call is refused, an asyncCall's answer comes once the loop moves on", async () => {
  const it = client.withOptions({ view: true }).stream<Buffer>("chunks", 2, KiB64);
  const first = await it.next();
  assert.ok(inRing(first.value as Buffer));
  const err = (() => {
    try {
      client.call("add", 1, 2);
    } catch (e) {
      return e as RpcError;
    }
    return undefined;
  })();
  assert.is(err?.code, "ERR_RPC_INVALID_ARGUMENT");
  assert.is(err?.maybeExecuted, false);
  let answered = false;
  const sum = client.asyncCall<number>("add", 2, 3).then((v) => ((answered = true), v));
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  assert.is(answered, false, "an answer was read while the view was held");
  const second = await it.next(); // (read when the first was let go: the answer is behind it)
  assert.ok((second.value as Buffer).every((x) => x === 1));
  assert.is(answered, false);
  assert.equal(await it.next(), { value: undefined, done: true });
  assert.is(await sum, 5);
  assert.is(client.call("add", 1, 1), 2);
});

views("break with a view held lets it go: the stream is cancelled and the connection reads on", async () => {
  for (let round = 0; round < 3; round++) {
    for await (const b of client.withOptions({ view: true }).stream<Buffer>("chunks", 1000, KiB64)) {
      assert.ok(inRing(b));
      break;
    }
    assert.is(await client.asyncCall("add", round, 1), round + 1);
  }
  let n = 0;
  for await (const _ of client.withOptions({ view: true }).stream<Buffer>("chunks", 40, KiB64)) n++;
  assert.is(n, 40);
});

views("a view stream of numbers, binaries and objects keeps their order, each right while it is current, and its result", async () => {
  for (const size of [100, KiB64, MiB]) {
    const it = client.withOptions({ view: true }).stream<unknown>("mixed", 40, size);
    for (let i = 0; i < 40; i++) {
      assert.equal(await it.next(), { value: i, done: false });
      const b = (await it.next()).value as Buffer;
      assert.is(b.length, size);
      assert.ok(b.every((x) => x === (i & 255)), `size ${size}, round ${i}: wrong bytes`);
      assert.equal(await it.next(), { value: { i }, done: false });
    }
    assert.equal(await it.next(), { value: "mixed done", done: true });
  }
  assert.is(await client.asyncCall("add", 1, 2), 3);
});

views("an abort while a view is held: the view keeps its bytes until next(), which fails ERR_RPC_ABORTED; the connection reads on", async () => {
  const ac = new AbortController();
  const it = client.withOptions({ view: true, signal: ac.signal }).stream<Buffer>("chunks", 1000, KiB64);
  await it.next();
  const held = (await it.next()).value as Buffer;
  ac.abort();
  await new Promise((r) => setImmediate(r)); // the stream has seen its end
  assert.ok(inRing(held) && held.every((x) => x === 1), "the held view changed after the abort");
  const err = await it.next().then(() => undefined, (e: RpcError) => e);
  assert.is(err?.code, "ERR_RPC_ABORTED");
  assert.is(await client.asyncCall("add", 4, 4), 8);
  assert.is(client.call("add", 5, 5), 10);
});

views("withOptions({ view }) takes a boolean only", () => {
  const err = (() => {
    try {
      client.withOptions({ view: 1 as unknown as boolean });
    } catch (e) {
      return e as RpcError;
    }
    return undefined;
  })();
  assert.is(err?.code, "ERR_RPC_INVALID_ARGUMENT");
});

/** `count` items of `size` bytes, item i filled with i & 255. */
async function* filled(count: number, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(size, i & 255);
}
interface Seen {
  items: number;
  inShared: number;
  sameAsPrevious: number;
  right: number;
  firstKept: boolean;
}

views("a view handler's streamed argument: items are views of the ring, each right until the next; the ring is then reused", async () => {
  const seen = await client.asyncCall<Seen>("lookAtViews", filled(64, KiB64));
  assert.equal(seen, { items: 64, inShared: 64, sameAsPrevious: 0, right: 64, firstKept: false });
  const copies = await client.asyncCall<Seen>("lookAtCopies", filled(64, KiB64));
  assert.equal(copies, { items: 64, inShared: 0, sameAsPrevious: 0, right: 64, firstKept: true });
});

views("a view handler's 1 MiB items (fragmented): each in the memory of the one before, right until the next", async () => {
  const seen = await client.asyncCall<Seen>("lookAtViews", filled(8, MiB));
  assert.equal(seen, { items: 8, inShared: 0, sameAsPrevious: 7, right: 8, firstKept: false });
  const copies = await client.asyncCall<Seen>("lookAtCopies", filled(8, MiB));
  assert.equal(copies, { items: 8, inShared: 0, sameAsPrevious: 0, right: 8, firstKept: true });
});


views("a server killed (-9) while a view is held: the view keeps its bytes (the memory outlives the connection) until next(), which fails ERR_RPC_DISCONNECTED", async () => {
  const lone = uniqueName("strmviewk");
  const victim = await spawnFixture("stream-view-server.js", [lone]);
  const c = new Client(lone, { timeoutMs: 10_000 });
  let gone = false;
  c.on("disconnect", () => (gone = true));
  try {
    const it = c.withOptions({ view: true }).stream<Buffer>("chunks", 1000, KiB64);
    await it.next();
    const held = (await it.next()).value as Buffer;
    assert.ok(inRing(held) && held.every((x) => x === 1));
    victim.kill("SIGKILL");
    await until(() => gone, 10_000, "the client to see the server gone");
    assert.ok(held.every((x) => x === 1), "the held view lost its bytes with the connection");
    const err = await it.next().then(() => undefined, (e: RpcError) => e);
    assert.is(err?.code, "ERR_RPC_DISCONNECTED");
  } finally {
    c.close();
    victim.kill();
  }
});

views("a client's item that runs past its record, to a view handler: that client is dropped (ERR_RPC_PROTOCOL); others go on", async () => {
  const before = server.output().split("onError ERR_RPC_PROTOCOL").length;
  const c = await spawnFixture("hostile-stream-client.js", [name, "view-short"]);
  try {
    await until(() => c.output().includes("disconnected"), 10_000, "the hostile client to be dropped");
    await until(() => server.output().split("onError ERR_RPC_PROTOCOL").length > before, 10_000, "the server to report it");
  } finally {
    c.kill();
    await c.exited;
  }
  assert.is(await client.asyncCall("add", 2, 2), 4);
  const seen = await client.asyncCall<Seen>("lookAtViews", filled(4, KiB64));
  assert.is(seen.right, 4);
});

views.run();

// A client that rewrites its ring after sending an item (the ring is its memory too): a
// contract method's view handler holds a private copy, which does not change; a plain view
// handler's item is a view of the ring, which does (the control: the attack is real).
const rewriting = suite("stream views: a client that rewrites its items under a view handler");
const rw = { name: "", server: undefined as Server | undefined, done: undefined as Promise<void> | undefined, waiting: 0, gate: undefined as (() => void) | undefined, seen: [] as boolean[] };
const allValid = (b: Uint8Array) => b.every((x) => x === 0x5a);
rewriting.before(() => {
  rw.name = uniqueName("strmrewrite");
  rw.server = new Server(rw.name);
  rw.server.bind("ping", () => true);
  const hold = async (items: AsyncIterable<Uint8Array>): Promise<boolean> => {
    for await (const b of items) {
      rw.waiting++;
      await new Promise<void>((r) => (rw.gate = r));
      rw.seen.push(allValid(b));
    }
    return true;
  };
  rw.server.implement(defineContract({ checkItems: { args: z.tuple([z.any()]), result: z.boolean() } }), { checkItems: hold }, { view: true });
  rw.server.bind("plainItems", hold, { view: true });
  rw.done = rw.server.run();
});
rewriting.after(async () => {
  killAll();
  await rw.server?.close();
  await rw.done;
});

async function rewrittenUnder(method: string): Promise<boolean> {
  const c = await spawnFixture("view-rewriter.js", [rw.name, "items", method]);
  const round = rw.seen.length;
  try {
    await until(() => rw.waiting === round + 1, 10_000, "the handler to hold its item");
    c.proc.stdin!.write("rewrite\n");
    await until(() => c.output().includes("rewritten"), 10_000, "the client to rewrite its ring");
    rw.gate!();
    await until(() => rw.seen.length === round + 1, 10_000, "the handler to look again");
    c.proc.stdin!.write("end\n");
  } finally {
    c.kill();
    await c.exited;
  }
  return rw.seen[round]!;
}

rewriting("a contract method's view item is a private copy: the client's rewrite of its ring does not reach it", async () => {
  assert.is(await rewrittenUnder("plainItems"), false, "the control: a plain view handler's item is a view of the ring");
  assert.is(await rewrittenUnder("checkItems"), true, "the contract handler's item changed under it");
  assert.is(await rewrittenUnder("checkItems"), true);
});

rewriting.run();

// A server that writes a view stream's item whose binary runs past its record.
const hostileServer = suite("stream views: a hostile server");
hostileServer("a server's item whose binary runs past its record ends a view stream (and a copying one) with ERR_RPC_PROTOCOL; the client reconnects", async () => {
  const lone = uniqueName("strmviewhs");
  const hs = await spawnFixture("hostile-server.js", [lone]);
  const c = new Client(lone, { timeoutMs: 10_000 });
  try {
    for (const view of [true, false]) {
      assert.is(await c.asyncCall("add", 1, 1), 2);
      const from = hs.output().length;
      hs.proc.stdin!.write("arm item-binary-past-end\n");
      await until(() => hs.output().slice(from).includes("armed"), 10_000, "the server to arm");
      const err = await (async () => {
        try {
          for await (const _ of c.withOptions({ view }).stream("blobs")) assert.unreachable("an item that runs past its record was delivered");
        } catch (e) {
          return e as RpcError;
        }
        return undefined;
      })();
      assert.is(err?.code, "ERR_RPC_PROTOCOL", `view ${view}`);
      assert.is(await c.asyncCall("add", 2, 2), 4);
    }
  } finally {
    c.close();
    hs.kill();
    await hs.exited;
  }
});
hostileServer.run();
