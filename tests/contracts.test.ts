// Typed contracts across processes: the server validates every call to a contract method
// (arguments before the handler, its result before sending); a proxy may check too.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, ErrorCodes, RpcError } from "../src/index.js";
import { calc, vcalc, acalc } from "./fixtures/contracts.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";

const contracts = suite("contracts");
const name = uniqueName("contracts");
let server: Child;

contracts.before(async () => {
  server = await spawnFixture("contract-server.js", [name]);
});
contracts.after(async () => {
  try {
    assert.is(await stopServer(server), 0);
  } finally {
    killAll();
  }
});

/** The error a synchronous call throws (fails the test if it returns). */
function thrown(f: () => unknown): RpcError {
  try {
    f();
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected a throw");
}

contracts("typed calls through a proxy reach the handlers, async and sync", async () => {
  const client = new Client(name);
  try {
    const api = client.proxy(calc);
    const now = client.proxy(calc, { sync: true });
    assert.is(await api.add(1, 2), 3);
    assert.is(now.add(20, 22), 42);
    assert.is(await api.greet("ada"), "hello ada");
    assert.is(now.greet("bob"), "hello bob");
    assert.equal(await api.stats([1, 2, 3, 6]), { mean: 3, n: 4 });
    assert.is(await client.proxy(vcalc).vadd(2, 3), 5);
    assert.is(client.proxy(vcalc, { sync: true }).vjson("abc"), "ABC");
    assert.is(await client.proxy(acalc).aadd(4, 5), 9);
    // Contract methods stay reachable untyped, and bind() methods sit beside them.
    assert.is(client.call("add", 5, 6), 11);
    assert.equal(await client.asyncCall("plain", [1]), [1]);
  } finally {
    client.close();
  }
});

contracts("invalid arguments are refused with ERR_RPC_INVALID_ARGUMENT and issues, and the handler never runs", async () => {
  const client = new Client(name);
  try {
    const before = client.call<Record<string, number>>("handlerCalls");
    // Untyped calls are how a wrong caller gets past TypeScript.
    const err = await rejection(client.asyncCall("greet", ""));
    assert.is(err.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.is(err.issues?.length, 1);
    assert.equal(err.issues![0]!.path, [0]);
    assert.type(err.issues![0]!.message, "string");
    assert.ok(err.message.includes('"greet"') && err.message.includes("args[0]"), err.message);
    const sync = thrown(() => client.call("add", 1, "2"));
    assert.is(sync.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.equal(sync.issues![0]!.path, [1]);
    const count = thrown(() => client.call("add", 1));
    assert.is(count.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    const nested = await rejection(client.asyncCall("stats", [1, "x"]));
    assert.equal(nested.issues![0]!.path, [0, 1]);
    assert.ok(nested.message.includes("args[0][1]"), nested.message);
    assert.is((await rejection(client.asyncCall("vadd", 1, null))).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.equal((await rejection(client.asyncCall("aadd", 1, null))).issues![0]!.path, [1]);
    const after = client.call<Record<string, number>>("handlerCalls");
    for (const m of ["greet", "add", "stats", "vadd", "aadd"]) assert.is(after[m] ?? 0, before[m] ?? 0, `${m} ran`);
  } finally {
    client.close();
  }
});

contracts("a result that breaks its schema reaches the caller as ERR_RPC_INVALID_RESULT with issues", async () => {
  const client = new Client(name);
  try {
    const err = await rejection(client.proxy(calc).broken(1));
    assert.is(err.code, ErrorCodes.ERR_RPC_INVALID_RESULT);
    assert.equal(err.issues!.map((i) => i.path), [["n"]]);
    assert.ok(err.message.includes('"broken"') && err.message.includes("result.n"), err.message);
    const sync = thrown(() => client.proxy(calc, { sync: true }).broken(1));
    assert.is(sync.code, ErrorCodes.ERR_RPC_INVALID_RESULT);
    assert.is(client.call<Record<string, number>>("handlerCalls").broken, 2, "the handler ran, its result was refused");
  } finally {
    client.close();
  }
});

contracts("a schema that validates asynchronously works on the server for synchronous and asynchronous calls", async () => {
  const client = new Client(name);
  try {
    assert.is(await client.proxy(calc).later("x"), "later x");
    assert.is(client.proxy(calc, { sync: true }).later("y"), "later y");
    const bad = await rejection(client.proxy(calc).later("no"));
    assert.is(bad.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.is(bad.issues![0]!.message, "refused later");
    assert.is(thrown(() => client.proxy(calc, { sync: true }).later("make it bad")).code, ErrorCodes.ERR_RPC_INVALID_RESULT);
  } finally {
    client.close();
  }
});

contracts("a validating proxy checks arguments before sending and results on arrival", async () => {
  const client = new Client(name);
  try {
    const api = client.proxy(calc, { validate: true });
    const now = client.proxy(calc, { sync: true, validate: true });
    assert.is(await api.add(1, 2), 3);
    assert.is(now.greet("x"), "hello x");
    const before = client.call<Record<string, number>>("handlerCalls");
    const err = await rejection(api.greet(""));
    assert.is(err.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.equal(err.issues![0]!.path, [0]);
    assert.is(thrown(() => now.add(1, "x" as unknown as number)).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    // Asynchronous schemas: fine on an async proxy, a clear refusal on a sync one.
    assert.is(await api.later("z"), "later z");
    assert.is((await rejection(api.later("no"))).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    const sync = thrown(() => now.later("z"));
    assert.is(sync.code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
    assert.match(sync.message, /asynchronously/);
    const after = client.call<Record<string, number>>("handlerCalls");
    assert.is(after.greet, before.greet, "nothing was sent for greet");
    assert.is(after.add, before.add, "nothing was sent for add");
    assert.is(after.later, before.later! + 1, "only the valid later call was sent");
  } finally {
    client.close();
  }
});

contracts("a proxy validating on arrival refuses a result the server did not check", async () => {
  // A server that implements the method with bind(): only the caller's proxy checks.
  const local = new Server(uniqueName("contracts-local"));
  local.bind("stats", () => ({ mean: "not a number", n: 1 }));
  void local.run();
  const client = new Client(local.name);
  try {
    assert.equal(await client.proxy(calc).stats([1]), { mean: "not a number", n: 1 }, "unchecked without validate");
    const err = await rejection(client.proxy(calc, { validate: true }).stats([1]));
    assert.is(err.code, ErrorCodes.ERR_RPC_INVALID_RESULT);
    assert.equal(err.issues![0]!.path, ["mean"]);
  } finally {
    client.close();
    await local.close();
  }
});

contracts("names starting with $ are reserved: bind and implement refuse them", () => {
  const local = new Server(uniqueName("contracts-reserved"));
  assert.is(thrown(() => local.bind("$shmrpc.stats", () => 1)).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  assert.is(thrown(() => local.bind("$mine", () => 1)).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  const reserved = { $x: calc.methods.add } as unknown as typeof calc.methods;
  assert.is(thrown(() => local.implement({ methods: reserved } as unknown as typeof calc, { $x: () => 1 } as never)).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
  // A handler missing from implement() is refused too.
  assert.is(thrown(() => local.implement(calc, { add: (a: number, b: number) => a + b } as never)).code, ErrorCodes.ERR_RPC_INVALID_ARGUMENT);
});

contracts.run();
