// Failover and retries (gRFC A6): a call lost with its replica is sent again when it
// provably never ran (maybeExecuted false: at once, to another live replica) or when it
// is idempotent (backing off, up to retry.maxAttempts); any other call that may have run
// fails with ERR_RPC_DISCONNECTED and maybeExecuted true. All within the call's deadline.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { Client, RpcError, ErrorCodes, type RetryInfo } from "../src/index.js";
import { uniqueName, spawnServer, stopServer, killAll, until, scale, startReplicas, connectedClient, type Child } from "./helpers.js";

const failover = suite("failover");
failover.after(() => killAll());


/** The outcome rules: what a failed call may be. */
function checkFailure(e: unknown, idempotent: boolean, tally: Record<string, number>): void {
  assert.instance(e, RpcError);
  const err = e as RpcError;
  assert.not.ok(idempotent, `an idempotent call failed: ${err.code} ${err.message} (attempts ${err.attempts})`);
  assert.is(err.code, ErrorCodes.ERR_RPC_DISCONNECTED, err.message);
  assert.is(err.maybeExecuted, true, "a call that never ran is sent again, never failed");
  assert.ok(err.attempts >= 1);
  tally.failed = (tally.failed ?? 0) + 1;
}

failover("kill -9 of one of three replicas during 10,000 asyncCalls: only calls that may have run fail, idempotent ones never", async () => {
  const name = uniqueName("fo");
  const kids = await startReplicas(name, 3);
  const timeoutMs = 20_000;
  const client = await connectedClient(name, 3, { timeoutMs });
  const idem = client.withOptions({ idempotent: true });
  const total = scale(50_000, 10_000);
  const tally: Record<string, number> = { ok: 0 };
  const started = performance.now();
  try {
    let next = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const idempotent = i % 2 === 0;
        if (!killed && i >= total / 3) {
          killed = true;
          kids[0]!.kill("SIGKILL");
        }
        try {
          const v = await (idempotent ? idem : client).asyncCall<number>("delayed", 5, i);
          assert.is(v, i);
          tally.ok!++;
        } catch (e) {
          checkFailure(e, idempotent, tally);
        }
      }
    };
    await Promise.all(Array.from({ length: 96 }, worker));
    const took = performance.now() - started;
    console.log(`  (${total} calls: ${tally.ok} succeeded, ${tally.failed ?? 0} failed with maybeExecuted true; ${took.toFixed(0)} ms)`);
    assert.is(tally.ok! + (tally.failed ?? 0), total, "every call settled");
    assert.ok(took < timeoutMs, "within the deadline");
    assert.is(client.instances.length, 2);
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

failover("kill -9 of a replica during a loop of synchronous calls: the same rules", async () => {
  const name = uniqueName("fo");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3, { timeoutMs: 20_000 });
  const idem = client.withOptions({ idempotent: true });
  const tally: Record<string, number> = { ok: 0 };
  try {
    // Killed from another process while this thread is blocked in its calls.
    const killer = spawn("sh", ["-c", `sleep 0.3; kill -9 ${kids[1]!.pid}`], { stdio: "ignore" });
    const end = performance.now() + 1500;
    let i = 0;
    for (; performance.now() < end; i++) {
      const idempotent = i % 2 === 0;
      try {
        assert.is((idempotent ? idem : client).call<number>("delayed", 1, i), i);
        tally.ok!++;
      } catch (e) {
        checkFailure(e, idempotent, tally);
      }
    }
    await new Promise((r) => killer.on("exit", r));
    await kids[1]!.exited;
    console.log(`  (${i} sync calls: ${tally.ok} succeeded, ${tally.failed ?? 0} failed with maybeExecuted true)`);
    assert.is(tally.ok! + (tally.failed ?? 0), i);
    for (let j = 0; j < 100; j++) client.call("pid");
    assert.is(client.instances.length, 2, "the dead replica is gone");
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

failover("all replicas gone: ERR_RPC_NOT_CONNECTED after maxAttempts, backing off; one that comes back is used by the next call", async () => {
  const name = uniqueName("fo");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3, { retry: { maxAttempts: 4, initialBackoffMs: 40, maxBackoffMs: 200 } });
  try {
    for (const k of kids) k.kill("SIGKILL");
    await Promise.all(kids.map((k) => k.exited));
    await until(() => client.instances.length === 0, 5000, "the client to see them gone");
    for (const sync of [false, true]) {
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      let err: RpcError | undefined;
      try {
        if (sync) client.call("pid");
        else await client.asyncCall("pid");
      } catch (e) {
        err = e as RpcError;
      }
      const took = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      assert.ok(err, "failed");
      assert.is(err!.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
      assert.is(err!.maybeExecuted, false);
      assert.is(err!.attempts, 4);
      // Three backoffs, each a random wait below 40, 80, 160 ms: no busy loop burns the CPU meanwhile.
      assert.ok(took < 1000, `${sync ? "sync" : "async"}: took ${took.toFixed(0)} ms`);
      const cpuMs = (used.user + used.system) / 1000;
      assert.ok(cpuMs < Math.max(30, took * 0.5), `${sync ? "sync" : "async"}: ${cpuMs.toFixed(1)} ms of CPU in ${took.toFixed(0)} ms`);
    }
    const back = await spawnServer(name, { replica: true });
    kids.push(back);
    assert.is(await client.asyncCall<number>("pid"), back.pid, "the next call, async");
    assert.is(client.call<number>("pid"), back.pid, "and sync");
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

failover("a call that was not idempotent and may have run fails with ERR_RPC_DISCONNECTED, maybeExecuted true, attempts 1", async () => {
  const name = uniqueName("fo");
  const kids = await startReplicas(name, 3);
  const client = await connectedClient(name, 3);
  try {
    const retries: RetryInfo[] = [];
    client.on("retry", (r: RetryInfo) => retries.push(r));
    const pending = client.asyncCall("never").then(() => undefined, (e: RpcError) => e);
    const idempotent = client.withOptions({ idempotent: true }).asyncCall<number>("delayed", 1000, 7).then((v) => v, (e: RpcError) => e);
    // One call on each of two replicas (least_outstanding), the third free.
    await until(() => client.instances.filter((i) => i.inFlight === 1).length === 2, 2000, "one call in flight on each of two");
    const busyInstances = client.instances.filter((i) => i.inFlight === 1);
    // ...and taken by their servers (their handlers run): asked of each replica directly.
    for (const i of busyInstances) {
      const probe = new Client(name, { socketPath: i.socketPath });
      await until(async () => (await probe.stats()).endpoints.reduce((n, e) => n + e.in_flight, 0) === 1, 5000, "the call taken");
      probe.close();
    }
    const busy = new Set(busyInstances.map((i) => i.pid));
    for (const k of kids) if (busy.has(k.pid)) k.kill("SIGKILL");
    const err = await pending;
    assert.ok(err);
    assert.is(err!.code, ErrorCodes.ERR_RPC_DISCONNECTED);
    assert.is(err!.maybeExecuted, true);
    assert.is(err!.attempts, 1);
    assert.is(await idempotent, 7, "the idempotent one was retried on the third replica");
    assert.equal(retries.map((r) => [r.method, r.failedAttempt, r.code, r.maybeExecuted]), [["delayed", 1, ErrorCodes.ERR_RPC_DISCONNECTED, true]], "one retry event, for it");
  } finally {
    client.close();
    await Promise.all(kids.map(stopServer));
  }
});

failover.run();
