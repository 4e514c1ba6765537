// Calls across real processes: sync and async, many at once, many clients, big payloads.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { Client } from "../src/index.js";
import { killAll, stopServer, spawnFixture, spawnServer, uniqueName, type Child } from "./helpers.js";

const calls = suite("calls");
const name = uniqueName("calls");
let server: Child;

calls.before(async () => {
  server = await spawnServer(name);
});
calls.after(async () => {
  assert.is(await stopServer(server), 0);
  killAll();
});

calls("the seed's example: a synchronous add and an asynchronous square", async () => {
  const client = new Client(name, { timeoutMs: 5000 });
  try {
    await client.waitForConnection(2000);
    assert.is(client.connected, true);
    assert.is(client.call<number>("add", 10, 20), 30);
    assert.is(await client.asyncCall<number>("square", 12), 144);
  } finally {
    client.close();
  }
});

calls("a call connects on first use, without waitForConnection", async () => {
  const client = new Client(name);
  try {
    assert.is(client.call("add", 1, 2), 3);
    const c2 = new Client(name);
    assert.is(await c2.asyncCall("add", 2, 3), 5);
    c2.close();
  } finally {
    client.close();
  }
});

calls("values keep their types through a round trip to another process", async () => {
  const client = new Client(name);
  try {
    const m = new Map<unknown, unknown>([["a", 1], [2, [3n]]]);
    const value = {
      u: undefined, n: null, t: true, f: false, nan: NaN, negZero: -0, inf: -Infinity, int: 42, big: -(2n ** 100n),
      s: "héllo 𝄞", buf: Buffer.from("xyz"), u8: new Uint8Array([1, 2]), f32: new Float32Array([1.5]),
      ab: new Uint8Array([9]).buffer, arr: [1, [2, [3]]], m, set: new Set(["x"]), d: new Date(86_400_000),
    };
    const back = client.call<typeof value>("echo", value);
    assert.equal(Object.keys(back), Object.keys(value));
    assert.is(back.u, undefined);
    assert.ok("u" in back);
    assert.is(back.n, null);
    assert.ok(Number.isNaN(back.nan));
    assert.ok(Object.is(back.negZero, -0));
    assert.is(back.big, value.big);
    assert.is(back.s, value.s);
    assert.ok(Buffer.isBuffer(back.buf));
    assert.ok(back.u8 instanceof Uint8Array && !Buffer.isBuffer(back.u8));
    assert.ok(back.f32 instanceof Float32Array);
    assert.ok(back.ab instanceof ArrayBuffer);
    assert.ok(back.m instanceof Map && back.m.get("a") === 1);
    assert.ok(back.set instanceof Set && back.set.has("x"));
    assert.ok(back.d instanceof Date && back.d.getTime() === 86_400_000);
    assert.equal(back.arr, [1, [2, [3]]]);
  } finally {
    client.close();
  }
});

calls("async handlers complete out of order and each response finds its caller", async () => {
  const client = new Client(name);
  try {
    const started = Date.now();
    const results = await Promise.all([
      client.asyncCall("delayed", 150, "slow"),
      client.asyncCall("delayed", 10, "fast"),
      client.asyncCall("add", 1, 1),
    ]);
    assert.equal(results, ["slow", "fast", 2]);
    assert.ok(Date.now() - started < 1500, "the handlers ran concurrently");
    // While a slow handler is pending, the server goes on answering.
    const slow = client.asyncCall("delayed", 200, "late");
    assert.is(client.call("add", 2, 2), 4);
    assert.is(await slow, "late");
  } finally {
    client.close();
  }
});

calls("thousands of asyncCalls in flight, more than the ring holds, all arrive", async () => {
  const client = new Client(name, { ringBytes: 4096 });
  try {
    const n = 5000;
    const all = [];
    for (let i = 0; i < n; i++) all.push(client.asyncCall<number>("add", i, 1));
    const results = await Promise.all(all);
    for (let i = 0; i < n; i++) assert.is(results[i], i + 1);
  } finally {
    client.close();
  }
});

calls("a synchronous call after asyncCalls still receives their responses", async () => {
  const client = new Client(name);
  try {
    const a = client.asyncCall("delayed", 5, "a");
    const b = client.asyncCall("add", 5, 5);
    assert.is(client.call("add", 3, 3), 6);
    assert.equal(await Promise.all([a, b]), ["a", 10]);
  } finally {
    client.close();
  }
});

calls("payloads bigger than a ring travel in pieces, both ways", async () => {
  const client = new Client(name, { ringBytes: 65536 });
  try {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    const back = client.call<Buffer>("echo", big);
    assert.ok(Buffer.isBuffer(back));
    assert.ok(back.equals(big));
    const asyncBack = await client.asyncCall<Buffer>("echo", big);
    assert.ok(asyncBack.equals(big));
    assert.is(client.call("length", big), big.length);
    assert.is((client.call<Buffer>("bytes", 5_000_000)).length, 5_000_000);
  } finally {
    client.close();
  }
});

calls("a 64 MiB message is carried with the default rings", async () => {
  const client = new Client(name);
  try {
    const big = Buffer.alloc(64 * 1024 * 1024, 3);
    assert.is(client.call("length", big), big.length);
    const back = await client.asyncCall<Buffer>("bytes", 64 * 1024 * 1024);
    assert.is(back.length, 64 * 1024 * 1024);
    assert.is(back[12345], 7);
  } finally {
    client.close();
  }
});

calls("several client processes call at once, each gets its own answers", async () => {
  const kids = await Promise.all([1, 2, 3, 4].map((k) => spawnFixture("client.js", [name, String(k), "300"], "done")));
  for (const kid of kids) {
    assert.match(kid.output(), /done ok/);
    assert.is(await kid.exited, 0);
  }
});

calls("clients in worker threads call the server too", async () => {
  const script = fileURLToPath(new URL("./fixtures/worker-client.js", import.meta.url));
  const results = await Promise.all([1, 2, 3].map((k) => new Promise((resolve, reject) => {
    const w = new Worker(script, { workerData: { name, k } });
    w.on("message", resolve);
    w.on("error", reject);
  })));
  assert.equal(results, [1 + 100, 2 + 100, 3 + 100]);
});

calls.run();
