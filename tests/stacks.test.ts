// A handler's stack names the server's files: callers get it only when the server opts in
// with exposeStacks: true, over shared memory and over NATS alike.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, ErrorCodes, RpcError, Server } from "../src/index.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";

let node: NatsNode;
test.before(async () => {
  node = await startNats();
});
test.after(async () => {
  await node.stop();
  killAll();
});

/** The failures of `fail` (sync throw) and `failLater` (async rejection) through `client`. */
async function failures(client: Client): Promise<RpcError[]> {
  const sync = (() => {
    try {
      client.call("fail", "boom");
    } catch (e) {
      return e as RpcError;
    }
    throw new Error("expected a throw");
  })();
  return [sync, await rejection(client.asyncCall("fail", "boom")), await rejection(client.asyncCall("failLater", "later"))];
}

for (const exposeStacks of [undefined, false, true]) {
  test(`exposeStacks ${String(exposeStacks)}: ${exposeStacks ? "callers get the handler's stack" : "callers get name, message and code, no stack"}, over shared memory and NATS`, async () => {
    const name = uniqueName("stacks");
    const options = exposeStacks === undefined ? {} : { exposeStacks };
    const server: Child = await spawnFixture("nats-server.js", [name, JSON.stringify(node.url), JSON.stringify(options)]);
    const local = new Client(name, { timeoutMs: 5000 });
    const remote = new Client(`${node.url}${name}`, { timeoutMs: 5000 });
    try {
      for (const client of [local, remote]) {
        for (const e of await failures(client)) {
          assert.is(e.code, ErrorCodes.ERR_RPC_REMOTE);
          assert.ok(e.remote?.name === "TypeError" || e.remote?.name === "RangeError", e.remote?.name);
          if (e.remote!.name === "TypeError") assert.is(e.remote!.code, "E_FIXTURE");
          if (exposeStacks) assert.match(e.remote!.stack, /fixtures\/methods\.js:\d+/, "the server's file and line");
          else assert.is(e.remote!.stack, "");
          // Nor anywhere else in what reached the caller.
          assert.not.match(JSON.stringify({ ...e.remote, stack: exposeStacks ? "" : e.remote!.stack }), /fixtures|\/work\/|node:internal/);
        }
      }
    } finally {
      local.close();
      remote.close();
      await stopServer(server);
    }
  });
}

test("exposeStacks must be a boolean", () => {
  try {
    new Server(uniqueName("stacks-bad"), { exposeStacks: "yes" as unknown as boolean });
    assert.unreachable("accepted");
  } catch (e) {
    assert.is((e as RpcError).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  }
});

test.run();
