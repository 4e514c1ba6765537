// Failover across a NATS cluster: three nats-server nodes with routes on loopback, replicas of
// one server attached to two of them, a client on the third; one replica is killed with -9
// while 5,000 calls (20 ms each in the handler) go on, half of them idempotent (re-sent after retry.attemptTimeoutMs).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, RpcError, ErrorCodes, type RetryInfo } from "../src/index.js";
import { killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startCluster, type NatsNode } from "./nats-helpers.js";

const cluster = suite("nats-cluster");
let nodes: NatsNode[] = [];
const dir = mkdtempSync(join(tmpdir(), "shmrpc-nats-cluster-"));

cluster.after(async () => {
  killAll();
  await Promise.all(nodes.map((n) => n.stop()));
  rmSync(dir, { recursive: true, force: true });
});

cluster("kill -9 of one replica during 5,000 calls, half idempotent: every idempotent call answered, every other one answered or failed with a clear code and maybeExecuted, none hanging", async () => {
  nodes = await startCluster();
  const [n1, n2, n3] = nodes as [NatsNode, NatsNode, NatsNode];
  const name = uniqueName("nats-cluster");
  // Two replicas of one name on this host: the second listens on another socket path.
  const a = await spawnFixture("nats-server.js", [name, JSON.stringify(n1.url)]);
  const b: Child = await spawnFixture("nats-server.js", [name, JSON.stringify(n2.url), JSON.stringify({ socketPath: join(dir, "b.sock") })]);
  const TIMEOUT_MS = 5000;
  // The default retry policy: attempts of idempotent calls given up after 1000 ms.
  const client = new Client(`${n3.url}${name}`, { timeoutMs: TIMEOUT_MS });
  const idem = client.withOptions({ idempotent: true });
  const retries: RetryInfo[] = [];
  client.on("retry", (r: RetryInfo) => retries.push(r));
  try {
    // Both replicas' interest has reached the third node through the routes.
    const seen = new Set<number>();
    await until(async () => {
      try {
        seen.add(await client.asyncCall<number>("pid"));
      } catch (e) {
        if ((e as RpcError).code !== ErrorCodes.ERR_RPC_NOT_CONNECTED) throw e;
      }
      return seen.has(a.pid) && seen.has(b.pid);
    }, 15_000, "both replicas answering through the cluster");
    retries.length = 0;

    const TOTAL = 5000;
    const IN_FLIGHT = 32;
    const KILL_AT = 1000;
    // Indexed by the order the calls started in (timeouts settle seconds after later calls).
    // Even calls are idempotent, odd ones are not.
    const outcomes: Array<{ pid?: number; code?: string; maybeExecuted?: boolean; ms: number; after: boolean; idempotent: boolean }> = [];
    let started = 0;
    let settled = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (started < TOTAL) {
        const i = started++;
        const idempotent = i % 2 === 0;
        const after = killed;
        const t0 = performance.now();
        try {
          // 20 ms in the handler: with 32 callers about 16 calls wait in each replica at any
          // moment, so the kill always cuts some (with "pid" it sometimes cut none).
          const pid = await (idempotent ? idem : client).asyncCall<number>("pidAfter", 20);
          outcomes[i] = { pid, ms: performance.now() - t0, after, idempotent };
        } catch (e) {
          assert.instance(e, RpcError);
          const err = e as RpcError;
          outcomes[i] = { code: err.code, maybeExecuted: err.maybeExecuted, ms: performance.now() - t0, after, idempotent };
        }
        if (!killed && ++settled >= KILL_AT) {
          killed = true;
          a.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));

    assert.is(outcomes.filter((o) => o !== undefined).length, TOTAL, "every call settled");
    const failedIdempotent = outcomes.filter((o) => o.idempotent && o.code !== undefined);
    assert.is(failedIdempotent.length, 0, `idempotent calls failed: ${failedIdempotent.slice(0, 5).map((f) => f.code).join(", ")}`);
    const failed = outcomes.filter((o) => o.code !== undefined);
    for (const f of failed) {
      // In flight to the killed replica: a timeout, it may have run. Routed nowhere: nothing ran.
      if (f.code === ErrorCodes.ERR_RPC_TIMEOUT || f.code === ErrorCodes.ERR_RPC_DISCONNECTED) assert.is(f.maybeExecuted, true, `${f.code} says it may have run`);
      else if (f.code === ErrorCodes.ERR_RPC_NOT_CONNECTED) assert.is(f.maybeExecuted, false, "no responders: it never ran");
      else assert.unreachable(`unexpected ${f.code}`);
    }
    // The kill cut calls in flight: some idempotent ones were re-sent after their attempt
    // timeout, or the test proved nothing.
    const resent = retries.filter((r) => r.code === ErrorCodes.ERR_RPC_TIMEOUT);
    assert.ok(resent.length + failed.length > 0, "the kill hit no call in flight");
    assert.ok(retries.every((r) => r.code !== ErrorCodes.ERR_RPC_TIMEOUT || r.maybeExecuted), "a re-sent timeout may have run");
    // None hung: each settled by its deadline, plus 2 s for a busy machine's timers.
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    assert.ok(slowest < TIMEOUT_MS + 2000, `a call took ${slowest.toFixed(0)} ms`);
    // Only calls in flight to the dead replica (at most one per caller) or routed to it
    // before its interest was withdrawn failed; everything later went to the survivor.
    assert.ok(failed.length <= IN_FLIGHT * 4, `${failed.length} calls failed`);
    const answered = outcomes.filter((o) => o.pid !== undefined);
    assert.ok(answered.some((o) => !o.after && o.pid === a.pid) && answered.some((o) => !o.after && o.pid === b.pid), "both served before the kill");
    const tail = outcomes.slice(-1000);
    const strays = tail.filter((o) => o.pid !== b.pid).map((o) => o.code ?? o.pid);
    assert.is(strays.length, 0, `the last 1,000 calls started were all answered by the survivor (others: ${strays.slice(0, 5).join(", ")})`);
    const idemSlowest = Math.max(...outcomes.filter((o) => o.idempotent).map((o) => o.ms));
    console.log(`  5,000 calls (2,500 idempotent), kill -9 at 1,000: idempotent all answered (${resent.length} re-sent after the attempt timeout, slowest ${idemSlowest.toFixed(0)} ms); others ${failed.length} failed (${[...new Set(failed.map((f) => `${f.code} maybeExecuted ${f.maybeExecuted}`))].join(", ") || "none"}); slowest ${slowest.toFixed(0)} ms`);
  } finally {
    client.close();
    a.kill("SIGKILL");
    await stopServer(b);
  }
});

cluster.run();
