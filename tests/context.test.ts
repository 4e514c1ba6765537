// Per-call context: `{ context: true }` handlers get { method, signal, deadline, caller,
// metadata } after their arguments; the signal aborts when the caller gives up (timeout,
// abort: a CANCEL record), goes (close, kill -9: its socket hangs up), and nested calls
// made with { parent: ctx } keep within the parent's deadline. Server and callers in
// separate processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers } from "@nats-io/transport-node";
import { Client, type RpcError } from "../src/index.js";
import { startNats } from "./nats-helpers.js";
import { expectLine, killAll, rejection, spawnFixture, stopServer, uniqueName, until, wallNow, type Child } from "./helpers.js";
import { HEADER_AUTH, NatsSeal } from "../src/nats/auth.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { tokenHash } from "../src/protocol.js";

const context = suite("context");
const name = uniqueName("ctx");
const innerName = uniqueName("ctxin");
let server: Child;
let inner: Child;
let client: Client;

/** How late a handler's signal may abort after the caller gave up: the 50 ms,
 *  plus a margin of 450 ms for a busy host (2 cores shared by many processes, where a
 *  process's teardown or wake-up alone was seen to take 600 ms); every figure is printed. */
const TARGET_MS = 50;
const ABORT_WITHIN_MS = TARGET_MS + 450;
const seen: string[] = [];
function within(what: string, ms: number): void {
  seen.push(`${what} ${Math.round(ms)} ms`);
  assert.ok(ms <= ABORT_WITHIN_MS, `${what}: ${ms} ms (target ${TARGET_MS}, margin ${ABORT_WITHIN_MS})`);
}

context.before(async () => {
  inner = await spawnFixture("context-server.js", [innerName, "-"]);
  server = await spawnFixture("context-server.js", [name, innerName]);
  client = new Client(name, { timeoutMs: 10_000 });
  await client.waitForConnection(5000);
});
context.after(async () => {
  console.log(`  signals aborted after: ${seen.join(", ")} (target ${TARGET_MS} ms)`);
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

context("implement(contract, handlers, { context: true }): the schema checks the arguments, and the handler gets the context after them", async () => {
  const got = await client.withOptions({ timeoutMs: 5000 }).asyncCall<Record<string, number | string>>("scaled", 21);
  assert.is(got.value, 42);
  assert.is(got.method, "scaled");
  assert.is(got.pid, process.pid);
  assert.ok((got.left as number) > 3000 && (got.left as number) <= 5000, `deadline ${got.left} ms away`);
  assert.is(client.call<Record<string, unknown>>("scaled", 1).value, 2, "the sync path too");
  const err = await rejection(client.asyncCall("scaled", "21"));
  assert.is(err.code, "ERR_RPC_INVALID_ARGUMENT", "the arguments are still validated");
  assert.is((await rejection(client.asyncCall("scaled", 1, 2))).code, "ERR_RPC_INVALID_ARGUMENT", "an extra argument is not taken for the context");
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

context(`ctx.signal aborts within ${TARGET_MS} ms (busy-host margin ${ABORT_WITHIN_MS}) of the caller's timeout (asyncCall and call) and abort`, async () => {
  const from = server.output().length;
  const timedOut = await rejection(client.withOptions({ timeoutMs: 200 }).asyncCall("hold", "t1"));
  const gaveUp = wallNow();
  assert.is(timedOut.code, "ERR_RPC_TIMEOUT");
  const t1 = await abortedAt(server, "t1", from);
  assert.is(t1.code, "ERR_RPC_TIMEOUT");
  within("asyncCall timeout", t1.at - gaveUp);

  const ac = new AbortController();
  const pending = client.withOptions({ signal: ac.signal }).asyncCall("hold", "a1");
  await expectLine(server, "started a1 ", from);
  const abortAt = wallNow();
  ac.abort();
  assert.is((await rejection(pending)).code, "ERR_RPC_ABORTED");
  const a1 = await abortedAt(server, "a1", from);
  assert.is(a1.code, "ERR_RPC_ABORTED");
  within("abort", a1.at - abortAt);

  let code = "";
  try {
    client.withOptions({ timeoutMs: 200 }).call("hold", "s1");
  } catch (e) {
    code = (e as RpcError).code;
  }
  const syncGaveUp = wallNow();
  assert.is(code, "ERR_RPC_TIMEOUT");
  const s1 = await abortedAt(server, "s1", from);
  within("sync timeout", s1.at - syncGaveUp);
});

context(`ctx.signal aborts within ${TARGET_MS} ms (busy-host margin ${ABORT_WITHIN_MS}) of the caller's kill -9, and of its close()`, async () => {
  const from = server.output().length;
  const caller = await spawnFixture("hold-caller.js", [name, "k1"], "calling");
  try {
    await expectLine(server, "started k1 ", from);
    const killedAt = wallNow();
    caller.kill("SIGKILL");
    const k1 = await abortedAt(server, "k1", from);
    assert.is(k1.code, "ERR_RPC_DISCONNECTED");
    within("kill -9", k1.at - killedAt);
  } finally {
    caller.kill();
  }
  const other = new Client(name, { timeoutMs: 10_000 });
  try {
    const p = other.asyncCall("hold", "c1").catch((e: RpcError) => e.code);
    await expectLine(server, "started c1 ", from);
    const closedAt = wallNow();
    other.close();
    assert.is(await p, "ERR_RPC_CLOSED", "the caller's own call: its client was closed");
    const c1 = await abortedAt(server, "c1", from);
    assert.is(c1.code, "ERR_RPC_DISCONNECTED");
    within("close()", c1.at - closedAt);
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
  within("nested call after its parent's deadline", n1.at - outerDeadline);
});

context("over NATS: the handler's context (caller, deadline, metadata as headers) and a cancel message that aborts its signal on the caller's timeout", async () => {
  const node = await startNats();
  const natsName = uniqueName("ctxnats");
  let remote: Child | undefined;
  const client = new Client(`${node.url}${natsName}`, { timeoutMs: 10_000 });
  try {
    remote = await spawnFixture("context-server.js", [natsName, "-", JSON.stringify(node.url)]);
    const got = await client.withOptions({ timeoutMs: 5000, metadata: { "trace-id": "n1" } }).asyncCall<Record<string, any>>("whoami", 3);
    assert.is(got.caller.transport, "nats");
    assert.equal(got.metadata, { "trace-id": "n1" });
    assert.ok(got.left > 3000 && got.left <= 5000, `deadline ${got.left} ms away, from the 5000 ms timeout`);
    const from = remote.output().length;
    const timedOut = await rejection(client.withOptions({ timeoutMs: 300 }).asyncCall("hold", "nt1"));
    const gaveUp = wallNow();
    assert.is(timedOut.code, "ERR_RPC_TIMEOUT");
    const nt1 = await abortedAt(remote, "nt1", from);
    assert.is(nt1.code, "ERR_RPC_TIMEOUT");
    within("NATS asyncCall timeout", nt1.at - gaveUp);
    let code = "";
    try {
      client.withOptions({ timeoutMs: 300 }).call("hold", "ns1");
    } catch (e) {
      code = (e as RpcError).code;
    }
    const syncGaveUp = wallNow();
    assert.is(code, "ERR_RPC_TIMEOUT");
    const ns1 = await abortedAt(remote, "ns1", from);
    within("NATS sync timeout", ns1.at - syncGaveUp);
  } finally {
    client.close();
    if (remote) await stopServer(remote);
    await node.stop();
  }
});

context("over token-sealed NATS: deadline, metadata and call id travel sealed and reach the handler, a cancel aborts its signal; context headers outside the seal are ignored, and a request altered in transit is dropped", async () => {
  const TOKEN = "ctx-token-0123456789abcdef";
  const node = await startNats();
  const natsName = uniqueName("ctxseal");
  let remote: Child | undefined;
  const client = new Client(`${node.url}${natsName}`, { timeoutMs: 10_000, token: TOKEN });
  const raw = await connect({ servers: node.url });
  try {
    remote = await spawnFixture("context-server.js", [natsName, "-", JSON.stringify(node.url), TOKEN]);
    // A plain subscriber on the service's subjects sees each request as it travels.
    const seen: { headers: string[]; data: Buffer }[] = [];
    raw.subscribe(`shmrpc.${natsName.slice(1)}.*`, {
      callback: (_e, m) => void seen.push({ headers: m.headers ? [...m.headers.keys()] : [], data: Buffer.from(m.data) }),
    });
    await raw.flush();
    const got = await client.withOptions({ timeoutMs: 5000, metadata: { "trace-id": "sealed-n1" } }).asyncCall<Record<string, any>>("whoami", 3);
    assert.is(got.caller.transport, "nats");
    assert.equal(got.metadata, { "trace-id": "sealed-n1" });
    assert.ok(got.left > 3000 && got.left <= 5000, `deadline ${got.left} ms away, from the 5000 ms timeout`);
    await until(() => seen.length >= 1, 5000, "the subscriber's copy");
    assert.equal(seen[0]!.headers, [HEADER_AUTH], "no context header travels in clear");
    assert.ok(!seen[0]!.data.includes("sealed-n1") && !seen[0]!.data.includes("trace-id"), "nor in the payload");
    // Cancels reach the handler (its call id travelled sealed).
    const from = remote.output().length;
    const timedOut = await rejection(client.withOptions({ timeoutMs: 300 }).asyncCall("hold", "st1"));
    const gaveUp = wallNow();
    assert.is(timedOut.code, "ERR_RPC_TIMEOUT");
    const st1 = await abortedAt(remote, "st1", from);
    assert.is(st1.code, "ERR_RPC_TIMEOUT");
    within("sealed NATS asyncCall timeout", st1.at - gaveUp);
    let code = "";
    try {
      client.withOptions({ timeoutMs: 300 }).call("hold", "ss1");
    } catch (e) {
      code = (e as RpcError).code;
    }
    const syncGaveUp = wallNow();
    assert.is(code, "ERR_RPC_TIMEOUT");
    within("sealed NATS sync timeout", (await abortedAt(remote, "ss1", from)).at - syncGaveUp);

    // A peer that can add headers to a request in transit (it holds no token): here the
    // test seals a genuine request and adds forged context headers outside the seal.
    const seal = new NatsSeal(tokenHash(TOKEN, "token"));
    const codec = new PayloadCodec();
    const subject = `shmrpc.${natsName.slice(1)}.whoami`;
    const inbox = `_INBOX.ctxseal.${process.pid}`;
    const replies: { data: Uint8Array; auth: string | undefined }[] = [];
    raw.subscribe(inbox, { callback: (_e, m) => void replies.push({ data: m.data, auth: m.headers?.get(HEADER_AUTH) }) });
    const send = (data: Uint8Array, header: string, extra: Record<string, string> = {}): void => {
      const h = headers();
      h.set(HEADER_AUTH, header);
      for (const [k, v] of Object.entries(extra)) h.set(k, v);
      raw.publish(subject, data, { reply: inbox, headers: h });
    };
    const genuine = seal.sealRequest(subject, inbox, codec.encode([1], 1 << 20, "args"), Date.now(), { "shmrpc-timeout-ms": "5000", "shmrpc-call": "x.1", user: "real" });
    send(genuine.data, genuine.header, { "shmrpc-timeout-ms": "1", user: "forged", extra: "added" });
    await until(() => replies.length === 1, 5000, "the answer to the genuine request");
    const opened = seal.openReply(genuine.iv, replies[0]!.auth, undefined, undefined, replies[0]!.data);
    assert.ok(opened !== undefined, "the server's sealed answer");
    const value = codec.decode(opened!) as Record<string, any>;
    assert.equal(value.metadata, { user: "real" }, "the sealed metadata only");
    assert.ok(value.left > 3000, `the sealed deadline (${value.left} ms away), not the forged 1 ms`);
    // One bit of the sealed context changed: the request does not open and is dropped.
    const altered = seal.sealRequest(subject, inbox, codec.encode([2], 1 << 20, "args"), Date.now(), { "shmrpc-timeout-ms": "5000", user: "real" });
    const flipped = Buffer.from(altered.data);
    flipped[10]! ^= 1; // inside the context's JSON (its first 4 bytes are its length)
    send(flipped, altered.header);
    const marker = seal.sealRequest(subject, inbox, codec.encode([3], 1 << 20, "args"), Date.now(), { "shmrpc-timeout-ms": "5000" });
    send(marker.data, marker.header);
    await until(() => replies.length >= 2, 5000, "the marker's answer");
    await raw.flush();
    assert.is(replies.length, 2, "the altered request was not answered");
    assert.is((codec.decode(seal.openReply(marker.iv, replies[1]!.auth, undefined, undefined, replies[1]!.data)!) as { a: number }).a, 3);
    codec.dispose();
  } finally {
    client.close();
    await raw.close();
    if (remote) await stopServer(remote);
    await node.stop();
  }
});

context.run();
