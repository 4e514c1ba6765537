// Floods cost their sender, not the server: wake-ups with nothing to do are throttled,
// accept failing for want of fds backs off instead of spinning, maxConnections stays
// within the fd limit. Server CPU comes from /proc/<pid>/stat (utime + stime).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../src/index.js";
import { native } from "../src/native.js";
import { runtimeDir } from "../src/connection/paths.js";
import { FIXTURES, killAll, spawnFixture, stopServer, uniqueName, until, type Child } from "./helpers.js";

const floods = suite("floods");
floods.after(() => killAll());

/** CPU seconds `pid` has run so far: the scheduler's own count, in ns (/proc/<pid>/schedstat,
 *  first field). /proc/<pid>/stat's utime + stime count 10 ms ticks, each given to whatever
 *  runs when it falls: a server that runs in bursts of tens of µs (a call, a wake-up) is
 *  over- or under-counted by whole ticks, ±1 % of a core over a second's measure. */
function cpuSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
  } catch {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }
}

floods("a client that wakes the server with nothing in its ring is throttled: server CPU bounded, another client served", async () => {
  const name = uniqueName("waker");
  const server = await spawnFixture("server.js", [name]);
  let waker: Child | undefined;
  const client = new Client(name);
  try {
    waker = await spawnFixture("waker.js", [join(runtimeDir(), name.slice(1) + ".sock"), "2000"]);
    let calls = 0;
    /** The server's CPU share while the other client calls every 50 ms until `done`. (Every
     *  5 ms, its calls cost the server 2-3 % of a core on a loaded machine, varying by more
     *  than the attack's whole cost from one phase to the other: the figure measured them.) */
    const measure = async (done: () => boolean): Promise<number> => {
      const cpu0 = cpuSeconds(server.pid);
      const t0 = performance.now();
      while (!done()) {
        assert.is(await client.asyncCall("add", calls, 1), calls + 1);
        calls++;
        await new Promise((r) => setTimeout(r, 50));
      }
      return (cpuSeconds(server.pid) - cpu0) / ((performance.now() - t0) / 1000);
    };
    const quietEnd = performance.now() + 1000;
    const quiet = await measure(() => performance.now() > quietEnd);
    const before = calls;
    waker.proc.stdin!.write("go\n");
    const attacked = await measure(() => /sent \d+/.test(waker!.output()));
    const sent = Number(/sent (\d+)/.exec(waker.output())![1]);
    console.log(`  waker: ${sent} wake packets in 2 s; server CPU ${(attacked * 100).toFixed(1)} % of a core (${(quiet * 100).toFixed(1)} % without it); ${calls - before} calls of another client served meanwhile`);
    // Unthrottled, the attack added 88 % of a core in the review (27 % here on a loaded
    // machine, 2 cores for 8 agents). Throttled (at most 50 empty wake-ups per 100 ms, then
    // pauses of 10 ms doubling to 1 s), it added 4.7-5.4 % under two CPU hogs while each
    // empty wake-up of a parked server made a turn that spun 50 µs for nothing; staying
    // parked instead, 0.6-1.7 % (5 runs each). Margin: 3 %.
    assert.ok(attacked - quiet < 0.03, `the attack added ${((attacked - quiet) * 100).toFixed(1)} % of a core`);
    assert.ok(calls - before >= 10, "the other client was served meanwhile");
  } finally {
    client.close();
    if (waker) waker.proc.stdin!.end();
    await stopServer(server);
  }
});

floods("accept failing with EMFILE backs off: server CPU and log lines bounded, served again once fds are free", async () => {
  const name = uniqueName("emfile");
  const server = await spawnFixture("server.js", [name]);
  const proc = server.proc;
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const held: number[] = [];
  try {
    // Its fd limit lowered under it (maxConnections was sized for the old one): a few fds left.
    const open = readdirSync(`/proc/${server.pid}/fd`).length;
    const r = spawnSync("prlimit", ["--pid", String(server.pid), `--nofile=${open + 4}:${open + 4}`]);
    assert.is(r.status, 0, String(r.stderr));
    const path = join(runtimeDir(), name.slice(1) + ".sock");
    for (let i = 0; i < 100; i++) {
      try {
        held.push(native.connectUnix(path));
      } catch {
        break; // backlog full
      }
    }
    await until(() => /EMFILE/.test(out), 5000, "accept to fail with EMFILE");
    const linesBefore = out.split("\n").length;
    const cpu0 = cpuSeconds(proc.pid!);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const seconds = (performance.now() - t0) / 1000;
    const share = (cpuSeconds(proc.pid!) - cpu0) / seconds;
    const lines = out.split("\n").length - linesBefore;
    console.log(`  EMFILE: server CPU ${(share * 100).toFixed(1)} % of a core, ${lines} log lines in ${seconds.toFixed(2)} s`);
    // Spinning took 60 % of a core on a quiet machine (19 % on a loaded one); backing off, 0.5 %. Margin: 8 %.
    assert.ok(share < 0.08, `server CPU ${(share * 100).toFixed(1)} % of a core while out of fds`);
    assert.ok(lines <= 3 * Math.ceil(seconds) + 2, `${lines} log lines in ${seconds.toFixed(2)} s`);
    for (const fd of held.splice(0)) native.closeFd(fd);
    const client = new Client(name, { timeoutMs: 10_000 });
    try {
      assert.is(await client.asyncCall("add", 1, 2), 3, "served once fds are free");
    } finally {
      client.close();
    }
  } finally {
    for (const fd of held) native.closeFd(fd);
    await stopServer(server);
  }
});

floods("a maxConnections over what RLIMIT_NOFILE allows is clamped, and said", async () => {
  const name = uniqueName("clamp");
  const proc = spawn("prlimit", ["--nofile=128:128", process.execPath, join(FIXTURES, "server.js"), name, JSON.stringify({ maxConnections: 100_000 })], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    await until(() => /ready/.test(out), 10_000, "the server");
    assert.match(out, /ERR_RPC_RESOURCE_EXHAUSTED: option maxConnections \(100000\)/);
  } finally {
    proc.stdin.end();
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once("exit", r)));
  }
});

floods("a user the server does not allow, connecting in a loop, costs a few report lines a second, not one per connect", async () => {
  if (process.getuid?.() !== 0) {
    console.log("  (skipped: switching to another uid needs root)");
    return;
  }
  const dir = mkdtempSync("/tmp/shmrpc-floods-");
  chmodSync(dir, 0o755);
  const socketPath = join(dir, "flood.sock");
  const name = uniqueName("refused");
  // Shared (another user may reach the socket), but only uid 65533 allowed: 65534 is refused.
  const server = await spawnFixture("server.js", [name, JSON.stringify({ socketPath, allowUsers: [65533] })]);
  try {
    const loop = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, join(FIXTURES, "connect-loop.js"), socketPath, "2000"], { encoding: "utf8", timeout: 20_000 });
    const connects = Number(/done (\d+)/.exec(loop.stdout)?.[1] ?? 0);
    assert.ok(connects > 100, `the loop connected ${connects} times: ${loop.stderr}`);
    await new Promise((r) => setTimeout(r, 1200)); // the last summary
    const lines = server.output().split("\n").filter((l) => /ERR_RPC_ACCESS_DENIED/.test(l));
    console.log(`  ${connects} refused connects in 2 s: ${lines.length} report lines`);
    assert.ok(lines.length <= 8, `${lines.length} report lines for ${connects} refusals`);
    assert.match(lines.join("\n"), /more refused/, "the rest told as a summary with its count");
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
});

floods.run();
