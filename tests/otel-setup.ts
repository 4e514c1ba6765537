// The OpenTelemetry SDK as an application sets it up, for the tracing suite and its
// fixture (both processes): spans kept in memory, W3C trace context, histograms read on
// demand. Plain data out, so spans can travel back from a fixture as a call's result.
import { metrics, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";

/** A span as plain data. */
export interface SpanData {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  status: number;
  attributes: Record<string, unknown>;
}

class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** Registers the global tracer provider, propagator and meter provider. */
export function setUpOtel(): { spans(): SpanData[]; histograms(): Promise<Record<string, number>>; byMethod(): Promise<Record<string, Record<string, Recorded>>> } {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const reader = new OnDemandReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  return {
    spans: () => exporter.getFinishedSpans().map((s) => ({
      name: s.name, kind: s.kind, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext?.spanId, status: s.status.code, attributes: { ...s.attributes },
    })),
    /** Each histogram's count of recorded values, over all its attribute sets. */
    histograms: async () => {
      const { resourceMetrics } = await reader.collect();
      const counts: Record<string, number> = {};
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const m of scope.metrics) {
          counts[m.descriptor.name] = m.dataPoints.reduce((n, p) => n + ((p.value as { count?: number }).count ?? 0), 0);
        }
      }
      return counts;
    },
    /** Each histogram's count, sum, min and max of the values recorded, by "rpc.service/rpc.method". */
    byMethod: async () => {
      const { resourceMetrics } = await reader.collect();
      const out: Record<string, Record<string, Recorded>> = {};
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const m of scope.metrics) {
          const by: Record<string, Recorded> = (out[m.descriptor.name] = {});
          for (const p of m.dataPoints) {
            const v = p.value as { count: number; sum: number; min?: number; max?: number };
            const method = `${String(p.attributes["rpc.service"])}/${String(p.attributes["rpc.method"])}`;
            const r = (by[method] ??= { count: 0, sum: 0, min: Infinity, max: -Infinity });
            r.count += v.count;
            r.sum += v.sum;
            r.min = Math.min(r.min, v.min ?? Infinity);
            r.max = Math.max(r.max, v.max ?? -Infinity);
          }
        }
      }
      return out;
    },
  };
}

/** What a histogram recorded for one method. */
export interface Recorded {
  count: number;
  sum: number;
  min: number;
  max: number;
}
