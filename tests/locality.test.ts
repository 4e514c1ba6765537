// The locality switch: a Client of a local name with option nats calls over shared memory
// while an instance of the name is live on this host, over NATS otherwise. Real processes:
// a nats-server on loopback, a remote replica (NATS, its shared-memory side in another
// directory, so not local), local replicas and a local server alone that come and go
// (kill -9 and clean close) while the client calls in a loop.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, RpcError, ErrorCodes } from "../src/index.js";
import { killAll, rejection, spawnFixture, spawnServer, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";

const test = suite("locality");
let node: NatsNode | undefined;
const dir = mkdtempSync(join(tmpdir(), "shmrpc-locality-"));

test.after(async () => {
  killAll();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome { pid?: number; code?: string; maybeExecuted?: boolean; idempotent: boolean; sync: boolean }

test("a client moves between shared memory and NATS as local instances come and go, no call that never ran failing", async () => {
  node = await startNats();
  const name = uniqueName("locality");
  // The remote replica: serves NATS; its shared-memory side is in another directory.
  const remote = await spawnFixture("nats-server.js", [name, JSON.stringify(node.url), JSON.stringify({ replica: true, socketPath: join(dir, "remote.sock") })]);
  const client = new Client(name, { nats: node.url, timeoutMs: 5000 });
  const outcomes: Outcome[] = [];
  let running = true;
  let i = 0;
  const callOnce = async (): Promise<void> => {
    const n = i++;
    const idempotent = n % 2 === 0;
    const sync = n % 7 === 0;
    const calls = client.withOptions({ idempotent });
    try {
      const pid = sync ? calls.call<number>("pid") : await calls.asyncCall<number>("pid");
      outcomes.push({ pid, idempotent, sync });
    } catch (e) {
      assert.instance(e, RpcError);
      const err = e as RpcError;
      outcomes.push({ code: err.code, maybeExecuted: err.maybeExecuted, idempotent, sync });
    }
  };
  // Four callers in a loop (one call in seven synchronous), bounded in count.
  const loop = async (): Promise<void> => {
    while (running && i < 200_000) await callOnce();
  };
  const loops = Promise.all([loop(), loop(), loop(), loop()]);
  const answeredBy = async (pid: number, what: string): Promise<void> => {
    const from = outcomes.length;
    // 50 answers in a row from it: settled there, not one stray call.
    await until(() => {
      const tail = outcomes.slice(Math.max(from, outcomes.length - 50));
      return tail.length === 50 && tail.every((o) => o.pid === pid);
    }, 20_000, what);
  };
  const seen = new Map<string, number>();
  const count = (what: string, pid: number): void => void seen.set(what, outcomes.filter((o) => o.pid === pid).length);
  try {
    await answeredBy(remote.pid, "calls over NATS while nothing is local");
    const a: Child = await spawnServer(name, { replica: true });
    await answeredBy(a.pid, "calls over shared memory to a local replica");
    a.kill("SIGKILL");
    await answeredBy(remote.pid, "back to NATS after kill -9 of the local replica");
    const b: Child = await spawnServer(name, { replica: true });
    await answeredBy(b.pid, "a second local replica");
    assert.is(await stopServer(b), 0);
    await answeredBy(remote.pid, "back to NATS after the replica closed");
    const alone: Child = await spawnServer(name);
    await answeredBy(alone.pid, "a local server alone (no replicas)");
    alone.kill("SIGKILL");
    await answeredBy(remote.pid, "back to NATS after kill -9 of the server alone");
    count("local replica killed", a.pid);
    count("local replica closed", b.pid);
    count("local alone", alone.pid);
    count("remote", remote.pid);
  } finally {
    running = false;
    await loops;
    client.close();
    await stopServer(remote);
  }
  const failed = outcomes.filter((o) => o.code !== undefined);
  for (const f of failed) {
    // Only a call that may have run (in flight on a killed instance) may fail, and only
    // if it is not idempotent.
    assert.is(f.maybeExecuted, true, `a call that never ran failed: ${f.code}`);
    assert.is(f.idempotent, false, `an idempotent call failed: ${f.code}`);
    assert.ok([ErrorCodes.ERR_RPC_DISCONNECTED].includes(f.code as never), `unexpected ${f.code}`);
  }
  assert.ok(outcomes.some((o) => o.sync && o.pid !== undefined), "synchronous calls answered");
  console.log(`  locality: ${outcomes.length} calls, ${failed.length} failed (may have run, not idempotent); answers ${JSON.stringify(Object.fromEntries(seen))}`);
});

test("waitForConnection with nothing local connects to NATS; close leaves nothing running", async () => {
  node ??= await startNats();
  const client = new Client(uniqueName("locality-wait"), { nats: node.url, timeoutMs: 5000 });
  await client.waitForConnection(5000);
  assert.ok(client.connected);
  assert.equal(client.instances, []);
  client.close();
  assert.not.ok(client.connected);
  // Nobody serves it anywhere: no responders, after the policy's attempts, nothing ran.
  const lonely = new Client(uniqueName("locality-none"), { nats: node.url, timeoutMs: 5000 });
  try {
    const e = await rejection(lonely.asyncCall("add", 1, 2));
    assert.is(e.code, ErrorCodes.ERR_RPC_NOT_CONNECTED);
    assert.is(e.maybeExecuted, false);
  } finally {
    lonely.close();
  }
});

test("option nats of a local name must name the NATS server(s)", () => {
  const name = uniqueName("locality-opt");
  for (const bad of [{}, { user: "u" }, 42, null, { servers: [] }, { servers: [3] }, ""]) {
    try {
      new Client(name, { nats: bad as never }).close();
      assert.unreachable(`accepted ${JSON.stringify(bad)}`);
    } catch (e) {
      assert.instance(e, RpcError, String(e));
      assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    }
  }
  try {
    new Client("nats://127.0.0.1:4222/calc", { nats: "nats://127.0.0.1:4223" }).close();
    assert.unreachable("a URL for a NATS-URL name's credentials");
  } catch (e) {
    assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  }
  new Client(name, { nats: "nats://127.0.0.1:4222" }).close();
  new Client(name, { nats: { servers: ["nats://127.0.0.1:4222"], user: "u", pass: "p" } }).close();
});

test.run();
