// The shmrpc server of the bench: `node shmrpc-server.js <name> <busyPoll 0|1> [view|middleware|traced]`
// (view: echo is bound with { view: true }; middleware: one pass-through server.use((ctx,
// next) => next()); traced: traceServer with the OpenTelemetry SDK, spans batched to an
// exporter that drops them: bench/peers/otel.ts).
// Prints "ready" once the name is claimed; closes when stdin ends.
import { Server } from "../../src/index.js";

const [name, busy, variant] = process.argv.slice(2);
const server = new Server(name!, { busyPoll: busy === "1" });
server.bind("add", (a: number, b: number) => a + b);
server.bind("echo", (x: unknown) => x, { view: variant === "view" });
if (variant === "middleware") server.use((_ctx, next) => next());
if (variant === "traced") {
  // Loaded only here: the other rows' servers never load OpenTelemetry.
  (await import("./otel.js")).setUpDroppingOtel();
  (await import("../../src/tracing/index.js")).traceServer(server);
}

const done = server.run();
console.log("ready");
process.stdin.on("end", () => void server.close());
process.stdin.resume();
await done;
process.exit(0);
