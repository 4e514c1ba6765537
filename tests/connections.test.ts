// The connection layer under attack: memory that cannot be resized under anyone,
// garbage that costs only its writer, squatting and impersonation by another user,
// replayed handshakes, floods of connections, budgets, and nothing in /dev/shm, ever.
// Attacks on a process's memory go through /proc/<pid>/map_files (the memfds are
// closed once mapped, so /proc/<pid>/fd has nothing to offer).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, ftruncateSync, fstatSync, openSync, readdirSync, readlinkSync, writeSync, mkdtempSync, chmodSync, rmSync, writeFileSync, mkdirSync, lstatSync } from "node:fs";
import { createHmac, createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { Client, RpcError, Server } from "../src/index.js";
import { connectionBytes } from "../src/connection/listener.js";
import { native } from "../src/native.js";
import { L } from "../src/core/layout.js";
import { runtimeDir } from "../src/connection/paths.js";
import { ask, killAll, rejection, serverStats, spawnFixture, spawnServer, stopServer, uniqueName, until, type Child } from "./helpers.js";

const conns = suite("connections");
conns.after(killAll);

const isRoot = process.getuid?.() === 0;
const shmBefore = new Set(readdirSync("/dev/shm"));

/** The shmrpc memfd mappings of process `pid`, as openable paths. */
function memfdMappings(pid: number | "self"): string[] {
  const dir = `/proc/${pid}/map_files`;
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    try {
      if (readlinkSync(join(dir, entry)).startsWith("/memfd:shmrpc:")) found.push(join(dir, entry));
    } catch {
      // Unmapped meanwhile.
    }
  }
  return found;
}

/** Tries to shrink each mapping's file to 0 and to grow it by a page: every attempt
 *  must be refused by the kernel (the seals). Returns how many files were tried. */
function resizeAll(paths: string[]): number {
  for (const path of paths) {
    const fd = openSync(path, "r+");
    try {
      const size = fstatSync(fd).size;
      for (const to of [0, size - 4096, size + 4096]) {
        let code = "";
        try {
          ftruncateSync(fd, to);
        } catch (e) {
          code = (e as NodeJS.ErrnoException).code ?? "";
        }
        assert.is(code, "EPERM", `ftruncate(${path}, ${to})`);
      }
      assert.is(fstatSync(fd).size, size, "the size is unchanged");
    } finally {
      closeSync(fd);
    }
  }
  return paths.length;
}

function needsRoot(what: string): boolean {
  if (!isRoot) console.log(`  (skipped: ${what} needs root)`);
  return isRoot;
}

conns("no process can shrink or grow a connection's memory: the server's, the client's, in-process or not", async () => {
  if (!needsRoot("opening another process's map_files")) return;
  const name = uniqueName("seal");
  const server = await spawnServer(name);
  const steady = await spawnFixture("steady-client.js", [name]);
  const victim = new Client(name);
  try {
    assert.is(await victim.asyncCall("add", 1, 2), 3);
    const ours = memfdMappings("self");
    assert.ok(resizeAll(ours) >= 1, "this client's memory was tried");
    const theirs = memfdMappings(server.pid);
    assert.ok(resizeAll(theirs) >= 2, "the server's memory of both clients was tried");
    // All alive and served; a new client connects.
    assert.is(victim.call("add", 2, 2), 4);
    assert.is(await victim.asyncCall("add", 3, 3), 6);
    const fresh = new Client(name);
    assert.is(fresh.call("add", 4, 4), 8);
    fresh.close();
    assert.is(server.proc.exitCode, null, "the server lives");
  } finally {
    victim.close();
    steady.proc.stdin!.end();
    await steady.exited;
    await stopServer(server);
  }
  const done = steady.output().split("\n").find((l) => l.startsWith("done "))!;
  assert.is(Number(done.split(" ")[2]), 0, `the steady client saw no error: ${done}`);
});

conns("random bytes over the whole of a client's memory for a second cost only that client", async () => {
  if (!needsRoot("opening another process's map_files")) return;
  const name = uniqueName("scribble");
  const server = await spawnServer(name);
  const steady = await spawnFixture("steady-client.js", [name]);
  const vandal = await spawnFixture("peer-client.js", [name, JSON.stringify({ timeoutMs: 2000, ringBytes: 65536 })]);
  try {
    assert.is(await ask(vandal, "acall add [1,1]", "aresult"), "2");
    const paths = memfdMappings(vandal.pid);
    assert.ok(paths.length >= 1);
    const fds = paths.map((p) => openSync(p, "r+"));
    const end = Date.now() + 1000;
    let writes = 0;
    while (Date.now() < end) {
      for (const fd of fds) {
        const size = fstatSync(fd).size;
        const chunk = randomBytes(4096);
        writeSync(fd, chunk, 0, chunk.length, Math.floor(Math.random() * (size / 4096)) * 4096);
        writes++;
      }
      if (writes % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const fd of fds) closeSync(fd);
    // The vandal's own calls may fail (or even succeed); the others' never do.
    const fresh = new Client(name);
    assert.is(await fresh.asyncCall("add", 5, 5), 10, "a new client connects afterwards");
    fresh.close();
    assert.is(server.proc.exitCode, null, "the server lives");
  } finally {
    vandal.kill();
    steady.proc.stdin!.end();
    await steady.exited;
    await stopServer(server);
  }
  const done = steady.output().split("\n").find((l) => l.startsWith("done "))!;
  assert.is(Number(done.split(" ")[2]), 0, `the steady client saw no error: ${done}`);
});

conns("another user can neither take a name nor squat on the runtime directory", async () => {
  if (!needsRoot("switching to another uid")) return;
  const name = uniqueName("squat");
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  // Before the server starts: the directory is closed to others.
  const before = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `: > '${path}.lock'; : > '${path}'`], { encoding: "utf8" });
  assert.ok(before.status !== 0 && /Permission denied/.test(before.stderr), before.stderr);
  const server = new Server(name);
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  try {
    const after = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `rm -f '${path}'; : > '${path}'`], { encoding: "utf8" });
    assert.ok(after.status !== 0, "nor after it started");
    const client = new Client(name);
    assert.is(await client.asyncCall("add", 1, 2), 3);
    client.close();
  } finally {
    await server.close();
    await done;
  }
});

conns("a squatted /tmp directory moves servers and clients alike to the home directory", async () => {
  if (!needsRoot("switching to another uid")) return;
  // A user whose /tmp directory does not exist yet, squatted by another user first.
  const uid = 40000 + (process.pid % 10000);
  const home = mkdtempSync("/tmp/shmrpc-home-");
  chmodSync(home, 0o700);
  spawnSync("chown", [`${uid}:${uid}`, home]);
  const squatted = `/tmp/shmrpc-${uid}`;
  rmSync(squatted, { recursive: true, force: true });
  mkdirSync(squatted, { mode: 0o777 });
  chmodSync(squatted, 0o777);
  spawnSync("chown", ["65534:65534", squatted]);
  try {
    const script = join(home, "run.mjs");
    writeFileSync(script, `
      const { Server, Client } = await import(${JSON.stringify(new URL("../src/index.js", import.meta.url).href)});
      const s = new Server("/home-test"); s.bind("add", (a, b) => a + b); void s.run();
      const c = new Client("/home-test"); console.log("result", await c.asyncCall("add", 20, 22), s.socketPath);
      c.close(); await s.close();
    `);
    chmodSync(script, 0o644);
    spawnSync("chown", [`${uid}:${uid}`, script]);
    const run = spawnSync(process.execPath, [script], { uid, gid: uid, env: { HOME: home, PATH: process.env.PATH }, encoding: "utf8", timeout: 20_000 });
    if (/EACCES|permission denied/i.test(run.stderr) && !/result/.test(run.stdout)) {
      console.log(`  (skipped: uid ${uid} cannot run the checkout's code: ${run.stderr.split("\n")[0]})`);
      return;
    }
    assert.match(run.stdout, new RegExp(`result 42 ${home}/.shmrpc-run/home-test.sock`), run.stdout + run.stderr);
    assert.is(lstatSync(squatted).uid, 65534, "the squatter's directory was left alone");
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(squatted, { recursive: true, force: true });
  }
});

conns("with /tmp squatted and a HOME not its own, new Server() succeeds and run() rejects with ERR_RPC_ACCESS_DENIED", async () => {
  if (!needsRoot("switching to another uid")) return;
  const uid = 40000 + ((process.pid + 1) % 10000);
  const home = mkdtempSync("/tmp/shmrpc-home-"); // root's: not the user's own
  chmodSync(home, 0o755);
  const squatted = `/tmp/shmrpc-${uid}`;
  rmSync(squatted, { recursive: true, force: true });
  mkdirSync(squatted, { mode: 0o777 });
  chmodSync(squatted, 0o777);
  spawnSync("chown", ["65534:65534", squatted]);
  try {
    const script = join(home, "run.mjs");
    writeFileSync(script, `
      const { Server } = await import(${JSON.stringify(new URL("../src/index.js", import.meta.url).href)});
      let s;
      try { s = new Server("/home-test"); } catch (e) { console.log("constructor threw", e.code); process.exit(0); }
      console.log("constructed");
      await s.run().then(() => console.log("ran"), (e) => console.log("run rejected", e.code));
    `);
    chmodSync(script, 0o644);
    const run = spawnSync(process.execPath, [script], { uid, gid: uid, env: { HOME: home, PATH: process.env.PATH }, encoding: "utf8", timeout: 20_000 });
    assert.match(run.stdout, /constructed\nrun rejected ERR_RPC_ACCESS_DENIED/, run.stdout + run.stderr);
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(squatted, { recursive: true, force: true });
  }
});

conns("a replayed handshake is refused: the proofs are bound to fresh nonces", async () => {
  const name = uniqueName("replay");
  const errors: RpcError[] = [];
  const server = new Server(name, { token: "s3cret-s3cret-s3cret", onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const key = createHash("sha256").update("s3cret-s3cret-s3cret").digest();
  const buf = Buffer.alloc(600);
  const hello = (nonce: Buffer): Buffer => {
    const b = Buffer.alloc(52);
    b[0] = 1;
    b.writeUInt32LE(0x524d4853, 4);
    b.writeUInt32LE(L.PROTOCOL_VERSION, 8);
    b.writeUInt32LE(65536, 12);
    b.writeUInt32LE(1, 16);
    nonce.copy(b, 20);
    return b;
  };
  const receive = async (fd: number): Promise<{ bytes: number; fds: number[] }> => {
    let got: { bytes: number; fds: number[] } | null = null;
    await until(() => (got = native.recvPacket(fd, buf)) !== null, 3000, "the server's answer");
    return got!;
  };
  const clientNonce = randomBytes(32);
  const fds: number[] = [];
  try {
    // A real exchange, recorded.
    const a = native.connectUnix(server.socketPath);
    fds.push(a);
    native.sendPacket(a, hello(clientNonce));
    await receive(a);
    assert.is(buf[0], 2, "a CHALLENGE");
    const serverNonce = Buffer.from(buf.subarray(8, 40));
    const auth = Buffer.alloc(36);
    auth[0] = 3;
    createHmac("sha256", key).update("shmrpc client proof").update(serverNonce).update(clientNonce).digest().copy(auth, 4);
    native.sendPacket(a, auth);
    const accepted = await receive(a);
    assert.is(buf[0], 4, "an ACCEPT");
    assert.is(accepted.fds.length, 1, "with the memory");
    for (const fd of accepted.fds) native.closeFd(fd);
    // The same HELLO and AUTH again: the server's nonce is new, the old proof is worthless.
    const b = native.connectUnix(server.socketPath);
    fds.push(b);
    native.sendPacket(b, hello(clientNonce));
    await receive(b);
    assert.is(buf[0], 2);
    assert.not.equal(Buffer.from(buf.subarray(8, 40)), serverNonce, "a fresh server nonce");
    native.sendPacket(b, auth);
    const refused = await receive(b);
    assert.is(buf[0], 5, "a REFUSE");
    assert.is(buf.readUInt32LE(8), L.REASON_ACCESS);
    assert.is(refused.fds.length, 0, "and no memory");
    await until(() => errors.some((e) => e.code === "ERR_RPC_ACCESS_DENIED"), 3000, "the refusal to be reported");
  } finally {
    for (const fd of fds) native.closeFd(fd);
    await server.close();
    await done;
  }
});

conns("a peer that stops after CHALLENGE, or sends a wrong AUTH, gets nothing derived from the token to crack offline", async () => {
  const name = uniqueName("oracle");
  const token = "abcde-0123456789-xyz";
  const errors: RpcError[] = [];
  const server = new Server(name, { token, onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const key = createHash("sha256").update(token).digest();
  const buf = Buffer.alloc(600);
  const fds: number[] = [];
  const receive = async (fd: number): Promise<Buffer> => {
    let got: { bytes: number; fds: number[] } | null = null;
    await until(() => (got = native.recvPacket(fd, buf)) !== null, 3000, "the server's answer");
    for (const f of got!.fds) native.closeFd(f);
    return Buffer.from(buf.subarray(0, got!.bytes));
  };
  // What an attacker with a dictionary holding the right token would test every received
  // byte string against: the HMAC of either label over the two nonces, under the token's key.
  const oracle = (seen: Buffer[], clientNonce: Buffer, serverNonce: Buffer): boolean => {
    const proofs = ["shmrpc server proof", "shmrpc client proof"].flatMap((label) => [
      createHmac("sha256", key).update(label).update(clientNonce).update(serverNonce).digest(),
      createHmac("sha256", key).update(label).update(serverNonce).update(clientNonce).digest(),
    ]);
    return seen.some((m) => proofs.some((p) => m.includes(p)));
  };
  try {
    for (const wrongAuth of [false, true]) {
      const fd = native.connectUnix(server.socketPath);
      fds.push(fd);
      const clientNonce = randomBytes(32);
      const hello = Buffer.alloc(52);
      hello[0] = 1;
      hello.writeUInt32LE(0x524d4853, 4);
      hello.writeUInt32LE(L.PROTOCOL_VERSION, 8);
      hello.writeUInt32LE(65536, 12);
      hello.writeUInt32LE(1, 16); // "I hold a token"
      clientNonce.copy(hello, 20);
      native.sendPacket(fd, hello);
      const challenge = await receive(fd);
      assert.is(challenge[0], 2, "a CHALLENGE");
      const serverNonce = challenge.subarray(8, 40);
      const seen = [challenge];
      if (wrongAuth) {
        const auth = Buffer.alloc(36);
        auth[0] = 3;
        randomBytes(32).copy(auth, 4);
        native.sendPacket(fd, auth);
        const answer = await receive(fd);
        assert.is(answer[0], 5, "a REFUSE");
        seen.push(answer);
      }
      assert.not.ok(oracle(seen, clientNonce, serverNonce), `the server sent a proof of its token ${wrongAuth ? "to a wrong AUTH" : "before any AUTH"}`);
    }
    await until(() => errors.some((e) => e.code === "ERR_RPC_ACCESS_DENIED"), 3000, "the wrong AUTH to be reported");
    // The real client still connects (and checks the server's proof in ACCEPT).
    const client = new Client(name, { token });
    assert.is(await client.asyncCall("add", 2, 3), 5);
    client.close();
  } finally {
    for (const fd of fds) native.closeFd(fd);
    await server.close();
    await done;
  }
});

conns("tokens shorter than 16 bytes are refused by Server and Client with ERR_RPC_INVALID_ARGUMENT", () => {
  for (const token of ["abcde", "x".repeat(15), Buffer.alloc(15), "\u00e9".repeat(7)]) {
    for (const make of [() => new Server(uniqueName("short"), { token }), () => new Client(uniqueName("short"), { token })]) {
      try {
        make();
        assert.unreachable(`token of ${Buffer.byteLength(token as string)} bytes taken`);
      } catch (e) {
        assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT");
      }
    }
  }
  // 16 bytes (here 8 two-byte characters) are enough.
  void new Server(uniqueName("long"), { token: "\u00e9".repeat(8) }).close();
  new Client(uniqueName("long"), { token: Buffer.alloc(16) }).close();
});

conns("1,000 connections dropped without a word and 200 half-finished handshakes cost a steady client nothing and leak no fd", async () => {
  const name = uniqueName("flood");
  const server = await spawnFixture("probe-server.js", [name, JSON.stringify({ handshakeTimeoutMs: 1000 })]);
  const steady = await spawnFixture("steady-client.js", [name]);
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  const held: number[] = [];
  try {
    for (let i = 0; i < 1000; i++) {
      try {
        native.closeFd(native.connectUnix(path));
      } catch (e) {
        // A full accept queue (EAGAIN) is the server's backlog doing its job: try again.
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        await new Promise((r) => setTimeout(r, 1));
        i--;
      }
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 200; i++) {
      let fd: number;
      try {
        fd = native.connectUnix(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        await new Promise((r) => setTimeout(r, 1));
        i--;
        continue;
      }
      held.push(fd);
      if (i % 2 === 0) native.sendPacket(fd, Buffer.from([1, 0, 0, 0, 7])); // a garbled HELLO: refused
    }
    const fresh = new Client(name);
    assert.is(await fresh.asyncCall("pid"), server.pid, "a new client gets through meanwhile");
    fresh.close();
    // The silent ones time out (1 s here); every socket of the flood is closed.
    await until(async () => {
      const s = JSON.parse(await ask(server, "stats", "stats")) as { connections: number; socketsHeld: number; handshakes: number; spares: number };
      return s.handshakes === 0 && s.socketsHeld === 2 + s.connections + s.spares;
    }, 15_000, "the server to close every socket of the flood");
    const s = JSON.parse(await ask(server, "stats", "stats")) as { connections: number; socketsHeld: number };
    assert.is(s.connections, 1, "only the steady client is connected");
  } finally {
    for (const fd of held) native.closeFd(fd);
    steady.proc.stdin!.end();
    await steady.exited;
    await ask(server, "close", "closed").catch(() => server.kill());
  }
  const done = steady.output().split("\n").find((l) => l.startsWith("done "))!;
  assert.is(Number(done.split(" ")[2]), 0, `the steady client saw no error: ${done}`);
});

conns("the connection memory a server keeps ready counts in maxMappedBytes and gives way to a client that asks for other rings", async () => {
  const name = uniqueName("spare");
  // Room for one connection of the default rings (2 MiB each way: 4.06 MiB), not for it and a 1 MiB one (2.06 MiB).
  const server = await spawnFixture("probe-server.js", [name, JSON.stringify({ maxMappedBytes: 6 << 20 })]);
  const clients: Client[] = [];
  try {
    assert.is((await serverStats(server)).spares, 1, "a running server has the next client's memory ready");
    const small = new Client(name, { ringBytes: 1 << 20 });
    clients.push(small);
    await small.waitForConnection(10_000); // the spare is given up for it
    const s = await serverStats(server);
    assert.equal([s.connections, s.spares], [1, 0], "connections, spares: no spare beyond the budget");
    const usual = new Client(name);
    clients.push(usual);
    const refused = await rejection(usual.waitForConnection(10_000));
    assert.is(refused.code, "ERR_RPC_RESOURCE_EXHAUSTED", "over the budget, as without a spare");
    small.close();
    await until(async () => (await serverStats(server)).connections === 0, 10_000, "the server to drop the small client");
    const again = new Client(name);
    clients.push(again);
    await again.waitForConnection(10_000);
    assert.is((await serverStats(server)).connections, 1, "the budget's room is back");
  } finally {
    for (const c of clients) c.close();
    await ask(server, "close", "closed").catch(() => server.kill());
  }
});

conns("budgets refuse a connection with ERR_RPC_RESOURCE_EXHAUSTED naming the limit, and kill nothing", async () => {
  const name = uniqueName("budget");
  const server = await spawnServer(name, { maxRingBytes: 1 << 20, maxMappedBytes: 8 << 20 });
  const clients: Client[] = [];
  try {
    const big = new Client(name, { ringBytes: 4 << 20 });
    clients.push(big);
    const t0 = performance.now();
    const err = await rejection(big.waitForConnection(30_000));
    assert.is(err.code, "ERR_RPC_RESOURCE_EXHAUSTED");
    assert.match(err.message, /maxRingBytes/);
    assert.ok(performance.now() - t0 < 10_000, "refused at once, not retried to the deadline");
    // 1 MiB rings: about 2 MiB each, so the 8 MiB budget holds three.
    let refused: RpcError | undefined;
    for (let i = 0; i < 6 && !refused; i++) {
      const c = new Client(name, { ringBytes: 1 << 20 });
      clients.push(c);
      refused = await c.asyncCall("add", i, 1).then(() => undefined, (e: RpcError) => e);
    }
    assert.ok(refused, "the budget ran out");
    assert.is(refused!.code, "ERR_RPC_RESOURCE_EXHAUSTED");
    assert.match(refused!.message, /maxMappedBytes/);
    assert.is(refused!.maybeExecuted, false);
    assert.is(clients[1]!.call("add", 1, 1), 2, "the clients within budget are served");
    assert.is(server.proc.exitCode, null, "the server lives");
    const sync = new Client(name, { ringBytes: 1 << 20 });
    clients.push(sync);
    try {
      sync.call("add", 1, 1);
      assert.unreachable("over budget");
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_RESOURCE_EXHAUSTED", "a synchronous call is refused alike");
    }
  } finally {
    for (const c of clients) c.close();
    await stopServer(server);
  }
});

conns("a server that hands over memory it could still resize (an unsealed file) is refused with ERR_RPC_PROTOCOL", async () => {
  // A stand-in server: answers HELLO with an ACCEPT carrying a plain file of the right size.
  const name = uniqueName("unsealed");
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  const ring = 65536;
  const size = connectionBytes(ring); // what a real server hands over
  const file = join(mkdtempSync("/tmp/shmrpc-unsealed-"), "mem");
  writeFileSync(file, Buffer.alloc(size));
  const fileFd = openSync(file, "r+");
  const listener = native.listenUnix(path, 8, 0o600);
  const buf = Buffer.alloc(600);
  const watcher = new native.FdWatcher(listener, () => {
    const fd = native.acceptUnix(listener);
    if (fd < 0) return;
    void until(() => native.recvPacket(fd, buf) !== null, 3000).then(() => {
      const accept = Buffer.alloc(56); // [..24 bytes][server proof 32: zeros, no token]
      accept[0] = 4; // ACCEPT
      accept.writeUInt32LE(L.PROTOCOL_VERSION, 4);
      accept.writeUInt32LE(size, 8);
      accept.writeUInt32LE(ring, 12);
      accept.writeUInt32LE(ring, 16);
      accept.writeUInt32LE(process.pid, 20);
      native.sendPacket(fd, accept, [fileFd]);
      native.closeFd(fd);
    });
  });
  watcher.ref();
  const client = new Client(name, { ringBytes: ring, timeoutMs: 3000 });
  try {
    const err = await rejection(client.asyncCall("add", 1, 1));
    assert.is(err.code, "ERR_RPC_PROTOCOL");
    assert.match(err.message, /not sealed/);
    assert.is(err.maybeExecuted, false);
  } finally {
    client.close();
    watcher.close();
    native.closeFd(listener);
    closeSync(fileFd);
    rmSync(path, { force: true });
    rmSync(file, { force: true });
  }
});

conns("a server that hands over memory sealed against writes is refused with ERR_RPC_PROTOCOL, not ERR_RPC_ACCESS_DENIED", async () => {
  // A stand-in server in Python (its fcntl can add F_SEAL_WRITE): answers HELLO with an ACCEPT
  // carrying a memfd of the right size, sealed against resizing and against writes.
  const name = uniqueName("wsealed");
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  const ring = 65536;
  const size = connectionBytes(ring); // what a real server hands over
  const script = [
    "import fcntl, os, socket, struct, sys",
    "path, size, ring, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])",
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)",
    "s.bind(path); s.listen(1); print('ready', flush=True)",
    "c, _ = s.accept(); c.recv(600)",
    "fd = os.memfd_create('wsealed', os.MFD_ALLOW_SEALING); os.ftruncate(fd, size)",
    "fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)",
    "accept = struct.pack('<B3xIIIII', 4, version, size, ring, ring, os.getpid()) + bytes(32)",
    "socket.send_fds(c, [accept], [fd]); c.recv(1)",
  ].join("\n");
  const py = spawn("/usr/bin/python3", ["-c", script, path, String(size), String(ring), String(L.PROTOCOL_VERSION)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  py.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  py.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const client = new Client(name, { ringBytes: ring, timeoutMs: 3000 });
  try {
    await until(() => /ready/.test(out), 10_000, `the stand-in server: ${out}`);
    const err = await rejection(client.asyncCall("add", 1, 1));
    assert.is(err.code, "ERR_RPC_PROTOCOL", err.message);
    assert.is(err.maybeExecuted, false);
  } finally {
    client.close();
    py.kill("SIGKILL");
    rmSync(path, { force: true });
  }
});

conns("a client with a token refuses an impostor server that takes its AUTH but cannot prove the token in ACCEPT", async () => {
  // A stand-in server of our own uid: CHALLENGE, then ACCEPT whatever AUTH comes, with a made-up proof.
  const name = uniqueName("impostor");
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  const ring = 65536;
  const size = connectionBytes(ring); // what a real server hands over
  const listener = native.listenUnix(path, 8, 0o600);
  const buf = Buffer.alloc(600);
  let authSeen = false;
  const watcher = new native.FdWatcher(listener, () => {
    const fd = native.acceptUnix(listener);
    if (fd < 0) return;
    void (async () => {
      await until(() => native.recvPacket(fd, buf) !== null, 3000);
      const challenge = Buffer.alloc(40);
      challenge[0] = 2;
      challenge.writeUInt32LE(L.PROTOCOL_VERSION, 4);
      randomBytes(32).copy(challenge, 8);
      native.sendPacket(fd, challenge);
      await until(() => native.recvPacket(fd, buf) !== null, 3000);
      authSeen = buf[0] === 3;
      const accept = Buffer.alloc(56);
      accept[0] = 4;
      accept.writeUInt32LE(L.PROTOCOL_VERSION, 4);
      accept.writeUInt32LE(size, 8);
      accept.writeUInt32LE(ring, 12);
      accept.writeUInt32LE(ring, 16);
      accept.writeUInt32LE(process.pid, 20);
      randomBytes(32).copy(accept, 24);
      const memFd = openSync("/dev/null", "r");
      native.sendPacket(fd, accept, [memFd]);
      closeSync(memFd);
      native.closeFd(fd);
    })();
  });
  watcher.ref();
  const client = new Client(name, { ringBytes: ring, timeoutMs: 3000, token: "ours-ours-ours-ours" });
  try {
    const err = await rejection(client.asyncCall("add", 1, 1));
    assert.ok(authSeen, "the client proved first");
    assert.is(err.code, "ERR_RPC_ACCESS_DENIED");
    assert.is(err.maybeExecuted, false);
  } finally {
    client.close();
    watcher.close();
    native.closeFd(listener);
    rmSync(path, { force: true });
  }
});

conns("rings too big for any WebAssembly memory are refused before connecting", () => {
  for (const ringBytes of [512 << 20, 1 << 30]) {
    try {
      new Client(uniqueName("huge"), { ringBytes });
      assert.unreachable(String(ringBytes));
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT");
    }
  }
});

conns("a server that is not shmrpc (a socket that says nothing) makes a call fail on time, not hang", async () => {
  const name = uniqueName("mute");
  const path = join(runtimeDir(), name.slice(1) + ".sock");
  const listener = native.listenUnix(path, 8, 0o600);
  const client = new Client(name, { timeoutMs: 300 });
  try {
    const err = await rejection(client.asyncCall("add", 1, 1));
    assert.is(err.code, "ERR_RPC_TIMEOUT");
    assert.is(err.maybeExecuted, false);
    try {
      client.call("add", 1, 1);
      assert.unreachable();
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_TIMEOUT");
    }
  } finally {
    client.close();
    native.closeFd(listener);
    rmSync(path, { force: true });
  }
});

conns("two servers racing for one name: exactly one wins, the other gets ERR_RPC_ADDRESS_IN_USE", async () => {
  for (let round = 0; round < 5; round++) {
    const name = uniqueName("race");
    // The fixture prints "ready" before run() settles: the loser exits with the error.
    const both = await Promise.all([0, 1].map(() => spawnServer(name)));
    await Promise.race(both.map((c) => c.exited));
    const down = both.filter((c) => c.proc.exitCode !== null);
    const up = both.filter((c) => c.proc.exitCode === null);
    assert.is(up.length, 1, `round ${round}: one server`);
    assert.match(down[0]!.output(), /ERR_RPC_ADDRESS_IN_USE/);
    const client = new Client(name);
    assert.is(client.call("pid"), up[0]!.pid);
    client.close();
    await stopServer(up[0]!);
  }
});

conns("nothing of shmrpc ever appears in /dev/shm", () => {
  const added = readdirSync("/dev/shm").filter((f) => !shmBefore.has(f) && f.includes(`-${process.pid}-`));
  assert.equal(added, []);
});

conns.run();
