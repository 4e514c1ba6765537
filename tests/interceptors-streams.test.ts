// Client interceptors around stream calls (src/calls/intercept.ts, `call.stream`): they run
// when a stream is opened (client.stream, withOptions' stream, a proxy's streaming method),
// may add metadata and change options, and observe its end: `next()` resolves with the
// handler's return value once the server's end arrives, or rejects with the stream's error;
// what they return is the stream's result, what they throw ends the loop. Over shared memory,
// NATS and the locality switch; the server (stream-server.js) in another process. With
// shmrpc/tracing a stream gets a client span covering it, its traceparent carried to the server.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpanKind, SpanStatusCode, propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Client, type RpcError } from "../src/index.js";
import { traceClient } from "../src/tracing/index.js";
import { ticker } from "./fixtures/contracts.js";
import { killAll, spawnFixture, stopServer, uniqueName, type Child } from "./helpers.js";
import { startNats, type NatsNode } from "./nats-helpers.js";
import { drain } from "./stream-helpers.js";

const streams = suite("interceptors around streams");
// A tracer provider of this suite's own (the tracing suite, in the same process, registers the global one).
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const otel = {
  spans: () => exporter.getFinishedSpans().map((s) => ({ name: s.name, kind: s.kind, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, status: s.status.code })),
};
const name = uniqueName("istrm");
let node: NatsNode;
let server: Child;
let dir: string;
let setupError: unknown;

streams.before(async () => {
  try {
    node = await startNats();
    dir = mkdtempSync(join(tmpdir(), "shmrpc-istrm-"));
    server = await spawnFixture("stream-server.js", [name, JSON.stringify({ nats: node.url })]);
  } catch (e) {
    setupError = e;
  }
});
streams.after(async () => {
  try {
    if (server) await stopServer(server);
  } finally {
    killAll();
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

/** What every transport must do; `make` makes a fresh client of the server. */
async function behaves(make: () => Client | Promise<Client>): Promise<void> {
  const client = await make();
  try {
    const seen: string[] = [];
    client.use((call, next) => {
      seen.push(`${call.method} ${call.stream ? "stream" : call.sync ? "sync" : "async"}`);
      call.metadata["x-tenant"] = "acme";
      if (call.method === "watch") call.options.timeoutMs = 300;
      return next();
    });
    client.use(async (call, next) => {
      if (!call.stream) return next();
      try {
        const result = await next();
        seen.push(`${call.method} ended ${JSON.stringify(result)}`);
        return call.method === "count" ? `${String(result)}, seen` : result;
      } catch (e) {
        seen.push(`${call.method} failed ${(e as RpcError).code}`);
        throw e;
      }
    });
    // Metadata added reaches the handler; the end observed after the items; the returned value is the result.
    const it = client.stream<unknown>("metaStream", 2);
    assert.equal(await it.next(), { value: { "x-tenant": "acme" }, done: false });
    assert.equal((await it.next()).value, 0);
    assert.equal((await it.next()).value, 1);
    assert.equal(await it.next(), { value: "2 after the metadata", done: true });
    const counted = client.stream<number>("count", 3);
    assert.equal((await drain(counted)).items, [0, 1, 2]);
    assert.equal(await counted.next(), { value: "3 sent, seen", done: true }, "an interceptor's value is the stream's result");
    // An error observed, after the items before it.
    const failed = await drain(client.stream("failAfter", 2));
    assert.equal(failed.items, [0, 1]);
    assert.is(failed.err?.code, "ERR_RPC_REMOTE");
    // Options changed: watch never ends by itself; the interceptor's 300 ms deadline ends it.
    const watched = await drain(client.withOptions({ metadata: { bound: "yes" } }).stream("watch", "iwatch"));
    assert.is(watched.err?.code, "ERR_RPC_TIMEOUT");
    // A proxy's streaming method too.
    assert.equal((await drain(client.proxy(ticker).ticks(2))).items, [{ n: 0, even: true }, { n: 1, even: false }]);
    assert.equal(seen, [
      "metaStream stream", 'metaStream ended "2 after the metadata"',
      "count stream", 'count ended "3 sent"',
      "failAfter stream", "failAfter failed ERR_RPC_REMOTE",
      "watch stream", "watch failed ERR_RPC_TIMEOUT",
      "ticks stream", 'ticks ended "2 ticks"',
    ]);
  } finally {
    client.close();
  }
}

async function refusals(make: () => Client | Promise<Client>, serving: Child): Promise<void> {
  const client = await make();
  try {
    // Thrown before next(): the loop ends with it, nothing sent.
    client.use((call, next) => {
      if (call.method === "denied") throw Object.assign(new Error("not for you"), { code: "E_DENIED" });
      if (call.args[1] === "twice") return Promise.resolve(next()).then(() => next());
      if (call.method === "short") return "short-circuited";
      return next();
    });
    const denied = await drain(client.stream("denied"));
    assert.is((denied.err as unknown as { code: string }).code, "E_DENIED");
    // A stream is sent once: a second next() is refused, and the first one's items came.
    const twice = client.stream<number>("count", 2, "twice");
    const got = await drain(twice);
    assert.equal(got.items, [0, 1]);
    assert.is(got.err?.code, "ERR_RPC_INVALID_ARGUMENT");
    // Never sent: no items, the interceptor's value as result.
    assert.equal(await client.stream("short").next(), { value: "short-circuited", done: true });
    // A break still cancels the call on the server: its generator's finally runs.
    const from = serving.output().length;
    assert.equal((await drain(client.stream<number>("numbers", `ibreak-${from}`), 2)).items, [0, 1]);
    await until(() => serving.output().slice(from).includes(`finally ibreak-${from}`));
  } finally {
    client.close();
  }
}

async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const transports: [string, () => Client | Promise<Client>][] = [
  ["shared memory", () => new Client(name, { timeoutMs: 10_000 })],
  ["NATS", () => new Client(`${node.url}${name}`, { timeoutMs: 10_000 })],
  ["the locality switch (over NATS: no instance on this host)", async () => {
    // The name is served only over NATS, its socket elsewhere: the switch takes NATS.
    return new Client(far, { nats: node.url, timeoutMs: 10_000 });
  }],
];
const far = uniqueName("istrmfar");
let remote: Child | undefined;

for (const [transport, make] of transports) {
  streams(`over ${transport}: interceptors add metadata, change options and observe a stream's end; proxies' streams too`, async () => {
    if (setupError !== undefined) throw setupError;
    remote ??= await spawnFixture("stream-server.js", [far, JSON.stringify({ nats: node.url, replica: true, socketPath: join(dir, "remote.sock") })]);
    await behaves(make);
  });
  streams(`over ${transport}: an interceptor that throws ends the loop; next() sends a stream once; one that never calls next() gives its value`, async () => {
    if (setupError !== undefined) throw setupError;
    remote ??= await spawnFixture("stream-server.js", [far, JSON.stringify({ nats: node.url, replica: true, socketPath: join(dir, "remote.sock") })]);
    await refusals(make, transport.startsWith("the locality") ? remote : server);
  });
}

streams("with shmrpc/tracing a stream has a client span from its opening to its end, its traceparent carried to the handler", async () => {
  if (setupError !== undefined) throw setupError;
  propagation.setGlobalPropagator(new W3CTraceContextPropagator()); // as the tracing suite's (a second registration is ignored)
  const client = traceClient(new Client(name, { timeoutMs: 10_000 }), { tracerProvider });
  try {
    const it = client.stream<Record<string, string>>("metaStream", 1);
    const meta = (await it.next()).value as Record<string, string>;
    assert.is(otel.spans().filter((s) => s.name === `${name}/metaStream`).length, 0, "not ended while the stream runs");
    assert.equal(await it.next(), { value: 0, done: false });
    assert.is((await it.next()).done, true);
    await until(() => otel.spans().some((s) => s.name === `${name}/metaStream`));
    const span = otel.spans().find((s) => s.name === `${name}/metaStream`)!;
    assert.is(span.kind, SpanKind.CLIENT);
    assert.ok(meta.traceparent?.includes(`${span.traceId}-${span.spanId}`), `traceparent ${meta.traceparent} names the client span`);
    assert.is((await drain(client.stream("failAfter", 1))).err?.code, "ERR_RPC_REMOTE");
    await until(() => otel.spans().some((s) => s.name === `${name}/failAfter`));
    assert.is(otel.spans().find((s) => s.name === `${name}/failAfter`)!.status, SpanStatusCode.ERROR);
  } finally {
    client.close();
  }
});

streams.after(() => void remote?.kill());
streams.run();
