// Streams over NATS and through the locality switch: the same handlers and loop as over
// shared memory (tests/streams.test.ts), items published to the caller's inbox with credit
// messages back; a replica killed (-9) mid-stream ends the loop with ERR_RPC_TIMEOUT or
// ERR_RPC_DISCONNECTED, never a hang. Servers and nats-server in separate processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../src/index.js";
import { STREAM_WINDOW_ITEMS } from "../src/calls/stream.js";
import { ARG_WINDOW_ITEMS } from "../src/protocol.js";
import { expectLine, killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startCluster, startNats, type NatsNode } from "./nats-helpers.js";
import { drain, guarded, sourceFailuresReachTheHandler } from "./stream-helpers.js";

const streams = suite("streams over NATS");
const name = uniqueName("nstrm");
let node: NatsNode;
let server: Child;
let client: Client;
let setupError: unknown;

streams.before(async () => {
  try {
    node = await startNats();
    server = await spawnFixture("stream-server.js", [name, JSON.stringify({ nats: node.url })]);
    client = new Client(`${node.url}${name}`, { timeoutMs: 10_000 });
  } catch (e) {
    setupError = e;
  }
});
streams.after(async () => {
  client?.close();
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
    await node?.stop();
  }
});
const test = guarded(streams, () => setupError);

test("a generator's items arrive in order over NATS, then its return value", async () => {
  const it = client.stream<number>("count", 1000);
  for (let i = 0; i < 1000; i++) assert.equal(await it.next(), { value: i, done: false });
  assert.equal(await it.next(), { value: "1000 sent", done: true });
  assert.equal((await drain(client.stream("web", 3))).items, [0, 1, 2]);
});

test("a handler's error ends the loop with its code after the items before it; an unknown method too", async () => {
  const { items, err } = await drain(client.stream("failAfter", 3));
  assert.equal(items, [0, 1, 2]);
  assert.is(err?.code, "ERR_RPC_REMOTE");
  assert.is((await drain(client.stream("nope"))).err?.code, "ERR_RPC_METHOD_NOT_FOUND");
});

test("a slow loop holds the producer within the credit window over NATS, and taking items resumes it", async () => {
  const it = client.stream<number>("numbers", "nheld");
  for (let i = 0; i < 10; i++) assert.equal(await it.next(), { value: i, done: false });
  await until(async () => (await client.asyncCall<number>("produced", "nheld")) >= STREAM_WINDOW_ITEMS, 5000, "the producer fills the window");
  const ahead = await client.asyncCall<number>("produced", "nheld");
  assert.ok(ahead <= 10 + STREAM_WINDOW_ITEMS + 1, `produced ${ahead} with 10 taken`);
  assert.equal((await drain(client.stream("count", 300))).items.length, 300, "another stream goes on meanwhile");
  // Held: 100 ms later, nothing more (a producer not held makes thousands of items in that time).
  await new Promise((r) => setTimeout(r, 100));
  assert.is(await client.asyncCall<number>("produced", "nheld"), ahead);
  for (let i = 10; i < 1500; i++) assert.equal((await it.next()).value, i);
  const from = server.output().length;
  await it.return();
  await expectLine(server, "finally nheld", from);
});

test("break, abort and the deadline end the stream on the server (finally runs, ctx.signal aborts)", async () => {
  let from = server.output().length;
  assert.equal((await drain(client.stream<number>("numbers", "nbreak"), 3)).items, [0, 1, 2]);
  await expectLine(server, "finally nbreak", from);
  from = server.output().length;
  const ac = new AbortController();
  const it = client.withOptions({ signal: ac.signal }).stream<number>("watch", "nabort");
  assert.equal(await it.next(), { value: 0, done: false });
  ac.abort();
  assert.is((await drain(it)).err?.code, "ERR_RPC_ABORTED");
  assert.is(await expectLine(server, "aborted nabort", from), "ERR_RPC_ABORTED");
  await expectLine(server, "finally nabort", from);
  from = server.output().length;
  const { items, err } = await drain(client.withOptions({ timeoutMs: 300 }).stream<number>("watch", "ndeadline"));
  assert.is(err?.code, "ERR_RPC_TIMEOUT");
  assert.ok(items.length >= 1);
  assert.is(await expectLine(server, "aborted ndeadline", from), "ERR_RPC_TIMEOUT");
  await expectLine(server, "finally ndeadline", from);
});

test("a replica killed (-9) mid-stream ends the loop with ERR_RPC_TIMEOUT or ERR_RPC_DISCONNECTED within its deadline", async () => {
  const lone = uniqueName("nstrmk");
  const victim = await spawnFixture("stream-server.js", [lone, JSON.stringify({ nats: node.url, replica: true })]);
  const c = new Client(`${node.url}${lone}`, { timeoutMs: 10_000 });
  try {
    const start = performance.now();
    const it = c.withOptions({ timeoutMs: 1500 }).stream<number>("watch", "nvictim");
    assert.equal(await it.next(), { value: 0, done: false });
    victim.kill("SIGKILL");
    const { err } = await drain(it);
    const took = performance.now() - start;
    assert.ok(err?.code === "ERR_RPC_TIMEOUT" || err?.code === "ERR_RPC_DISCONNECTED", String(err?.code));
    assert.ok(took < 1500 + 2000, `ended after ${Math.round(took)} ms (deadline 1500, margin 2000 for a busy host)`);
  } finally {
    c.close();
    victim.kill();
  }
});

test("through the locality switch: over NATS when no instance is on this host", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shmrpc-strm-"));
  const far = uniqueName("lstrm");
  const remote = await spawnFixture("stream-server.js", [far, JSON.stringify({ nats: node.url, replica: true, socketPath: join(dir, "remote.sock") })]);
  const c = new Client(far, { nats: node.url, timeoutMs: 5000 });
  try {
    const { items, err } = await drain(c.stream<number>("count", 50));
    assert.is(err, undefined);
    assert.equal(items, Array.from({ length: 50 }, (_, i) => i));
  } finally {
    c.close();
    await stopServer(remote);
    rmSync(dir, { recursive: true, force: true });
  }
});

async function* upTo(n: number): AsyncGenerator<number> {
  for (let i = 1; i <= n; i++) yield i;
}

test("over NATS, an async-iterable argument is streamed (client streams), and with a streamed result both flow", async () => {
  assert.is(await client.asyncCall("sum", upTo(1000)), 500_500);
  assert.is(await client.asyncCall("sum", upTo(0)), 0);
  const got = (await drain(client.stream<string>("echo", upTo(300), "n"))).items;
  assert.equal(got, Array.from({ length: 300 }, (_, i) => `n${i + 1}`));
});

test("over NATS, a slow handler holds the caller's source within the argument window; a failing source and an abort fail its loop", async () => {
  let produced = 0;
  async function* endless(): AsyncGenerator<number> {
    for (;;) yield ++produced;
  }
  const call = client.asyncCall<number>("takeThenWait", endless(), 5, 300);
  await until(() => produced >= ARG_WINDOW_ITEMS, 5000, "the source fills the window");
  assert.is(await call, 5);
  assert.ok(produced <= ARG_WINDOW_ITEMS + 1, `produced ${produced} with a window of ${ARG_WINDOW_ITEMS}`);
  await sourceFailuresReachTheHandler(client, server, "n");
});

test("a 3-node cluster, two replicas: the one streaming is killed (-9); the loop ends with ERR_RPC_TIMEOUT or ERR_RPC_DISCONNECTED, and the next stream goes to the other", async () => {
  const nodes = await startCluster();
  const [n1, n2, n3] = nodes as [NatsNode, NatsNode, NatsNode];
  const far = uniqueName("cstrm");
  const a = await spawnFixture("stream-server.js", [far, JSON.stringify({ nats: n1.url, replica: true })]);
  const b = await spawnFixture("stream-server.js", [far, JSON.stringify({ nats: n2.url, replica: true })]);
  const c = new Client(`${n3.url}${far}`, { timeoutMs: 10_000 });
  try {
    // Both replicas' interest has reached the third node.
    const seen = new Set<number>();
    await until(async () => {
      try {
        seen.add(await c.asyncCall<number>("pid"));
      } catch {
        // no responders yet
      }
      return seen.has(a.pid) && seen.has(b.pid);
    }, 15_000, "both replicas answering through the cluster");
    const start = performance.now();
    const it = c.withOptions({ timeoutMs: 2000 }).stream<number>("watch", "cluster");
    assert.equal(await it.next(), { value: 0, done: false });
    const [victim, survivor] = a.output().includes("watching cluster") ? [a, b] : [b, a];
    victim.kill("SIGKILL");
    const { err } = await drain(it);
    const took = performance.now() - start;
    assert.ok(err?.code === "ERR_RPC_TIMEOUT" || err?.code === "ERR_RPC_DISCONNECTED", String(err?.code));
    assert.ok(took < 2000 + 2000, `ended after ${Math.round(took)} ms (deadline 2000, margin 2000 for a busy host)`);
    const next = await drain(c.stream<number>("count", 20));
    assert.is(next.err, undefined);
    assert.is(next.items.length, 20);
    assert.ok(survivor.proc.exitCode === null);
  } finally {
    c.close();
    a.kill();
    b.kill();
    await Promise.all(nodes.map((n) => n.stop()));
  }
});

streams.run();
