// Issue 5, item 3: kill -9 of client processes with hundreds of calls in flight. The server
// notices within 1 s, runs no handler for a dead client once it has noticed, frees its slot
// and memory (no fd or RSS leak over many kills), and another client calling all along
// sees no error.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../src/index.js";
import { ask, assertNoServerLeak, killAll, leftovers, scale, serverStats, sleep, spawnFixture, uniqueName, until, wallNow, servingFiles } from "./helpers.js";

const death = suite("client death");
death.after(killAll);

const stats = serverStats;

const KILLS = scale(200, 8);
const PER_ROUND = 2;
const NOTICE_MS = 1000;
/** Sync handlers of 0.1 ms each: more than the server can run before it notices the death.
 *  (Longer ones delay the notice: the server runs up to 256 requests of a client before
 *  its liveness timer can run; 1 ms handlers from two clients made it take ~1.3 s.) */
const BACKLOG = 4000;
const WORK_MS = 0.1;
const RUNNING = 20;

/** A client in this process calling without pause until stopped; counts every failure. */
function steadyCaller(name: string) {
  const client = new Client(name, { timeoutMs: 30_000 });
  let stop = false;
  let stopped = false;
  let calls = 0;
  const failures: string[] = [];
  const loop = async (lane: number) => {
    for (let i = 0; !stop; i++) {
      const tag = `${lane}:${i}`;
      try {
        const [got, value] = await client.asyncCall<[string, number]>("echoTagged", 0, tag, i);
        if (got !== tag || value !== i) failures.push(`${tag} answered ${got}/${value}`);
      } catch (e) {
        failures.push(`${tag}: ${(e as Error).message}`);
      }
      if (failures.length >= 20) stop = true; // enough to report; never spin on a dead server
      calls++;
    }
  };
  const lanes = Promise.all([0, 1, 2, 3].map(loop));
  return {
    get calls() { return calls; },
    failures,
    async stop() {
      if (stopped) return;
      stopped = stop = true;
      await lanes;
      client.close();
    },
  };
}

death("kill -9 of clients with hundreds of calls in flight: noticed within 1 s, no further handler runs for them, no leak, others see no error", async () => {
  const name = uniqueName("clidead");
  const server = await spawnFixture("probe-server.js", [name]);
  const steady = steadyCaller(name);
  const notices: number[] = [];
  const ranBeforeNotice: number[] = [];
  let k = 0;
  /** One round: PER_ROUND clients connect, flood the server, and are killed together. */
  const round = async (): Promise<void> => {
    const ids = Array.from({ length: PER_ROUND }, () => ++k);
    const victims = await Promise.all(ids.map(() => spawnFixture("peer-client.js", [name, JSON.stringify({ timeoutMs: 60_000 })])));
    for (const [i, v] of victims.entries()) {
      assert.is(await ask(v, "wait 10000", "waited"), "ok");
      await ask(v, `async ${RUNNING} workAsync [${ids[i]},200]`, "sent"); // running when it dies
      await ask(v, `async ${BACKLOG} work [${ids[i]},${WORK_MS}]`, "sent"); // a backlog in its ring
    }
    await sleep(20);
    const killedAt = wallNow();
    for (const v of victims) v.kill("SIGKILL");
    await Promise.all(victims.map((v) => v.exited));
    let s = await stats(server);
    const end = Date.now() + 5000;
    while (s.connections > 1 && Date.now() < end) s = await stats(server);
    assert.is(s.connections, 1, "only the steady client is left");
    const drops = s.drops.filter((t) => t > killedAt);
    assert.ok(drops.length > 0 && drops.length <= PER_ROUND, `drops ${drops.length}: ${JSON.stringify(s.drops)} killed at ${killedAt}`);
    const notice = Math.max(...drops) - killedAt;
    notices.push(notice);
    assert.ok(notice < NOTICE_MS, `the server noticed dead clients ${notice.toFixed(0)} ms after kill -9`);
    const before = ids.map((id) => s.calls[id] ?? 0);
    ranBeforeNotice.push(...before);
    await sleep(200);
    const after = await stats(server);
    assert.equal(ids.map((id) => after.calls[id] ?? 0), before, "no handler ran for a dead client after the server noticed");
  };
  try {
    await until(() => steady.calls > 100, 10_000, "the steady client to call");
    await round(); // warm-up: the server's first connections allocate for good
    await round();
    const base = await stats(server);
    const rss: number[] = [];
    for (let done = 2 * PER_ROUND; done < KILLS; done += PER_ROUND) {
      await round();
      if (done % 20 === 0) {
        const st = await stats(server);
        rss.push(st.rssKiB);
      }
    }
    await sleep(100);
    const last = await stats(server);
    await steady.stop();
    console.log(`  ${k} clients killed: noticed after ${Math.min(...notices).toFixed(0)}..${Math.max(...notices).toFixed(0)} ms; ` +
      `handlers run per victim before notice ${Math.min(...ranBeforeNotice)}..${Math.max(...ranBeforeNotice)} of ${RUNNING + BACKLOG}; ` +
      `server fds ${base.fds} -> ${last.fds}, RSS ${(base.rssKiB / 1024).toFixed(1)} -> ${(last.rssKiB / 1024).toFixed(1)} MiB (outside the V8 heap ${((base.rssKiB - base.memory.heapTotalKiB) / 1024).toFixed(1)} -> ${((last.rssKiB - last.memory.heapTotalKiB) / 1024).toFixed(1)}), ` +
      `heap ${(base.memory.heapUsedKiB / 1024).toFixed(1)} -> ${(last.memory.heapUsedKiB / 1024).toFixed(1)} MiB, WASM ${base.memory.wasmKiB >> 10} -> ${last.memory.wasmKiB >> 10} MiB; ` +
      `steady client: ${steady.calls} calls, ${steady.failures.length} failures` + (rss.length ? `; RSS every 20 kills: ${rss.map((r) => (r / 1024).toFixed(1)).join(" ")} MiB` : ""));
    assert.equal(steady.failures, [], "the other client's calls");
    assert.ok(ranBeforeNotice.some((n) => n < RUNNING + BACKLOG), "some requests were still unread when the server noticed (else this test checks nothing)");
    // WebAssembly memory never shrinks: one connection's worth of growth (two 2 MiB rings and
    // their header, 4160 KiB seen once on a loaded machine: memory made for a new client while a
    // victim's was not given back yet) is allowed; a leak per kill would be 8 times that.
    assertNoServerLeak(base, last, 4160 + 64);
    assert.equal(leftovers(name), servingFiles(name));
    assert.is(await ask(server, "close", "closed"), "");
  } finally {
    await steady.stop();
    if (server.proc.exitCode === null) server.kill();
  }
  assert.equal(leftovers(name), []);
});

death.run();
