// Soak: a server with I/O-bound handlers (timers, file reads) and rounds of client processes
// making mixed calls, timeouts and aborts among them. The server uses next to no CPU while
// nothing is ready to run (its handlers all waiting on timers, or no client at all), every
// client process ends by itself after its work, and the server's RSS and open fds stay flat
// from round to round. `npm test` runs a short form (about 10 s); `npm run test:long`
// (SHMRPC_LONG=1) the long one. Every figure is printed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../src/index.js";
import { expectLine, killAll, procStats, scale, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";

const soak = suite("soak");
soak.after(() => killAll());

const ROUNDS = scale(12, 3);
const CLIENTS = scale(3, 2);
const CALLS = scale(3000, 300);
/** Idle CPU allowed: 5 % of one core over each idle window. */
const IDLE_CPU = 0.05;
const IDLE_WINDOW_MS = scale(3000, 1000);
/** RSS growth allowed between the end of round 2 and the end of the last round. */
const RSS_GROWTH_KIB = 32 * 1024;
/** Open fds at the end of each round against the end of round 2. */
const FD_MARGIN = 2;
/** How long a client may take to exit by itself once it printed "done" (a busy host). */
const EXIT_WITHIN_MS = 5000;

/** CPU ticks (user + system, 100 a second) that `pid` has used. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The share of one core `pid` used over the next `ms`. */
async function cpuShare(pid: number, ms: number): Promise<number> {
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  await new Promise((r) => setTimeout(r, ms));
  return (cpuTicks(pid) - c0) / 100 / ((performance.now() - t0) / 1000);
}

interface Counts {
  ok: number;
  timedOut: number;
  aborted: number;
  sync: number;
  wrong: string[];
}

/** Runs one client process to its end: its counts, once it has exited by itself. */
async function runClient(name: string, seed: number, file: string, sum: number): Promise<Counts> {
  const c = await spawnFixture("soak-client.js", [name, String(CALLS), String(seed), file, String(sum)], "ready", 20_000);
  try {
    const line = await expectLine(c, "done ", 0, 120_000);
    const doneAt = performance.now();
    const timer = setTimeout(() => c.kill(), EXIT_WITHIN_MS);
    const code = await c.exited;
    clearTimeout(timer);
    assert.is(code, 0, `client ${c.pid} exited by itself within ${EXIT_WITHIN_MS} ms of its last call (${Math.round(performance.now() - doneAt)} ms; killed: ${String(code)})`);
    return JSON.parse(line) as Counts;
  } finally {
    c.kill();
  }
}

soak(`${ROUNDS} rounds of ${CLIENTS} client processes x ${CALLS} mixed calls: idle server CPU <= ${IDLE_CPU * 100} % of a core, clients exit by themselves, RSS and fds flat`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "shmrpc-soak-"));
  const file = join(dir, "data.bin");
  const bytes = Buffer.alloc(64 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(file, bytes);
  let sum = 0;
  for (const b of bytes) sum = (sum + b) % 65_521;
  const name = uniqueName("soak");
  let server: Child | undefined;
  let waiter: Client | undefined;
  try {
    server = await spawnFixture("soak-server.js", [name]);
    const pid = server.pid;
    const atStart = procStats(pid);
    let afterRound2 = atStart;
    const totals = { ok: 0, timedOut: 0, aborted: 0, sync: 0 };
    const rounds: string[] = [];
    const started = performance.now();
    for (let round = 1; round <= ROUNDS; round++) {
      const counts = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => runClient(name, round * 100 + k + 1, file, sum)));
      for (const c of counts) {
        assert.equal(c.wrong, [], "every answer right, every failure a timeout or an abort");
        totals.ok += c.ok;
        totals.timedOut += c.timedOut;
        totals.aborted += c.aborted;
        totals.sync += c.sync;
      }
      // The server has seen every client go (their sockets hung up): fds back to where they were.
      const base = round <= 2 ? atStart.fds : afterRound2.fds;
      await until(() => procStats(pid).fds <= base + FD_MARGIN, 10_000, `the server's fds back to ${base} ± ${FD_MARGIN} after round ${round}`)
        .catch((e: Error) => assert.unreachable(`${e.message}: ${procStats(pid).fds}`));
      const now = procStats(pid);
      if (round === 2) afterRound2 = now;
      rounds.push(`${now.rssKiB >> 10} MiB/${now.fds} fds`);
    }
    const end = procStats(pid);
    console.log(`  soak: ${ROUNDS} rounds x ${CLIENTS} clients x ${CALLS} calls in ${Math.round((performance.now() - started) / 1000)} s: ${JSON.stringify(totals)}; server after each round: ${rounds.join(", ")}`);
    assert.ok(totals.ok > 0 && totals.timedOut > 0 && totals.aborted > 0 && totals.sync > 0, "the mix had answers, timeouts, aborts and synchronous calls");
    assert.ok(end.rssKiB - afterRound2.rssKiB <= RSS_GROWTH_KIB, `server RSS grew ${(end.rssKiB - afterRound2.rssKiB) >> 10} MiB from round 2 to ${ROUNDS} (margin ${RSS_GROWTH_KIB >> 10} MiB)`);
    assert.ok(Math.abs(end.fds - afterRound2.fds) <= FD_MARGIN, `server fds ${afterRound2.fds} after round 2, ${end.fds} at the end (margin ±${FD_MARGIN})`);

    // Idle with no client at all.
    const alone = await cpuShare(pid, IDLE_WINDOW_MS);
    // Idle with handlers pending: 32 calls whose handlers wait on timers (nothing is ready to run).
    waiter = new Client(name, { timeoutMs: 30_000 });
    await waiter.waitForConnection(5000);
    const pending = Array.from({ length: 32 }, (_, i) => waiter!.asyncCall("sleep", IDLE_WINDOW_MS + 1500, i));
    await waiter.asyncCall("add", 1, 1); // the 32 were taken before this answer
    const waiting = await cpuShare(pid, IDLE_WINDOW_MS);
    assert.equal(await Promise.all(pending), pending.map((_, i) => i));
    console.log(`  soak: server CPU while idle ${(alone * 100).toFixed(1)} % of a core alone, ${(waiting * 100).toFixed(1)} % with 32 handlers waiting on timers (limit ${IDLE_CPU * 100} %, over ${IDLE_WINDOW_MS} ms); RSS ${afterRound2.rssKiB >> 10} MiB after round 2, ${end.rssKiB >> 10} MiB after round ${ROUNDS} (margin +${RSS_GROWTH_KIB >> 10} MiB); fds ${afterRound2.fds} -> ${end.fds} (±${FD_MARGIN})`);
    assert.ok(alone <= IDLE_CPU, `server CPU ${(alone * 100).toFixed(1)} % of a core with no client (limit ${IDLE_CPU * 100} %)`);
    assert.ok(waiting <= IDLE_CPU, `server CPU ${(waiting * 100).toFixed(1)} % of a core with handlers waiting on timers (limit ${IDLE_CPU * 100} %)`);
  } finally {
    waiter?.close();
    if (server) await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
});

soak.run();
