// Replicas: several processes serve one name (`replica: true`); a client connects to
// each live one and balances its calls; neither a replica nor a server without the
// option can join a name the other kind holds, however they race.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, RpcError, ErrorCodes } from "../src/index.js";
import { uniqueName, spawnServer, spawnFixture, stopServer, killAll, until, rejection, scale, startReplicas, connectedClient, type Child } from "./helpers.js";

const replicas = suite("replicas");
replicas.after(() => killAll());


function tally(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of pids) m.set(p, (m.get(p) ?? 0) + 1);
  return m;
}

replicas("round_robin spreads 9,000 calls over 3 replicas, each within ±10% of 3,000", async () => {
  const name = uniqueName("rep");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3, { balance: "round_robin" });
  try {
    const pids: number[] = [];
    for (let i = 0; i < 4500; i++) pids.push(client.call<number>("pid"));
    const async: Promise<number>[] = [];
    for (let i = 0; i < 4500; i++) async.push(client.asyncCall<number>("pid"));
    pids.push(...(await Promise.all(async)));
    const counts = tally(pids);
    assert.equal([...counts.keys()].sort(), kids.map((k) => k.pid).sort());
    for (const [pid, n] of counts) assert.ok(Math.abs(n - 3000) <= 300, `replica ${pid} took ${n} calls`);
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

replicas("pick_first stays on one replica until it dies, then on another", async () => {
  const name = uniqueName("rep");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3, { balance: "pick_first" });
  try {
    const first = tally(await Promise.all(Array.from({ length: 300 }, () => client.asyncCall<number>("pid"))));
    for (let i = 0; i < 300; i++) first.set(client.call<number>("pid"), (first.get(client.call<number>("pid")) ?? 0) + 1);
    assert.is(first.size, 1, "one replica only");
    const [stuck] = [...first.keys()];
    const victim = kids.find((k) => k.pid === stuck)!;
    victim.kill("SIGKILL");
    await victim.exited;
    const after = tally(await Promise.all(Array.from({ length: 300 }, () => client.asyncCall<number>("pid"))));
    assert.is(after.size, 1, "again one replica only");
    assert.ok(!after.has(stuck!), "not the dead one");
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

replicas("least_outstanding sends no new call to a replica whose handler is stuck while others are free", async () => {
  const name = uniqueName("rep");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3);
  try {
    void client.withOptions({ timeoutMs: 60_000 }).asyncCall("never").catch(() => {});
    const stuck = client.instances.find((i) => i.inFlight === 1)!;
    assert.ok(stuck, "the stuck call is in flight on one replica");
    const pids: number[] = [];
    for (let i = 0; i < 200; i++) pids.push(await client.asyncCall<number>("pid"));
    for (let i = 0; i < 200; i++) pids.push(client.call<number>("pid"));
    const counts = tally(pids);
    assert.not.ok(counts.has(stuck.pid), "nothing new for the stuck replica");
    assert.is(counts.size, 2, "the two free ones share the calls (ties in turn)");
    for (const n of counts.values()) assert.ok(Math.abs(n - 200) <= 20, `${n} calls`);
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

replicas("a replica that starts later takes calls within 1 s, without any action by the user", async () => {
  const name = uniqueName("rep");
  const kids = await startReplicas(name, 2);
  const client = await connectedClient(name, 2, { balance: "round_robin" });
  try {
    const late = await spawnServer(name, { replica: true });
    kids.push(late);
    const started = performance.now();
    let took = -1;
    while (performance.now() - started < 5000) {
      if ((await client.asyncCall<number>("pid")) === late.pid) {
        took = performance.now() - started;
        break;
      }
    }
    assert.ok(took >= 0, "the late replica never took a call");
    assert.ok(took < 1000, `took ${took.toFixed(0)} ms (rescan every 250 ms)`);
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

replicas("a name served without replica: true refuses replicas, and replicas refuse it", async () => {
  const name = uniqueName("rep");
  const alone = new Server(name);
  void alone.run();
  const err = await rejection(new Server(name, { replica: true }).run());
  assert.is(err.code, ErrorCodes.ERR_RPC_ADDRESS_IN_USE);
  await alone.close();
  const r1 = new Server(name, { replica: true });
  const r2 = new Server(name, { replica: true });
  void r1.run();
  void r2.run();
  const err2 = await rejection(new Server(name).run());
  assert.is(err2.code, ErrorCodes.ERR_RPC_ADDRESS_IN_USE);
  await r1.close();
  const err3 = await rejection(new Server(name).run());
  assert.is(err3.code, ErrorCodes.ERR_RPC_ADDRESS_IN_USE, "one replica left still holds the name");
  await r2.close();
  const after = new Server(name);
  void after.run();
  await after.close();
});

/** A server process that says "ready" once it holds the name, or exits saying why not. */
function claim(name: string, replica: boolean): Promise<Child> {
  return spawnFixture("claim-server.js", [name, replica ? "replica" : "alone"]);
}

replicas("a replica and a server without the option started at once: exactly one kind serves", async () => {
  const rounds = scale(30, 6);
  let replicasWon = 0;
  let aloneWon = 0;
  for (let round = 0; round < rounds; round++) {
    const name = uniqueName("race");
    const starts = [claim(name, true), claim(name, false), claim(name, true)];
    const settled = await Promise.allSettled(starts);
    const ready = settled.map((s) => s.status === "fulfilled");
    const kinds = ready.map((ok, i) => (ok ? (i === 1 ? "alone" : "replica") : "-"));
    if (ready[1]) {
      assert.equal(kinds, ["-", "alone", "-"], `round ${round}`);
      aloneWon++;
    } else {
      assert.equal(kinds, ["replica", "-", "replica"], `round ${round}`);
      replicasWon++;
    }
    for (const s of settled) if (s.status === "fulfilled") await stopServer(s.value);
    for (const s of settled) {
      if (s.status === "rejected") assert.match(String(s.reason), /ERR_RPC_ADDRESS_IN_USE/);
    }
  }
  console.log(`  (${rounds} races: replicas won ${replicasWon}, the lone server ${aloneWon})`);
});

replicas("a replicated name's client fails over a sync call from a closed replica", async () => {
  const name = uniqueName("rep");
  const kids = await startReplicas(name, 2);
  const client = await connectedClient(name, 2, { balance: "round_robin" });
  try {
    await stopServer(kids[0]!);
    // The goodbye got through or not: either way every call succeeds on the other one.
    for (let i = 0; i < 50; i++) assert.is(client.call<number>("pid"), kids[1]!.pid);
    assert.is(client.instances.length, 1);
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

replicas("options balance and retry are checked", () => {
  const bad = (o: object) => {
    try {
      new Client("/x", o);
    } catch (e) {
      return (e as RpcError).code;
    }
    return "accepted";
  };
  assert.is(bad({ balance: "random" }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { maxAttempts: 6 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { maxAttempts: 0 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { maxAttempts: 2.5 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { backoffMultiplier: 0.5 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { initialBackoffMs: 100, maxBackoffMs: 10 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { maxAttemps: 2 } }), ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(bad({ retry: { maxAttempts: 5, initialBackoffMs: 0 } }), "accepted");
  assert.is(bad({ balance: "pick_first" }), "accepted");
});

replicas.run();
