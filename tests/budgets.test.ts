// What one client may make the server hold, per connection and per user (src/serving/
// budgets.ts), reproduced at small scale with small budgets: the offender gets
// ERR_RPC_RESOURCE_EXHAUSTED (or holds nothing more), bystanders keep working. The server
// runs here, so that its counters can be read; attackers are processes of their own.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, type RpcError } from "../src/index.js";
import { killAll, spawnFixture, uniqueName, until, type Child } from "./helpers.js";

const MiB = 1 << 20;

function internals(server: Server): { reassembly: number } {
  return (server as unknown as { serving: { budgets: { reassembly: number } } }).serving.budgets;
}

const budgets = suite("budgets");
budgets.after(() => killAll());

budgets("unfinished fragmented requests hold at most the user's reassembly budget; a request over it gets ERR_RPC_RESOURCE_EXHAUSTED, new clients and small calls go on", async () => {
  const name = uniqueName("reassembly");
  const errors: RpcError[] = [];
  const server = new Server(name, { maxReassemblyBytes: 16 * MiB, maxReassemblyBytesPerUser: 8 * MiB, onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => a + b);
  server.bind("echo", (x: unknown) => x);
  const done = server.run();
  const attackers: Child[] = [];
  const client = new Client(name, { timeoutMs: 20_000 });
  let highest = 0;
  const watch = setInterval(() => (highest = Math.max(highest, internals(server).reassembly)), 1);
  try {
    await client.waitForConnection(5000);
    // Five clients each leave 3 MiB of a 64 MiB request unfinished (the review: 28 of
    // them filled the 2 GiB WebAssembly memory and every new client was refused).
    for (let i = 0; i < 5; i++) attackers.push(await spawnFixture("hostile-client.js", [name, "unfinished", String(3 * MiB)], "attacked", 30_000));
    assert.ok(internals(server).reassembly <= 8 * MiB, `${internals(server).reassembly} bytes held`);
    // A new client connects, and small calls go on.
    const late = await spawnFixture("try-call.js", [name, "add", "[2,3]"], "result", 20_000);
    assert.match(late.output(), "result 5");
    assert.is(await client.asyncCall("add", 1, 2), 3);
    // A complete big request of the same user while its budget is full is refused.
    const big = Buffer.alloc(2 * MiB, 7);
    const e = await client.asyncCall("echo", big).then(() => undefined, (x: RpcError) => x);
    assert.is(e?.code, "ERR_RPC_RESOURCE_EXHAUSTED", `the big request got ${e?.code ?? "its answer"}`);
    assert.is(await client.asyncCall("add", 1, 2), 3, "the connection goes on");
    // The attackers gone, their memory leaves the budget and big requests pass again.
    for (const a of attackers) a.kill();
    await Promise.all(attackers.map((a) => a.exited));
    await until(() => internals(server).reassembly === 0, 10_000, "the attackers' bytes to leave the budget");
    assert.ok((await client.asyncCall<Buffer>("echo", big)).equals(big));
    assert.ok(highest <= 8 * MiB, `the budget was exceeded: ${highest} bytes held at once`);
  } finally {
    clearInterval(watch);
    for (const a of attackers) a.kill();
    client.close();
    await server.close();
    await done;
  }
});

budgets("calls in flight beyond maxInflightPerConnection are answered ERR_RPC_RESOURCE_EXHAUSTED without running; another connection is not affected", async () => {
  const name = uniqueName("inflight");
  const server = new Server(name, { maxInflightPerConnection: 50 });
  let started = 0;
  server.bind("never", () => (started++, new Promise(() => {})));
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const offender = new Client(name, { timeoutMs: 60_000 });
  const bystander = new Client(name, { timeoutMs: 60_000 });
  try {
    await offender.waitForConnection(5000);
    await bystander.waitForConnection(5000);
    const codes: string[] = [];
    for (let i = 0; i < 60; i++) offender.asyncCall("never").catch((e: RpcError) => codes.push(e.code));
    await until(() => codes.length === 10, 10_000, "the calls over the limit to be refused");
    assert.equal([...new Set(codes)], ["ERR_RPC_RESOURCE_EXHAUSTED"]);
    await until(() => started === 50, 10_000, "the 50 calls within the limit to run");
    // Any further call of the offender is refused while it is at its limit (whether a
    // handler returns a promise is known only once it has run); the bystander's calls,
    // in flight too, go on.
    const e = await offender.asyncCall("add", 1, 2).then(() => undefined, (x: RpcError) => x);
    assert.is(e?.code, "ERR_RPC_RESOURCE_EXHAUSTED");
    const theirs: string[] = [];
    for (let i = 0; i < 40; i++) bystander.asyncCall("never").catch((e: RpcError) => theirs.push(e.code));
    await until(() => started === 90, 10_000, "the bystander's calls to run");
    assert.is(await bystander.asyncCall("add", 2, 2), 4);
    assert.equal(theirs, []);
  } finally {
    offender.close();
    bystander.close();
    await server.close();
    await done;
  }
});


budgets("answers left unread by several clients stay within maxQueuedBytesTotal: the client with the most queued is dropped, a bystander's big answers go on", async () => {
  const name = uniqueName("queued");
  const errors: RpcError[] = [];
  const server = new Server(name, { maxQueuedBytesTotal: 20 * MiB, onError: (e) => errors.push(e) });
  server.bind("bytes", (n: number) => Buffer.alloc(n, 1));
  const done = server.run();
  const queued = () => (server as unknown as { serving: { conns: { channel: { queuedBytes: number } }[] } }).serving.conns.reduce((a, c) => a + c.channel.queuedBytes, 0);
  const readers: Child[] = [];
  const client = new Client(name, { timeoutMs: 20_000 });
  try {
    await client.waitForConnection(5000);
    // Four clients each leave an 8 MiB answer unread (each under maxQueuedBytes, which
    // always allows one message; the review: 8 unread 100 MiB answers added 897 MB).
    for (let i = 0; i < 4; i++) readers.push(await spawnFixture("unread.js", [name, String(8 * MiB)]));
    const dropped = () => errors.filter((e) => e.code === "ERR_RPC_RESOURCE_EXHAUSTED" && /maxQueuedBytesTotal/.test(e.message));
    await until(() => dropped().length >= 2, 20_000, "the server to drop the clients with the most unread");
    assert.ok(queued() <= 20 * MiB, `${queued()} bytes queued`);
    for (const e of dropped()) assert.ok(readers.some((r) => e.message.includes(`client ${r.pid} `)), `a bystander was dropped: ${e.message}`);
    // The bystander's own big answers go on.
    for (let i = 0; i < 3; i++) assert.is((await client.asyncCall<Buffer>("bytes", 4 * MiB)).length, 4 * MiB);
  } finally {
    for (const r of readers) r.kill();
    client.close();
    await server.close();
    await done;
  }
});

budgets.run();
