// shmrpc/threads between worker threads of this process (the fixture tests/fixtures/
// thread-peer.ts is the other thread): the call API, deadlines, cancellation, a thread
// that dies, and a thread that scribbles over its connection's memory.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "./helpers.js";
import { message, peer, terminatePeers } from "./thread-peers.js";
import { ThreadServer, ThreadClient, type CallContext, type MessageSizes, type ThreadConnection, type RpcError } from "../src/threads/index.js";
import { Calc } from "./fixtures/thread-contract.js";

function mainServer(onError?: (e: RpcError) => void): ThreadServer {
  const s = new ThreadServer("calc", { onError: onError ?? (() => {}) });
  s.bind("add", (a: number, b: number) => a + b);
  s.bind("echo", (x: unknown) => x);
  s.bind("fails", () => {
    throw new Error("it failed");
  });
  s.bind("ctx", (ms: number, ctx: CallContext) => new Promise((r) => {
    const t = setTimeout(() => r(ms), ms);
    ctx.signal.addEventListener("abort", () => {
      clearTimeout(t);
      aborts.push((ctx.signal.reason as RpcError).code);
      r(0);
    });
  }), { context: true });
  s.bind("meta", (ctx: CallContext) => ({ ...ctx.metadata, transport: ctx.caller.transport }), { context: true });
  s.implement(Calc, { mul: (a, b) => a * b });
  return s;
}
const aborts: string[] = [];

const t = suite("threads");

t.after.each(async () => {
  await terminatePeers();
});

t("a worker calls a server on the main thread: call, asyncCall, big values, errors, deadlines, aborts, metadata, describe, stats, proxy, contracts, close", async () => {
  const s = mainServer();
  const w = peer("client", s.connect());
  const out = await message<Record<string, unknown>>(w);
  assert.is(out.sync, 5);
  assert.is(out.async, 9);
  assert.ok(out.bigOk, "a 300 KB binary, a string and a bigint came back as sent");
  assert.ok(out.many, "1000 calls in flight each got its own result");
  assert.is(out.missing, "ERR_RPC_METHOD_NOT_FOUND");
  assert.is(out.remote, "ERR_RPC_REMOTE:it failed");
  assert.is(out.timeout, "ERR_RPC_TIMEOUT");
  assert.is(out.aborted, "ERR_RPC_ABORTED");
  assert.is(out.syncTimeout, "ERR_RPC_TIMEOUT");
  assert.equal(out.metadata, { who: "worker", transport: "thread" });
  assert.equal(out.described, ["add", "ctx", "echo", "fails", "meta", "mul"]);
  assert.ok((out.statsCalls as number) >= 1002, `stats counted the calls of add (${out.statsCalls})`);
  assert.is(out.proxy, 42);
  assert.is(out.contract, "ERR_RPC_INVALID_ARGUMENT");
  assert.is(out.closed, "ERR_RPC_CLOSED");
  // The handlers' signals aborted with the caller's reasons (the sync timeout's CANCEL too).
  await until(() => aborts.length >= 3, 5000, "three aborted handlers");
  assert.equal(aborts.slice(0, 3).sort(), ["ERR_RPC_ABORTED", "ERR_RPC_TIMEOUT", "ERR_RPC_TIMEOUT"]);
  s.close();
});

t("the main thread calls a server in a worker, synchronously and not", async () => {
  const w = peer("server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn);
  assert.is(c.call("add", 1, 2), 3);
  assert.is(await c.asyncCall("slow", 5), 5);
  const all = await Promise.all(Array.from({ length: 5000 }, (_, i) => c.asyncCall<number>("add", i, i)));
  assert.ok(all.every((v, i) => v === 2 * i));
  c.close();
});

t("a synchronous call to a server on the same thread is refused (it would wait forever); asyncCall works", async () => {
  const s = mainServer();
  const c = new ThreadClient(s.connect());
  let code = "";
  try {
    c.call("add", 1, 1);
  } catch (e) {
    code = (e as RpcError).code;
  }
  assert.is(code, "ERR_RPC_INVALID_ARGUMENT");
  assert.is(await c.asyncCall("add", 1, 1), 2);
  c.close();
  s.close();
});

t("an interceptor that asks for the sizes gets the encoded arguments' and result's, sync and async (the size histograms of shmrpc/tracing)", async () => {
  const w = peer("server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn, { timeoutMs: 10_000 });
  const asked: MessageSizes[] = [];
  c.use((call, next) => {
    if (call.method !== "echo") return next();
    const sizes = { request: -1, response: -1 };
    call.sizes = sizes;
    asked.push(sizes);
    return next();
  });
  const big = new Uint8Array(50_000).fill(7);
  assert.is((c.call<Uint8Array>("echo", big)).length, 50_000);
  assert.is((await c.asyncCall<Uint8Array>("echo", big)).length, 50_000);
  assert.is(c.call("add", 1, 2), 3); // not asked: nothing measured
  assert.is(asked.length, 2);
  for (const sizes of asked) {
    // The encoded arguments and result: the binary and a few bytes of framing.
    assert.ok(sizes.request >= 50_000 && sizes.request < 50_000 + 64, `request ${sizes.request} bytes`);
    assert.ok(sizes.response >= 50_000 && sizes.response < 50_000 + 64, `response ${sizes.response} bytes`);
  }
  c.close();
});

t("middleware and interceptors plug in as over processes: the server's sees the call's context and metadata, the client's adds metadata", async () => {
  const s = mainServer();
  const seen: string[] = [];
  s.use((ctx, next) => {
    seen.push(`${ctx.method}:${ctx.caller.transport}:${ctx.metadata.tag ?? "-"}:${ctx.args.length}`);
    return next();
  });
  const c = new ThreadClient(s.connect(), { timeoutMs: 5000 });
  c.use((call, next) => {
    call.metadata.tag = "intercepted";
    return next();
  });
  assert.is(await c.asyncCall("add", 2, 2), 4);
  assert.equal(await c.asyncCall("meta"), { tag: "intercepted", transport: "thread" });
  assert.equal(seen, ["add:thread:intercepted:2", "meta:thread:intercepted:0"]);
  c.close();
  s.close();
});

t("a server worker terminated: pending calls fail ERR_RPC_DISCONNECTED within 100 ms, later calls at once", async () => {
  const w = peer("server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn);
  assert.is(await c.asyncCall("add", 1, 1), 2);
  const pending = Array.from({ length: 10 }, () => c.asyncCall("slow", 60_000).then(() => "resolved", (e: RpcError) => e.code));
  await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  const settled = Promise.all(pending).then((codes) => ({ codes, ms: performance.now() - t0 }));
  await w.terminate();
  const { codes, ms } = await settled;
  assert.ok(codes.every((code) => code === "ERR_RPC_DISCONNECTED"), codes.join());
  // terminate() resolves once the thread is gone; the port's 'close' follows on our loop.
  assert.ok(ms < 100 + 200, `settled ${ms.toFixed(1)} ms after terminate() (100 ms, plus 200 ms for a loaded machine's terminate())`);
  const after = await c.asyncCall("add", 1, 1).catch((e: RpcError) => e.code);
  assert.is(after, "ERR_RPC_DISCONNECTED");
  assert.not.ok(c.connected);
});

t("a server worker that throws out: a synchronous call waiting on it fails ERR_RPC_DISCONNECTED", async () => {
  const w = peer("server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn, { timeoutMs: 20_000 });
  const t0 = performance.now();
  let code = "";
  try {
    c.call("crash");
  } catch (e) {
    code = (e as RpcError).code;
  }
  const ms = performance.now() - t0;
  assert.is(code, "ERR_RPC_DISCONNECTED");
  assert.ok(ms < 5000, `noticed after ${ms.toFixed(0)} ms, long before the 20 s deadline`);
});

t("a client worker terminated: its handler's signal aborts with ERR_RPC_DISCONNECTED", async () => {
  const got: string[] = [];
  const s = new ThreadServer("hang");
  s.bind("hang", (ctx: CallContext) => new Promise((r) => ctx.signal.addEventListener("abort", () => r(got.push((ctx.signal.reason as RpcError).code)))), { context: true });
  const w = peer("hang-client", s.connect());
  assert.is(await message(w), "sent");
  const t0 = performance.now();
  await w.terminate();
  await until(() => got.length === 1, 5000, "the handler's signal aborted");
  assert.is(got[0], "ERR_RPC_DISCONNECTED");
  assert.ok(performance.now() - t0 < 1000, "within a second of terminate()");
  assert.equal(s.stats().connections, []);
  s.close();
});

t("a client worker that scribbles over its connection's memory loses that connection only", async () => {
  const errors: RpcError[] = [];
  const s = mainServer((e) => errors.push(e));
  const good = peer("client", s.connect());
  // Four scribblers at once, each with its own random bytes over its own connection's memory.
  const bad = [1, 2, 3, 4].map((seed) => peer("hostile", s.connect(), seed * 7919));
  const [out, ...hostile] = await Promise.all([message<Record<string, unknown>>(good), ...bad.map((w) => message<{ hostileDone: string[] }>(w))]);
  assert.is(out.sync, 5, JSON.stringify(out));
  assert.ok(out.many);
  assert.ok(out.bigOk);
  assert.is(out.proxy, 42);
  // The hostile clients' own calls failed (their connections were dropped) or timed out.
  for (const h of hostile) {
    assert.ok(h.hostileDone.length > 0, "a hostile client's calls failed");
    assert.ok(h.hostileDone.every((code) => ["ERR_RPC_DISCONNECTED", "ERR_RPC_PROTOCOL", "ERR_RPC_TIMEOUT"].includes(code)), h.hostileDone.join());
  }
  // And the server still serves a new client.
  const c = new ThreadClient(s.connect());
  assert.is(await c.asyncCall("add", 40, 2), 42);
  c.close();
  s.close();
});

t("a server worker that scribbles over its connection's memory costs its client that connection only", async () => {
  const w = peer("hostile-server");
  const { conn } = await message<{ conn: ThreadConnection }>(w);
  const c = new ThreadClient(conn, { timeoutMs: 500 });
  assert.is(c.call("add", 1, 2), 3);
  const good = mainServer();
  const other = new ThreadClient(good.connect());
  const scribbled = message(w);
  w.postMessage("scribble");
  assert.is(await scribbled, "scribbled");
  const codes = new Set<string>();
  for (let i = 0; i < 10; i++) {
    try {
      const v = i % 2 === 0 ? c.call("add", i, 1) : await c.asyncCall("add", i, 1);
      if (v !== i + 1) codes.add(`wrong value ${String(v)}`);
    } catch (e) {
      codes.add((e as RpcError).code);
    }
  }
  // Its calls fail with a connection error (or run out their 500 ms), never a value that is wrong.
  assert.ok([...codes].every((code) => ["ERR_RPC_PROTOCOL", "ERR_RPC_DISCONNECTED", "ERR_RPC_TIMEOUT"].includes(code)), [...codes].join());
  // This thread's other connection is untouched.
  assert.is(await other.asyncCall("add", 40, 2), 42);
  other.close();
  good.close();
  c.close();
});

t.run();
