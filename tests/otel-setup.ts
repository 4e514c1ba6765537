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
export function setUpOtel(): { spans(): SpanData[]; histograms(): Promise<Record<string, number>> } {
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
  };
}
