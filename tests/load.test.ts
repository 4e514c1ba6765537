// Issue 5, item 7: many client processes against one server, every answer checked, and a
// soak with clients coming and going (some by kill -9) that must leave the server's
// file descriptors and memory where they were.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ask, assertNoServerLeak, expectLine, killAll, leftovers, scale, serverStats, sleep, spawnFixture, uniqueName, type ServerStats, servingFiles } from "./helpers.js";

const load = suite("load");
load.after(killAll);

interface Done { ok: number; misrouted: number; corrupt: number; errors: Record<string, number>; ms: number; bytes: number; samples: string[] }
const stats = serverStats;
const startClient = (name: string, k: number, n: number, window: number) =>
  spawnFixture("load-client.js", [name, String(k), String(n), String(window)], "started", 60_000);

const CLIENTS = scale(32, 4);
const CALLS = scale(20_000, 2_000);

load(`${CLIENTS} client processes × ${CALLS} calls of mixed values: none lost, duplicated or misrouted`, async () => {
  const name = uniqueName("load");
  const server = await spawnFixture("probe-server.js", [name]);
  try {
    const t0 = Date.now();
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => startClient(name, i + 1, CALLS, 1 + (i * 37) % 128)));
    const results = await Promise.all(clients.map(async (c) => JSON.parse(await expectLine(c, "done", 0, scale(1_200_000, 120_000))) as Done));
    const s = await stats(server);
    const ms = Date.now() - t0;
    const total = results.reduce((a, r) => a + r.ok, 0);
    const mib = results.reduce((a, r) => a + r.bytes, 0) / 2 ** 20;
    console.log(`  ${total} calls answered correctly in ${(ms / 1000).toFixed(1)} s (${mib.toFixed(0)} MiB of buffers each way), slowest client ${(Math.max(...results.map((r) => r.ms)) / 1000).toFixed(1)} s`);
    for (const [i, r] of results.entries()) {
      assert.equal(r.errors, {}, `client ${i + 1} errors: ${r.samples.join("; ")}`);
      assert.is(r.misrouted, 0, `client ${i + 1}: ${r.samples.join("; ")}`);
      assert.is(r.corrupt, 0, `client ${i + 1}: ${r.samples.join("; ")}`);
      assert.is(r.ok, CALLS, `client ${i + 1} got every answer`);
      // Each request ran exactly once: none lost on the way in, none duplicated.
      assert.is(s.calls[i + 1], CALLS, `the server ran client ${i + 1}'s requests`);
    }
    await Promise.all(clients.map((c) => c.exited));
    assert.is(await ask(server, "close", "closed"), "");
  } finally {
    server.kill();
  }
  assert.equal(leftovers(name), []);
});

const SOAK_MS = scale(60_000, 5_000);
const SOAK_CLIENTS = scale(8, 3);

load(`a ${SOAK_MS / 1000} s soak of clients coming and going (some by kill -9): the server's fds and RSS stay where they were`, async () => {
  const name = uniqueName("soak");
  const server = await spawnFixture("probe-server.js", [name]);
  let k = 0;
  let spawned = 0;
  let killed = 0;
  let finished = 0;
  const failures: string[] = [];
  const live = new Set<Promise<void>>();
  /** One client: a random amount of traffic, then it exits, or is killed -9 on the way. */
  const oneClient = async (): Promise<void> => {
    const id = ++k;
    spawned++;
    const c = await startClient(name, id, 50 + Math.floor(Math.random() * scale(3000, 600)), 1 + Math.floor(Math.random() * 64));
    if (Math.random() < 0.3) {
      await sleep(Math.random() * 300);
      if (c.proc.exitCode === null) {
        killed++;
        c.kill("SIGKILL");
      }
      await c.exited;
      return;
    }
    const r = JSON.parse(await expectLine(c, "done", 0, 120_000)) as Done;
    finished++;
    if (r.misrouted + r.corrupt > 0 || Object.keys(r.errors).length > 0) failures.push(`client ${id}: ${JSON.stringify(r)}`);
    await c.exited;
  };
  /** Keeps SOAK_CLIENTS clients running for `ms`, then lets them end. */
  const churn = async (ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      while (live.size < SOAK_CLIENTS) {
        const p: Promise<void> = oneClient().catch((e: Error) => void failures.push(e.message)).finally(() => live.delete(p));
        live.add(p);
      }
      await Promise.race(live);
    }
    await Promise.all(live);
  };
  const idle = async (): Promise<ServerStats> => {
    const end = Date.now() + 5000;
    let s = await stats(server);
    while (s.connections > 0 && Date.now() < end) s = await stats(server);
    assert.is(s.connections, 0, "every client dropped");
    return s;
  };
  try {
    await churn(SOAK_MS * 0.3); // warm-up
    const base = await idle();
    await churn(SOAK_MS * 0.7);
    const last = await idle();
    console.log(`  ${spawned} clients (${killed} killed -9, ${finished} finished), idle server before/after: ` +
      `fds ${base.fds}/${last.fds}, RSS ${(base.rssKiB / 1024).toFixed(1)}/${(last.rssKiB / 1024).toFixed(1)} MiB (outside the V8 heap ${((base.rssKiB - base.memory.heapTotalKiB) / 1024).toFixed(1)}/${((last.rssKiB - last.memory.heapTotalKiB) / 1024).toFixed(1)}), ` +
      `heap ${(base.memory.heapUsedKiB / 1024).toFixed(1)}/${(last.memory.heapUsedKiB / 1024).toFixed(1)} MiB, WASM ${base.memory.wasmKiB >> 10}/${last.memory.wasmKiB >> 10} MiB`);
    assert.equal(failures, []);
    assert.ok(killed > 0 && finished > 0, "clients both finished and were killed");
    // The WebAssembly memory keeps its high-water mark (the most clients and large messages
    // at once), which a short warm-up may not reach: 10 % + two more clients' segments. Which
    // of its pages are resident depends on which regions the last clients touched (small
    // freed regions keep theirs), so the RSS outside the V8 heap moves by up to ~10 MiB
    // between idle points (60 s soaks: 63.3 -> 62.6 and 53.2 -> 62.8 MiB): 16 MiB of slack.
    assertNoServerLeak(base, last, Math.round(base.memory.wasmKiB * 0.1) + 8 * 1024, 16 * 1024);
    assert.equal(leftovers(name), servingFiles(name));
    assert.is(await ask(server, "close", "closed"), "");
  } finally {
    server.kill();
  }
  assert.equal(leftovers(name), []);
});

load.run();
