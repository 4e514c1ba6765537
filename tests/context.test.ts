// Per-call context: `{ context: true }` handlers get { method, signal, deadline, caller,
// metadata } after their arguments; the signal aborts when the caller gives up (timeout,
// abort: a CANCEL record), goes (close, kill -9: its socket hangs up), and nested calls
// made with { parent: ctx } keep within the parent's deadline. Server and callers in
// separate processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, type RpcError } from "../src/index.js";
import { expectLine, killAll, rejection, spawnFixture, stopServer, uniqueName, wallNow, type Child } from "./helpers.js";

const context = suite("context");
const name = uniqueName("ctx");
const innerName = uniqueName("ctxin");
let server: Child;
let inner: Child;
let client: Client;

/** How late a handler's signal may abort after the caller gave up (the 50 ms). */
const ABORT_WITHIN_MS = 50;

context.before(async () => {
  inner = await spawnFixture("context-server.js", [innerName]);
  server = await spawnFixture("context-server.js", [name, innerName]);
  client = new Client(name, { timeoutMs: 10_000 });
  await client.waitForConnection(5000);
});
context.after(async () => {
  client?.close();
  try {
    if (server) await stopServer(server);
    if (inner) await stopServer(inner);
  } finally {
    killAll();
  }
});

/** The wall time (ms since epoch) the server printed for `tag`'s abort, and its code. */
async function abortedAt(child: Child, tag: string, from: number): Promise<{ at: number; code: string }> {
  const line = await expectLine(child, `aborted ${tag} `, from);
  const [code, at] = line.split(" ");
  return { at: Number(at), code: code! };
}

context("a context handler gets method, deadline, caller (pid, uid, gid) and metadata; a plain one gets no extra argument", async () => {
  const got = await client.withOptions({ timeoutMs: 5000, metadata: { "trace-id": "abc", user: "ünï" } }).asyncCall<Record<string, any>>("whoami", 7);
  assert.is(got.a, 7);
  assert.is(got.method, "whoami");
  assert.ok(got.left > 3000 && got.left <= 5000, `deadline ${got.left} ms away, from the 5000 ms timeout`);
  assert.equal(got.caller, { transport: "shm", pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  assert.equal(got.metadata, { "trace-id": "abc", user: "ünï" });
  assert.is(got.aborted, false);
  // Without options: the client's default timeout, no metadata; the sync path too.
  const plain = client.call<Record<string, any>>("whoami", 1);
  assert.ok(plain.left > 8000 && plain.left <= 10_000, `default deadline ${plain.left} ms away`);
  assert.equal(plain.metadata, {});
  assert.is(client.call("count", 1, 2), 2, "a handler without { context: true } gets its arguments only");
});

context("metadata is checked at the caller: bad keys, reserved keys, non-strings and over 8 KiB are refused before sending", async () => {
  for (const metadata of [{ Upper: "x" }, { "shmrpc-id": "x" }, { n: 1 }, { big: "x".repeat(8 * 1024) }, [] as unknown]) {
    let code = "";
    try {
      client.withOptions({ metadata: metadata as Record<string, string> });
    } catch (e) {
      code = (e as RpcError).code;
    }
    assert.is(code, "ERR_RPC_INVALID_ARGUMENT", JSON.stringify(metadata).slice(0, 40));
  }
});

context(`ctx.signal aborts within ${ABORT_WITHIN_MS} ms of the caller's timeout (asyncCall and call) and abort`, async () => {
  const from = server.output().length;
  const timedOut = await rejection(client.withOptions({ timeoutMs: 200 }).asyncCall("hold", "t1"));
  const gaveUp = wallNow();
  assert.is(timedOut.code, "ERR_RPC_TIMEOUT");
  const t1 = await abortedAt(server, "t1", from);
  assert.is(t1.code, "ERR_RPC_TIMEOUT");
  assert.ok(t1.at - gaveUp <= ABORT_WITHIN_MS, `aborted ${t1.at - gaveUp} ms after the timeout`);

  const ac = new AbortController();
  const pending = client.withOptions({ signal: ac.signal }).asyncCall("hold", "a1");
  await expectLine(server, "started a1 ", from);
  const abortAt = wallNow();
  ac.abort();
  assert.is((await rejection(pending)).code, "ERR_RPC_ABORTED");
  const a1 = await abortedAt(server, "a1", from);
  assert.is(a1.code, "ERR_RPC_ABORTED");
  assert.ok(a1.at - abortAt <= ABORT_WITHIN_MS, `aborted ${a1.at - abortAt} ms after the abort`);

  let code = "";
  try {
    client.withOptions({ timeoutMs: 200 }).call("hold", "s1");
  } catch (e) {
    code = (e as RpcError).code;
  }
  const syncGaveUp = wallNow();
  assert.is(code, "ERR_RPC_TIMEOUT");
  const s1 = await abortedAt(server, "s1", from);
  assert.ok(s1.at - syncGaveUp <= ABORT_WITHIN_MS, `aborted ${s1.at - syncGaveUp} ms after the sync call's timeout`);
});

context(`ctx.signal aborts within ${ABORT_WITHIN_MS} ms of the caller's kill -9, and of its close()`, async () => {
  const from = server.output().length;
  const caller = await spawnFixture("hold-caller.js", [name, "k1"], "calling");
  try {
    await expectLine(server, "started k1 ", from);
    const killedAt = wallNow();
    caller.kill("SIGKILL");
    const k1 = await abortedAt(server, "k1", from);
    assert.is(k1.code, "ERR_RPC_DISCONNECTED");
    assert.ok(k1.at - killedAt <= ABORT_WITHIN_MS, `aborted ${k1.at - killedAt} ms after kill -9`);
  } finally {
    caller.kill();
  }
  const other = new Client(name, { timeoutMs: 10_000 });
  try {
    const p = other.asyncCall("hold", "c1").catch((e: RpcError) => e.code);
    await expectLine(server, "started c1 ", from);
    const closedAt = wallNow();
    other.close();
    assert.is(await p, "ERR_RPC_DISCONNECTED");
    const c1 = await abortedAt(server, "c1", from);
    assert.is(c1.code, "ERR_RPC_DISCONNECTED");
    assert.ok(c1.at - closedAt <= ABORT_WITHIN_MS, `aborted ${c1.at - closedAt} ms after close()`);
  } finally {
    other.close();
  }
});

context("a nested call ({ parent: ctx }) never outlives its parent's deadline, carries its metadata, and ends with it", async () => {
  const from = server.output().length;
  const innerFrom = inner.output().length;
  const started = wallNow();
  const got = await client.withOptions({ timeoutMs: 400, metadata: { tenant: "t" } }).asyncCall("outer", "n1").catch((e: RpcError) => e.code);
  assert.is(got, "ERR_RPC_TIMEOUT", "the caller's own deadline ends it");
  const outerDeadline = Number(await expectLine(server, "outer n1 ", from));
  const innerStart = (await expectLine(inner, "started n1 ", innerFrom)).split(" ");
  const innerDeadline = Number(innerStart[0]);
  // The deadline travels as time left (clocks of two hosts need not agree), so the inner
  // server's reading of it is later by the request's time in transit (margin: ABORT_WITHIN_MS);
  // the nested call itself is given up by its caller at the parent's deadline (below).
  assert.ok(innerDeadline <= outerDeadline + ABORT_WITHIN_MS, `inner deadline ${innerDeadline - outerDeadline} ms after the parent's`);
  assert.ok(outerDeadline - started <= 400 + ABORT_WITHIN_MS, "the parent's deadline is the caller's");
  assert.equal(JSON.parse(innerStart.slice(1).join(" ")), { tenant: "t", hop: "2" });
  const n1 = await abortedAt(inner, "n1", innerFrom);
  assert.ok(n1.at - outerDeadline <= ABORT_WITHIN_MS, `the nested handler's signal aborted ${n1.at - outerDeadline} ms after the parent's deadline`);
});

context.run();
