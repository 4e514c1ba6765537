// The same services over NATS: a server process serving over shared memory and NATS at once,
// called through a Client named by a NATS URL; ADR-32 discovery; credentials; garbage.
// Each test's nats-server runs on a free loopback port (tests/nats-helpers.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { Client, RpcError, ErrorCodes } from "../src/index.js";
import { FIXTURES, killAll, rejection, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";
import { same } from "./same.js";
import { PayloadCodec } from "../src/nats/payload.js";
import { edgeValues, generator } from "./values.js";

const nats = suite("nats");
let node: NatsNode;
let server: Child;
const name = uniqueName("nats");
const service = name.slice(1); // a plain name: the NATS service is called the same
let url: string;
let raw: NatsConnection;

// A failed setup (nats-server missing, say) fails every test with its error: uvu would
// report an error in a before hook as nothing run, and exit 0.
let setupError: unknown;
nats.before(async () => {
  try {
    node = await startNats();
    server = await spawnFixture("nats-server.js", [name, JSON.stringify(node.url)]);
    url = `${node.url}${name}`;
    raw = await connect({ servers: node.url });
  } catch (e) {
    setupError = e;
  }
});
const test = (title: string, fn: () => Promise<void>): void => {
  nats(title, async () => {
    if (setupError !== undefined) throw setupError;
    await fn();
  });
};
nats.after(async () => {
  await raw?.close();
  if (server) assert.is(await stopServer(server), 0);
  killAll();
  await node?.stop();
});

const codec = new PayloadCodec();
/** Arguments as a foreign client would send them: the codec's bytes of the argument array. */
const argBytes = (...args: unknown[]) => codec.encode(args, 1 << 20, "args");

function syncError(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected an RpcError");
}

test("every edge value and 300 random ones arrive over NATS exactly as over shared memory, async and sync", async () => {
  const local = new Client(name);
  const remote = new Client(url, { timeoutMs: 10_000 });
  try {
    const gen = generator(0xa75);
    const values = [...edgeValues(), ...Array.from({ length: 300 }, () => gen())];
    for (const [i, v] of values.entries()) {
      const viaShm = await local.asyncCall("echo", v);
      const viaNats = await remote.asyncCall("echo", v);
      const viaNatsSync = remote.call("echo", v);
      try {
        same(viaShm, viaNats);
        same(viaShm, viaNatsSync);
      } catch (e) {
        throw new Error(`value #${i}: ${(e as Error).message}`);
      }
    }
    same(await remote.asyncCall("echoAll", 1, "two", [3]), [1, "two", [3]]);
  } finally {
    local.close();
    remote.close();
  }
});

test("every error code a server sends arrives with its code, details and the ADR-32 headers", async () => {
  const client = new Client(url, { timeoutMs: 5000 });
  try {
    const thrown = await rejection(client.asyncCall("fail", "boom"));
    assert.is(thrown.code, ErrorCodes.ERR_RPC_REMOTE);
    assert.is(thrown.remote?.name, "TypeError");
    assert.is(thrown.remote?.message, "boom");
    assert.is(thrown.remote?.code, "E_FIXTURE");
    assert.is(thrown.remote!.stack, "", "no stack: the server did not opt in (stacks.test)");
    const sync = syncError(() => client.call("failLater", "later"));
    assert.is(sync.code, ErrorCodes.ERR_RPC_REMOTE);
    assert.is(sync.remote?.name, "RangeError");
    assert.is((await rejection(client.asyncCall("throwValue", 42))).code, ErrorCodes.ERR_RPC_REMOTE);
    assert.is((await rejection(client.asyncCall("returnFunction"))).code, ErrorCodes.ERR_RPC_REMOTE);
    assert.is((await rejection(client.asyncCall("nope"))).code, ErrorCodes.ERR_RPC_METHOD_NOT_FOUND);
    const badArgs = await rejection(client.asyncCall("half", "x"));
    assert.is(badArgs.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.equal(badArgs.issues?.[0]?.path, [0]);
    const badResult = await rejection(client.asyncCall("broken"));
    assert.is(badResult.code, ErrorCodes.ERR_RPC_INVALID_RESULT);
    assert.ok(badResult.issues!.length > 0);
    // A result over the NATS server's max_payload (1 MiB by default).
    assert.is((await rejection(client.asyncCall("bytes", 2 << 20))).code, ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE);
    assert.is((await client.asyncCall<Buffer>("bytes", 1000)).length, 1000);
    // What a foreign NATS client sees: the ADR-32 headers and shmrpc's exact code.
    const reply = await raw.request(`shmrpc.${service}.fail`, argBytes("boom"), { timeout: 5000 });
    assert.ok(reply.headers !== undefined);
    assert.is(reply.headers!.get("Nats-Service-Error-Code"), "500");
    assert.is(reply.headers!.get("Shmrpc-Error"), ErrorCodes.ERR_RPC_REMOTE);
    assert.ok(reply.headers!.get("Nats-Service-Error").length > 0);
    const missing = await raw.request(`shmrpc.${service}.nope`, argBytes(), { timeout: 5000 });
    assert.is(missing.headers!.get("Nats-Service-Error-Code"), "404");
  } finally {
    client.close();
  }
});

test("the caller's own errors: unsendable arguments, a request over max_payload (nothing sent), a client closed with a call pending", async () => {
  const client = new Client(url, { timeoutMs: 5000 });
  try {
    assert.is((await rejection(client.asyncCall("echo", () => 1))).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.is(syncError(() => client.call("echo", Symbol("s"))).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.is((await rejection(client.asyncCall(""))).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    const before = (await client.stats()).endpoints.find((e) => e.name === "echo")!.num_requests;
    const big = await rejection(client.asyncCall("echo", Buffer.alloc(2 << 20)));
    assert.is(big.code, ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE);
    assert.is(big.maybeExecuted, false);
    const bigSync = syncError(() => client.call("echo", Buffer.alloc(2 << 20)));
    assert.is(bigSync.code, ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE);
    assert.is(bigSync.maybeExecuted, false);
    assert.is((await client.stats()).endpoints.find((e) => e.name === "echo")!.num_requests, before, "nothing reached the server");
    const pending = client.asyncCall("never");
    await new Promise((r) => setTimeout(r, 20));
    client.close();
    const lost = await rejection(pending);
    assert.is(lost.code, ErrorCodes.ERR_RPC_CLOSED, "a call pending when its client closes");
    assert.is(lost.maybeExecuted, true);
    const after = await rejection(client.asyncCall("add", 1, 2));
    assert.is(after.code, ErrorCodes.ERR_RPC_CLOSED);
    assert.is(after.maybeExecuted, false);
  } finally {
    client.close();
  }
});

test("timeouts and aborts: maybeExecuted true once sent, false before", async () => {
  const client = new Client(url, { timeoutMs: 5000 });
  try {
    await client.waitForConnection(5000);
    const t0 = performance.now();
    const timedOut = await rejection(client.withOptions({ timeoutMs: 100 }).asyncCall("never"));
    assert.is(timedOut.code, ErrorCodes.ERR_RPC_TIMEOUT);
    assert.is(timedOut.maybeExecuted, true);
    assert.ok(performance.now() - t0 >= 95, "not before its deadline (5 ms margin for timer granularity)");
    const syncTimeout = syncError(() => client.withOptions({ timeoutMs: 100 }).call("never"));
    assert.is(syncTimeout.code, ErrorCodes.ERR_RPC_TIMEOUT);
    assert.is(syncTimeout.maybeExecuted, true);
    const early = new AbortController();
    early.abort();
    const before = await rejection(client.withOptions({ signal: early.signal }).asyncCall("never"));
    assert.is(before.code, ErrorCodes.ERR_RPC_ABORTED);
    assert.is(before.maybeExecuted, false);
    const later = new AbortController();
    const pending = client.withOptions({ signal: later.signal }).asyncCall("never");
    setTimeout(() => later.abort(), 20);
    const during = await rejection(pending);
    assert.is(during.code, ErrorCodes.ERR_RPC_ABORTED);
    assert.is(during.maybeExecuted, true);
    // The client still works after all that.
    assert.is(client.call("add", 2, 3), 5);
  } finally {
    client.close();
  }
});

test("no responders is ERR_RPC_NOT_CONNECTED with maybeExecuted false, within 50 ms (no retries)", async () => {
  const client = new Client(`${node.url}/nobody-serves-this`, { timeoutMs: 5000, retry: { maxAttempts: 1 } });
  try {
    await client.waitForConnection(5000);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const e = await rejection(client.asyncCall("add", 1, 2));
      times.push(performance.now() - t0);
      assert.is(e.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
      assert.is(e.maybeExecuted, false);
    }
    const sync = syncError(() => client.call("add", 1, 2));
    assert.is(sync.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
    assert.is(sync.maybeExecuted, false);
    // The median of five: one slow turn of a busy machine does not fail it (a round trip
    // to a loopback nats-server takes about 1 ms; the timeout is 5000).
    times.sort((a, b) => a - b);
    assert.ok(times[2]! < 50, `no responders took ${times.map((t) => t.toFixed(1)).join(", ")} ms`);
  } finally {
    client.close();
  }
});

test("no responders is sent again after a backoff, as the retry policy says, within the deadline", async () => {
  const lonely = `/${uniqueName("nats-late").slice(1)}`;
  const policy = { maxAttempts: 5, initialBackoffMs: 400, maxBackoffMs: 400, backoffMultiplier: 1 };
  const client = new Client(`${node.url}${lonely}`, { timeoutMs: 10_000, retry: policy });
  const retries: Array<{ failedAttempt: number; code: string; maybeExecuted: boolean }> = [];
  try {
    // Nobody there at all: every attempt made, then the failure with its count.
    client.on("retry", (r) => retries.push(r));
    const e = await rejection(client.asyncCall("add", 1, 2));
    assert.is(e.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
    assert.is(e.maybeExecuted, false);
    assert.is(e.attempts, 5);
    assert.equal(retries.map((r) => r.failedAttempt), [1, 2, 3, 4]);
    assert.ok(retries.every((r) => r.code === ErrorCodes.ERR_RPC_NOT_CONNECTED && !r.maybeExecuted));
    const s = syncError(() => client.call("add", 1, 2));
    assert.is(s.attempts, 5);
    // A responder that subscribes after the first failure: the re-send reaches it (the
    // backoffs are up to 400 ms each; the subscription takes a round trip).
    retries.length = 0;
    let sub: ReturnType<NatsConnection["subscribe"]> | undefined;
    client.once("retry", () => {
      sub = raw.subscribe(`shmrpc.${lonely.slice(1)}.add`, { callback: (_err, msg) => void msg.respond(codec.encode(42, 1 << 20, "result")) });
    });
    const late = client.asyncCall("add", 1, 2);
    const value = await late.catch((err: RpcError) => err);
    assert.is(value, 42);
    sub?.unsubscribe();
    assert.ok(retries.length >= 1, "the first attempt found nobody");
  } finally {
    client.close();
  }
});

test("a slow but live handler: an idempotent call is sent again after retry.attemptTimeoutMs and answered; late answers dropped, nothing left behind; a non-idempotent one runs once", async () => {
  // attemptTimeoutMs 200 against a handler that takes 600 ms: attempts 1 and 2 are given up
  // at 200 ms each, the last attempt has the rest of the 10 s deadline.
  const client = new Client(url, { timeoutMs: 10_000, retry: { attemptTimeoutMs: 200, maxAttempts: 3 } });
  const retries: Array<{ failedAttempt: number; code: string; maybeExecuted: boolean }> = [];
  client.on("retry", (r) => retries.push(r));
  const runs = async () => (await client.stats()).endpoints.find((e) => e.name === "delayed")?.num_requests ?? 0;
  // The library's reply inbox (one subscription, muxing requests by token) and the
  // connection's subscriptions: what a late answer or an abandoned attempt could leak.
  const inner = () => (client as unknown as { transport: { nc: { protocol: { muxSubscriptions: { size(): number }; subscriptions: { size(): number } } } } }).transport.nc.protocol;
  try {
    const r0 = await runs();
    const subs0 = inner().subscriptions.size();
    const idem = client.withOptions({ idempotent: true });
    assert.is(await idem.asyncCall("delayed", 600, "slow"), "slow");
    assert.equal(retries.map((r) => [r.failedAttempt, r.code, r.maybeExecuted]), [[1, ErrorCodes.ERR_RPC_TIMEOUT, true], [2, ErrorCodes.ERR_RPC_TIMEOUT, true]]);
    // The abandoned attempts ran too (idempotent allows it); their answers come later.
    await until(async () => (await runs()) - r0 === 3, 5000, "three runs of the handler");
    await until(() => inner().muxSubscriptions.size() === 0, 5000, "no request left waiting in the reply inbox");
    assert.is(inner().subscriptions.size(), subs0, "no subscription added");

    // Synchronously: the same through the worker thread.
    retries.length = 0;
    const r1 = await runs();
    assert.is(idem.call("delayed", 600, "sync"), "sync");
    assert.equal(retries.map((r) => [r.failedAttempt, r.code]), [[1, ErrorCodes.ERR_RPC_TIMEOUT], [2, ErrorCodes.ERR_RPC_TIMEOUT]]);
    await until(async () => (await runs()) - r1 === 3, 5000, "three runs of the handler (sync)");

    // Not idempotent: one attempt for the whole deadline, one run, no retry.
    retries.length = 0;
    const r2 = await runs();
    assert.is(await client.asyncCall("delayed", 600, "once"), "once");
    assert.is(client.call("delayed", 600, "once sync"), "once sync");
    assert.is(retries.length, 0);
    assert.is((await runs()) - r2, 2);

    // All attempts slower than the deadline: the call fails at its deadline with ERR_RPC_TIMEOUT
    // and the attempts it made.
    const short = client.withOptions({ idempotent: true, timeoutMs: 700 });
    const t0 = performance.now();
    const e = await rejection(short.asyncCall("delayed", 2000, "late"));
    assert.is(e.code, ErrorCodes.ERR_RPC_TIMEOUT);
    assert.is(e.maybeExecuted, true);
    assert.is(e.attempts, 3);
    // Margin for a busy machine's timers: 1 s past the 700 ms deadline.
    assert.ok(performance.now() - t0 < 1700, `took ${(performance.now() - t0).toFixed(0)} ms`);
  } finally {
    client.close();
  }
});

test("retry.attemptTimeoutMs is checked: a negative, non-number or too large value is ERR_RPC_INVALID_ARGUMENT naming it; 0 turns it off", async () => {
  for (const bad of [-1, "100", Number.NaN, 2 ** 31]) {
    try {
      new Client(url, { retry: { attemptTimeoutMs: bad as number } }).close();
      assert.unreachable(`attemptTimeoutMs ${String(bad)} was taken`);
    } catch (e) {
      assert.instance(e, RpcError);
      assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
      assert.match((e as RpcError).message, /retry\.attemptTimeoutMs/);
    }
  }
  // Off: an idempotent call to a slow handler waits for its one answer.
  const client = new Client(url, { timeoutMs: 10_000, retry: { attemptTimeoutMs: 0 } });
  let retried = 0;
  client.on("retry", () => retried++);
  try {
    assert.is(await client.withOptions({ idempotent: true }).asyncCall("delayed", 300, "off"), "off");
    assert.is(retried, 0);
  } finally {
    client.close();
  }
});

test("close() with async handlers running: their calls fail at once with ERR_RPC_DISCONNECTED (maybeExecuted true), idempotent ones go on at another replica, the server exits", async () => {
  const shared = uniqueName("nats-close");
  const first = await spawnFixture("nats-server.js", [shared, JSON.stringify(node.url)]);
  const second = await spawnFixture("nats-server.js", [shared, JSON.stringify(node.url), JSON.stringify({ socketPath: `/tmp/${shared.slice(1)}-2.sock` })]);
  // No attempt timeout: only the close can end the first replica's calls early.
  const client = new Client(`${node.url}${shared}`, { timeoutMs: 20_000, retry: { attemptTimeoutMs: 0 } });
  const retries: Array<{ code: string }> = [];
  client.on("retry", (r) => retries.push(r));
  try {
    const seen = new Set<number>();
    await until(async () => {
      seen.add(await client.asyncCall<number>("pid"));
      return seen.size === 2;
    }, 10_000, "both replicas answering");
    // 20 calls of each kind that take 3 s: about half go to the first replica.
    const lone = Array.from({ length: 20 }, (_, i) => client.asyncCall("delayed", 3000, i).then((v) => ({ v }), (e: RpcError) => ({ e })));
    const idem = Array.from({ length: 20 }, (_, i) => client.withOptions({ idempotent: true }).asyncCall("delayed", 3000, i));
    await until(async () => (await client.stats()).endpoints.find((e) => e.name === "delayed")!.in_flight >= 10, 5000, "calls running at the first replica");
    const t0 = performance.now();
    assert.is(await stopServer(first), 0, "the closed server exits 0");
    const closedAfter = performance.now() - t0;
    const outcomes = await Promise.all(lone);
    const failed = outcomes.filter((o): o is { e: RpcError } => "e" in o);
    assert.ok(failed.length > 0, "some plain calls were at the closed replica");
    for (const { e } of failed) {
      assert.is(e.code, ErrorCodes.ERR_RPC_DISCONNECTED);
      assert.is(e.maybeExecuted, true);
      assert.match(e.message, /closed while the call was running/);
    }
    // Answered by the survivor, re-sent there after the disconnect.
    assert.equal(await Promise.all(idem), Array.from({ length: 20 }, (_, i) => i));
    assert.ok(retries.some((r) => r.code === ErrorCodes.ERR_RPC_DISCONNECTED), "idempotent calls were re-sent after the close");
    // Closing did not wait for the 3 s handlers (margin for a busy machine: 2.5 s).
    assert.ok(closedAfter < 2500, `close took ${closedAfter.toFixed(0)} ms`);
  } finally {
    client.close();
    first.kill();
    assert.is(await stopServer(second), 0);
  }
});

test("events: connect and disconnect of the NATS connection, for a nats:// client and a locality client's NATS side, as its nats-server is killed and restarted on the same port", async () => {
  const own = await startNats();
  const port = own.port;
  let restarted: NatsNode | undefined;
  const served = uniqueName("nats-events");
  // Served over NATS only as far as the locality client can tell: its socket is elsewhere.
  const srv = await spawnFixture("nats-server.js", [served, JSON.stringify(own.url), JSON.stringify({ socketPath: `/tmp/${served.slice(1)}.sock` })]);
  const remote = new Client(`${own.url}${served}`, { timeoutMs: 5000 });
  const local = new Client(served, { nats: own.url, timeoutMs: 5000 });
  const seen: Record<string, Array<[string, Record<string, unknown>]>> = { remote: [], local: [] };
  for (const [key, client] of [["remote", remote], ["local", local]] as const) {
    client.on("connect", (info) => seen[key]!.push(["connect", info]));
    client.on("disconnect", (info) => seen[key]!.push(["disconnect", info]));
  }
  const address = `127.0.0.1:${port}`;
  try {
    assert.is(await remote.asyncCall("add", 1, 2), 3);
    assert.is(await local.asyncCall("add", 2, 2), 4);
    for (const key of ["remote", "local"]) assert.equal(seen[key], [["connect", { nats: address }]], key);

    own.proc.kill("SIGKILL");
    await until(() => seen.remote!.length === 2 && seen.local!.length === 2, 10_000, "disconnect events");
    for (const key of ["remote", "local"]) {
      const [kind, info] = seen[key]![1]!;
      assert.is(kind, "disconnect");
      assert.is(info.nats, address);
      assert.match(String(info.reason), /lost/);
    }
    // The library reconnects by itself once a nats-server listens there again.
    restarted = await startNats(["-p", String(port)]);
    assert.is(restarted.port, port);
    await until(() => seen.remote!.length === 3 && seen.local!.length === 3, 10_000, "connect events after the restart");
    for (const key of ["remote", "local"]) assert.equal(seen[key]![2], ["connect", { nats: address }], key);
    // Calls go through again once the server process has resubscribed too.
    await until(async () => (await remote.asyncCall("add", 1, 1).catch(() => 0)) === 2, 10_000, "calls after the restart");

    remote.close();
    assert.equal(seen.remote!.at(-1), ["disconnect", { nats: address, reason: "the client closed" }]);
    assert.is(seen.remote!.length, 4, "nothing more");
  } finally {
    remote.close();
    local.close();
    srv.kill();
    await restarted?.stop();
    await own.stop();
  }
});

test("no NATS server at the address is ERR_RPC_NOT_CONNECTED, nothing sent", async () => {
  const gone = await startNats();
  const address = gone.url;
  await gone.stop();
  const client = new Client(`${address}${name}`, { timeoutMs: 2000 });
  try {
    const e = await rejection(client.asyncCall("add", 1, 2));
    assert.is(e.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
    assert.is(e.maybeExecuted, false);
    const s = syncError(() => client.call("add", 1, 2));
    assert.is(s.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
    assert.is(s.maybeExecuted, false);
  } finally {
    client.close();
  }
});

test("proxy(contract), describe() and stats() work over NATS; stats counts both transports", async () => {
  const { defineContract } = await import("../src/index.js");
  const v = await import("valibot");
  const contract = defineContract({ half: { args: v.tuple([v.number()]), result: v.number() } });
  const client = new Client(url, { timeoutMs: 5000 });
  const local = new Client(name);
  try {
    assert.is(await client.proxy(contract).half(9), 4.5);
    assert.is(client.proxy(contract, { sync: true }).half(3), 1.5);
    const d = await client.describe();
    assert.is(d.name, name);
    assert.ok(d.methods.some((m) => m.name === "half"));
    const count = async () => (await client.stats()).endpoints.find((e) => e.name === "add")!.num_requests;
    const n0 = await count();
    await local.asyncCall("add", 1, 1);
    await client.asyncCall("add", 1, 1);
    assert.is(await count(), n0 + 2);
  } finally {
    client.close();
    local.close();
  }
});

const schemas = new Ajv({ strict: false });
(addFormats as unknown as (a: Ajv) => void)(schemas);
const schemaDir = join(FIXTURES, "..", "..", "..", "tests", "fixtures", "adr32");
const validate = Object.fromEntries(["ping", "info", "stats"].map((k) => [k, schemas.compile(JSON.parse(readFileSync(join(schemaDir, `${k}_response.json`), "utf8")))]));

test("$SRV.PING, INFO and STATS answer on all three subjects with the ADR-32 fields, valid against its JSON schemas", async () => {
  const ping = JSON.parse(new TextDecoder().decode((await raw.request(`$SRV.PING.${service}`, undefined, { timeout: 5000 })).data));
  const id = ping.id as string;
  for (const verb of ["PING", "INFO", "STATS"]) {
    for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${service}`, `$SRV.${verb}.${service}.${id}`]) {
      const body = JSON.parse(new TextDecoder().decode((await raw.request(subject, undefined, { timeout: 5000 })).data));
      const check = validate[verb.toLowerCase()]!;
      assert.ok((check as (d: unknown) => boolean)(body), `${subject}: ${JSON.stringify(check.errors)}`);
      assert.is(body.type, `io.nats.micro.v1.${verb.toLowerCase()}_response`);
      assert.is(body.name, service);
      assert.is(body.id, id);
      assert.is(body.metadata["shmrpc.name"], name);
    }
  }
  const info = JSON.parse(new TextDecoder().decode((await raw.request(`$SRV.INFO.${service}`, undefined, { timeout: 5000 })).data));
  const odd = info.endpoints.find((e: { metadata: Record<string, string> }) => e.metadata["shmrpc.method"] === "my method.with dots");
  assert.ok(odd && /^[A-Za-z0-9_-]+$/.test(odd.name), "a method name outside ADR-32's alphabet is encoded");
  assert.is(odd.queue_group, "q");
  // The subject INFO gives is where the method answers.
  const reply = await raw.request(odd.subject, argBytes(), { timeout: 5000 });
  assert.is(reply.headers?.has("Nats-Service-Error") ?? false, false);
  assert.is(codec.decode(reply.data), "odd names travel too");
  assert.ok(!info.endpoints.some((e: { metadata: Record<string, string> }) => e.metadata["shmrpc.method"].startsWith("$")), "the server's own methods are not endpoints");
});

test("$SRV.STATS counts the errors and the processing time of async handlers", async () => {
  const client = new Client(url, { timeoutMs: 5000 });
  const stats = async (method: string) => {
    const body = JSON.parse(new TextDecoder().decode((await raw.request(`$SRV.STATS.${service}`, undefined, { timeout: 5000 })).data));
    return body.endpoints.find((e: { name: string }) => e.name === method);
  };
  try {
    const f0 = await stats("failLater");
    for (let i = 0; i < 3; i++) await rejection(client.asyncCall("failLater", `no ${i}`));
    const f1 = await stats("failLater");
    assert.is(f1.num_requests - f0.num_requests, 3);
    assert.is(f1.num_errors - f0.num_errors, 3);
    assert.is(f1.last_error, "RangeError: no 2");
    const d0 = await stats("delayed");
    await Promise.all([client.asyncCall("delayed", 60, 1), client.asyncCall("delayed", 60, 2)]);
    const d1 = await stats("delayed");
    // Two calls of at least 60 ms each (timers never fire early; 1 ms slack for clock rounding).
    assert.ok(d1.processing_time - d0.processing_time >= 2 * 59e6, `processing_time grew by ${d1.processing_time - d0.processing_time} ns`);
    assert.ok(d1.average_processing_time >= 59e6 / 2);
  } finally {
    client.close();
  }
});

test("garbage published to the endpoints and to $SRV by a raw client does not crash the server", async () => {
  const rand = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));
  const subjects = [`shmrpc.${service}.add`, `shmrpc.${service}.echo`, `shmrpc.${service}.nope`, `shmrpc.${service}._%%%`,
    `shmrpc.${service}._${"A".repeat(400)}`, `$SRV.PING.${service}`, `$SRV.STATS.${service}`];
  const codes = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const subject = subjects[i % subjects.length]!;
    const data = i % 3 === 0 ? new Uint8Array(0) : rand(1 + (i % 200));
    if (i % 2 === 0) {
      raw.publish(subject, data); // no reply subject
      continue;
    }
    const h = headers();
    if (i % 5 === 0) h.set("Nats-Service-Error-Code", "500");
    const reply = await raw.request(subject, data, { timeout: 5000, headers: h });
    const code = reply.headers?.get("Shmrpc-Error");
    if (code) codes.add(code);
  }
  assert.ok(codes.has(ErrorCodes.ERR_RPC_PROTOCOL), `undecodable arguments are refused with ERR_RPC_PROTOCOL (got ${[...codes]})`);
  const client = new Client(url, { timeoutMs: 5000 });
  try {
    assert.is(await client.asyncCall("add", 20, 22), 42);
    assert.is(server.proc.exitCode, null);
  } finally {
    client.close();
  }
});

test("a rogue responder's garbage replies fail the call with a code, never the client", async () => {
  const sub = raw.subscribe("shmrpc.rogue.*", {
    callback: (_err, msg) => {
      const h = headers();
      switch (msg.subject.split(".")[2]) {
        case "bytes":
          msg.respond(new Uint8Array([0xff, 0x13, 0x37]));
          return;
        case "empty":
          msg.respond(new Uint8Array(0));
          return;
        case "fakecode":
          h.set("Nats-Service-Error", "rogue");
          h.set("Shmrpc-Error", "ERR_NOT_A_CODE");
          msg.respond(new Uint8Array([0xff]), { headers: h });
          return;
        case "status404":
          h.set("Nats-Service-Error-Code", "404");
          msg.respond(undefined, { headers: h });
          return;
      }
    },
  });
  await raw.flush();
  const client = new Client(`${node.url}/rogue`, { timeoutMs: 5000 });
  try {
    assert.is((await rejection(client.asyncCall("bytes"))).code, ErrorCodes.ERR_RPC_PROTOCOL, "bytes");
    assert.is((await rejection(client.asyncCall("empty"))).code, ErrorCodes.ERR_RPC_PROTOCOL);
    // (No synchronous call here: the rogue answers from this thread, which it would block.)
    const fake = await rejection(client.asyncCall("fakecode"));
    assert.is(fake.code, ErrorCodes.ERR_RPC_REMOTE, "an unknown code falls back to the status (none: 500)");
    assert.is((await rejection(client.asyncCall("status404"))).code, ErrorCodes.ERR_RPC_METHOD_NOT_FOUND);
  } finally {
    client.close();
    sub.unsubscribe();
  }
});

test("importing shmrpc does not load the NATS library; a NATS call does", async () => {
  const script = `
    import { createRequire } from "node:module";
    const require = createRequire(import.meta.url);
    const loaded = () => Object.keys(require.cache).some((k) => k.includes("@nats-io"));
    const { Client, Server } = await import(${JSON.stringify(join(FIXTURES, "..", "..", "src", "index.js"))});
    const before = loaded();
    new Server("/unused-nats-import-check", { nats: "nats://127.0.0.1:1" });
    const afterServer = loaded();
    const c = new Client(${JSON.stringify(url)}, { timeoutMs: 5000 });
    await c.asyncCall("add", 1, 2);
    console.log(JSON.stringify([before, afterServer, loaded()]));
    c.close();`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  await new Promise((r) => child.on("exit", r));
  assert.equal(JSON.parse(out.trim()), [false, false, true]);
});

test("bad credentials are ERR_RPC_ACCESS_DENIED for clients (async and sync) and fail the server's run()", async () => {
  const guarded = await startNats(["--user", "alice", "--pass", "s3cret"]);
  const tokenNode = await startNats(["--auth", "t0ken"]);
  const guardedName = uniqueName("nats-auth");
  const good = await spawnFixture("nats-server.js", [guardedName, JSON.stringify({ servers: guarded.url, user: "alice", pass: "s3cret" })]);
  try {
    const wrong = new Client(`${guarded.url}${guardedName}`, { timeoutMs: 5000, nats: { user: "alice", pass: "nope" } });
    const e = await rejection(wrong.asyncCall("add", 1, 2));
    assert.is(e.code, ErrorCodes.ERR_RPC_ACCESS_DENIED);
    assert.is(e.maybeExecuted, false);
    const s = syncError(() => wrong.call("add", 1, 2));
    assert.is(s.code, ErrorCodes.ERR_RPC_ACCESS_DENIED);
    wrong.close();
    const none = new Client(`${guarded.url}${guardedName}`, { timeoutMs: 5000 });
    assert.is((await rejection(none.asyncCall("add", 1, 2))).code, ErrorCodes.ERR_RPC_ACCESS_DENIED);
    none.close();
    const inUrl = new Client(`nats://alice:s3cret@127.0.0.1:${guarded.port}${guardedName}`, { timeoutMs: 5000 });
    assert.is(await inUrl.asyncCall("add", 1, 2), 3);
    assert.is(inUrl.call("add", 2, 2), 4);
    inUrl.close();
    const tokenWrong = new Client(`${tokenNode.url}${guardedName}`, { timeoutMs: 5000, nats: { token: "bad" } });
    assert.is((await rejection(tokenWrong.asyncCall("add", 1, 2))).code, ErrorCodes.ERR_RPC_ACCESS_DENIED);
    tokenWrong.close();
    // A server with the wrong password does not start.
    const refused = spawnFixture("nats-server.js", [uniqueName("nats-refused"), JSON.stringify({ servers: guarded.url, user: "alice", pass: "x" })], "run failed");
    const child = await refused;
    await child.exited;
    assert.match(child.output(), /run failed ERR_RPC_ACCESS_DENIED/);
  } finally {
    await stopServer(good);
    await guarded.stop();
    await tokenNode.stop();
  }
});

test("several callers at once: thousands of asyncCalls in flight all arrive in their callers", async () => {
  const client = new Client(url, { timeoutMs: 20_000 });
  try {
    const results = await Promise.all(Array.from({ length: 3000 }, (_, i) => client.asyncCall<number>("add", i, 1)));
    results.forEach((r, i) => assert.is(r, i + 1));
  } finally {
    client.close();
  }
});

nats.run();

void until;
