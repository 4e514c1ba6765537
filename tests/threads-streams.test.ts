// Streams between threads (shmrpc/threads): a handler's async iterable to client.stream(),
// streamed arguments and both at once, with the credit flow control, cancellation from
// either side and a thread that dies mid-stream. The same pump (src/serving/stream.ts)
// and RpcStream (src/calls/stream.ts) as between processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "./helpers.js";
import { message, peer, terminatePeers } from "./thread-peers.js";
import { drain } from "./stream-helpers.js";
import { ThreadServer, ThreadClient, type CallContext, type ThreadConnection, type RpcError } from "../src/threads/index.js";
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { ARG_WINDOW_ITEMS } from "../src/protocol.js";

/** What the server's generators did. */
const seen = { produced: 0, finallyRan: 0, aborted: [] as string[], sourceFinally: 0, taken: 0 };

function streamServer(): ThreadServer {
  const s = new ThreadServer("streams", { onError: () => {} });
  s.bind("add", (a: number, b: number) => a + b);
  s.bind("count", async function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
    return `${n} sent`;
  });
  s.bind("failAfter", async function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
    throw new Error("gave up");
  });
  s.bind("endless", async function* (ctx: CallContext) {
    ctx.signal.addEventListener("abort", () => seen.aborted.push((ctx.signal.reason as RpcError).code));
    try {
      for (let i = 0; ; i++) {
        seen.produced++;
        yield i;
      }
    } finally {
      seen.finallyRan++;
    }
  }, { context: true });
  s.bind("sum", async (xs: AsyncIterable<number>) => {
    let sum = 0;
    for await (const x of xs) sum += x;
    return sum;
  });
  s.bind("firstTwo", async (xs: AsyncIterable<number>) => {
    const got: number[] = [];
    for await (const x of xs) {
      got.push(x);
      if (got.length === 2) break;
    }
    return got;
  });
  s.bind("slowSum", async (xs: AsyncIterable<number>) => {
    let sum = 0;
    for await (const x of xs) {
      sum += x;
      seen.taken++;
      await new Promise((r) => setTimeout(r, 1));
    }
    return sum;
  });
  s.bind("double", async function* (xs: AsyncIterable<number>) {
    for await (const x of xs) yield 2 * x;
    return "doubled";
  });
  return s;
}

const t = suite("threads-streams");

t.before.each(() => {
  seen.produced = seen.finallyRan = seen.sourceFinally = seen.taken = 0;
  seen.aborted = [];
});
t.after.each(async () => {
  await terminatePeers();
});

t("a generator's items arrive in order, then its return value; its error ends the loop after the items before it", async () => {
  const s = streamServer();
  const c = new ThreadClient(s.connect(), { timeoutMs: 10_000 });
  const { items, err } = await drain(c.stream<number>("count", 1000));
  assert.is(err, undefined);
  assert.equal(items, Array.from({ length: 1000 }, (_, i) => i));
  const it = c.stream<number>("count", 1);
  assert.equal(await it.next(), { value: 0, done: false });
  assert.equal(await it.next(), { value: "1 sent", done: true });
  const failed = await drain(c.stream<number>("failAfter", 3));
  assert.equal(failed.items, [0, 1, 2]);
  assert.is(failed.err?.code, "ERR_RPC_REMOTE");
  // Unary calls go on beside streams.
  assert.is(await c.asyncCall("add", 2, 3), 5);
  c.close();
  s.close();
});

t("the caller's break ends the stream on the server: the generator's finally runs, its signal aborts", async () => {
  const s = streamServer();
  const c = new ThreadClient(s.connect(), { timeoutMs: 10_000 });
  const { items } = await drain(c.stream<number>("endless"), 5);
  assert.equal(items, [0, 1, 2, 3, 4]);
  await until(() => seen.finallyRan === 1, 5000, "the generator's finally");
  assert.equal(seen.aborted, ["ERR_RPC_ABORTED"]);
  assert.is(await c.asyncCall("sum", (async function* () { yield 1; })()), 1);
  c.close();
  s.close();
});

t("a slow loop holds the producer within the credit window, and taking items resumes it", async () => {
  const s = streamServer();
  const c = new ThreadClient(s.connect(), { timeoutMs: 10_000 });
  const it = c.stream<number>("endless");
  assert.equal(await it.next(), { value: 0, done: false });
  await new Promise((r) => setTimeout(r, 200)); // time to overrun the window, were there none
  assert.ok(seen.produced <= STREAM_WINDOW_ITEMS + 2, `produced ${seen.produced}, window ${STREAM_WINDOW_ITEMS}`);
  const before = seen.produced;
  for (let i = 1; i < 3 * STREAM_WINDOW_ITEMS; i++) assert.equal(await it.next(), { value: i, done: false });
  assert.ok(seen.produced > before, "taking items granted more credit");
  await it.return();
  await until(() => seen.finallyRan === 1, 5000, "the generator's finally");
  c.close();
  s.close();
});

t("an async-iterable argument is streamed to the handler; with a streamed result both flow at once", async () => {
  const s = streamServer();
  const c = new ThreadClient(s.connect(), { timeoutMs: 10_000 });
  async function* upTo(n: number): AsyncGenerator<number> {
    for (let i = 1; i <= n; i++) yield i;
  }
  assert.is(await c.asyncCall("sum", upTo(1000)), 500500);
  const both = c.stream<number>("double", upTo(500));
  const { items, err } = await drain(both);
  assert.is(err, undefined);
  assert.equal(items, Array.from({ length: 500 }, (_, i) => 2 * (i + 1)));
  c.close();
  s.close();
});

t("a slow handler holds the caller's source within the argument window; a handler that stops reading closes the source (its finally runs)", async () => {
  const s = streamServer();
  const c = new ThreadClient(s.connect(), { timeoutMs: 20_000 });
  let pulled = 0;
  let maxAhead = 0;
  async function* source(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < 400; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - seen.taken);
        yield 1;
      }
    } finally {
      seen.sourceFinally++;
    }
  }
  assert.is(await c.asyncCall<number>("slowSum", source()), 400);
  assert.is(pulled, 400);
  // The handler takes one item a millisecond; the source ran at most its window ahead.
  assert.ok(maxAhead <= ARG_WINDOW_ITEMS + 2, `the source ran ${maxAhead} items ahead of the handler (window ${ARG_WINDOW_ITEMS})`);
  await until(() => seen.sourceFinally === 1, 5000, "the source's finally");
  // The handler that stops after two items: the call ends, the caller's source is closed.
  let made = 0;
  async function* endless(): AsyncGenerator<number> {
    try {
      for (;;) yield made++;
    } finally {
      seen.sourceFinally++;
    }
  }
  assert.equal(await c.asyncCall("firstTwo", endless()), [0, 1]);
  await until(() => seen.sourceFinally === 2, 5000, "the endless source's finally");
  assert.ok(made <= 2 * ARG_WINDOW_ITEMS + 2, `the source made ${made} items, within the window`);
  c.close();
  s.close();
});

t("a server worker terminated mid-stream ends the loop with ERR_RPC_DISCONNECTED", async () => {
  const w = peer("server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn, { timeoutMs: 20_000 });
  const it = c.stream<number>("ticks", 1);
  assert.equal(await it.next(), { value: 0, done: false });
  const t0 = performance.now();
  await w.terminate();
  const rest = await drain(it);
  assert.is(rest.err?.code, "ERR_RPC_DISCONNECTED");
  assert.ok(performance.now() - t0 < 5000, "long before the 20 s deadline");
});

t("a client worker terminated mid-stream ends the generator on the server (its finally runs, its signal aborts)", async () => {
  const s = streamServer();
  s.bind("ticks", async function* (ms: number, ctx: CallContext) {
    ctx.signal.addEventListener("abort", () => seen.aborted.push((ctx.signal.reason as RpcError).code));
    try {
      for (let i = 0; ; i++) {
        yield i;
        await new Promise((r) => setTimeout(r, ms));
      }
    } finally {
      seen.finallyRan++;
    }
  }, { context: true });
  const w = peer("stream-client", s.connect());
  assert.is(await message(w), "streaming");
  await w.terminate();
  await until(() => seen.finallyRan === 1, 5000, "the generator's finally");
  assert.equal(seen.aborted, ["ERR_RPC_DISCONNECTED"]);
  s.close();
});

t.run();
