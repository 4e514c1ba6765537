// Who may connect: the server's own user by default; other users and groups by
// option (a POSIX ACL on the shared memory, and the kernel's record of who created
// a client's segment); a shared token, compared in constant time.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Client, Server, RpcError } from "../src/index.js";
import { FIXTURES, uniqueName, rejection, spawnFixture, stopServer, killAll, leftovers } from "./helpers.js";

const access = suite("access");
access.after(() => killAll());

const NOBODY = 65534;
const OTHER = 65533;
const isRoot = process.getuid?.() === 0;

/** Runs try-call as `uid`; undefined when that user cannot run the checkout's code. */
async function callAs(uid: number, name: string, options: object = {}): Promise<string | undefined> {
  const kid = spawn(process.execPath, [join(FIXTURES, "try-call.js"), name, "add", "[1,2]", JSON.stringify(options)], { uid, gid: uid });
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

async function serving(options: ConstructorParameters<typeof Server>[1]): Promise<{ server: Server; name: string; errors: RpcError[] }> {
  const name = uniqueName("access");
  const errors: RpcError[] = [];
  const server = new Server(name, { ...options, onError: (e) => errors.push(e) });
  server.bind("add", (a: number, b: number) => a + b);
  void server.run();
  return { server, name, errors };
}

access("another user is refused by default, and let in by allowUsers", async () => {
  if (!needsRoot()) return;
  const closed = await serving({});
  const refused = await callAs(NOBODY, closed.name);
  await closed.server.close();
  if (refused === undefined) return;
  assert.is(refused, "error ERR_RPC_ACCESS_DENIED");

  const open = await serving({ allowUsers: [NOBODY] });
  assert.is(await callAs(NOBODY, open.name), "result 3");
  assert.is(await callAs(OTHER, open.name), "error ERR_RPC_ACCESS_DENIED", "only the user named");
  await open.server.close();
  assert.equal(leftovers(open.name), []);
});

access("allowGroups lets in the members of a group", async () => {
  if (!needsRoot()) return;
  const open = await serving({ allowGroups: [NOBODY] });
  const result = await callAs(NOBODY, open.name);
  if (result !== undefined) assert.is(result, "result 3");
  await open.server.close();
});

access("a server of another user reaches a client's memory through the client's ACL, and checks its creator", async () => {
  if (!needsRoot()) return;
  // The server runs as nobody; this process (root) is the client.
  for (const [allow, expect] of [[[0], "ok"], [[], "ERR_RPC_ACCESS_DENIED"]] as const) {
    const name = uniqueName("access-srv");
    let server;
    try {
      server = await spawnFixtureAs(NOBODY, name, { allowUsers: allow });
    } catch (e) {
      console.log(`  (skipped: uid ${NOBODY} cannot run the server fixture: ${(e as Error).message.split("\n")[0]})`);
      return;
    }
    const client = new Client(name, { timeoutMs: 5000 });
    if (expect === "ok") {
      assert.is(await client.asyncCall("add", 2, 3), 5);
    } else {
      const err = await rejection(client.asyncCall("add", 2, 3));
      assert.is(err.code, expect);
      assert.is(err.maybeExecuted, false, "a refused call never ran");
    }
    client.close();
    assert.is(await stopServer(server), 0);
    assert.equal(leftovers(name), []);
  }
});

function spawnFixtureAs(uid: number, name: string, options: object) {
  return spawnFixture("server.js", [name, JSON.stringify(options)], "ready", 10_000, { uid, gid: uid });
}

access("a server with a token refuses clients without it or with another one", async () => {
  const { server, name, errors } = await serving({ token: "s3cret" });
  try {
    for (const token of [undefined, "wrong", "s3cret!"]) {
      const client = new Client(name, token === undefined ? {} : { token });
      const err = await rejection(client.asyncCall("add", 1, 2));
      client.close();
      assert.is(err.code, "ERR_RPC_ACCESS_DENIED", `token ${token}`);
      assert.is(err.maybeExecuted, false);
    }
    const good = new Client(name, { token: Buffer.from("s3cret") }); // bytes or string alike
    assert.is(await good.asyncCall("add", 1, 2), 3);
    good.close();
    assert.ok(errors.length >= 3 && errors.every((e) => e.code === "ERR_RPC_ACCESS_DENIED"), "each refusal is reported");
  } finally {
    await server.close();
  }
});

access("bad access options are refused with ERR_RPC_INVALID_ARGUMENT", () => {
  for (const options of [{ allowUsers: [-1] }, { allowUsers: "0" }, { allowGroups: [1.5] }, { token: "" }, { token: 42 }]) {
    try {
      new Server(uniqueName("bad"), options as never);
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT", JSON.stringify(options));
    }
  }
  try {
    new Client(uniqueName("bad"), { token: "" });
    assert.unreachable();
  } catch (e) {
    assert.is((e as RpcError).code, "ERR_RPC_INVALID_ARGUMENT");
  }
});

access.run();
