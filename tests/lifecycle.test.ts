// Connecting, closing, dying: who notices, what is freed, what is left behind.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Worker } from "node:worker_threads";
import { readdirSync, statSync } from "node:fs";
import { core } from "../src/core/wasm.js";
import { runtimeDir } from "../src/connection/paths.js";
import { Client, RpcError, Server } from "../src/index.js";
import { killAll, rejection, stopServer, leftovers, sleep, spawnFixture, spawnServer, uniqueName, until } from "./helpers.js";

const life = suite("lifecycle");
life.after(killAll);

life("waitForConnection waits for a server that starts later", async () => {
  const name = uniqueName("late");
  const client = new Client(name);
  const waiting = client.waitForConnection(10_000);
  await sleep(100);
  const server = await spawnServer(name);
  try {
    await waiting;
    assert.is(client.call("add", 1, 2), 3);
  } finally {
    client.close();
    server.proc.stdin!.end();
    await server.exited;
  }
  assert.equal(leftovers(name), []);
});

life("close on both sides settles pending calls and leaves nothing behind", async () => {
  const name = uniqueName("close");
  const server = await spawnServer(name);
  const client = new Client(name);
  await client.waitForConnection(2000);
  const dir = runtimeDir();
  assert.equal(leftovers(name), [`${dir}${name}.sock`, `${dir}${name}.sock.lock`].sort(), "only the server's socket and lock while connected");
  assert.is(statSync(`${dir}${name}.sock`).mode & 0o777, 0o600, "owner-only socket");
  assert.is(statSync(dir).mode & 0o777, 0o700, "owner-only directory");
  const pending = client.asyncCall("never");
  client.close();
  const err = await rejection(pending);
  assert.is(err.code, "ERR_RPC_CLOSED", "closed by its owner during the call");
  assert.is((await rejection(client.asyncCall("add", 1, 1))).code, "ERR_RPC_CLOSED", "and after it");
  server.proc.stdin!.end();
  assert.is(await server.exited, 0);
  assert.equal(leftovers(name), []);
});

life("a server that closes fails its clients' pending calls with ERR_RPC_DISCONNECTED", async () => {
  const name = uniqueName("srvclose");
  const server = new Server(name);
  server.bind("never", () => new Promise(() => {}));
  const done = server.run();
  const client = new Client(name);
  await client.waitForConnection(2000);
  const pending = client.asyncCall("never");
  await sleep(20);
  await server.close();
  await done;
  const err = await rejection(pending);
  assert.is(err.code, "ERR_RPC_DISCONNECTED");
  client.close();
  assert.equal(leftovers(name), []);
});

life("kill -9 of the server fails pending calls, sync and async, with ERR_RPC_DISCONNECTED long before their timeout", async () => {
  const name = uniqueName("kill");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 20_000 });
  try {
    await client.waitForConnection(2000);
    const pending = [client.asyncCall("never"), client.asyncCall("delayed", 10_000, 1)];
    await sleep(20);
    const t0 = Date.now();
    server.kill("SIGKILL");
    const errs = await Promise.all(pending.map(rejection));
    for (const e of errs) assert.is(e.code, "ERR_RPC_DISCONNECTED");
    assert.ok(Date.now() - t0 < 1000, `noticed in ${Date.now() - t0} ms`);
  } finally {
    client.close();
  }
  // A synchronous call blocked in the server when it dies.
  const server2 = await spawnServer(name);
  const sync = await spawnFixture("sync-caller.js", [name], "calling");
  await sleep(50);
  server2.kill("SIGKILL");
  assert.is(await sync.exited, 0, sync.output());
  const m = /ERR_RPC_DISCONNECTED after (\d+) ms/.exec(sync.output());
  assert.ok(m, sync.output());
  assert.ok(Number(m![1]) < 1000, `the blocked sync call noticed in ${m![1]} ms`);
  // The dead server's name is reclaimed by the next one, and the client reconnects.
  const server3 = await spawnServer(name);
  const again = new Client(name);
  assert.is(again.call("add", 2, 3), 5);
  again.close();
  server3.proc.stdin!.end();
  await server3.exited;
  assert.equal(leftovers(name), []);
});

life("an existing Client reconnects on its next call after a server restart", async () => {
  const name = uniqueName("restart");
  const first = await spawnServer(name);
  const client = new Client(name);
  try {
    const pid1 = client.call<number>("pid");
    first.kill("SIGKILL");
    await first.exited;
    await sleep(150);
    const second = await spawnServer(name);
    let pid2 = 0;
    try {
      pid2 = client.call<number>("pid");
    } catch (e) {
      // The first call after the crash may report the old connection's loss.
      assert.is((e as RpcError).code, "ERR_RPC_DISCONNECTED");
      pid2 = client.call<number>("pid");
    }
    assert.is(pid2, second.pid);
    assert.is.not(pid1, pid2);
    second.proc.stdin!.end();
    await second.exited;
  } finally {
    client.close();
  }
  assert.equal(leftovers(name), []);
});

life("the server notices a client killed with -9 and frees its slot and rings", async () => {
  const name = uniqueName("clientkill");
  const server = new Server(name);
  server.bind("never", () => new Promise(() => {}));
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  try {
    const kid = await spawnFixture("async-caller.js", [name], "calling");
    await until(() => server.connections === 1, 2000, "the client to connect");
    kid.kill("SIGKILL");
    await kid.exited;
    await until(() => server.connections === 0, 1000, "the server to notice the dead client");
    assert.is(leftovers(name).length, 2, "only the server's socket and lock");
    const client = new Client(name);
    assert.is(await client.asyncCall("add", 1, 1), 2, "other clients are served");
    client.close();
  } finally {
    await server.close();
    await done;
  }
  assert.equal(leftovers(name), []);
});

life("processes that exit without close() leave nothing behind", async () => {
  const name = uniqueName("noclose");
  const server = await spawnServer(name);
  const kid = await spawnFixture("sync-caller.js", [name, "exit"], "calling");
  assert.is(await kid.exited, 0);
  const client = new Client(name);
  try {
    await client.asyncCall("exit"); // the server process exits from inside a handler
  } catch (e) {
    assert.is((e as RpcError).code, "ERR_RPC_DISCONNECTED");
  }
  assert.is(await server.exited, 0);
  client.close();
  assert.equal(leftovers(name), []);
});

life("clients that come and go leak no slot, memory, file descriptor or name", async () => {
  const name = uniqueName("churn");
  const server = new Server(name);
  server.bind("echo", (x: unknown) => x);
  const done = server.run();
  const fds = () => readdirSync("/proc/self/fd").length;
  const memory = () => core().memory.buffer.byteLength;
  const cycle = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const client = new Client(name, { ringBytes: 65536 });
      assert.is(await client.asyncCall("echo", i), i);
      if (i % 10 === 0) assert.is((await client.asyncCall<Buffer>("echo", Buffer.alloc(300_000))).length, 300_000);
      client.close();
    }
    await until(() => server.connections === 0, 2000, "the server to drop its clients");
  };
  try {
    await cycle(50);
    const [fds0, mem0] = [fds(), memory()];
    await cycle(400);
    assert.is(fds(), fds0, "open file descriptors");
    assert.is(memory(), mem0, "WebAssembly memory");
    assert.is(leftovers(name).length, 2, "only the server's socket and lock");
  } finally {
    await server.close();
    await done;
  }
  assert.equal(leftovers(name), []);
});

life("a client that never calls close() does not keep its process alive", async () => {
  const name = uniqueName("open");
  const server = await spawnServer(name);
  try {
    const t0 = Date.now();
    const kid = await spawnFixture("no-close.js", [name]);
    assert.match(kid.output(), /ready 3 5/);
    assert.is(await kid.exited, 0);
    assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
  } finally {
    await stopServer(server);
  }
  assert.equal(leftovers(name), []);
});

life("a script whose only asyncCall timed out or was aborted exits by itself", async () => {
  const name = uniqueName("exit-after");
  const server = await spawnServer(name);
  try {
    for (const how of [{ timeoutMs: 300 }, { abortAfterMs: 300 }]) {
      const kid = await spawnFixture("one-call.js", [name, "never", "[]", JSON.stringify(how)], "settled", 10_000);
      const settledAt = Date.now();
      assert.match(kid.output(), how.timeoutMs ? /settled ERR_RPC_TIMEOUT true/ : /settled ERR_RPC_ABORTED true/);
      // Nothing is left to do: the process ends at once (5 s of margin for a loaded machine).
      const code = await Promise.race([kid.exited, sleep(5000).then(() => "still running")]);
      assert.is(code, 0, `${JSON.stringify(how)}: ${String(code)} ${Date.now() - settledAt} ms after its call settled`);
    }
  } finally {
    await stopServer(server);
  }
  assert.equal(leftovers(name), []);
});

life("a Client closed while its handshake waits on a stopped server ends at once, and its process exits", async () => {
  const name = uniqueName("close-handshake");
  const server = await spawnServer(name);
  try {
    server.kill("SIGSTOP"); // its socket still accepts (the backlog), but nobody answers the handshake
    const kid = await spawnFixture("one-call.js", [name, "add", "[1, 2]", JSON.stringify({ closeAfterMs: 200 })], "settled", 10_000);
    const settledAt = Date.now();
    // Closed, not timed out (the client's deadline is 60 s); nothing was sent.
    assert.match(kid.output(), /settled ERR_RPC_(NOT_CONNECTED|CLOSED) false/);
    const code = await Promise.race([kid.exited, sleep(5000).then(() => "still running")]);
    assert.is(code, 0, `${String(code)} ${Date.now() - settledAt} ms after the close`);
  } finally {
    server.kill("SIGCONT");
    await stopServer(server);
  }
  assert.equal(leftovers(name), []);
});

life("a worker thread's client is dropped by the server when the worker ends or is terminated", async () => {
  const name = uniqueName("worker");
  const server = new Server(name);
  server.bind("add", (a: number, b: number) => a + b);
  const done = server.run();
  const script = new URL("./fixtures/worker-idle.js", import.meta.url);
  try {
    for (const stay of [false, true]) {
      const w = new Worker(script, { workerData: { name, stay } });
      const exited = new Promise((r) => w.on("exit", r));
      assert.is(await new Promise((r) => w.once("message", r)), 3);
      if (stay) await w.terminate();
      await exited;
      await until(() => server.connections === 0, 2000, `the server to drop the worker's client (stay: ${stay})`);
    }
  } finally {
    await server.close();
    await done;
  }
  assert.equal(leftovers(name), []);
});

life.run();
