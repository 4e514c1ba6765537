// Issue 5, item 12 (first half): a server that is alive but not serving (SIGSTOP) makes
// calls fail with ERR_RPC_TIMEOUT on time, never hang; after SIGCONT the same Client
// object is served again, and the answers that came too late are dropped, not misdelivered.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, RpcError } from "../src/index.js";
import { ask, expectLine, killAll, leftovers, rejection, scale, sleep, spawnFixture, uniqueName } from "./helpers.js";

const hung = suite("hung server");
hung.after(killAll);

/** How late a deadline may fire on this loaded machine: the timer, plus the scheduler. */
const MARGIN_MS = 1000;
const ROUNDS = scale(10, 2);

function syncFailure(f: () => unknown): RpcError {
  try {
    f();
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected the call to throw");
}

hung("calls to a SIGSTOPped server fail with ERR_RPC_TIMEOUT on time; after SIGCONT the same client is served", async () => {
  const name = uniqueName("stop");
  const server = await spawnFixture("probe-server.js", [name]);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    await client.waitForConnection(5000);
    for (let round = 0; round < ROUNDS; round++) {
      assert.equal(await client.asyncCall("echoTagged", 1, `before ${round}`, round), [`before ${round}`, round]);
      // A call already running in the server when it stops.
      const running = rejection(client.withOptions({ timeoutMs: 400 }).asyncCall("workAsync", 1, 200));
      await sleep(20);
      server.kill("SIGSTOP");
      await sleep(20);
      const t0 = performance.now();
      const timed = [150, 400, 700].map((ms) => {
        const p = client.withOptions({ timeoutMs: ms }).asyncCall("echoTagged", 1, `late ${ms}`, ms);
        return rejection(p).then((e) => ({ ms, e, at: performance.now() - t0 }));
      });
      // One that outlives the stop: it is answered once the server resumes.
      const patient = client.withOptions({ timeoutMs: 20_000 }).asyncCall("echoTagged", 1, `patient ${round}`, round);
      patient.catch(() => {}); // awaited below; if an assertion fails first, close() rejects it
      // A synchronous call blocks this thread until its own deadline, then throws.
      const s0 = performance.now();
      const syncErr = syncFailure(() => client.withOptions({ timeoutMs: 300 }).call("echoTagged", 1, "sync", 0));
      const syncMs = performance.now() - s0;
      const asyncs = await Promise.all(timed);
      const runningErr = await running;
      console.log(`  round ${round}: sync 300 ms deadline failed after ${syncMs.toFixed(0)} ms; async ${asyncs.map((a) => `${a.ms}->${a.at.toFixed(0)}`).join(", ")} ms`);
      assert.is(syncErr.code, "ERR_RPC_TIMEOUT");
      assert.ok(syncMs >= 299 && syncMs < 300 + MARGIN_MS, `sync: ${syncMs} ms`);
      assert.is(runningErr.code, "ERR_RPC_TIMEOUT", "the call that was running when the server stopped");
      for (const { ms, e, at } of asyncs) {
        assert.is(e.code, "ERR_RPC_TIMEOUT", `async ${ms}`);
        // Some of each deadline may pass during the sync call above, which blocks this thread.
        assert.ok(at >= ms - 1 && at < Math.max(ms, syncMs) + MARGIN_MS, `async ${ms} ms deadline failed after ${at} ms`);
      }
      assert.ok(client.connected, "still connected: the server is alive, only not serving");
      server.kill("SIGCONT");
      // The same client object: the patient call completes, new calls get their own answers,
      // and the late answers to the calls that timed out are dropped.
      assert.equal(await patient, [`patient ${round}`, round]);
      assert.equal(client.call("echoTagged", 1, `sync after ${round}`, 1), [`sync after ${round}`, 1]);
      assert.equal(await client.asyncCall("echoTagged", 1, `async after ${round}`, 2), [`async after ${round}`, 2]);
      assert.is(client.call("pid"), server.pid);
    }
  } finally {
    server.kill("SIGCONT");
    client.close();
  }
  assert.is(await ask(server, "close", "closed"), "");
  assert.equal(leftovers(name), []);
});

hung("a client process blocked in a sync call to a SIGSTOPped server gets ERR_RPC_TIMEOUT and stays usable", async () => {
  const name = uniqueName("stop2");
  const server = await spawnFixture("probe-server.js", [name]);
  const client = await spawnFixture("peer-client.js", [name, JSON.stringify({ timeoutMs: 500 })]);
  try {
    assert.is(await ask(client, "call pid []", "result"), String(server.pid));
    server.kill("SIGSTOP");
    const from = client.output().length;
    const t0 = Date.now();
    await ask(client, "sync echoTagged [1,\"x\",1]", "syncing");
    const line = JSON.parse(await expectLine(client, "sync ", from)) as { ok: boolean; code: string };
    const ms = Date.now() - t0;
    assert.is(line.ok, false);
    assert.is(line.code, "ERR_RPC_TIMEOUT");
    assert.ok(ms < 500 + MARGIN_MS + 500, `the blocked call returned after ${ms} ms (deadline 500)`);
    server.kill("SIGCONT");
    assert.is(await ask(client, "call pid []", "result"), String(server.pid));
    assert.is(await ask(client, "acall pid []", "aresult"), String(server.pid));
  } finally {
    server.kill("SIGCONT");
    client.proc.stdin!.end();
    await client.exited;
  }
  assert.is(await ask(server, "close", "closed"), "");
  assert.equal(leftovers(name), []);
});

hung.run();
