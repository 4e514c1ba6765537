// The SPSC ring under real concurrency: a producer thread and a consumer thread on one
// shared WebAssembly.Memory, random sizes and batches, wrap-around at every offset,
// every record checked against the sequence both sides derive from the same seed.
// `RING_STRESS_COUNT` sets the count; the long form (SHMRPC_LONG=1, `npm run test:long`)
// runs 10 000 000.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { packageRoot } from "../src/core/wasm.js";

const COUNT = Number(process.env.RING_STRESS_COUNT ?? (process.env.SHMRPC_LONG === "1" ? 10_000_000 : 1_000_000));

test(`${COUNT} records of random sizes cross between two threads intact and in order`, async () => {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 32768, shared: true });
  const capacity = 65536; // small: many wrap-arounds
  const ring = 2 * 65536;
  const common = { memory, wasm: join(packageRoot(), "wasm", "shmrpc.wasm"), ring, capacity, count: COUNT, seed: 12345, handles: [65536, 65536 + 64] };
  const script = fileURLToPath(new URL("./fixtures/ring-stress-worker.js", import.meta.url));
  // Each worker's verdict, listened for from the start (a worker may finish early).
  const start = (role: string, handle: number) => {
    const worker = new Worker(script, { workerData: { ...common, role, handle } });
    const verdict = new Promise<string>((resolve) => {
      worker.once("message", resolve);
      worker.once("error", (e) => resolve(`${e}`));
    });
    return { worker, verdict };
  };
  const started = Date.now();
  const producer = start("producer", 65536);
  const consumer = start("consumer", 65536 + 64);
  try {
    // The consumer checks every record; if it stops early, the producer would wait forever.
    assert.is(await consumer.verdict, "ok");
    assert.is(await producer.verdict, "ok");
  } finally {
    await producer.worker.terminate();
    await consumer.worker.terminate();
  }
  // A bound against a stuck ring, not a speed test: generous for a busy machine.
  assert.ok(Date.now() - started < (COUNT / 1_000_000) * 300_000);
});

test.run();
