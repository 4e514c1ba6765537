// Who may connect, and to whom. A server listens in a directory only its user can
// enter; to serve other users it listens at an explicit socketPath, and the kernel's
// credentials (SO_PEERCRED) decide: its own user, allowUsers, allowGroups. A client
// talks only to a server of its own user unless it names another (serverUid). A token
// is proven by HMAC over fresh nonces, never sent.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client, Server, RpcError } from "../src/index.js";
import { FIXTURES, uniqueName, rejection, spawnFixture, stopServer, killAll, leftovers, until } from "./helpers.js";

const access = suite("access");
access.after(() => killAll());

const NOBODY = 65534;
const OTHER = 65533;
const isRoot = process.getuid?.() === 0;

/** A directory every user can enter, for explicit socket paths. */
function sharedDir(): string {
  const dir = mkdtempSync("/tmp/shmrpc-access-");
  chmodSync(dir, 0o755);
  return dir;
}

/** Runs try-call as `uid`; undefined when that user cannot run the checkout's code. */
async function callAs(uid: number, name: string, options: object = {}, method = "add"): Promise<string | undefined> {
  const kid = spawn(process.execPath, [join(FIXTURES, "try-call.js"), name, method, "[1,2]", JSON.stringify(options)], { uid, gid: uid });
  let out = "";
  kid.stdout.on("data", (d: Buffer) => (out += d.toString()));
  kid.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => kid.on("exit", r));
  const line = out.split("\n").find((l) => /^(error|result) /.test(l));
  if (line === undefined) console.log(`  (skipped: uid ${uid} cannot run the fixture: ${out.split("\n")[0]})`);
  return line;
}

function needsRoot(): boolean {
  if (!isRoot) console.log("  (skipped: switching to another uid needs root)");
  return isRoot;
}

async function serving(options: ConstructorParameters<typeof Server>[1]): Promise<{ server: Server; name: string; errors: RpcError[]; calls: () => number }> {
  const name = uniqueName("access");
  const errors: RpcError[] = [];
  let calls = 0;
  const server = new Server(name, { ...options, onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => (calls++, a + b));
  void server.run();
  return { server, name, errors, calls: () => calls };
}

access("another user cannot reach a server in its owner's runtime directory", async () => {
  if (!needsRoot()) return;
  const { server, name } = await serving({});
  try {
    // Its own runtime directory has no such server; the owner's is closed to it.
    const own = await callAs(NOBODY, name);
    if (own === undefined) return;
    assert.is(own, "error ERR_RPC_NOT_CONNECTED");
    assert.is(await callAs(NOBODY, name, { socketPath: server.socketPath, serverUid: 0 }), "error ERR_RPC_ACCESS_DENIED");
  } finally {
    await server.close();
  }
  assert.equal(leftovers(name), []);
});

access("at a shared socket path another user is refused unless allowUsers names it", async () => {
  if (!needsRoot()) return;
  const dir = sharedDir();
  try {
    const closed = await serving({ socketPath: join(dir, "closed.sock") });
    const refused = await callAs(NOBODY, closed.name, { socketPath: closed.server.socketPath, serverUid: 0 });
    await closed.server.close();
    if (refused === undefined) return;
    assert.is(refused, "error ERR_RPC_ACCESS_DENIED", "the socket itself is the owner's only");

    const open = await serving({ socketPath: join(dir, "open.sock"), allowUsers: [NOBODY] });
    assert.is(await callAs(NOBODY, open.name, { socketPath: open.server.socketPath, serverUid: 0 }), "result 3");
    assert.is(await callAs(OTHER, open.name, { socketPath: open.server.socketPath, serverUid: 0 }), "error ERR_RPC_ACCESS_DENIED", "only the user named");
    assert.ok(open.errors.some((e) => e.code === "ERR_RPC_ACCESS_DENIED" && /uid 65533/.test(e.message)), "the refusal is reported with the kernel's uid");
    assert.is(open.calls(), 1, "the refused user's call never ran");
    await open.server.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

access("allowGroups lets in the members of a group", async () => {
  if (!needsRoot()) return;
  const dir = sharedDir();
  try {
    const open = await serving({ socketPath: join(dir, "g.sock"), allowGroups: [NOBODY] });
    const result = await callAs(NOBODY, open.name, { socketPath: open.server.socketPath, serverUid: 0 });
    if (result !== undefined) assert.is(result, "result 3");
    await open.server.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

access("a client talks to a server of another user only when it names that user (serverUid)", async () => {
  if (!needsRoot()) return;
  const dir = sharedDir();
  chmodSync(dir, 0o1777); // the other user creates its socket here
  const name = uniqueName("access-srv");
  const socketPath = join(dir, "other.sock");
  let server;
  try {
    server = await spawnFixture("server.js", [name, JSON.stringify({ socketPath, allowUsers: [0] })], "ready", 10_000, { uid: NOBODY, gid: NOBODY });
  } catch (e) {
    console.log(`  (skipped: uid ${NOBODY} cannot run the server fixture: ${(e as Error).message.split("\n")[0]})`);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  try {
    // An impostor for all this client knows: it hangs up before saying anything.
    const wary = new Client(name, { socketPath, timeoutMs: 5000 });
    const err = await rejection(wary.asyncCall("count"));
    assert.is(err.code, "ERR_RPC_ACCESS_DENIED");
    assert.is(err.maybeExecuted, false);
    assert.match(err.message, /uid 65534/);
    wary.close();
    const trusting = new Client(name, { socketPath, serverUid: NOBODY, timeoutMs: 5000 });
    assert.is(await trusting.asyncCall("count"), 1, "the server never received the wary client's call");
    trusting.close();
    assert.is(await stopServer(server), 0);
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

access("a server with a token refuses clients without it or with another one", async () => {
  const { server, name, errors, calls } = await serving({ token: "s3cret-s3cret-s3cret", refusalReportMs: 0 });
  try {
    for (const token of [undefined, "wrong-wrong-wrong-wrong", "s3cret-s3cret-s3cret!"]) {
      const client = new Client(name, token === undefined ? {} : { token });
      const err = await rejection(client.asyncCall("add", 1, 2));
      client.close();
      assert.is(err.code, "ERR_RPC_ACCESS_DENIED", `token ${token}`);
      assert.is(err.maybeExecuted, false);
    }
    const good = new Client(name, { token: Buffer.from("s3cret-s3cret-s3cret") }); // bytes or string alike
    assert.is(await good.asyncCall("add", 1, 2), 3);
    good.close();
    assert.is(calls(), 1, "no refused call ran");
    // The client proves first (protocol 5): every wrong token reaches the server's refusal.
    await until(() => errors.length >= 3, 3000, "three refusals reported");
    assert.ok(errors.every((e) => e.code === "ERR_RPC_ACCESS_DENIED"), "the server's refusals are reported");
  } finally {
    await server.close();
  }
});

access("a client with another token than the server's is refused (the impostor case: connections.test)", async () => {
  const { server, name } = await serving({ token: "theirs-theirs-theirs" });
  try {
    const client = new Client(name, { token: "ours-ours-ours-ours" });
    const err = await rejection(client.asyncCall("add", 1, 2));
    assert.is(err.code, "ERR_RPC_ACCESS_DENIED");
    client.close();
  } finally {
    await server.close();
  }
});

access("bad access options are refused with ERR_RPC_INVALID_ARGUMENT", () => {
  for (const options of [
    { allowUsers: [-1], socketPath: "/tmp/x.sock" }, { allowUsers: "0", socketPath: "/tmp/x.sock" }, { allowGroups: [1.5], socketPath: "/tmp/x.sock" },
    { token: "" }, { token: 42 }, { allowUsers: [1] }, { socketPath: "relative.sock" }, { socketPath: "/" + "x".repeat(200) },
    { maxRingBytes: 0 }, { maxMappedBytes: -1 }, { maxConnections: Number.NaN }, { handshakeTimeoutMs: "5" },
  ]) {
    try {
      new Server(uniqueName("bad"), options as never);
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT", JSON.stringify(options));
    }
  }
  for (const options of [{ token: "" }, { serverUid: -1 }, { serverUid: "0" }, { socketPath: 7 }]) {
    try {
      new Client(uniqueName("bad"), options as never);
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT", JSON.stringify(options));
    }
  }
});

access("a crashed server restarts at a shared socketPath though an allowed user tried to hold a read lock on its lock file (private: 0600)", async () => {
  if (!needsRoot()) return;
  const dir = sharedDir();
  const socketPath = join(dir, "restart.sock");
  const name = uniqueName("restart");
  const options = JSON.stringify({ socketPath, allowUsers: [NOBODY] });
  let holder: ReturnType<typeof spawn> | undefined;
  try {
    const first = await spawnFixture("server.js", [name, options]);
    assert.is(statSync(socketPath + ".lock").mode & 0o777, 0o600, "the lock file is private");
    // The allowed user opens the lock file and holds a read lock (fcntl: OFD and POSIX locks conflict).
    // The allowed user tries, in a loop, to open the lock file and hold a read lock on it
    // (fcntl: OFD and POSIX locks conflict): the live server's write lock keeps it out, and
    // the moment the server crashes it would get in and keep every restart out.
    holder = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", [
      "import fcntl, os, sys, time",
      "said = None",
      "while True:",
      "  try:",
      "    fd = os.open(sys.argv[1], os.O_RDONLY)",
      "  except OSError as e:",
      "    if said != e.errno: print('cannot open', e.errno, flush=True); said = e.errno",
      "    time.sleep(0.005); continue",
      "  try:",
      "    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)",
      "    print('held', flush=True)",
      "    time.sleep(60)",
      "  except OSError:",
      "    os.close(fd); time.sleep(0.005)",
    ].join("\n"), socketPath + ".lock"], { stdio: ["ignore", "pipe", "pipe"] });
    let said = "";
    holder.stdout!.on("data", (d: Buffer) => (said += d.toString()));
    holder.stderr!.on("data", (d: Buffer) => (said += d.toString()));
    first.proc.kill("SIGKILL"); // crashed: its socket and lock file stay
    await first.exited;
    // Give the other user its chance: it holds the lock, or it cannot open the file at all.
    await until(() => /held\n|cannot open \d+\n/.test(said), 10_000, "the other user's attempt");
    assert.match(said, /cannot open 13/, `EACCES: the lock file is not open to other users (said: ${said})`);
    const second = await spawnFixture("server.js", [name, options]);
    try {
      const client = new Client(name, { socketPath });
      assert.is(await client.asyncCall("add", 1, 2), 3, "the restarted server serves");
      client.close();
      // The other user still learns that it lives: it connects and calls.
      assert.is(await callAs(NOBODY, name, { socketPath, serverUid: 0 }), "result 3");
    } finally {
      await stopServer(second);
    }
  } finally {
    holder?.kill("SIGKILL");
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

access("a lock file an earlier version left open to others (0644) is replaced when no live server holds it", async () => {
  const dir = sharedDir();
  const socketPath = join(dir, "legacy.sock");
  try {
    writeFileSync(socketPath + ".lock", "", { mode: 0o644 });
    chmodSync(socketPath + ".lock", 0o644);
    const { server } = await serving({ socketPath });
    try {
      assert.is(statSync(socketPath + ".lock").mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

access("$shmrpc.stats tells a caller of another user only its own connections and no error texts", async () => {
  if (!needsRoot()) return;
  const dir = sharedDir();
  const { server, name } = await serving({ socketPath: join(dir, "stats.sock"), allowUsers: [NOBODY] });
  server.bind("fail", () => {
    throw new Error("password=hunter2");
  });
  const own = new Client(name, { socketPath: server.socketPath });
  try {
    await rejection(own.asyncCall("fail"));
    const line = await callAs(NOBODY, name, { socketPath: server.socketPath, serverUid: 0 }, "$shmrpc.stats");
    if (line === undefined) return;
    assert.match(line, /^result /);
    const seen = JSON.parse(line.slice("result ".length)) as { connections: { uid: number }[]; endpoints: { last_error: string }[] };
    assert.ok(seen.connections.length >= 1 && seen.connections.every((c) => c.uid === NOBODY), `connections shown: ${JSON.stringify(seen.connections)}`);
    assert.not.ok(line.includes("hunter2"), "another client's error text");
    // The server's own user sees everything.
    const all = await own.asyncCall<{ connections: { uid: number }[]; endpoints: { name: string; last_error: string }[] }>("$shmrpc.stats");
    assert.ok(all.endpoints.some((e) => e.last_error.includes("hunter2")));
  } finally {
    own.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

access.run();
