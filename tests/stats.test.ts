// server.stats() / client.stats(): per-method counters (NATS ADR-32 shape) and per-connection state.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, type ServiceStats, type EndpointStats, type ConnectionStats } from "../src/index.js";
import { calc } from "./fixtures/contracts.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName } from "./helpers.js";

const stats = suite("stats");
stats.after(killAll);

const endpoint = (s: ServiceStats, name: string): EndpointStats => {
  const ep = s.endpoints.find((e) => e.name === name);
  if (!ep) throw new Error(`no endpoint ${name} in ${JSON.stringify(s.endpoints.map((e) => e.name))}`);
  return ep;
};

stats("after a known mix of calls, each method's requests, errors and time are counted", async () => {
  const name = uniqueName("stats");
  const server = await spawnFixture("contract-server.js", [name]);
  const client = new Client(name);
  try {
    const fresh = await client.stats();
    assert.is(fresh.type, "io.nats.micro.v1.stats_response");
    assert.is(fresh.name, name);
    assert.match(fresh.id, /^[0-9a-f]{22}$/);
    assert.ok(!Number.isNaN(Date.parse(fresh.started)));
    assert.equal(endpoint(fresh, "ok"), { name: "ok", num_requests: 0, num_errors: 0, last_error: "", processing_time: 0, average_processing_time: 0, in_flight: 0, streams: 0, stream_items: 0, stream_bytes: 0 });
    assert.ok(!fresh.endpoints.some((e) => e.name.startsWith("$")), "the reserved requests are not counted as methods");

    for (let i = 0; i < 5; i++) assert.is(client.call("ok", i), i);
    for (let i = 0; i < 3; i++) await rejection(client.asyncCall("boom"));
    await rejection(client.asyncCall("throwValue"));
    for (let i = 0; i < 2; i++) await rejection(client.asyncCall("nope"));
    await rejection(client.asyncCall("unsendable"));
    await rejection(client.asyncCall("add", 1, "x")); // a validation failure
    await rejection(client.asyncCall("broken", 1)); // an invalid result
    assert.is(await client.asyncCall("add", 1, 2), 3);
    // Slow async handlers: their time runs until the promise settles.
    const naps = [30, 60, 90];
    const t0 = performance.now();
    await Promise.all(naps.map((ms) => client.asyncCall("sleep", ms)));
    const wall = performance.now() - t0;

    const s = await client.stats();
    const ok = endpoint(s, "ok");
    assert.is(ok.num_requests, 5);
    assert.is(ok.num_errors, 0);
    assert.ok(ok.processing_time > 0 && ok.average_processing_time > 0);
    const boom = endpoint(s, "boom");
    assert.equal([boom.num_requests, boom.num_errors, boom.last_error], [3, 3, "TypeError: boom"]);
    assert.match(endpoint(s, "throwValue").last_error, /non-Error value.*42/);
    const nope = endpoint(s, "nope");
    assert.equal([nope.num_requests, nope.num_errors, nope.last_error, nope.in_flight], [2, 2, "RangeError: nope", 0]);
    const unsendable = endpoint(s, "unsendable");
    assert.equal([unsendable.num_requests, unsendable.num_errors], [1, 1]);
    assert.match(unsendable.last_error, /could not be sent/);
    const add = endpoint(s, "add");
    assert.equal([add.num_requests, add.num_errors], [2, 1]);
    assert.match(add.last_error, /^ERR_RPC_INVALID_ARGUMENT: invalid arguments to "add"/);
    const broken = endpoint(s, "broken");
    assert.equal([broken.num_requests, broken.num_errors], [1, 1]);
    assert.match(broken.last_error, /^ERR_RPC_INVALID_RESULT: invalid result of "broken"/);
    // Margin: a timer never fires early by more than its 1 ms granularity; late by at most
    // the whole wall time the three calls took as seen by this process (a busy machine).
    const sleep = endpoint(s, "sleep");
    const sum = naps.reduce((a, b) => a + b, 0);
    assert.is(sleep.num_requests, 3);
    const ms = sleep.processing_time / 1e6;
    assert.ok(ms >= sum - naps.length, `processing_time ${ms} ms >= ${sum} ms of sleeps (less 1 ms each)`);
    assert.ok(ms <= naps.length * wall, `processing_time ${ms} ms <= 3 x the ${wall.toFixed(1)} ms the calls took`);
    assert.ok(Math.abs(sleep.average_processing_time - sleep.processing_time / 3) <= 1, "average = total / requests");
  } finally {
    client.close();
    await stopServer(server);
  }
});

stats("stats show calls in flight and each connection's pid, uid and rings", async () => {
  const name = uniqueName("stats-conn");
  const server = await spawnFixture("contract-server.js", [name]);
  const client = new Client(name, { ringBytes: 65536 });
  try {
    const pending = client.asyncCall("never");
    void pending.catch(() => {});
    let s: ServiceStats | undefined;
    for (let tries = 0; tries < 200; tries++) {
      s = await client.stats();
      if (endpoint(s, "never").in_flight === 1) break;
    }
    assert.is(endpoint(s!, "never").in_flight, 1);
    assert.is(s!.connections.length, 1);
    const c = s!.connections[0]!;
    assert.is(c.pid, process.pid);
    assert.is(c.uid, process.getuid!());
    assert.is(c.in_flight, 1);
    assert.is(c.request_ring.capacity, 65536);
    assert.is(c.response_ring.capacity, 65536);
    assert.ok(c.request_ring.used >= 0 && c.request_ring.used <= 65536);
    assert.ok(c.response_ring.used >= 0 && c.response_ring.used <= 65536);
    assert.is(c.bytes_queued, 0);
    // A second client shows up as a second connection.
    const other = new Client(name);
    try {
      await other.waitForConnection(5000);
      const s2 = await client.stats();
      assert.equal(s2.connections.map((x) => x.pid), [process.pid, process.pid]);
    } finally {
      other.close();
    }
  } finally {
    client.close();
    await stopServer(server);
  }
});

stats("a client that reads nothing shows its response ring filled and bytes queued at the server", async () => {
  const name = uniqueName("stats-fill");
  const server = await spawnFixture("contract-server.js", [name]);
  const slow = new Client(name, { ringBytes: 4096 });
  const asker = new Client(name);
  try {
    await slow.waitForConnection(5000);
    const all = [];
    for (let i = 0; i < 8; i++) all.push(slow.asyncCall("big", 3000));
    // Synchronous calls of another client block this thread: `slow` reads nothing meanwhile.
    let c: ConnectionStats | undefined;
    for (let tries = 0; tries < 2000; tries++) {
      c = asker.call<ServiceStats>("$shmrpc.stats").connections.find((x) => x.request_ring.capacity === 4096);
      if (c !== undefined && c.bytes_queued > 0) break;
    }
    assert.ok(c !== undefined && c.bytes_queued > 0, JSON.stringify(c));
    assert.ok(c.response_ring.used > 4096 - 3100, `the response ring is nearly full: ${JSON.stringify(c)}`);
    assert.is((await Promise.all(all)).length, 8);
    const after = (await asker.stats()).connections.find((x) => x.request_ring.capacity === 4096)!;
    assert.is(after.bytes_queued, 0);
  } finally {
    slow.close();
    asker.close();
    await stopServer(server);
  }
});

stats("server.stats() in the serving process counts the same way", async () => {
  const local = new Server(uniqueName("stats-local"));
  local.implement(calc, {
    add: (a, b) => a + b, greet: (s) => s, stats: () => ({ mean: 0, n: 0 }), broken: () => ({ mean: 0, n: 0 }),
    later: (s) => s, nap: (ms) => ms,
  });
  void local.run();
  const client = new Client(local.name);
  try {
    assert.is(await client.proxy(calc).add(2, 2), 4);
    await rejection(client.proxy(calc).greet(""));
    const s = local.stats();
    assert.equal([endpoint(s, "add").num_requests, endpoint(s, "greet").num_errors], [1, 1]);
    assert.is(s.connections.length, 1);
  } finally {
    client.close();
    await local.close();
  }
});

stats.run();
