// Spin, then park: an idle side burns no CPU, a request wakes a parked server at
// once, and serving leaves the server's event loop free for its other work.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { Client, Server } from "../src/index.js";
import { Spin, YIELD_AFTER_MS } from "../src/core/spin.js";
import { killAll, rejection, sleep, spawnFixture, spawnServer, stopServer, uniqueName, SANITIZED } from "./helpers.js";

const waiting = suite("waiting");
waiting.after(killAll);

/** CPU time (user + system) of a process, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

waiting("an idle server with a connected, silent client uses almost no CPU", async () => {
  const name = uniqueName("idle");
  const server = await spawnServer(name);
  const client = new Client(name);
  try {
    await client.waitForConnection(2000);
    assert.is(client.call("add", 1, 1), 2);
    await sleep(200); // let it park
    const before = cpuTicks(server.pid);
    await sleep(1000);
    const used = cpuTicks(server.pid) - before;
    assert.ok(used <= 5, `the idle server used ${used} ticks (${used}% of a core) in 1 s`);
  } finally {
    client.close();
    await stopServer(server);
  }
});

/** At most this share of one core (5 %) for a server with nothing ready to run: over a
 *  window of `wallMs`, CPU ticks (1/100 s) of at most 5 % of the window, and at least 2
 *  ticks (one tick of rounding at each end of the window). A server that spins takes
 *  whatever CPU it gets: a whole core on a quiet machine, 20 % or more with 8 busy
 *  processes on 2 cores, so the bound tells the two apart on a loaded machine too. */
function assertIdleCpu(used: number, wallMs: number, what: string): void {
  const allowed = Math.max(2, Math.floor((wallMs / 10) * 0.05));
  assert.ok(used <= allowed, `${what}: ${used} ticks in ${wallMs.toFixed(0)} ms (${(used * 1000 / wallMs).toFixed(1)} % of a core; allowed ${allowed} ticks, 5 %)`);
}

waiting("a server parks while an async handler awaits a timer, and after a handler that never settles lost its client", async () => {
  const name = uniqueName("pending-idle");
  const server = await spawnServer(name);
  const client = new Client(name);
  try {
    await client.waitForConnection(2000);
    assert.is(await client.asyncCall("add", 1, 1), 2);
    // One async handler pending for 2 s (a timer): nothing is ready to run meanwhile.
    const t0 = performance.now();
    const before = cpuTicks(server.pid);
    assert.is(await client.asyncCall("delayed", 2000, "late"), "late");
    assertIdleCpu(cpuTicks(server.pid) - before, performance.now() - t0, "while a handler awaited a 2 s timer");
    // A handler that never settles, its only caller timed out and gone.
    const gone = new Client(name, { timeoutMs: 200 });
    const err = await rejection(gone.asyncCall("never"));
    assert.is(err.code, "ERR_RPC_TIMEOUT");
    gone.close();
    await sleep(100); // the server sees the hang-up
    const t1 = performance.now();
    const before2 = cpuTicks(server.pid);
    await sleep(1500);
    assertIdleCpu(cpuTicks(server.pid) - before2, performance.now() - t1, "with a never-settling handler and no caller");
  } finally {
    client.close();
    await stopServer(server);
  }
});

waiting("a request wakes a parked server at once, not at a timer's next tick", async () => {
  const name = uniqueName("wake");
  const server = await spawnServer(name);
  const client = new Client(name);
  try {
    await client.waitForConnection(2000);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      await sleep(50); // the server parks after 50 µs of silence
      const t0 = performance.now();
      assert.is(client.call("add", i, 1), i + 1);
      best = Math.min(best, performance.now() - t0);
    }
    assert.ok(best < 20, `the fastest wake-up took ${best.toFixed(2)} ms`);
  } finally {
    client.close();
    await stopServer(server);
  }
});

waiting("a busy server keeps its event loop free for its own timers and I/O", async () => {
  const name = uniqueName("busy");
  const server = new Server(name, { busyPoll: true });
  server.bind("add", (a: number, b: number) => a + b);
  server.bind("echo", (x: unknown) => x);
  const done = server.run();
  // A gap between ticks is the server's doing only while this process ran: on a busy
  // machine it may also wait for a CPU, whatever it does. So each gap counts for the
  // smaller of its wall time and the CPU time this process used meanwhile (all its
  // threads: an over-estimate of the loop's share, so the check stays strict).
  let worst = 0;
  let worstWall = 0;
  let ticks = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    worst = Math.max(worst, Math.min(now - last, cpuMs));
    worstWall = Math.max(worstWall, now - last);
    last = now;
    lastCpu = cpu;
    ticks++;
  }, 5);
  try {
    const kids = await Promise.all([1, 2].map((k) => spawnFixture("client.js", [name, String(k), "3000"], "done", 30_000)));
    for (const kid of kids) assert.is(await kid.exited, 0, kid.output());
    assert.ok(ticks > 10, `the timer ran ${ticks} times`);
    const margin = SANITIZED ? 300 : 100;
    assert.ok(worst < margin, `the loop was held ${worst.toFixed(1)} ms at most while this process ran (margin ${margin} ms; longest wall-clock gap ${worstWall.toFixed(1)} ms)`);
  } finally {
    clearInterval(timer);
    await server.close();
    await done;
  }
});

waiting("a busy-poll server runs one serving turn per event-loop round, also after results bigger than its rings (a new client's connect waits for that loop)", async () => {
  const name = uniqueName("turns");
  const server = new Server(name, { busyPoll: true });
  server.bind("echo", (x: unknown) => x);
  const done = server.run();
  const client = new Client(name);
  try {
    // Each result is 4× the ring: it waits in the send queue for the client to read.
    const big = Buffer.alloc(8 << 20, 7);
    for (let i = 0; i < 20; i++) assert.is((await client.asyncCall<Buffer>("echo", big)).length, big.length);
    const serving = (server as unknown as { serving: { turn: () => void } }).serving;
    const realTurn = serving.turn;
    let turns = 0;
    serving.turn = () => {
      turns++;
      realTurn();
    };
    let rounds = 0;
    await new Promise<void>((resolve) => {
      const round = (): void => {
        if (++rounds === 50) return resolve();
        setImmediate(round);
      };
      setImmediate(round);
    });
    serving.turn = realTurn;
    // One turn per round (and one round's worth of slack either side); 21 before, one chain per big result.
    assert.ok(turns <= rounds + 2, `${turns} serving turns in ${rounds} event-loop rounds`);
    assert.ok(turns >= rounds - 2, `${turns} serving turns in ${rounds} event-loop rounds: busy-poll stopped serving`);
  } finally {
    client.close();
    await server.close();
    await done;
  }
});

/** Runs an idle wait of a Spin (busy-poll or not) for `ms` (no progress, nothing parks it:
 *  spinMs is far longer) and counts the yields (sched_yield, injected) it makes. */
function yieldsWhileIdle(busyPoll: boolean, ms: number): number {
  let yields = 0;
  const spin = new Spin(10_000, busyPoll, 1, () => void yields++);
  spin.begin();
  const end = performance.now() + ms;
  for (;;) {
    if (!spin.due(0)) continue;
    const now = performance.now();
    if (now >= end) break;
    assert.is(spin.tick(now), false, "parked before spinMs");
  }
  return yields;
}

waiting("50 Clients with calls in flight share one waiter thread (futex_waitv), not one each", async () => {
  const name = uniqueName("threads");
  const server = await spawnServer(name);
  try {
    const child = await spawnFixture("many-waiting.js", [name, "50"], "threads", 60_000);
    const [before, most, waitv] = child.output().split("threads ")[1]!.trim().split(" ");
    const added = Number(most) - Number(before);
    if (waitv === "true") {
      // One pool thread serves up to 127 Waiters; a margin of 2 for threads Node or V8
      // may start meanwhile. A thread per Waiter would add 50.
      assert.ok(added <= 3, `50 waiting Clients added ${added} threads`);
    } else {
      // The fallback (SHMRPC_NO_FUTEX_WAITV=1, kernels before 5.16): one thread each.
      assert.ok(added >= 50, `50 waiting Clients added ${added} threads without futex_waitv`);
    }
    assert.is(await child.exited, 0);
  } finally {
    await stopServer(server);
  }
});

waiting("a side that parks never yields the CPU while it spins (on a busy host a yield costs a time slice); busy-poll yields once idle", () => {
  const ms = Math.max(5, YIELD_AFTER_MS * 1000);
  assert.is(yieldsWhileIdle(false, ms), 0, "default mode yielded");
  assert.ok(yieldsWhileIdle(true, ms) > 0, "busy-poll never yielded");
});

waiting("a wait told that its peer is parked parks at its first clock reading; otherwise only after spinMs", () => {
  const spin = new Spin(10_000, false, 1);
  spin.begin(0, true);
  assert.ok(spin.due(0));
  assert.is(spin.tick(performance.now()), true, "peer parked: park at once");
  spin.begin(0, false);
  assert.ok(spin.due(0));
  assert.is(spin.tick(performance.now()), false, "peer running: spin first");
  // Busy-poll never parks, whatever the peer does.
  const busy = new Spin(10_000, true, 1);
  busy.begin(0, true);
  assert.ok(busy.due(0));
  assert.is(busy.tick(performance.now()), false, "busy-poll parked");
});

waiting.run();
