// Streams over shared memory: a handler returning an async iterable (generator, Readable,
// ReadableStream) streams its items to `client.stream()`'s loop, with credit flow control
// (a slow loop holds the producer, and only it), cancellation from the caller (break,
// abort, deadline: the generator's finally runs, ctx.signal aborts), errors after items,
// and a kill -9 of either side mid-stream. Server and clients in separate processes.
import { suite } from "uvu";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import { Client, type RpcError, type RpcStream } from "../src/index.js";
import { ticker } from "./fixtures/contracts.js";
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { ARG_WINDOW_ITEMS } from "../src/protocol.js";
import { expectLine, killAll, rejection, sleep, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { drain, sourceFailuresReachTheHandler } from "./stream-helpers.js";

const streams = suite("streams");
const name = uniqueName("strm");
let server: Child;
let client: Client;

streams.before(async () => {
  server = await spawnFixture("stream-server.js", [name]);
  client = new Client(name, { timeoutMs: 10_000 });
  await client.waitForConnection(5000);
});
streams.after(async () => {
  client?.close();
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
  }
});

streams("a generator's items arrive in order; its return value is the last next()'s value", async () => {
  const { items, err } = await drain(client.stream<number>("count", 1000));
  assert.is(err, undefined);
  assert.equal(items, Array.from({ length: 1000 }, (_, i) => i));
  const it = client.stream<number>("count", 2);
  assert.equal(await it.next(), { value: 0, done: false });
  assert.equal(await it.next(), { value: 1, done: false });
  assert.equal(await it.next(), { value: "2 sent", done: true });
  assert.equal(await it.next(), { value: "2 sent", done: true });
});

streams("a Node Readable and a web ReadableStream stream their items too", async () => {
  assert.equal((await drain(client.stream("readable", 3))).items, ["line 0", "line 1", "line 2"]);
  assert.equal((await drain(client.stream("web", 4))).items, [0, 1, 2, 3]);
});

streams("a handler that returns a plain value ends the stream with it, and no items", async () => {
  const it = client.stream("plain", 21);
  assert.equal(await it.next(), { value: 42, done: true });
});

streams("a stream handler called as a unary call: ERR_RPC_REMOTE, and its stream is closed (a Readable destroyed)", async () => {
  const from = server.output().length;
  assert.is((await rejection(client.asyncCall("closable", "unary"))).code, "ERR_RPC_REMOTE");
  await expectLine(server, "closed unary", from);
});

streams("a handler's error ends the loop with ERR_RPC_REMOTE after the items before it", async () => {
  const { items, err } = await drain(client.stream("failAfter", 5));
  assert.equal(items, [0, 1, 2, 3, 4]);
  assert.is(err?.code, "ERR_RPC_REMOTE");
  assert.match(err!.message, /boom after 5/);
  const missing = await drain(client.stream("nope"));
  assert.is(missing.err?.code, "ERR_RPC_METHOD_NOT_FOUND");
});

streams("a slow loop holds the producer within the credit window; other calls and streams of the connection go on", async () => {
  const it = client.stream<number>("numbers", "held");
  for (let i = 0; i < 10; i++) assert.equal(await it.next(), { value: i, done: false });
  // The producer runs ahead by at most the window (256 items), then waits for credit.
  await until(async () => (await client.asyncCall<number>("produced", "held")) >= STREAM_WINDOW_ITEMS, 5000, "the producer fills the window");
  const ahead = await client.asyncCall<number>("produced", "held");
  assert.ok(ahead <= 10 + STREAM_WINDOW_ITEMS + 1, `produced ${ahead} with 10 taken and a window of ${STREAM_WINDOW_ITEMS}`);
  // Meanwhile the same connection serves other calls and streams.
  assert.is(await client.asyncCall("add", 2, 3), 5);
  assert.equal((await drain(client.stream("count", 500))).items.length, 500);
  // Held, not just slow: 100 ms later it has produced nothing more (a margin for a busy host:
  // a producer not held makes thousands of items in that time).
  await new Promise((r) => setTimeout(r, 100));
  assert.is(await client.asyncCall<number>("produced", "held"), ahead);
  // Taking items grants more: it goes on, in order.
  for (let i = 10; i < 2000; i++) assert.equal((await it.next()).value, i);
  await it.return();
  await expectLine(server, "finally held");
});

streams("break ends the stream on the server: the generator's finally runs", async () => {
  const from = server.output().length;
  const { items } = await drain(client.stream<number>("numbers", "broken"), 5);
  assert.equal(items, [0, 1, 2, 3, 4]);
  const produced = Number(await expectLine(server, "finally broken", from));
  assert.ok(produced <= 5 + STREAM_WINDOW_ITEMS + 1, `produced ${produced}`);
});

streams("an abort ends the loop with ERR_RPC_ABORTED; the handler's ctx.signal aborts and its finally runs", async () => {
  const from = server.output().length;
  const ac = new AbortController();
  const it = client.withOptions({ signal: ac.signal }).stream<number>("watch", "abort");
  assert.equal(await it.next(), { value: 0, done: false });
  ac.abort();
  const { err } = await drain(it);
  assert.is(err?.code, "ERR_RPC_ABORTED");
  assert.is(await expectLine(server, "aborted abort", from), "ERR_RPC_ABORTED");
  await expectLine(server, "finally abort", from);
});

streams("the timeout is the deadline of the whole stream: ERR_RPC_TIMEOUT after the items before it", async () => {
  const from = server.output().length;
  const start = performance.now();
  const { items, err } = await drain(client.withOptions({ timeoutMs: 300 }).stream<number>("watch", "deadline"));
  const took = performance.now() - start;
  assert.is(err?.code, "ERR_RPC_TIMEOUT");
  assert.ok(items.length >= 1, `${items.length} items before the deadline`);
  assert.equal(items, items.map((_, i) => i));
  assert.ok(took >= 290, `ended after ${took} ms`);
  assert.is(await expectLine(server, "aborted deadline", from), "ERR_RPC_TIMEOUT");
  await expectLine(server, "finally deadline", from);
});

streams("big binary items (1 MiB each) arrive whole, in order", async () => {
  const size = 1024 * 1024;
  let n = 0;
  for await (const b of client.stream<Uint8Array>("chunks", 24, size)) {
    assert.is(b.length, size);
    assert.is(b[0], n & 255);
    assert.is(b[size - 1], n & 255);
    n++;
  }
  assert.is(n, 24);
});

streams("a server killed (-9) mid-stream ends the loop with ERR_RPC_DISCONNECTED", async () => {
  const lone = uniqueName("strmk");
  const victim = await spawnFixture("stream-server.js", [lone]);
  const c = new Client(lone, { timeoutMs: 10_000 });
  try {
    const it = c.stream<number>("watch", "victim");
    assert.equal(await it.next(), { value: 0, done: false });
    victim.kill("SIGKILL");
    const { err } = await drain(it);
    assert.is(err?.code, "ERR_RPC_DISCONNECTED");
  } finally {
    c.close();
    victim.kill();
  }
});

streams("a client killed (-9) mid-stream: the server closes its generator, and serves on", async () => {
  const from = server.output().length;
  const reader = await spawnFixture("stream-client.js", [name, "numbers", JSON.stringify(["killed"])]);
  reader.kill("SIGKILL");
  await expectLine(server, "finally killed", from);
  assert.is(await client.asyncCall("add", 1, 1), 2);
});

streams("the stream of a closed client fails at once with ERR_RPC_CLOSED", async () => {
  const c = new Client(name);
  c.close();
  const { err } = await drain(c.stream("count", 3));
  assert.is(err?.code, "ERR_RPC_CLOSED");
});

// ------------------------------------------------------------ client and bidirectional streams

async function* upTo(n: number, onDone?: () => void): AsyncGenerator<number> {
  try {
    for (let i = 1; i <= n; i++) yield i;
  } finally {
    onDone?.();
  }
}

streams("an argument that is an async iterable (generator, Readable) is streamed and arrives as an AsyncIterable", async () => {
  assert.is(await client.asyncCall("sum", upTo(10_000)), 50_005_000);
  const { Readable } = await import("node:stream");
  assert.is(await client.asyncCall("sum", Readable.from([1, 2, 3])), 6);
  assert.is(await client.asyncCall("sum", upTo(0)), 0);
});

streams("bidirectional: items flow both ways at once (each answer arrives before the next item is made)", async () => {
  let answered = 0;
  let wake: (() => void) | undefined;
  async function* pingPong(): AsyncGenerator<number> {
    for (let i = 0; i < 50; i++) {
      yield i;
      // The next item only once the echo of this one came back: both directions at once.
      while (answered <= i) await new Promise<void>((r) => (wake = r));
    }
  }
  const got: string[] = [];
  for await (const x of client.stream<string>("echo", pingPong(), "e")) {
    got.push(x);
    answered++;
    wake?.();
  }
  assert.equal(got, Array.from({ length: 50 }, (_, i) => `e${i}`));
});

streams("a slow handler holds the caller's source within the argument window; the source is closed when the call ends", async () => {
  let produced = 0;
  let closed = false;
  async function* endless(): AsyncGenerator<number> {
    try {
      for (;;) {
        produced++;
        yield produced;
      }
    } finally {
      closed = true;
    }
  }
  const call = client.asyncCall<number>("takeThenWait", endless(), 5, 300);
  // The server holds at most the window (64 items, 5 of them taken: less than half, so no
  // more credit); the source makes one more, its pending next().
  await until(() => produced >= ARG_WINDOW_ITEMS, 5000, "the source fills the window");
  assert.is(await call, 5);
  assert.ok(produced <= ARG_WINDOW_ITEMS + 1, `produced ${produced} with 5 taken and a window of ${ARG_WINDOW_ITEMS}`);
  await until(() => closed, 5000, "the source's finally");
});

streams("a source that throws fails the handler's loop with ERR_RPC_ABORTED; so does the caller's abort", async () => {
  await sourceFailuresReachTheHandler(client, server, "");
});

streams("two streamed arguments are refused before sending; over a synchronous call a stream cannot be sent", async () => {
  assert.is((await rejection(client.asyncCall("sum", upTo(1), upTo(1)))).code, "ERR_RPC_INVALID_ARGUMENT");
  let code = "";
  try {
    client.call("sum", upTo(1));
  } catch (e) {
    code = (e as RpcError).code;
  }
  assert.is(code, "ERR_RPC_INVALID_ARGUMENT");
});

// ------------------------------------------------------------ contracts

streams("a contract's streaming method (yields): the proxy's method is a typed stream, each item checked by the server", async () => {
  const api = client.proxy(ticker);
  const ticks: RpcStream<{ n: number; even: boolean }> = api.ticks(3); // the type is the contract's
  assert.equal(await ticks.next(), { value: { n: 0, even: true }, done: false });
  assert.equal(await ticks.next(), { value: { n: 1, even: false }, done: false });
  assert.equal(await ticks.next(), { value: { n: 2, even: true }, done: false });
  assert.equal(await ticks.next(), { value: "3 ticks", done: true });
  const from = server.output().length;
  const { items, err } = await drain(api.badAt(2));
  assert.equal(items, [0, 1]);
  assert.is(err?.code, "ERR_RPC_INVALID_RESULT");
  assert.ok((err?.issues?.length ?? 0) >= 1, "the issues travel");
  assert.equal(err!.issues![0]!.path, []);
  await expectLine(server, "finally badAt 2", from); // the handler's generator is closed
  // Its arguments are checked as for any contract method.
  assert.is((await drain(api.ticks(-1))).err?.code, "ERR_RPC_INVALID_ARGUMENT");
});

streams("describe() shows a streaming method's items as JSON Schema (yields)", async () => {
  const d = await client.describe();
  const ticks = d.methods.find((m) => m.name === "ticks")!;
  assert.equal((ticks.yields as { properties: object }).properties, { n: { type: "number" }, even: { type: "boolean" } });
  assert.is((ticks.result as { type: string }).type, "string");
  assert.is(d.methods.find((m) => m.name === "count")!.yields, null);
});

// ------------------------------------------------------------ hostile peers

/** Runs the hostile client in `mode` against the server while this client streams: the
 *  stream goes on whatever the hostile one did. Returns the hostile client. */
async function attack(mode: string, from: number): Promise<Child> {
  const bad = await spawnFixture("hostile-stream-client.js", [name, mode]);
  const it = client.stream<number>("count", 100_000);
  let n = 0;
  for await (const x of it) assert.is(x, n++);
  assert.is(n, 100_000);
  await expectLine(bad, "sent");
  void from;
  return bad;
}

streams("a client sending items beyond its credit loses its connection (ERR_RPC_PROTOCOL); the handler's loop fails; others go on", async () => {
  const from = server.output().length;
  const bad = await attack("beyond", from);
  try {
    await expectLine(bad, "disconnected");
    assert.is(await expectLine(server, "onError", from), "ERR_RPC_PROTOCOL");
    assert.is(await expectLine(server, "argument failed beyond", from), "ERR_RPC_DISCONNECTED");
    assert.is(await client.asyncCall("add", 2, 2), 4);
  } finally {
    bad.kill();
  }
});

streams("items after a streamed argument's end are dropped: the connection lives", async () => {
  const from = server.output().length;
  const bad = await attack("after-end", from);
  try {
    assert.is(await expectLine(bad, "alive"), "3");
    assert.not.ok(bad.output().includes("disconnected"), bad.output());
  } finally {
    bad.kill();
  }
});

streams("a client that lies about its credit and never reads holds only its own generator, at most its ring and one item ahead; it is closed when the client goes", async () => {
  const from = server.output().length;
  const bad = await attack("lying-credit", from);
  try {
    // The generator makes items only while they go straight into the ring (2 MiB, 1 MiB
    // items): then it waits for room, however much credit it was given.
    let last = -1;
    await until(async () => {
      const now = await client.asyncCall<number>("produced", "flood");
      const still = now > 0 && now === last;
      last = now;
      if (!still) await sleep(50);
      return still;
    }, 20_000, "the flood to stop");
    assert.ok(last <= 4, `the generator made ${last} items of 1 MiB for a 2 MiB ring`);
    assert.equal((await drain(client.stream("count", 10))).items.length, 10);
    bad.kill("SIGKILL");
    await expectLine(server, "finally flood", from, 30_000);
  } finally {
    bad.kill();
  }
});

streams("a STREAM_ARG naming an argument that is not null breaks the protocol: that connection only", async () => {
  const from = server.output().length;
  const bad = await attack("bad-arg", from);
  try {
    await expectLine(bad, "disconnected");
    assert.is(await expectLine(server, "onError", from), "ERR_RPC_PROTOCOL");
  } finally {
    bad.kill();
  }
});

// ------------------------------------------------------------ stats

streams("stats count each method's streams, items and bytes (results and streamed arguments)", async () => {
  const before = (await client.stats()).endpoints;
  await drain(client.stream("count", 10));
  await drain(client.stream("count", 5));
  assert.is(await client.asyncCall("sum", upTo(7)), 28);
  const after = (await client.stats()).endpoints;
  const delta = (m: string, k: "streams" | "stream_items" | "stream_bytes") =>
    after.find((e) => e.name === m)![k] - (before.find((e) => e.name === m)?.[k] ?? 0);
  assert.is(delta("count", "streams"), 2);
  assert.is(delta("count", "stream_items"), 15);
  assert.ok(delta("count", "stream_bytes") >= 15, `${delta("count", "stream_bytes")} bytes`);
  assert.is(delta("sum", "streams"), 1);
  assert.is(delta("sum", "stream_items"), 7);
  assert.is(delta("add", "streams"), 0);
});

// ------------------------------------------------------------ command line

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");

/** Runs `sh -c script` (with $CLI set), within 30 s; its exit code and output. */
function sh(script: string): Promise<{ code: number | string; out: string }> {
  const proc = spawn("sh", ["-c", script], { env: { ...process.env, CLI: `${process.execPath} ${CLI}` }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  return new Promise((resolve) => proc.on("exit", (code, signal) => {
    clearTimeout(timer);
    resolve({ code: code ?? signal ?? -1, out });
  }));
}

streams("shmrpc call --stream prints one JSON line per item (--json: the same, NDJSON)", async () => {
  const r = await sh(`$CLI call ${name} readable 3 --stream`);
  assert.is(r.code, 0, r.out);
  assert.is(r.out, '"line 0"\n"line 1"\n"line 2"\n');
  const j = await sh(`$CLI call ${name} ticks 2 --stream --json`);
  assert.is(j.code, 0, j.out);
  assert.equal(j.out.trim().split("\n").map((l) => JSON.parse(l)), [{ n: 0, even: true }, { n: 1, even: false }]);
  const bad = await sh(`$CLI call ${name} failAfter 1 --stream --json`);
  assert.is(bad.code, 1, bad.out); // the handler's error: Exit.REMOTE, after its item
  assert.ok(bad.out.startsWith("0\n"), bad.out);
});

streams("shmrpc call --stream piped to head: exactly the lines head takes, no error, and the server's generator is closed", async () => {
  const from = server.output().length;
  const r = await sh(`$CLI call ${name} numbers '"cli-head"' --stream 2>&1 | head -n 3`);
  assert.is(r.code, 0);
  assert.is(r.out, "0\n1\n2\n");
  await expectLine(server, "finally cli-head", from);
});

streams("Ctrl-C (SIGINT) cancels shmrpc call --stream cleanly: exit 0, ctx.signal aborted, generator closed", async () => {
  const from = server.output().length;
  const proc = spawn(process.execPath, [CLI, "call", name, "watch", '"cli-int"', "--stream"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  try {
    await until(() => out.split("\n").length > 3, 10_000, "three items");
    proc.kill("SIGINT");
    assert.is(await exited, 0, out);
    // Its CANCEL, or its hang-up when the server sees that first (it exits right after).
    const why = await expectLine(server, "aborted cli-int", from);
    assert.ok(why === "ERR_RPC_ABORTED" || why === "ERR_RPC_DISCONNECTED", why);
    await expectLine(server, "finally cli-int", from);
  } finally {
    proc.kill("SIGKILL");
  }
});

streams.run();
