// Graceful drain: server.close({ drainMs }) takes no new call (refused ERR_RPC_UNAVAILABLE,
// maybeExecuted false, re-sent by the client elsewhere), lets running calls finish up to
// drainMs, then aborts the signals of the rest and closes. A rolling restart of replicas
// under load loses no call and runs none twice. Servers are separate processes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, RpcError, ErrorCodes } from "../src/index.js";
import { uniqueName, spawnFixture, killAll, until, rejection, expectLine, type Child } from "./helpers.js";
import { startNats } from "./nats-helpers.js";

const drain = suite("drain");
drain.after(() => killAll());

function spawnDrainServer(name: string, options: object = {}): Promise<Child> {
  return spawnFixture("drain-server.js", [name, JSON.stringify(options)]);
}

/** Starts draining `child` (close({ drainMs })): the offset of its output before it. */
async function startDrain(child: Child, drainMs: number): Promise<number> {
  const from = child.output().length;
  child.proc.stdin!.write(`drain ${drainMs}\n`);
  await expectLine(child, "draining", from);
  return from;
}

/** Drains `child` (or waits for the drain started at output offset `from`): the ids its
 *  `work` ran and how long close took. */
async function drainServer(child: Child, drainMs: number, from?: number): Promise<{ executed: number[]; closeMs: number }> {
  from ??= await startDrain(child, drainMs);
  const closeMs = Number(await expectLine(child, "closed ", from, drainMs + 20_000));
  const list = await expectLine(child, "executed", from);
  const code = await child.exited;
  assert.is(code, 0, "the drained server exits by itself");
  return { executed: list === "" ? [] : list.split(",").map(Number), closeMs };
}

drain("a call arriving during drain, with no other instance within its deadline, fails ERR_RPC_UNAVAILABLE with maybeExecuted false and never runs; the running one finishes", async () => {
  const name = uniqueName("drain");
  const server = await spawnDrainServer(name);
  const client = new Client(name, { timeoutMs: 10_000 });
  try {
    assert.is(await client.asyncCall("pid"), server.pid);
    const running = client.asyncCall<string>("hold", "h1", 3500).catch((e: unknown) => e);
    await expectLine(server, "started ", 0);
    // The running call outlasts both refused calls (800 ms each), so that they meet a draining
    // server, not a closed one (then: ERR_RPC_NOT_CONNECTED).
    const from = await startDrain(server, 8000);
    // 800 ms: the refusal's first round trip must come back within it on a loaded host.
    const err = await rejection(client.withOptions({ timeoutMs: 800 }).asyncCall("work", 1, 0));
    assert.is(err.code, ErrorCodes.ERR_RPC_UNAVAILABLE);
    assert.is(err.maybeExecuted, false);
    let syncErr: unknown;
    try {
      client.withOptions({ timeoutMs: 800 }).call("work", 2, 0);
    } catch (e) {
      syncErr = e;
    }
    assert.ok(syncErr instanceof RpcError);
    assert.is(syncErr.code, ErrorCodes.ERR_RPC_UNAVAILABLE, "a synchronous call too");
    assert.is(syncErr.maybeExecuted, false);
    assert.is(await running, "h1", "the running call finished and was answered");
    const { executed, closeMs } = await drainServer(server, 8000, from);
    assert.equal(executed, [], "neither refused call ran");
    assert.ok(closeMs >= 2000 && closeMs < 8000, `close waited for the running call (about 3500 ms), not drainMs: ${closeMs} ms`);
    assert.not.ok(server.output().includes("aborted"), "nothing aborted");
  } finally {
    client.close();
    server.kill();
  }
});

drain("a call refused by a draining server is re-sent to the server started again under the name, non-idempotent as it is, and runs once", async () => {
  const name = uniqueName("drain");
  const old = await spawnDrainServer(name);
  const client = new Client(name, { timeoutMs: 10_000 });
  let again: Child | undefined;
  try {
    await client.asyncCall("pid");
    const running = client.asyncCall<string>("hold", "h1", 1000).catch((e: unknown) => e);
    await expectLine(old, "started ", 0);
    const from = await startDrain(old, 5000);
    // The old one stopped listening: the name is free while it drains.
    again = await spawnDrainServer(name);
    const async = client.asyncCall<number>("work", 7, 0).catch((e: unknown) => e);
    let sync: unknown;
    try {
      sync = client.call<number>("work", 8, 0);
    } catch (e) {
      sync = e;
    }
    assert.is(sync, 8);
    assert.is(await async, 7);
    assert.is(await running, "h1");
    const first = await drainServer(old, 5000, from);
    const second = await drainServer(again, 5000);
    assert.equal(first.executed, [], "the draining server ran neither");
    assert.equal(second.executed.sort(), [7, 8], "the new server ran each once");
  } finally {
    client.close();
    old.kill();
    again?.kill();
  }
});

drain("a client of two replicas sends its new calls to the one not draining, from the moment the other drains: none is refused or re-sent", async () => {
  const name = uniqueName("drain-skip");
  const a = await spawnDrainServer(name, { replica: true });
  const b = await spawnDrainServer(name, { replica: true });
  const client = new Client(name, { timeoutMs: 10_000 });
  const resent: string[] = [];
  client.on("retry", ({ code }: { code: string }) => resent.push(code));
  try {
    await until(async () => (await client.asyncCall("pid"), client.instances.length === 2), 5000, "both replicas connected");
    // One slow call in each (least_outstanding puts the second where the first is not):
    // the two replicas then have the same load, and the draining one keeps its call.
    const holds = [client.asyncCall<string>("hold", "h1", 4000), client.asyncCall<string>("hold", "h2", 4000)];
    for (const p of holds) p.catch(() => {});
    await expectLine(a, "started ", 0);
    await expectLine(b, "started ", 0);
    const from = await startDrain(a, 8000);
    const pids: number[] = [];
    for (let i = 0; i < 20; i++) pids.push(await client.asyncCall<number>("pid"));
    pids.push(...(await Promise.all(Array.from({ length: 40 }, () => client.asyncCall<number>("pid")))));
    for (let i = 0; i < 10; i++) pids.push(client.call<number>("pid"));
    assert.ok(!a.output().includes("finished"), "the draining replica's call was still running throughout");
    assert.equal(pids.filter((pid) => pid !== b.pid), [], `every call went to the replica not draining (${b.pid})`);
    assert.equal(resent, [], "no call was refused and sent again");
    assert.equal(await Promise.all(holds), ["h1", "h2"], "both slow calls finished");
    const { executed } = await drainServer(a, 8000, from);
    assert.equal(executed, []);
  } finally {
    client.close();
    a.kill();
    b.kill();
  }
});

drain("a handler still running at drainMs has its ctx.signal aborted (ERR_RPC_CLOSED), and close ends soon after", async () => {
  const name = uniqueName("drain");
  const server = await spawnDrainServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    const running = client.asyncCall("hold", "long", 20_000).catch((e: unknown) => e);
    await expectLine(server, "started ", 0);
    const { closeMs } = await drainServer(server, 300);
    assert.match(server.output(), /aborted long ERR_RPC_CLOSED/);
    assert.not.match(server.output(), /finished long/);
    // Margin: the drain timer fires at 300 ms; a busy machine may delay it by up to 2 s.
    assert.ok(closeMs >= 290 && closeMs < 2300, `closed ${closeMs} ms after close({ drainMs: 300 })`);
    await running; // answered or disconnected: settled either way
  } finally {
    client.close();
    server.kill();
  }
});

drain("close() without drainMs still fails running calls at once (as before)", async () => {
  const name = uniqueName("drain");
  const server = await spawnDrainServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    const running = client.asyncCall("hold", "long", 20_000);
    await expectLine(server, "started ", 0);
    const started = performance.now();
    server.proc.stdin!.end();
    const err = await rejection(running);
    assert.is(err.code, ErrorCodes.ERR_RPC_DISCONNECTED);
    assert.ok(performance.now() - started < 5000);
    await server.exited;
  } finally {
    client.close();
    server.kill();
  }
});

drain("close({ drainMs }) refuses a drainMs that is not a non-negative finite number, and the server keeps serving", async () => {
  const { Server } = await import("../src/index.js");
  const name = uniqueName("drain");
  const server = new Server(name);
  server.bind("one", () => 1);
  void server.run();
  const client = new Client(name);
  try {
    for (const bad of [-1, Number.NaN, Infinity, "5" as unknown as number]) {
      const err = await rejection(server.close({ drainMs: bad }));
      assert.is(err.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    }
    assert.is(await client.asyncCall("one"), 1);
  } finally {
    client.close();
    await server.close();
  }
});

/** 20,000 calls (half non-idempotent, some synchronous, some awaiting a timer in their
 *  handler) while replicas A and B are replaced by C and D one by one with close({ drainMs }). */
async function rollingRestart(title: string, name: string, target: string, options: object, clientOptions: object): Promise<void> {
  const TOTAL = 20_000;
  const a = await spawnDrainServer(name, { replica: true, ...options });
  const b = await spawnDrainServer(name, { replica: true, ...options });
  const spawned: Child[] = [a, b];
  const client = new Client(target, { timeoutMs: 30_000, ...clientOptions });
  const idem = client.withOptions({ idempotent: true });
  const resent = new Map<string, number>();
  client.on("retry", ({ code }: { code: string }) => {
    resent.set(code, (resent.get(code) ?? 0) + 1);
  });
  try {
    await until(async () => (await client.asyncCall("pid"), client.instances.length === 2 || (options as { nats?: unknown }).nats !== undefined), 5000, "both replicas connected");
    const answered = new Map<number, number>();
    const failures: unknown[] = [];
    let next = 0;
    const started = performance.now();
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const id = next++;
        const via = id % 2 === 0 ? client : idem;
        // Every asynchronous handler awaits a timer: calls are running at every drain.
        const ms = id % 16 === 0 ? 50 : 1;
        try {
          const got = id % 97 === 0 ? via.call<number>("work", id, 0) : await via.asyncCall<number>("work", id, ms);
          assert.is(got, id);
          answered.set(id, (answered.get(id) ?? 0) + 1);
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const workers = Promise.all(Array.from({ length: 32 }, worker));
    const drains: number[] = [];
    const executed: number[] = [];
    const replace = async (old: Child, after: number): Promise<void> => {
      await until(() => next >= after, 60_000, `${after} calls made`);
      const fresh = await spawnDrainServer(name, { replica: true, ...options });
      spawned.push(fresh);
      const before = next;
      const { executed: ran, closeMs } = await drainServer(old, 5000);
      executed.push(...ran);
      drains.push(closeMs);
      assert.ok(next > before && next < TOTAL, `calls were made during the drain (${before} to ${next})`);
    };
    await replace(a, 4000);
    await replace(b, 11_000);
    await workers;
    const elapsed = performance.now() - started;
    for (const c of spawned.slice(2)) executed.push(...(await drainServer(c, 5000)).executed);
    assert.equal(failures.map((e) => (e as RpcError).code ?? String(e)), [], "no call failed");
    const runs = new Map<number, number>();
    for (const id of executed) runs.set(id, (runs.get(id) ?? 0) + 1);
    const twice = [...runs].filter(([, n]) => n > 1);
    assert.equal(twice, [], "no call ran twice");
    assert.is(runs.size, TOTAL, "every call ran");
    assert.is(answered.size, TOTAL, "every call was answered");
    assert.ok([...answered.values()].every((n) => n === 1));
    // A draining replica refuses only what was already on its way when it said it drains
    // (new calls go to the other replicas; over NATS nothing reaches it): maybe none.
    console.log(`  ${title}: ${TOTAL} calls in ${Math.round(elapsed)} ms; drains took ${drains.join(", ")} ms; re-sent after ${JSON.stringify(Object.fromEntries(resent))}`);
  } finally {
    client.close();
    for (const c of spawned) c.kill();
  }
}

drain("a rolling restart of 2 replicas (start C, drain A, start D, drain B) under 20,000 mixed calls answers every call exactly once, over shared memory", async () => {
  const name = uniqueName("roll");
  await rollingRestart("shm", name, name, {}, {});
});

drain("the same rolling restart over NATS (the queue subscription drained first) answers every call exactly once", async () => {
  const node = await startNats();
  try {
    const name = uniqueName("roll");
    // attemptTimeoutMs 0: no idempotent call is re-sent for being slow (that may run it twice, by design).
    await rollingRestart("nats", name, `${node.url}${name}`, { nats: node.url }, { retry: { attemptTimeoutMs: 0 } });
  } finally {
    await node.stop();
  }
});

drain.run();
