// Server middleware (server.use): order, short-circuit, error codes, state handed to the
// handler, validation before it, over shared memory and NATS, the server in another
// process; and the invoke's answer path: synchronous as long as everything is.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, Server, type CallContext } from "../src/index.js";
import { invoke, type Wire } from "../src/serving/invoke.js";
import { Endpoint } from "../src/contracts/endpoint.js";
import { Running } from "../src/serving/context.js";
import type { Middleware } from "../src/serving/middleware.js";
import { startNats } from "./nats-helpers.js";
import type { RpcError } from "../src/errors.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";

const middleware = suite("middleware");

async function behaves(client: Client, transport: string): Promise<void> {
  const who = await client.withOptions({ metadata: { user: "alice" } }).asyncCall<Record<string, any>>("whoami", 7);
  assert.equal(who.state.order, ["first", "second"], "registration order, state handed on");
  assert.is(who.state.user, "alice");
  assert.equal(who.state.args, [7], "the decoded arguments");
  assert.is(who.a, 7, "the handler's arguments untouched");
  assert.is(who.transport, transport);
  // A synchronous call through middleware that is async on the server: answered all the same.
  assert.equal(client.call<Record<string, any>>("whoami", 8).state.order, ["first", "second"]);

  const before = await client.asyncCall<number>("handled");
  assert.is(await client.asyncCall("cached"), "from the middleware", "a middleware answers without next()");
  const denied = await rejection(client.withOptions({ metadata: { user: "mallory" } }).asyncCall("whoami", 1));
  assert.is(denied.code, "ERR_RPC_ACCESS_DENIED", "the middleware's RpcError code reaches the caller");
  assert.is(denied.maybeExecuted, false, "refused before the handler");
  assert.is(denied.remote?.code, "ERR_RPC_ACCESS_DENIED", "err.remote keeps the details");
  assert.is(await client.asyncCall<number>("handled"), before, "neither handler ran");

  const failed = await rejection(client.asyncCall("fail"));
  assert.is(failed.remote?.code, "E_FIXTURE");
  // Contract: validated first (the middleware sees the schema's output), refused before any middleware.
  assert.equal(await client.asyncCall("twice", "21"), { n: 42, seen: [21] });
  const invalid = await rejection(client.asyncCall("twice", "x"));
  assert.is(invalid.code, "ERR_RPC_INVALID_ARGUMENT");
  const observed = await client.asyncCall<string[]>("observed");
  assert.equal(observed.filter((l) => !l.startsWith("handled")), [
    'whoami ok {"a":7,"state":{"order":["first","second"],"user":"alice","args":[7]},"transport":"' + transport + '"}',
    'whoami ok {"a":8,"state":{"order":["first","second"],"args":[8]},"transport":"' + transport + '"}',
    'cached ok "from the middleware"',
    "whoami err ERR_RPC_ACCESS_DENIED",
    "fail err E_FIXTURE",
    'twice ok {"n":42,"seen":[21]}',
  ], "the first middleware observed each result and error of next(); the invalid call reached none");
}

middleware("over shared memory: order, state, short-circuit, an RpcError's code, observed results, validation first", async () => {
  const name = uniqueName("mw");
  let server: Child | undefined;
  const client = new Client(name, { timeoutMs: 10_000 });
  try {
    server = await spawnFixture("middleware-server.js", [name]);
    await behaves(client, "shm");
  } finally {
    client.close();
    if (server) await stopServer(server);
  }
});

middleware("over NATS: the same", async () => {
  const node = await startNats();
  const name = uniqueName("mwnats");
  let server: Child | undefined;
  const client = new Client(`${node.url}${name}`, { timeoutMs: 10_000 });
  try {
    server = await spawnFixture("middleware-server.js", [name, JSON.stringify(node.url)]);
    await behaves(client, "nats");
  } finally {
    client.close();
    if (server) await stopServer(server);
    await node.stop();
  }
});

/** A wire that records what invoke() did with a call. */
function recorder(): { wire: Wire<null>; log: string[] } {
  const log: string[] = [];
  return {
    log,
    wire: {
      result: (_c, _id, v) => log.push(`result ${JSON.stringify(v)}`),
      thrown: (_c, _id, e) => void log.push(`thrown ${(e as Error).message}`),
      pending: () => void log.push("pending"),
      settling: () => true,
      answered: () => {},
      stream: () => undefined, // unary calls only
      item: () => 0,
    },
  };
}

function endpointWith(list: Middleware[]): Endpoint {
  const ep = new Endpoint("add", (a: number, b: number) => a + b, undefined);
  ep.middleware = list;
  return ep;
}

middleware("a sync handler behind sync middleware is answered at once; an async middleware makes it pending", async () => {
  const ctx = () => new Running("add", Date.now() + 1000, { transport: "shm", pid: 1, uid: 1, gid: 1 }, {}).context;
  const sync = recorder();
  assert.is(invoke(endpointWith([(_c, next) => next(), (_c, next) => next()]), [1, 2], ctx(), sync.wire, null, 1), false);
  assert.equal(sync.log, ["result 3"], "answered before invoke returned");

  const later = recorder();
  assert.is(invoke(endpointWith([async (_c, next) => next()]), [1, 2], ctx(), later.wire, null, 1), true);
  assert.equal(later.log, ["pending"]);
  await new Promise((r) => setImmediate(r));
  assert.equal(later.log, ["pending", "result 3"]);

  const twice = recorder();
  invoke(endpointWith([(_c, next) => (next(), next())]), [1, 2], ctx(), twice.wire, null, 1);
  assert.equal(twice.log, ['thrown a middleware of "add" called next() twice']);
});

middleware("a handler that closes its server in its synchronous part still has its signal aborted (its context is tracked once pending)", async () => {
  const name = uniqueName("mwclose");
  const server = new Server(name);
  server.use((_ctx, next) => next());
  let seen: string | undefined;
  server.bind("closer", (ctx: CallContext) => {
    void server.close();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => ((seen = "not aborted"), resolve()), 3000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        seen = (ctx.signal.reason as RpcError).code;
        resolve();
      }, { once: true });
    });
  }, { context: true });
  const done = server.run();
  const client = new Client(name, { timeoutMs: 10_000 });
  try {
    await client.waitForConnection(5000);
    await client.asyncCall("closer").catch(() => {});
    await done;
    const deadline = Date.now() + 5000;
    while (seen === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.is(seen, "ERR_RPC_DISCONNECTED");
  } finally {
    client.close();
    await server.close();
  }
});

middleware.after(() => killAll());
middleware.run();
