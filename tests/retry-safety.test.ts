// err.maybeExecuted: false only when the server provably never took the request from
// the ring (the server records the id of each request it takes before running it).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, RpcError, Server } from "../src/index.js";
import { uniqueName, spawnServer, spawnFixture, stopServer, killAll, rejection, sleep, leftovers } from "./helpers.js";

const retry = suite("retry-safety");
retry.after(() => killAll());

retry("kill -9 of the server: the call it was running may have run, those behind it in the ring did not", async () => {
  const name = uniqueName("retry");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    await client.waitForConnection(5000);
    const running = client.asyncCall("block", 20_000); // holds the server's thread
    await sleep(300);
    const queued = Array.from({ length: 5 }, (_, i) => client.asyncCall("add", i, 1));
    await sleep(100);
    const killedAt = Date.now();
    server.kill("SIGKILL");
    const first = await rejection(running);
    const rest = await Promise.all(queued.map((p) => rejection(p)));
    assert.ok(Date.now() - killedAt < 1000, "noticed without waiting for the timeout");
    assert.is(first.code, "ERR_RPC_DISCONNECTED");
    assert.is(first.maybeExecuted, true);
    for (const err of rest) {
      assert.is(err.code, "ERR_RPC_DISCONNECTED");
      assert.is(err.maybeExecuted, false);
    }
  } finally {
    client.close();
    // The dead server's name stays until a new server claims it: claim it and leave,
    // once the process is gone (its socket can hang up before its lock is released).
    server.kill("SIGKILL");
    await server.exited;
    const next = new Server(name);
    void next.run();
    await next.close();
  }
  assert.equal(leftovers(name), []);
});

retry("a timeout says whether the server had taken the call", async () => {
  const name = uniqueName("retry-timeout");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    await client.waitForConnection(5000);
    const never = await rejection(client.withOptions({ timeoutMs: 200 }).asyncCall("never"));
    assert.is(never.code, "ERR_RPC_TIMEOUT");
    assert.is(never.maybeExecuted, true, "taken and running");
    const blocked = client.asyncCall("block", 1500);
    blocked.catch(() => {}); // awaited below; if an assertion fails first, close() rejects it
    await sleep(200);
    let syncErr;
    try {
      client.withOptions({ timeoutMs: 300 }).call("mark", "published");
    } catch (e) {
      syncErr = e as { code: string; maybeExecuted: boolean };
    }
    assert.is(syncErr?.code, "ERR_RPC_TIMEOUT");
    // Not taken yet (the server is inside "block"), but in the ring: the client cannot
    // know whether the server takes it before it sees the cancel.
    assert.is(syncErr?.maybeExecuted, true, "published to the ring behind the blocked handler");
    assert.is(await blocked, 1500);
    assert.is(await client.asyncCall("marks", "published"), 0, "the server dropped it unrun");
  } finally {
    client.close();
    await stopServer(server);
  }
});

retry("a call that gives up while still queued at the client is taken back and never runs; one already in the ring may run", async () => {
  const name = uniqueName("retry-queued");
  const server = await spawnServer(name);
  // 4 KiB rings: 40 requests of 300 bytes fill the ring, and the rest waits in the send queue.
  const client = new Client(name, { timeoutMs: 30_000, ringBytes: 4096 });
  try {
    await client.waitForConnection(5000);
    assert.is(await client.asyncCall("marks", "x"), 0);
    const blocked = client.asyncCall("block", 1000); // holds the server's thread
    await sleep(100);
    const queued = Array.from({ length: 40 }, () => client.asyncCall("echo", "q".repeat(300)));
    // Awaited below; if an assertion fails first, close() rejects them.
    for (const p of [blocked, ...queued]) p.catch(() => {});
    const control = new AbortController();
    const timedOut = rejection(client.withOptions({ timeoutMs: 200 }).asyncCall("mark", "x"));
    const aborted = rejection(client.withOptions({ signal: control.signal }).asyncCall("mark", "x"));
    let syncErr: RpcError | undefined;
    try {
      client.withOptions({ timeoutMs: 200 }).call("mark", "x");
    } catch (e) {
      syncErr = e as RpcError;
    }
    control.abort();
    const errs = [await timedOut, await aborted, syncErr!];
    assert.equal(errs.map((e) => e.code), ["ERR_RPC_TIMEOUT", "ERR_RPC_ABORTED", "ERR_RPC_TIMEOUT"]);
    for (const e of errs) assert.is(e.maybeExecuted, false, `${e.code}: still in the send queue`);
    assert.is(await blocked, 1000);
    for (const q of await Promise.all(queued)) assert.is(q, "q".repeat(300));
    // Everything sent before them has run: the taken-back calls never will.
    assert.is(await client.asyncCall("marks", "x"), 0, "a call reported maybeExecuted: false ran");
    // Published to the ring (it has room now) while the server is busy: may have run, as
    // far as the client knows; the server drops it unrun.
    const blocked2 = client.asyncCall("block", 600);
    blocked2.catch(() => {});
    await sleep(100);
    const published = await rejection(client.withOptions({ timeoutMs: 200 }).asyncCall("mark", "y"));
    assert.is(published.code, "ERR_RPC_TIMEOUT");
    assert.is(published.maybeExecuted, true, "published to the ring");
    await blocked2;
    assert.is(await client.asyncCall("marks", "y"), 0);
  } finally {
    client.close();
    await stopServer(server);
  }
});

retry("calls that time out or are aborted while their requests wait in the ring say they may have run, and never run", async () => {
  const name = uniqueName("retry-cancel");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 30_000, ringBytes: 4096 });
  try {
    await client.waitForConnection(5000);
    // Holds the server's thread for 3 s from when it takes it, which is before it takes
    // any of the calls below (ring order): they all wait in the ring (40 small requests
    // fit in 4 KiB), and the short timeouts fire long before it returns (a 2.5 s margin
    // for a late timer on a busy host).
    const blocked = client.asyncCall("block", 3000);
    blocked.catch(() => {}); // awaited below; if an assertion fails first, close() rejects it
    const kept = Array.from({ length: 30 }, (_, i) => client.asyncCall<number>("mark", `kept${i}`));
    for (const p of kept) p.catch(() => {});
    const short = client.withOptions({ timeoutMs: 200 });
    const timedOut = Array.from({ length: 5 }, (_, i) => rejection(short.asyncCall("mark", `timed${i}`)));
    const control = new AbortController();
    const aborted = Array.from({ length: 5 }, (_, i) => rejection(client.withOptions({ signal: control.signal }).asyncCall("mark", `aborted${i}`)));
    const timeouts = await Promise.all(timedOut); // the server is still inside "block"
    control.abort();
    let syncErr: RpcError | undefined;
    try {
      short.call("mark", "sync");
    } catch (e) {
      syncErr = e as RpcError;
    }
    const aborts = await Promise.all(aborted);
    for (const e of timeouts) assert.equal([e.code, e.maybeExecuted], ["ERR_RPC_TIMEOUT", true], "published to the ring: the client cannot know");
    for (const e of aborts) assert.equal([e.code, e.maybeExecuted], ["ERR_RPC_ABORTED", true]);
    assert.equal([syncErr?.code, syncErr?.maybeExecuted], ["ERR_RPC_TIMEOUT", true]);
    assert.is(await blocked, 3000);
    assert.equal(await Promise.all(kept), kept.map(() => 1), "the calls nobody gave up on ran once");
    const keys = [...timedOut.map((_, i) => `timed${i}`), ...aborted.map((_, i) => `aborted${i}`), "sync"];
    const ran = await Promise.all(keys.map((k) => client.asyncCall<number>("marks", k)));
    assert.equal(ran, keys.map(() => 0), "a call given up on while it waited in the ring ran");
    // The connection is fine after it: the server took the cancels and answers as before.
    assert.is(await client.asyncCall("mark", "after"), 1);
  } finally {
    client.close();
    await stopServer(server);
  }
});

retry("a server that closes fails the calls it took and never answered as maybe executed", async () => {
  const name = uniqueName("retry-close");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    await client.waitForConnection(5000);
    const running = client.asyncCall("never"); // taken: its handler never settles
    await sleep(100);
    server.proc.stdin!.end(); // the fixture's close()
    const err = await rejection(running);
    assert.is(err.code, "ERR_RPC_DISCONNECTED");
    assert.is(err.maybeExecuted, true);
  } finally {
    client.close();
    await server.exited;
  }
});

retry("requests a client left in its ring when it died are not run (at most 15 after a handler that blocked the server)", async () => {
  const name = uniqueName("dead-sender");
  const server = await spawnServer(name);
  const client = new Client(name, { timeoutMs: 30_000 });
  try {
    const caller = await spawnFixture("burst-caller.js", [name], "sent");
    await sleep(200); // the server is inside "block"; 200 "count" requests wait in the ring
    caller.kill("SIGKILL");
    await caller.exited;
    // After "block" returns, the server looks at the client's lock within 16 requests
    // (a clock read per request would cost more than the rest of the dispatch).
    const ran = (await client.asyncCall<number>("count")) - 1;
    assert.ok(ran <= 15, `${ran} of the dead client's 200 requests ran`);
  } finally {
    client.close();
    await stopServer(server);
  }
});

retry.run();
