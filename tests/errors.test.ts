// Every failure is an RpcError with a code; the connection survives the recoverable ones.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Client, RpcError, Server, type BindOptions } from "../src/index.js";
import { native } from "../src/native.js";
import { rmSync } from "node:fs";
import { L } from "../src/core/layout.js";
import { socketPathOf } from "../src/connection/paths.js";
import { Attempts, retryPolicy } from "../src/calls/retry.js";
import { FIXTURES, until, killAll, rejection, stopServer, spawnFixture, spawnServer, uniqueName, type Child } from "./helpers.js";

const errors = suite("errors");
const name = uniqueName("errors");
let server: Child;

errors.before(async () => {
  server = await spawnServer(name, { maxMessageBytes: 1024 * 1024 });
});
errors.after(async () => {
  assert.is(await stopServer(server), 0);
  killAll();
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RpcError);
    return (e as RpcError).code;
  }
  throw new Error("expected a throw");
}

errors("an unknown method fails with ERR_RPC_METHOD_NOT_FOUND", async () => {
  const client = new Client(name);
  try {
    assert.is(codeOf(() => client.call("nope")), "ERR_RPC_METHOD_NOT_FOUND");
    assert.is((await rejection(client.asyncCall("nope"))).code, "ERR_RPC_METHOD_NOT_FOUND");
    assert.is(client.call("add", 1, 1), 2, "the connection is still usable");
  } finally {
    client.close();
  }
});

errors("a handler's exception reaches the caller as ERR_RPC_REMOTE with name, message and code (its stack only with exposeStacks: stacks.test)", async () => {
  const client = new Client(name);
  try {
    let err: RpcError | undefined;
    try {
      client.call("fail", "bad input");
    } catch (e) {
      err = e as RpcError;
    }
    assert.is(err?.code, "ERR_RPC_REMOTE");
    assert.is(err?.message, "bad input");
    assert.is(err?.remote?.name, "TypeError");
    assert.is(err?.remote?.message, "bad input");
    assert.is(err?.remote?.code, "E_FIXTURE");
    assert.is(err?.remote?.stack, "", "the server did not opt in to sending stacks");
    const later = await rejection(client.asyncCall("failLater", "later"));
    assert.is(later.code, "ERR_RPC_REMOTE");
    assert.is(later.remote?.name, "RangeError");
  } finally {
    client.close();
  }
});

errors("a thrown non-Error value and an unsendable return value are reported, and the server goes on", async () => {
  const client = new Client(name);
  try {
    const thrown = await rejection(client.asyncCall("throwValue", { why: "oops" }));
    assert.is(thrown.code, "ERR_RPC_REMOTE");
    assert.match(thrown.message, /oops/);
    const unsendable = await rejection(client.asyncCall("returnFunction"));
    assert.is(unsendable.code, "ERR_RPC_REMOTE");
    assert.match(unsendable.message, /could not be sent/);
    assert.is(client.call("add", 1, 2), 3);
  } finally {
    client.close();
  }
});

errors("with catchUnhandledRejections: true, a rejection a handler left unhandled is reported and the server goes on", async () => {
  const own = uniqueName("errors-catch");
  const catching = await spawnServer(own, { catchUnhandledRejections: true });
  const client = new Client(own);
  try {
    assert.is(await client.asyncCall("forget"), "forgotten");
    await until(() => /ERR_RPC_REMOTE: a promise rejection nobody handled/.test(catching.output()), 3000, "the report");
    assert.is(await client.asyncCall("add", 2, 2), 4);
    assert.is(catching.proc.exitCode, null);
  } finally {
    client.close();
    await stopServer(catching);
  }
});

errors("by default a server leaves unhandled rejections to its host: Node's own policy applies", async () => {
  // In this process: running a server adds no process-wide listener.
  const before = process.listenerCount("unhandledRejection");
  const local = new Server(uniqueName("errors-local"));
  const done = local.run();
  try {
    assert.is(process.listenerCount("unhandledRejection"), before, "a default server took over unhandledRejection");
  } finally {
    await local.close();
    await done;
  }
  // In a server process of its own: a handler's forgotten rejection ends it, as any
  // unhandled rejection ends a Node process by default.
  const own = uniqueName("errors-default");
  const plain = await spawnServer(own);
  const client = new Client(own);
  try {
    assert.is(await client.asyncCall("forget"), "forgotten");
    const code = await Promise.race([plain.exited, new Promise((r) => setTimeout(r, 5000, "still running"))]);
    assert.is(code, 1, "Node's default for an unhandled rejection");
    assert.match(plain.output(), /nobody waits for this/);
    assert.not.match(plain.output(), /ERR_RPC_REMOTE/);
  } finally {
    client.close();
    plain.kill();
  }
});

errors("an argument that cannot be sent fails at the caller with ERR_RPC_INVALID_ARGUMENT and nothing is sent", async () => {
  const client = new Client(name);
  try {
    const before = client.call<number>("count");
    assert.is(codeOf(() => client.call("count", () => 1)), "ERR_RPC_INVALID_ARGUMENT");
    assert.is(codeOf(() => client.call("count", Symbol("s"))), "ERR_RPC_INVALID_ARGUMENT");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.is(codeOf(() => client.call("count", cyclic)), "ERR_RPC_INVALID_ARGUMENT");
    const p = client.asyncCall("count", () => 1);
    assert.instance(p, Promise, "asyncCall never throws synchronously");
    assert.is((await rejection(p)).code, "ERR_RPC_INVALID_ARGUMENT");
    assert.is(client.call<number>("count"), before + 1, "no bad call reached the server");
  } finally {
    client.close();
  }
});

errors("an asyncCall's deadline starts once the code that made it has run: a synchronous stretch after it uses none of it, and it is never early", async () => {
  const client = new Client(name, { timeoutMs: 300 });
  try {
    await client.asyncCall("add", 0, 0); // connected
    const answered = client.asyncCall("add", 1, 2);
    const never = rejection(client.asyncCall("never")).then((e) => ({ e, at: performance.now() }));
    const t0 = performance.now();
    while (performance.now() - t0 < 600) {
      // twice the deadline without yielding: the server answers "add" meanwhile
    }
    const stretchEnd = performance.now();
    assert.is(await answered, 3, "the answer that came during the stretch is delivered, not timed out");
    const { e, at } = await never;
    assert.is(e.code, "ERR_RPC_TIMEOUT");
    assert.ok(at - stretchEnd >= 299, `timed out ${(at - stretchEnd).toFixed(1)} ms after the stretch, before its 300 ms deadline`);
  } finally {
    client.close();
  }
});

errors("a call past its deadline fails with ERR_RPC_TIMEOUT; the late response is dropped", async () => {
  const client = new Client(name, { timeoutMs: 50 });
  try {
    const t0 = Date.now();
    assert.is(codeOf(() => client.call("delayed", 300, "x")), "ERR_RPC_TIMEOUT");
    assert.ok(Date.now() - t0 < 250, "the sync call gave up on time");
    assert.is((await rejection(client.asyncCall("never"))).code, "ERR_RPC_TIMEOUT");
    // A per-call deadline overrides the default.
    assert.is(await client.withOptions({ timeoutMs: 2000 }).asyncCall("delayed", 100, "ok"), "ok");
    assert.is(client.withOptions({ timeoutMs: 2000 }).call("delayed", 100, "ok2"), "ok2");
    await new Promise((r) => setTimeout(r, 350)); // the late response of the first call arrives
    assert.is(client.call("add", 20, 22), 42, "the connection is still usable");
  } finally {
    client.close();
  }
});

errors("a deadline beyond setTimeout's range (Number.MAX_SAFE_INTEGER: forever) arms no 1 kHz timer and prints no TimeoutOverflowWarning", async () => {
  // In a process of its own: the warning goes to its stderr, and its CPU time is its own.
  const forever = Number.MAX_SAFE_INTEGER;
  for (const how of [{ client: { timeoutMs: forever } }, { timeoutMs: forever, client: { retry: { initialBackoffMs: forever, maxBackoffMs: forever } } }]) {
    const kid = await spawnFixture("one-call.js", [name, "delayed", "[1000, \"v\"]", JSON.stringify(how)], "settled", 15_000);
    await kid.exited;
    const out = kid.output();
    assert.match(out, /settled ok "v"/, out);
    assert.not.match(out, /TimeoutOverflowWarning/, out);
    const [cpuMs, wallMs] = /cost (\S+) (\S+)/.exec(out)!.slice(1).map(Number) as [number, number];
    // A pending call costs the client nothing while it waits: 5 % of a core at most (the
    // 1 kHz loop took 30-100 % of what the machine gave it), and 20 ms of slack for the call's own work.
    assert.ok(cpuMs <= wallMs * 0.05 + 20, `${JSON.stringify(how)}: ${cpuMs} ms of CPU in ${wallMs} ms`);
  }
  // The backoff of a retry is clamped too (it is a timer's delay).
  const attempts = new Attempts(retryPolicy({ initialBackoffMs: forever, maxBackoffMs: forever }), true, performance.now() + forever);
  for (let i = 0; i < 2; i++) {
    const wait = attempts.next(new RpcError("ERR_RPC_DISCONNECTED", "lost", { maybeExecuted: true }), false);
    assert.ok(wait >= 0 && wait <= 2 ** 31 - 1, `backoff ${wait} ms`);
  }
});

errors("an AbortSignal rejects a pending asyncCall with ERR_RPC_ABORTED", async () => {
  const client = new Client(name);
  try {
    const ac = new AbortController();
    const p = client.withOptions({ signal: ac.signal }).asyncCall("delayed", 500, "x");
    setTimeout(() => ac.abort(), 20);
    assert.is((await rejection(p)).code, "ERR_RPC_ABORTED");
    const pre = await rejection(client.withOptions({ signal: AbortSignal.abort() }).asyncCall("add", 1, 2));
    assert.is(pre.code, "ERR_RPC_ABORTED");
    assert.is(await client.asyncCall("add", 1, 2), 3);
  } finally {
    client.close();
  }
});

errors("a message above maxMessageBytes fails with ERR_RPC_MESSAGE_TOO_LARGE and the connection stays usable", async () => {
  const client = new Client(name, { maxMessageBytes: 64 * 1024 });
  try {
    assert.is(codeOf(() => client.call("length", Buffer.alloc(100 * 1024))), "ERR_RPC_MESSAGE_TOO_LARGE");
    assert.is((await rejection(client.asyncCall("length", Buffer.alloc(100 * 1024)))).code, "ERR_RPC_MESSAGE_TOO_LARGE");
    // A response above the client's limit.
    assert.is(codeOf(() => client.call("bytes", 100 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
    assert.is(client.call("add", 1, 1), 2);
  } finally {
    client.close();
  }
  // The server's own limit (1 MiB here), for a request and for a result.
  const roomy = new Client(name);
  try {
    assert.is(codeOf(() => roomy.call("length", Buffer.alloc(2 * 1024 * 1024))), "ERR_RPC_MESSAGE_TOO_LARGE");
    assert.is(codeOf(() => roomy.call("bytes", 2 * 1024 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
    assert.is(roomy.call("add", 1, 1), 2);
  } finally {
    roomy.close();
  }
});

errors("with no server, calls fail with ERR_RPC_NOT_CONNECTED", async () => {
  const client = new Client(uniqueName("absent"));
  try {
    assert.is(codeOf(() => client.call("add", 1, 2)), "ERR_RPC_NOT_CONNECTED");
    assert.is((await rejection(client.asyncCall("add", 1, 2))).code, "ERR_RPC_NOT_CONNECTED");
    const t0 = Date.now();
    assert.is((await rejection(client.waitForConnection(100))).code, "ERR_RPC_NOT_CONNECTED");
    assert.ok(Date.now() - t0 >= 90);
  } finally {
    client.close();
  }
});

errors("a second server on a live name fails with ERR_RPC_ADDRESS_IN_USE", async () => {
  const second = new Server(name);
  const err = await rejection(second.run());
  assert.is(err.code, "ERR_RPC_ADDRESS_IN_USE");
  const client = new Client(name);
  assert.is(client.call("add", 2, 2), 4, "the first server is untouched");
  client.close();
});

errors("bad names and options are refused with ERR_RPC_INVALID_ARGUMENT", () => {
  for (const bad of ["", "noslash", "/", "/a/b", "/../x", "/..", "/sp ace", "/" + "x".repeat(201), 42]) {
    assert.is(codeOf(() => new Client(bad as string)), "ERR_RPC_INVALID_ARGUMENT", String(bad));
    assert.is(codeOf(() => new Server(bad as string)), "ERR_RPC_INVALID_ARGUMENT", String(bad));
  }
  assert.is(codeOf(() => new Client("/ok", { timeoutMs: -1 })), "ERR_RPC_INVALID_ARGUMENT");
  assert.is(codeOf(() => new Client("/ok", { ringBytes: 5000 })), "ERR_RPC_INVALID_ARGUMENT");
  assert.is(codeOf(() => new Server("/ok").bind("", () => 1)), "ERR_RPC_INVALID_ARGUMENT");
  assert.is(codeOf(() => new Server("/ok").bind("m", 5 as unknown as () => void)), "ERR_RPC_INVALID_ARGUMENT");
  for (const bad of [{ view: "yes" }, { view: 1 }, null, "view", true]) {
    assert.is(codeOf(() => new Server("/ok").bind("m", () => 1, bad as unknown as BindOptions)), "ERR_RPC_INVALID_ARGUMENT", JSON.stringify(bad));
  }
  new Server("/ok").bind("m", () => 1, { view: false }).bind("n", () => 1, {});
  const client = new Client(name);
  assert.is(codeOf(() => client.call("x".repeat(300))), "ERR_RPC_INVALID_ARGUMENT");
  client.close();
});

errors("a synchronous call to a server on the same thread is refused instead of deadlocking", async () => {
  const local = uniqueName("local");
  const server = new Server(local);
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const client = new Client(local);
  try {
    assert.is(codeOf(() => client.call("add", 1, 2)), "ERR_RPC_INVALID_ARGUMENT");
    assert.is(await client.asyncCall("add", 1, 2), 3, "asyncCall works in-process");
  } finally {
    client.close();
    await server.close();
    await done;
  }
});

errors("a server at its maxConnections refuses more clients with ERR_RPC_SERVER_FULL, at once", async () => {
  const full = uniqueName("full");
  const small = await spawnServer(full, { maxConnections: 4 });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const c = new Client(full, { ringBytes: 4096 });
      clients.push(c);
      await c.waitForConnection(5000);
    }
    const extra = new Client(full, { ringBytes: 4096 });
    clients.push(extra);
    const t0 = performance.now();
    const err = await rejection(extra.waitForConnection(60_000));
    assert.is(err.code, "ERR_RPC_SERVER_FULL");
    assert.match(err.message, /maxConnections/);
    assert.ok(performance.now() - t0 < 30_000, "a refusal is not retried until the deadline");
    assert.is(codeOf(() => new Client(full).call("add", 1, 1)), "ERR_RPC_SERVER_FULL", "a synchronous call is refused too");
    // A place comes back once a client leaves.
    clients.shift()!.close();
    await until(() => {
      const c = new Client(full);
      try {
        return c.call("add", 1, 1) === 2;
      } catch {
        return false;
      } finally {
        c.close();
      }
    }, 5000, "a place to be free again");
  } finally {
    for (const c of clients) c.close();
    assert.is(await stopServer(small), 0);
  }
});

errors("a server of another protocol version fails the call with ERR_RPC_PROTOCOL naming both versions", async () => {
  // A stand-in for a future server: it answers every HELLO with a version refusal.
  const fake = uniqueName("version");
  const path = socketPathOf(fake, undefined);
  const listener = native.listenUnix(path, 8, 0o600);
  const buf = Buffer.alloc(600);
  const watcher = new native.FdWatcher(listener, () => {
    const fd = native.acceptUnix(listener);
    if (fd < 0) return;
    void until(() => native.recvPacket(fd, buf) !== null, 3000).then(() => {
      const text = Buffer.from("speak version 99");
      const refuse = Buffer.alloc(16 + text.length);
      refuse[0] = 5; // REFUSE
      refuse.writeUInt32LE(99, 4);
      refuse.writeUInt32LE(L.REASON_VERSION, 8);
      refuse.writeUInt32LE(text.length, 12);
      text.copy(refuse, 16);
      native.sendPacket(fd, refuse);
      native.closeFd(fd);
    });
  });
  watcher.ref();
  const client = new Client(fake);
  try {
    const err = await rejection(client.asyncCall("add", 1, 2));
    assert.is(err.code, "ERR_RPC_PROTOCOL");
    assert.match(err.message, /version 99/);
    assert.match(err.message, new RegExp(`this client version ${L.PROTOCOL_VERSION}`));
    assert.is(err.maybeExecuted, false);
  } finally {
    client.close();
    watcher.close();
    native.closeFd(listener);
    rmSync(path, { force: true });
  }
});

errors("a client of another protocol version is refused at once, with the reason", async () => {
  const name = uniqueName("old-client");
  const reported: RpcError[] = [];
  const server = new Server(name, { onError: (e) => reported.push(e) });
  void server.run();
  const fd = native.connectUnix(server.socketPath);
  try {
    // What an older client would say: a HELLO of version 1.
    const hello = Buffer.alloc(52);
    hello[0] = 1; // HELLO
    hello.writeUInt32LE(0x524d4853, 4);
    hello.writeUInt32LE(1, 8);
    hello.writeUInt32LE(65536, 12);
    native.sendPacket(fd, hello);
    const buf = Buffer.alloc(600);
    let got: { bytes: number } | null = null;
    await until(() => (got = native.recvPacket(fd, buf)) !== null, 3000, "the refusal");
    assert.is(buf[0], 5, "a REFUSE");
    assert.is(buf.readUInt32LE(4), L.PROTOCOL_VERSION, "carrying the server's version");
    assert.is(buf.readUInt32LE(8), L.REASON_VERSION);
    assert.ok(got!.bytes > 16);
    await until(() => reported.length > 0, 3000, "the report");
    assert.is(reported[0]?.code, "ERR_RPC_PROTOCOL");
    assert.match(reported[0]!.message, /version 1\b/);
    assert.match(reported[0]!.message, new RegExp(`version ${L.PROTOCOL_VERSION}\\b`));
    assert.is(server.connections, 0);
  } finally {
    native.closeFd(fd);
    await server.close();
  }
});

errors("a process of another user cannot reach the server's socket: ERR_RPC_ACCESS_DENIED", async () => {
  if (process.getuid?.() !== 0) {
    console.log("  (skipped: switching to another uid needs root)");
    return;
  }
  const options = JSON.stringify({ socketPath: socketPathOf(name, undefined), serverUid: 0 });
  const kid = spawn(process.execPath, [join(FIXTURES, "try-call.js"), name, "add", "[1,2]", options], { uid: 65534, gid: 65534 });
  let out = "";
  kid.stdout.on("data", (d: Buffer) => (out += d.toString()));
  kid.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => kid.on("exit", r));
  if (!/^(error|result) /m.test(out)) {
    // The checkout itself is not readable by that user (a private CI folder, say).
    console.log(`  (skipped: uid 65534 cannot run the fixture: ${out.split("\n")[0]})`);
    return;
  }
  assert.match(out, /error ERR_RPC_ACCESS_DENIED/);
});

errors.run();
