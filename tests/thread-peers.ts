// What the thread suites share: a worker running tests/fixtures/thread-peer.ts in one of its
// modes (given a connection to serve or call, if any), its next message, and the workers of a
// test terminated after it.
import { Worker, type TransferListItem } from "node:worker_threads";
import { join } from "node:path";
import { FIXTURES } from "./helpers.js";
import type { ThreadConnection } from "../src/threads/index.js";

const PEER = join(FIXTURES, "thread-peer.js");
const workers: Worker[] = [];

/** A peer worker in `mode`, handed `conn` (transferred) and `seed`. */
export function peer(mode: string, conn?: ThreadConnection, seed?: number): Worker {
  const w = new Worker(PEER, { workerData: { mode, conn, seed }, transferList: conn === undefined ? [] : [conn.port as unknown as TransferListItem] });
  w.on("error", () => {}); // a worker made to throw out
  workers.push(w);
  return w;
}

/** The worker's next message (rejects after `timeoutMs`). */
export function message<T>(w: Worker, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message from the worker")), timeoutMs);
    w.once("message", (m: T) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
}

/** Every peer made since the last call, terminated (a suite's after.each). */
export async function terminatePeers(): Promise<void> {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
}
