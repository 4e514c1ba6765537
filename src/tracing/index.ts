// shmrpc/tracing: OpenTelemetry for shmrpc, opt-in. `traceClient(client)` adds an
// interceptor (src/calls/intercept.ts) and `traceServer(server)` a middleware
// (src/serving/middleware.ts) that make a CLIENT and a SERVER span per call, following
// OpenTelemetry's RPC semantic conventions, carry the trace context in the call's metadata
// (traceparent/tracestate, through the global propagator: W3C trace context in the SDK's
// default setup) over shared memory and NATS alike, and record the rpc.client.duration and
// rpc.server.duration histograms (ms), and rpc.{client,server}.{request,response}.size
// (bytes, the encoded arguments and result: InterceptedCall.sizes, ctx.requestBytes and
// ctx.onAnswered, measured only when asked). This entry alone imports @opentelemetry/api
// (an optional peer dependency): `import "shmrpc"` never loads it.

import {
  context as otelContext, metrics, propagation, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT,
  type Attributes, type Context as OtelContext, type TextMapGetter, type TextMapSetter, type Histogram, type MeterProvider, type Span, type Tracer, type TracerProvider,
} from "@opentelemetry/api";
import type { Client } from "../client.js";
import type { Server } from "../server.js";
import type { CallContext } from "../serving/context.js";
import type { Interceptor } from "../calls/intercept.js";
import type { Middleware } from "../serving/middleware.js";
import type { RpcError } from "../errors.js";

/** Options of {@link traceClient} and {@link traceServer}. */
export interface TracingOptions {
  /** Where spans go (default: the global tracer provider, `trace.setGlobalTracerProvider`). */
  tracerProvider?: TracerProvider;
  /** Where the histograms go (default: the global meter provider). */
  meterProvider?: MeterProvider;
  /** `rpc.service` (default: the name served or called, "/calc"; of a NATS URL, its path). */
  service?: string;
}

const SCOPE = "shmrpc";
/** Metadata keys are lowercase (src/metadata.ts): a propagator's "X-B3-TraceId" travels as "x-b3-traceid". */
const LOWERCASE_SETTER: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => void (carrier[key.toLowerCase()] = value),
};
const LOWERCASE_GETTER: TextMapGetter<Readonly<Record<string, string>>> = {
  get: (carrier, key) => carrier[key.toLowerCase()],
  keys: (carrier) => Object.keys(carrier),
};
/** Where the server span's context is kept in `ctx.state`, for nested calls ({ parent: ctx }). */
const OTEL_CONTEXT = Symbol.for("shmrpc.tracing.context");

/** Traces every call `client` makes: a CLIENT span each (a child of the active span, or
 *  of the server span of the `parent` context it was made under), its context sent in
 *  the call's metadata. Returns the client. */
export function traceClient(client: Client, options: TracingOptions = {}): Client {
  return client.use(clientTracing(options.service ?? serviceOf(client.name), options));
}

/** Traces every call `server` serves: a SERVER span each, a child of the caller's span
 *  (from the call's metadata). Returns the server. */
export function traceServer(server: Server, options: TracingOptions = {}): Server {
  return server.use(serverTracing(options.service ?? serviceOf(server.name), options));
}

/** The interceptor of {@link traceClient}, for a client's own list. */
export function clientTracing(service: string, options: TracingOptions = {}): Interceptor {
  const tracer = tracerOf(options);
  const duration = histogram(options, "rpc.client.duration", "Duration of outbound RPCs, until their result or error");
  const requestSize = sizeHistogram(options, "rpc.client.request.size", "Encoded size of outbound RPC requests (their arguments)");
  const responseSize = sizeHistogram(options, "rpc.client.response.size", "Encoded size of the results of outbound RPCs");
  return (call, next) => {
    const parent = parentContext(call.options.parent) ?? otelContext.active();
    const attributes = rpcAttributes(service, call.method);
    const span = tracer.startSpan(`${service}/${call.method}`, { kind: SpanKind.CLIENT, attributes }, parent);
    const active = trace.setSpan(parent, span);
    propagation.inject(active, call.metadata, LOWERCASE_SETTER);
    const sizes = (call.sizes = { request: -1, response: -1 });
    return around(span, active, next, duration, attributes, true, () => {
      if (sizes.request >= 0) requestSize.record(sizes.request, attributes);
      if (sizes.response >= 0) responseSize.record(sizes.response, attributes);
    });
  };
}

/** The middleware of {@link traceServer}, for a server's own list. */
export function serverTracing(service: string, options: TracingOptions = {}): Middleware {
  const tracer = tracerOf(options);
  const duration = histogram(options, "rpc.server.duration", "Duration of inbound RPCs, from the first middleware to the answer");
  const requestSize = sizeHistogram(options, "rpc.server.request.size", "Encoded size of inbound RPC requests (their arguments)");
  const responseSize = sizeHistogram(options, "rpc.server.response.size", "Encoded size of the results of inbound RPCs");
  return (ctx, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, ctx.metadata, LOWERCASE_GETTER);
    const attributes = rpcAttributes(service, ctx.method);
    attributes["rpc.shmrpc.transport"] = ctx.caller.transport;
    const span = tracer.startSpan(`${service}/${ctx.method}`, { kind: SpanKind.SERVER, attributes }, parent);
    const active = trace.setSpan(parent, span);
    ctx.state[OTEL_CONTEXT] = active;
    if (ctx.requestBytes >= 0) requestSize.record(ctx.requestBytes, attributes);
    // The result is encoded after the whole chain returned: its size comes later.
    const before = ctx.onAnswered;
    ctx.onAnswered = (bytes) => {
      before?.(bytes);
      responseSize.record(bytes, attributes);
    };
    return around(span, active, next, duration, attributes, false, undefined);
  };
}

/** Runs `next` with `active` as the active context and ends `span` when it settles. */
function around(span: Span, active: OtelContext, next: () => unknown, duration: Histogram, attributes: Attributes, client: boolean, sized: (() => void) | undefined): unknown {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = otelContext.with(active, next);
  } catch (e) {
    end(span, e, t0, duration, attributes, client, sized);
    throw e;
  }
  if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
    return Promise.resolve(result).then((v) => {
      end(span, undefined, t0, duration, attributes, client, sized);
      return v;
    }, (e: unknown) => {
      end(span, e, t0, duration, attributes, client, sized);
      throw e;
    });
  }
  end(span, undefined, t0, duration, attributes, client, sized);
  return result;
}

function end(span: Span, err: unknown, t0: number, duration: Histogram, attributes: Attributes, client: boolean, sized: (() => void) | undefined): void {
  sized?.();
  if (err !== undefined) {
    // Duck-typed: this entry is bundled apart from the API's (its RpcError is another class).
    const e = (err !== null && typeof err === "object" ? err : {}) as Partial<RpcError>;
    const code = typeof e.code === "string" ? e.code : "Error";
    const message = err instanceof Error ? err.message : String(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    span.setAttribute("error.type", code);
    if (typeof e.remote?.code === "string") span.setAttribute("rpc.shmrpc.remote_code", e.remote.code);
    // The caller's side: whether the failed call may have run (RpcError.maybeExecuted; unknown counts as may).
    if (client) span.setAttribute("rpc.shmrpc.maybe_executed", e.maybeExecuted !== false);
    if (err instanceof Error) span.recordException(err);
    duration.record(performance.now() - t0, { ...attributes, "error.type": code });
  } else {
    duration.record(performance.now() - t0, attributes);
  }
  span.end();
}

function rpcAttributes(service: string, method: string): Attributes {
  return { "rpc.system": "shmrpc", "rpc.service": service, "rpc.method": method };
}

/** The server span's context of the handler context a nested call was made under. */
function parentContext(parent: CallContext | undefined): OtelContext | undefined {
  return parent === undefined ? undefined : (parent.state[OTEL_CONTEXT] as OtelContext | undefined);
}

function tracerOf(options: TracingOptions): Tracer {
  return (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
}

function histogram(options: TracingOptions, name: string, description: string): Histogram {
  return (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE).createHistogram(name, { unit: "ms", description });
}

function sizeHistogram(options: TracingOptions, name: string, description: string): Histogram {
  return (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE).createHistogram(name, { unit: "By", description });
}

/** "/calc" of "/calc" and of "nats://host:4222/calc". */
function serviceOf(name: string): string {
  if (!name.includes("://")) return name;
  try {
    return new URL(name).pathname || name;
  } catch {
    return name;
  }
}
