// OpenTelemetry (shmrpc/tracing) with the real SDK in every process: one trace from the
// client through a server, its nested call and a second server, parent links right, error
// status and maybe_executed on failures, over shared memory and NATS; histograms on both
// sides; and without the integration, @opentelemetry is never loaded.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SpanKind, SpanStatusCode, propagation, trace, type TextMapPropagator } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { Client } from "../src/index.js";
import { traceClient, clientTracing, serverTracing } from "../src/tracing/index.js";
import type { InterceptedCall } from "../src/calls/intercept.js";
import type { MiddlewareContext } from "../src/serving/middleware.js";
import { setUpOtel, type Recorded, type SpanData } from "./otel-setup.js";
import { startNats } from "./nats-helpers.js";
import { FIXTURES, killAll, rejection, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";

const tracing = suite("tracing");
const otel = setUpOtel();

function one(spans: SpanData[], kind: SpanKind, name: string): SpanData {
  const found = spans.filter((s) => s.kind === kind && s.name === name);
  assert.is(found.length, 1, `one ${SpanKind[kind]} span ${name} among ${spans.map((s) => `${SpanKind[s.kind]} ${s.name}`).join(", ")}`);
  return found[0]!;
}

async function oneTrace(transport: "shm" | "nats"): Promise<void> {
  const node = transport === "nats" ? await startNats() : undefined;
  const outer = uniqueName("trA");
  const inner = uniqueName("trB");
  const children: Child[] = [];
  const at = (name: string): string => (node === undefined ? name : `${node.url}${name}`);
  const client = traceClient(new Client(at(outer), { timeoutMs: 10_000 }));
  const plain = [new Client(at(outer), { timeoutMs: 10_000 }), new Client(at(inner), { timeoutMs: 10_000 })];
  try {
    const nats = node === undefined ? [] : [JSON.stringify(node.url)];
    children.push(await spawnFixture("tracing-server.js", [inner, "-", ...nats]));
    children.push(await spawnFixture("tracing-server.js", [outer, inner, ...nats]));
    assert.is(await client.asyncCall("hop", 1), 3, "client -> outer -> inner");
    const failed = await rejection(client.asyncCall("fail"));
    assert.is(failed.remote?.code, "E_FIXTURE");
    assert.is(client.call("hop", 10), 12, "a synchronous call is traced too");

    const mine = otel.spans();
    const [outerSpans, innerSpans] = await Promise.all(plain.map((c) => c.asyncCall<SpanData[]>("spans")));
    const client1 = mine.filter((s) => s.name === `${outer}/hop`)[0]!;
    assert.is(client1.kind, SpanKind.CLIENT);
    assert.is(client1.parentSpanId, undefined, "the client span is the trace's root");
    const server1 = outerSpans!.filter((s) => s.kind === SpanKind.SERVER && s.name === `${outer}/hop` && s.parentSpanId === client1.spanId);
    assert.is(server1.length, 1, "the outer server span is a child of the client span");
    const nested = one(outerSpans!.filter((s) => s.parentSpanId === server1[0]!.spanId), SpanKind.CLIENT, `${inner}/hop`);
    const server2 = one(innerSpans!.filter((s) => s.parentSpanId === nested.spanId), SpanKind.SERVER, `${inner}/hop`);
    for (const s of [server1[0]!, nested, server2]) assert.is(s.traceId, client1.traceId, `${SpanKind[s.kind]} ${s.name}: one trace id`);
    assert.equal({ ...client1.attributes }, { "rpc.system": "shmrpc", "rpc.service": outer, "rpc.method": "hop" });
    assert.is(server2.attributes["rpc.system"], "shmrpc");
    assert.is(server2.attributes["rpc.method"], "hop");
    assert.is(server2.attributes["rpc.shmrpc.transport"], transport);
    assert.is(client1.status, SpanStatusCode.UNSET);

    const failedClient = one(mine, SpanKind.CLIENT, `${outer}/fail`);
    assert.is(failedClient.status, SpanStatusCode.ERROR);
    assert.is(failedClient.attributes["error.type"], "ERR_RPC_REMOTE");
    assert.is(failedClient.attributes["rpc.shmrpc.maybe_executed"], true);
    const failedServer = one(outerSpans!.filter((s) => s.parentSpanId === failedClient.spanId), SpanKind.SERVER, `${outer}/fail`);
    assert.is(failedServer.status, SpanStatusCode.ERROR);
    assert.is(failedServer.attributes["error.type"], "E_FIXTURE");

    const mineCounts = await otel.histograms();
    assert.ok((mineCounts["rpc.client.duration"] ?? 0) >= 3, `rpc.client.duration here: ${JSON.stringify(mineCounts)}`);
    const theirs = await plain[0]!.asyncCall<Record<string, number>>("histograms");
    assert.ok((theirs["rpc.server.duration"] ?? 0) >= 3 && (theirs["rpc.client.duration"] ?? 0) >= 2, `at the outer server: ${JSON.stringify(theirs)}`);

    // Sizes: the encoded arguments and result, the same bytes on both sides, the sync call too.
    const blob = Buffer.alloc(50_000, 7);
    assert.equal(await client.asyncCall("echo", blob), blob);
    assert.equal(client.call("echo", blob), blob);
    const here = (await otel.byMethod());
    const there = await plain[0]!.asyncCall<Record<string, Record<string, Recorded>>>("byMethod");
    for (const [side, name] of [[here, "rpc.client.request.size"], [here, "rpc.client.response.size"], [there, "rpc.server.request.size"], [there, "rpc.server.response.size"]] as const) {
      const r = side[name]?.[`${outer}/echo`];
      assert.is(r?.count, 2, `${name} of echo: ${JSON.stringify(side[name])}`);
      assert.ok(r!.min >= 50_000 && r!.max <= 50_000 + 64 && r!.min === r!.max, `${name}: the encoded 50,000-byte buffer: ${JSON.stringify(r)}`);
    }
    const echo = `${outer}/echo`;
    assert.equal(here["rpc.client.request.size"]![echo], there["rpc.server.request.size"]![echo], "the request as sent is the request as received");
    assert.equal(here["rpc.client.response.size"]![echo], there["rpc.server.response.size"]![echo], "the result as sent is the result as received");
    assert.is(here["rpc.client.response.size"]![`${outer}/fail`], undefined, "an error answer has no response size");
    assert.is(here["rpc.client.request.size"]![`${outer}/fail`]?.count, 1, "its request has one");

    // A call that provably never ran says so.
    client.close();
    assert.is((await rejection(client.asyncCall("hop", 1))).code, "ERR_RPC_CLOSED");
    const closed = otel.spans().filter((s) => s.name === `${outer}/hop`).at(-1)!;
    assert.is(closed.attributes["rpc.shmrpc.maybe_executed"], false);
    assert.is(closed.status, SpanStatusCode.ERROR);
  } finally {
    client.close();
    for (const c of plain) c.close();
    for (const c of children) await stopServer(c);
    await node?.stop();
  }
}

tracing("over shared memory: one trace id from the client through a server, its nested call and a second server; errors marked", () => oneTrace("shm"));
tracing("over NATS: the same", () => oneTrace("nats"));

tracing("without the integration, @opentelemetry is never loaded (module hooks refuse it, require.cache has none); the tracing entry does load it", () => {
  const bundle = join(FIXTURES, "..", "..", "bundle");
  const run = (entry: string): string => {
    const r = spawnSync(process.execPath, [join(FIXTURES, "no-otel.js"), pathToFileURL(join(bundle, entry)).href, uniqueName("nootel")], { encoding: "utf8", timeout: 30_000 });
    return `${r.stdout}${r.stderr}`.trim();
  };
  assert.is(run("shmrpc.js"), "ok []");
  assert.match(run("tracing.js"), /^failed @opentelemetry loaded: @opentelemetry\/api/, "the hooks do refuse it");
});

tracing("a propagator's mixed-case keys travel as lowercase metadata keys (the only ones metadata takes) and are found again", () => {
  // Carries the span id under "X-Span-Id", as B3's multi-header format does with its keys.
  const mixed: TextMapPropagator = {
    inject: (ctx, carrier, setter) => setter.set(carrier, "X-Span-Id", trace.getSpanContext(ctx)?.spanId ?? ""),
    extract: (ctx, carrier, getter) => {
      const id = getter.get(carrier, "X-Span-Id");
      return typeof id === "string" ? trace.setSpanContext(ctx, { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: id, traceFlags: 1, isRemote: true }) : ctx;
    },
    fields: () => ["X-Span-Id"],
  };
  propagation.disable();
  propagation.setGlobalPropagator(mixed);
  try {
    const call: InterceptedCall = { method: "m", args: [], metadata: {}, sync: true, stream: false, options: { timeoutMs: 1000, idempotent: false, signal: undefined, parent: undefined } };
    clientTracing("/svc")(call, () => 1);
    assert.equal(Object.keys(call.metadata), ["x-span-id"]);
    const ctx = { method: "m", metadata: call.metadata, state: {}, caller: { transport: "shm" } } as unknown as MiddlewareContext;
    serverTracing("/svc")(ctx, () => 1);
    const server = otel.spans().filter((s) => s.kind === SpanKind.SERVER && s.name === "/svc/m").at(-1)!;
    assert.is(server.parentSpanId, call.metadata["x-span-id"], "the server span's parent is the id carried");
  } finally {
    propagation.disable();
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
});

tracing.after(() => killAll());
tracing.run();
