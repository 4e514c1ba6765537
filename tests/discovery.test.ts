// listServers(): every live server this process can see, replicas one entry each, from
// the locks servers hold (never from socket files alone), each asked who it is with a
// bounded wait.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Client, Server, listServers, type ServerListing } from "../src/index.js";
import { replicaDirOf } from "../src/connection/paths.js";
import { L } from "../src/core/layout.js";
import { FIXTURES, uniqueName, spawnServer, stopServer, killAll, until } from "./helpers.js";

const discovery = suite("discovery");
discovery.after(() => killAll());

const NOBODY = 65534;

async function listed(name: string, options = {}): Promise<ServerListing[]> {
  return (await listServers(options)).filter((s) => s.name === name);
}

discovery("a live server is listed with its pid, instance id, counts and protocol version", async () => {
  const name = uniqueName("disc");
  const child = await spawnServer(name);
  const client = new Client(name);
  try {
    await client.asyncCall("add", 1, 2);
    const [s, ...more] = await listed(name);
    assert.is(more.length, 0);
    assert.ok(s);
    assert.is(s!.pid, child.pid);
    assert.is(s!.uid, process.geteuid!());
    assert.is(s!.replica, false);
    assert.is(s!.clients, 1);
    assert.ok(s!.methods >= 15, `the fixture's methods (${s!.methods})`);
    assert.is(s!.protocolVersion, L.PROTOCOL_VERSION);
    assert.ok(s!.mayConnect && s!.responded);
    assert.match(s!.instanceId, /^[0-9a-f]{22}$/);
    assert.ok(Date.now() - s!.startedAt < 60_000 && s!.startedAt <= Date.now());
    // The socketPath reaches exactly this instance.
    const direct = new Client(name, { socketPath: s!.socketPath });
    assert.is(await direct.asyncCall("pid"), child.pid);
    direct.close();
  } finally {
    client.close();
    await stopServer(child);
  }
  assert.equal(await listed(name), [], "a closed server is gone");
});

discovery("a server killed with -9 is not listed, although its socket file remains", async () => {
  const name = uniqueName("disc");
  const child = await spawnServer(name);
  assert.is((await listed(name)).length, 1);
  child.kill("SIGKILL");
  await child.exited;
  const { socketPathOf } = await import("../src/connection/paths.js");
  assert.ok(existsSync(socketPathOf(name, undefined)), "the stale socket is still there");
  assert.equal(await listed(name), []);
});

discovery("replicas are listed one entry each; a killed replica is gone and its socket removed", async () => {
  const name = uniqueName("disc");
  const kids = await Promise.all([0, 1, 2].map(() => spawnServer(name, { replica: true })));
  try {
    const all = await listed(name);
    assert.equal(all.map((s) => s.pid).sort(), kids.map((k) => k.pid).sort());
    assert.ok(all.every((s) => s.replica && s.mayConnect && s.responded));
    assert.is(new Set(all.map((s) => s.instanceId)).size, 3);
    kids[1]!.kill("SIGKILL");
    await kids[1]!.exited;
    const after = await listed(name);
    assert.equal(after.map((s) => s.pid).sort(), [kids[0]!.pid, kids[2]!.pid].sort());
    const dir = replicaDirOf(name, undefined);
    assert.is(readdirSync(dir).filter((f) => f.endsWith(".sock")).length, 2, "the dead replica's socket was removed");
  } finally {
    await Promise.all(kids.map((k) => stopServer(k)));
  }
  assert.equal(await listed(name), []);
  // Closed replicas take their sockets and locks with them; the name's lock file and the
  // (empty) directory stay for the next replica.
  assert.equal(readdirSync(replicaDirOf(name, undefined)), []);
});

discovery("a wedged server costs the listing its probe time, not a hang", async () => {
  const name = uniqueName("disc");
  const child = await spawnServer(name);
  const client = new Client(name);
  try {
    void client.asyncCall("block", 4000).catch(() => {});
    await until(async () => (await listServers({ probeTimeoutMs: 50 })).some((s) => s.name === "" || s.pid === child.pid && !s.responded), 3000, "the server to stop answering");
    const started = performance.now();
    const all = await listServers({ probeTimeoutMs: 300 });
    const took = performance.now() - started;
    const s = all.find((x) => x.pid === child.pid);
    assert.ok(s, "still listed: its lock says it is alive");
    assert.is(s!.responded, false);
    assert.is(s!.mayConnect, true, "our own user's server");
    assert.ok(took < 2000, `took ${took} ms (probe 300 ms; margin for a busy machine)`);
  } finally {
    client.close();
    child.kill("SIGKILL");
  }
});

discovery("a shared socket path is probed when given; another user sees mayConnect false", async () => {
  const dir = mkdtempSync("/tmp/shmrpc-disc-");
  chmodSync(dir, 0o755);
  const name = uniqueName("disc");
  const closed = new Server(name, { socketPath: join(dir, "closed.sock") });
  const open = new Server(name + "o", { socketPath: join(dir, "open.sock"), allowUsers: [NOBODY] });
  void closed.run();
  void open.run();
  try {
    const mine = await listServers({ socketPaths: [closed.socketPath, open.socketPath] });
    assert.ok(mine.some((s) => s.socketPath === closed.socketPath && s.mayConnect && s.pid === process.pid));
    if (process.getuid?.() !== 0) return console.log("  (skipped: switching to another uid needs root)");
    const kid = spawn(process.execPath, [join(FIXTURES, "list-servers.js"), JSON.stringify({ socketPaths: [closed.socketPath, open.socketPath] })], { uid: NOBODY, gid: NOBODY });
    let out = "";
    kid.stdout.on("data", (d: Buffer) => (out += d.toString()));
    kid.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => kid.on("exit", r));
    const line = out.split("\n").find((l) => l.startsWith("listing "));
    if (line === undefined) return console.log(`  (skipped: uid ${NOBODY} cannot run the fixture: ${out.split("\n")[0]})`);
    const theirs = JSON.parse(line.slice("listing ".length)) as ServerListing[];
    const c = theirs.find((s) => s.socketPath === closed.socketPath);
    const o = theirs.find((s) => s.socketPath === open.socketPath);
    // The closed one's socket is its owner's only: only the file's owner and the lock are known.
    assert.ok(c, "listed: its lock shows it alive");
    assert.equal([c!.mayConnect, c!.pid, c!.uid, c!.responded], [false, 0, process.geteuid!(), false]);
    // The open one lets nobody in: it answers.
    assert.ok(o);
    assert.equal([o!.mayConnect, o!.pid, o!.responded, o!.name], [true, process.pid, true, name + "o"]);
  } finally {
    await closed.close();
    await open.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

discovery("a server refusing another user at a shared path shows its pid and mayConnect false", async () => {
  if (process.getuid?.() !== 0) return console.log("  (skipped: switching to another uid needs root)");
  const dir = mkdtempSync("/tmp/shmrpc-disc-");
  chmodSync(dir, 0o755);
  const name = uniqueName("disc");
  // Open socket (allowUsers has someone), but not this user.
  const server = new Server(name, { socketPath: join(dir, "s.sock"), allowUsers: [65533] });
  void server.run();
  try {
    const kid = spawn(process.execPath, [join(FIXTURES, "list-servers.js"), JSON.stringify({ socketPaths: [server.socketPath] })], { uid: NOBODY, gid: NOBODY });
    let out = "";
    kid.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => kid.on("exit", r));
    const line = out.split("\n").find((l) => l.startsWith("listing "));
    if (line === undefined) return;
    const [s] = JSON.parse(line.slice("listing ".length)) as ServerListing[];
    assert.ok(s);
    assert.equal([s!.mayConnect, s!.pid, s!.responded, s!.protocolVersion], [false, process.pid, false, L.PROTOCOL_VERSION]);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

discovery.run();
