// The OpenTelemetry SDK as a traced service would run it, for the bench's traced rows: the
// global tracer provider with a BatchSpanProcessor (what production uses) whose exporter
// drops the spans (the export's own cost is the backend's, not shmrpc's), the W3C
// propagator, and a meter provider whose histograms are kept and never read.
import { metrics, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator, ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { MeterProvider } from "@opentelemetry/sdk-metrics";

class DroppingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

export function setUpDroppingOtel(): void {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DroppingExporter())] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  metrics.setGlobalMeterProvider(new MeterProvider());
}
