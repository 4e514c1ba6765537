// A stream over NATS whose peer dies: each side probes the other when it has heard nothing
// for livenessMs (src/nats/liveness.ts), so a replica or a caller killed (-9) mid-stream ends
// the stream within about 2 × livenessMs, long before its deadline: ERR_RPC_DISCONNECTED on
// the caller; on the server its generator's finally runs and ctx.signal aborts. On a
// 3-node cluster (server and caller on different nodes), everything in separate processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, type RpcError } from "../src/index.js";
import { expectLine, killAll, spawnFixture, uniqueName, until, type Child } from "./helpers.js";
import { startCluster, type NatsNode } from "./nats-helpers.js";

const liveness = suite("stream liveness over NATS");
const LIVENESS_MS = 500;
/** What a busy host may add to the bound (timers late, the kill seen late by nats-server). */
const MARGIN_MS = 2500;
const DEADLINE_MS = 60_000;
let nodes: NatsNode[] = [];
let setupError: unknown;

liveness.before(async () => {
  try {
    nodes = await startCluster();
  } catch (e) {
    setupError = e;
  }
});
liveness.after(async () => {
  killAll();
  await Promise.all(nodes.map((n) => n.stop()));
});
const test = (title: string, fn: () => Promise<void>): void => {
  liveness(title, async () => {
    if (setupError !== undefined) throw setupError;
    await fn();
  });
};

/** A stream server on node `at` of the cluster. */
function serverOn(name: string, at: number): Promise<Child> {
  return spawnFixture("stream-server.js", [name, JSON.stringify({ nats: { servers: nodes[at]!.url, livenessMs: LIVENESS_MS }, replica: true })]);
}

/** A client of `name` through node `at`, its streams' deadline DEADLINE_MS. */
function clientOn(name: string, at: number): Client {
  return new Client(`${nodes[at]!.url}${name}`, { timeoutMs: DEADLINE_MS, nats: { livenessMs: LIVENESS_MS } });
}

/** Waits until `name` answers through `c` (the server's interest has reached c's node). */
async function reachable(c: Client): Promise<void> {
  await until(async () => {
    try {
      return typeof (await c.asyncCall("pid")) === "number";
    } catch {
      return false; // no responders yet
    }
  }, 15_000, "the server answering through the cluster");
}

test("a replica killed (-9) mid-stream: the loop fails with ERR_RPC_DISCONNECTED within 2 × livenessMs, items flowing or held", async () => {
  for (const held of [false, true]) {
    const name = uniqueName("live");
    const server = await serverOn(name, 0);
    const c = clientOn(name, 2);
    try {
      await reachable(c);
      // "watch": an item every 5 ms; "numbers" with a loop that stops reading: the producer is held, silent.
      const it = held ? c.stream<number>("numbers", "held") : c.stream<number>("watch", "flowing");
      for (let i = 0; i < 3; i++) assert.equal(await it.next(), { value: i, done: false });
      if (held) await until(async () => (await c.asyncCall<number>("produced", "held")) >= 256, 5000, "the window filled");
      server.kill("SIGKILL");
      const killed = performance.now();
      let err: RpcError | undefined;
      try {
        for (;;) if ((await it.next()).done) break;
      } catch (e) {
        err = e as RpcError;
      }
      const took = performance.now() - killed;
      assert.is(err?.code, "ERR_RPC_DISCONNECTED", String(err));
      console.log(`  killed replica, ${held ? "held" : "flowing"}: ended after ${Math.round(took)} ms`);
      assert.ok(took < 2 * LIVENESS_MS + MARGIN_MS, `${held ? "held" : "flowing"}: ended ${Math.round(took)} ms after the kill (bound ${2 * LIVENESS_MS} + margin ${MARGIN_MS}; deadline ${DEADLINE_MS})`);
    } finally {
      c.close();
      server.kill("SIGKILL");
    }
  }
});

test("a caller killed (-9) mid-stream: the server closes its generator and aborts ctx.signal (ERR_RPC_DISCONNECTED) within 2 × livenessMs, and serves on", async () => {
  const name = uniqueName("livec");
  const server = await serverOn(name, 0);
  const c = clientOn(name, 1);
  try {
    await reachable(c);
    const from = server.output().length;
    const reader = await spawnFixture("stream-client.js", [`${nodes[2]!.url}${name}`, "watch", JSON.stringify(["victim"]), JSON.stringify({ timeoutMs: DEADLINE_MS, nats: { livenessMs: LIVENESS_MS } })]);
    reader.kill("SIGKILL");
    const killed = performance.now();
    assert.is(await expectLine(server, "aborted victim", from, DEADLINE_MS / 2), "ERR_RPC_DISCONNECTED");
    await expectLine(server, "finally victim", from);
    const took = performance.now() - killed;
    console.log(`  killed caller: the server ended it after ${Math.round(took)} ms`);
    assert.ok(took < 2 * LIVENESS_MS + MARGIN_MS, `the server ended it ${Math.round(took)} ms after the kill (bound ${2 * LIVENESS_MS} + margin ${MARGIN_MS}; deadline ${DEADLINE_MS})`);
    const { value } = await c.stream<number>("count", 5).next();
    assert.is(value, 0, "the server serves on");
  } finally {
    c.close();
    server.kill("SIGKILL");
  }
});

test("a stream whose server is only slow (a held producer, a silent handler) is not ended: the probes are answered", async () => {
  const name = uniqueName("liveslow");
  const server = await serverOn(name, 0);
  const c = clientOn(name, 2);
  try {
    await reachable(c);
    // A streamed argument the handler waits 6 × livenessMs before reading: nothing flows meanwhile.
    async function* three(): AsyncGenerator<number> {
      yield* [1, 2, 3];
    }
    assert.is(await c.asyncCall("takeThenWait", three(), 1, 6 * LIVENESS_MS), 1);
    // A stream whose loop pauses 6 × livenessMs: the producer is held, silent, and goes on after.
    const it = c.stream<number>("numbers", "paused");
    assert.equal(await it.next(), { value: 0, done: false });
    await new Promise((r) => setTimeout(r, 6 * LIVENESS_MS));
    for (let i = 1; i < 600; i++) assert.equal((await it.next()).value, i);
    await it.return();
  } finally {
    c.close();
    server.kill("SIGKILL");
  }
});

liveness.run();
