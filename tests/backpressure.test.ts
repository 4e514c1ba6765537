// A client that stops reading its responses: its ring fills, the server stops taking
// its requests and queues what its handlers still return, up to maxQueuedBytes; past
// that it drops the client with ERR_RPC_RESOURCE_EXHAUSTED. Others are not disturbed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, RpcError } from "../src/index.js";
import { uniqueName, spawnFixture, killAll, sleep, until } from "./helpers.js";

const backpressure = suite("backpressure");
backpressure.after(() => killAll());

backpressure("a client that leaves its responses unread is dropped once they pass maxQueuedBytes; others are served", async () => {
  const name = uniqueName("backpressure");
  const errors: RpcError[] = [];
  const server = new Server(name, { maxQueuedBytes: 1 << 20, onError: (e) => errors.push(e) });
  server.bind("big", async (n: number) => {
    await sleep(5);
    return Buffer.alloc(n, 1);
  });
  server.bind("add", (a: number, b: number) => a + b);
  void server.run();
  const good = new Client(name);
  try {
    const slow = await spawnFixture("slow-reader.js", [name, "64", String(256 << 10)]);
    // While the slow client is not reading, another client keeps calling.
    let calls = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      assert.is(await good.asyncCall("add", calls, 1), calls + 1);
      calls++;
    }
    await until(() => errors.length > 0, 5000, "the slow client to be dropped");
    assert.is(errors[0]!.code, "ERR_RPC_RESOURCE_EXHAUSTED");
    assert.is(server.connections, 1, "only the good client is left");
    await slow.exited;
    const done = slow.output().split("\n").find((l) => l.startsWith("done "));
    assert.ok(done, slow.output());
    const [, ok, codes] = done!.split(" ");
    assert.ok(Number(ok) < 64, "not every response could have been queued");
    assert.is(codes, "ERR_RPC_RESOURCE_EXHAUSTED", "the dropped client's calls say why");
    assert.ok(calls > 10);
  } finally {
    good.close();
    await server.close();
  }
});

backpressure("a client that stops reading is not dropped when its handlers answer one at a time: the server stops taking its requests", async () => {
  const name = uniqueName("flow");
  const errors: RpcError[] = [];
  const server = new Server(name, { maxQueuedBytes: 1 << 20, onError: (e) => errors.push(e) });
  // A synchronous handler: at most one response waits beyond the ring at a time.
  server.bind("big", (n: number) => Buffer.alloc(n, 1));
  void server.run();
  try {
    const slow = await spawnFixture("slow-reader.js", [name, "64", String(256 << 10)]);
    await slow.exited;
    const done = slow.output().split("\n").find((l) => l.startsWith("done "));
    assert.is(done, "done 64 ", slow.output());
    assert.equal(errors, []);
  } finally {
    await server.close();
  }
});

backpressure.run();
