// Client interceptors (client.use): metadata added, options changed, a call sent again,
// results and errors observed; call, asyncCall, withOptions' calls and typed proxies go
// through them, over shared memory and NATS; an async interceptor on a synchronous call
// is refused before anything is sent. The server is context-server.js in another process.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { Client, defineContract, type Interceptor, type RpcError } from "../src/index.js";
import { startNats } from "./nats-helpers.js";
import { killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";

const interceptors = suite("interceptors");
const who = defineContract({ whoami: { args: z.tuple([z.number()]), result: z.any() } });

async function behaves(client: Client): Promise<void> {
  const seen: string[] = [];
  // Made before the interceptors: its calls go through them all the same.
  const bound = client.withOptions({ metadata: { bound: "yes" } });
  client.use((call, next) => {
    call.metadata["x-tenant"] = "acme";
    seen.push(`${call.method} ${call.sync ? "sync" : "async"}`);
    return next();
  });
  const observed: string[] = [];
  client.use(function observe(call, next) {
    if (call.method === "hold") call.options.timeoutMs = 200;
    if (call.sync) {
      try {
        return next();
      } catch (e) {
        observed.push(`${call.method} ${(e as RpcError).code}`);
        throw e;
      }
    }
    return (next() as Promise<unknown>).then((v) => v, (e: RpcError) => {
      observed.push(`${call.method} ${e.code}`);
      throw e;
    });
  });
  const a = await client.asyncCall<Record<string, any>>("whoami", 1);
  assert.equal(a.metadata, { "x-tenant": "acme" }, "metadata an interceptor added reaches the handler");
  assert.equal(client.call<Record<string, any>>("whoami", 2).metadata, { "x-tenant": "acme" });
  assert.equal((await bound.asyncCall<Record<string, any>>("whoami", 3)).metadata, { bound: "yes", "x-tenant": "acme" });
  assert.equal(bound.call<Record<string, any>>("whoami", 4).metadata, { bound: "yes", "x-tenant": "acme" });
  assert.equal((await client.proxy(who).whoami(5)).metadata, { "x-tenant": "acme" }, "typed proxies too");
  assert.equal(client.proxy(who, { sync: true }).whoami(6).metadata, { "x-tenant": "acme" });
  assert.equal(seen, ["whoami async", "whoami sync", "whoami async", "whoami sync", "whoami async", "whoami sync"]);

  // Options changed: "hold" never answers; its timeout is the interceptor's 200 ms, not the client's 10 s.
  const t0 = performance.now();
  const held = await rejection(client.asyncCall("hold", "i1"));
  assert.is(held.code, "ERR_RPC_TIMEOUT");
  assert.ok(performance.now() - t0 < 5000, `timed out after ${Math.round(performance.now() - t0)} ms, not at the client's 10 s`);
  assert.equal(observed, ["hold ERR_RPC_TIMEOUT"], "an interceptor observed the error");
}

async function sendsAgain(client: Client): Promise<void> {
  // Sent twice, each time as the call then is.
  client.use(async (call, next) => {
    if (call.method !== "whoami") return next();
    const first = (await next()) as Record<string, any>;
    call.metadata.attempt = "2";
    const second = (await next()) as Record<string, any>;
    return [first.metadata, second.metadata];
  });
  assert.equal(await client.asyncCall("whoami", 1), [{}, { attempt: "2" }]);
  // An async interceptor on a synchronous call: refused, clearly, nothing sent.
  let err: RpcError | undefined;
  try {
    client.call("whoami", 1);
  } catch (e) {
    err = e as RpcError;
  }
  assert.is(err?.code, "ERR_RPC_INVALID_ARGUMENT");
  assert.is(err?.maybeExecuted, false);
}

async function withServer(transport: "shm" | "nats", body: (client: Client) => Promise<void>): Promise<void> {
  const node = transport === "nats" ? await startNats() : undefined;
  const name = uniqueName("icpt");
  let server: Child | undefined;
  const client = new Client(node === undefined ? name : `${node.url}${name}`, { timeoutMs: 10_000 });
  try {
    server = await spawnFixture("context-server.js", node === undefined ? [name, "-"] : [name, "-", JSON.stringify(node.url)]);
    await body(client);
  } finally {
    client.close();
    if (server) await stopServer(server);
    await node?.stop();
  }
}

interceptors("over shared memory: metadata added, options changed, errors observed; call, asyncCall, withOptions and proxies", () => withServer("shm", behaves));
interceptors("over NATS: the same", () => withServer("nats", behaves));
interceptors("an interceptor sends a call again; an async interceptor refuses a synchronous call (shared memory)", () => withServer("shm", sendsAgain));
interceptors("the same over NATS", () => withServer("nats", sendsAgain));

interceptors("a plain interceptor that returns a Promise to a synchronous call: refused, the Promise's rejection handled", async () => {
  const client = new Client(uniqueName("icptp"), { timeoutMs: 1000 });
  const later: Interceptor = () => Promise.reject(new Error("later"));
  client.use(later);
  try {
    let err: RpcError | undefined;
    try {
      client.call("m");
    } catch (e) {
      err = e as RpcError;
    }
    assert.is(err?.code, "ERR_RPC_INVALID_ARGUMENT");
    const got = await client.asyncCall("m").then(() => undefined, (e: Error) => e);
    assert.is(got?.message, "later", "an async call gets the interceptor's own rejection");
    assert.throws(() => client.use(42 as never), (e: RpcError) => e.code === "ERR_RPC_INVALID_ARGUMENT");
  } finally {
    client.close();
  }
});

interceptors.after(() => killAll());
interceptors.run();
