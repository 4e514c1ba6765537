// Spin, then park: an idle side burns no CPU, a request wakes a parked server at
// once, and serving leaves the server's event loop free for its other work.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { Client, Server } from "../src/index.js";
import { killAll, sleep, spawnFixture, spawnServer, stopServer, uniqueName, SANITIZED } from "./helpers.js";

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

waiting("a request wakes a parked server at once, not at a timer's next tick", async () => {
  const name = uniqueName("wake");
  const server = await spawnServer(name, { livenessIntervalMs: 10_000 });
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

/** The longest gap between 5 ms ticks of an idle event loop over `ms`: what the machine's
 *  own scheduling costs this process now, whatever shmrpc does. */
async function idleGap(ms: number): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  await sleep(ms);
  clearInterval(timer);
  return worst;
}

waiting("a busy server keeps its event loop free for its own timers and I/O", async () => {
  // On a busy machine this process may wait for a CPU whatever it does: the margin is
  // 100 ms plus three times the worst gap of an idle loop measured just before.
  const calibration = await idleGap(1000);
  const name = uniqueName("busy");
  const server = new Server(name, { busyPoll: true });
  server.bind("add", (a: number, b: number) => a + b);
  server.bind("echo", (x: unknown) => x);
  const done = server.run();
  let worst = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    ticks++;
  }, 5);
  try {
    const kids = await Promise.all([1, 2].map((k) => spawnFixture("client.js", [name, String(k), "3000"], "done", 30_000)));
    for (const kid of kids) assert.is(await kid.exited, 0, kid.output());
    assert.ok(ticks > 10, `the timer ran ${ticks} times`);
    const margin = (SANITIZED ? 300 : 100) + 3 * calibration;
    assert.ok(worst < margin, `the longest gap between 5 ms ticks was ${worst.toFixed(1)} ms (margin ${margin.toFixed(1)} ms; an idle loop's worst gap ${calibration.toFixed(1)} ms)`);
  } finally {
    clearInterval(timer);
    await server.close();
    await done;
  }
});

waiting.run();
