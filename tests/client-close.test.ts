// A closed Client: calls after close() fail at once with ERR_RPC_CLOSED (never sent, never
// retried), calls pending at close() fail with it too, and the disconnect event's reason
// says what happened.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, ErrorCodes, RpcError } from "../src/index.js";
import { killAll, rejection, spawnServer, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats } from "./nats-helpers.js";

const closing = suite("client close");
const name = uniqueName("close");
const replicated = uniqueName("close-rep");
let server: Child;
const replicas: Child[] = [];

closing.before(async () => {
  server = await spawnServer(name);
  replicas.push(await spawnServer(replicated, { replica: true }), await spawnServer(replicated, { replica: true }));
});
closing.after(async () => {
  for (const s of [server, ...replicas]) await stopServer(s);
  killAll();
});

function thrown(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected a throw");
}

/** Every kind of call on a closed client fails at once with ERR_RPC_CLOSED, never retried. */
async function assertClosed(client: Client): Promise<void> {
  const retries: unknown[] = [];
  client.on("retry", (r) => retries.push(r));
  const started = performance.now();
  const errors = [
    thrown(() => client.call("add", 1, 2)),
    thrown(() => client.withOptions({ idempotent: true }).call("add", 1, 2)),
    await rejection(client.asyncCall("add", 1, 2)),
    await rejection(client.withOptions({ idempotent: true }).asyncCall("add", 1, 2)),
    await rejection(client.describe()),
    await rejection(client.waitForConnection(1000)),
  ];
  const ms = performance.now() - started;
  for (const e of errors) {
    assert.is(e.code, ErrorCodes.ERR_RPC_CLOSED, e.message);
    assert.is(e.maybeExecuted, false, "never sent");
    assert.is(e.attempts, 1, "never retried");
  }
  assert.equal(retries, []);
  // At once: a retried call waits its backoff (10 ms and more) per attempt; margin for a busy machine.
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
}

closing("a call after close() fails at once with ERR_RPC_CLOSED: connected, never connected, replicated", async () => {
  const connected = new Client(name);
  assert.is(await connected.asyncCall("add", 1, 2), 3);
  connected.close();
  await assertClosed(connected);
  const fresh = new Client(name);
  fresh.close();
  await assertClosed(fresh);
  const rep = new Client(replicated);
  assert.is(await rep.asyncCall("add", 1, 2), 3);
  rep.close();
  await assertClosed(rep);
});

closing("a call pending at close() fails with ERR_RPC_CLOSED", async () => {
  const client = new Client(name);
  try {
    await client.waitForConnection(5000);
    const pending = rejection(client.asyncCall("delayed", 10_000, "late"));
    client.close();
    const e = await pending;
    assert.is(e.code, ErrorCodes.ERR_RPC_CLOSED);
    assert.is(e.maybeExecuted, true, "it was sent: it may run");
  } finally {
    client.close();
  }
});

closing("the disconnect reason is honest: closing with nothing pending says so, not 'while the call was pending'", async () => {
  const client = new Client(name);
  const reasons: string[] = [];
  client.on("disconnect", (d: { reason: string }) => reasons.push(d.reason));
  assert.is(await client.asyncCall("add", 1, 2), 3);
  client.close();
  await until(() => reasons.length > 0, 5000, "the disconnect event"); // emitted on the next tick
  assert.is(reasons.length, 1);
  assert.not.match(reasons[0]!, /pending/);
  assert.match(reasons[0]!, /closed/);
});

closing("over NATS: a call after close() fails at once with ERR_RPC_CLOSED", async () => {
  const node = await startNats();
  try {
    const client = new Client(`${node.url}/nobody-${process.pid}`, { timeoutMs: 2000 });
    client.close();
    const retries: unknown[] = [];
    client.on("retry", (r) => retries.push(r));
    for (const e of [await rejection(client.asyncCall("add", 1, 2)), await rejection(client.withOptions({ idempotent: true }).asyncCall("add", 1, 2)), thrown(() => client.call("add", 1, 2))]) {
      assert.is(e.code, ErrorCodes.ERR_RPC_CLOSED, e.message);
      assert.is(e.maybeExecuted, false);
    }
    assert.equal(retries, []);
  } finally {
    await node.stop();
  }
});

closing.run();
