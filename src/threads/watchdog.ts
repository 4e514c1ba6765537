// A synchronous call blocked in Atomics.wait sees no event of its own thread: not the
// connection port's 'close' that says the server's thread was terminated. So (Node) the
// server's thread keeps, for each connection, one end of a second MessageChannel (the
// liveness channel) and hands the other end to the client over the connection's port;
// on its first synchronous call the client gives that end to a watchdog: a small worker
// of the client's thread, started then, whose event loop is never blocked. When the
// server's thread ends (terminated, thrown out) or drops the connection, its end closes,
// the watchdog's gets 'close', and the watchdog writes the connection's "gone" word and
// rings the client's doorbell: the waiting call wakes and fails ERR_RPC_DISCONNECTED.
// A long synchronous handler closes nothing: only a thread's end or the connection's does.
// The watchdog holds nothing else and ends when the last client that used it closes.
// Browsers: no watchdog (a worker there can make no worker from this bundled module
// without a URL of its own); a blocked call there learns of a terminated server from its
// deadline, or at once when it is woken by anything else (see docs/threads.md).

import { L } from "../core/layout.js";
import type { ThreadPort } from "./connection.js";

/** The value the watchdog writes in CONN_GONE: the server's thread ended. */
export const GONE_THREAD = 3;

/** The parts of node:worker_threads used here (reached without an import, so that the
 *  bundle names no node: module). */
interface WorkerThreads {
  Worker: new (code: string, options: { eval: true }) => WatchdogWorker;
  MessageChannel: new () => { port1: ThreadPort; port2: ThreadPort };
  receiveMessageOnPort(port: ThreadPort): { message: unknown } | undefined;
}
interface WatchdogWorker {
  postMessage(message: unknown, transfer?: unknown[]): void;
  unref(): void;
  terminate(): Promise<number>;
}

const workerThreads: WorkerThreads | undefined = (() => {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  return typeof get === "function" ? (get("node:worker_threads") as WorkerThreads | undefined) : undefined;
})();

/** Server side: a liveness channel for a new connection whose port is `port` (the end
 *  that stays here). Returns the end to keep for the connection's life (never collected:
 *  a collected port would close the channel), or undefined where there is no watchdog. */
export function offerLiveness(port: ThreadPort): ThreadPort | undefined {
  if (workerThreads === undefined) return undefined;
  const { port1, port2 } = new workerThreads.MessageChannel();
  (port as unknown as { postMessage(m: unknown, t: unknown[]): void }).postMessage({ shmrpcLiveness: port2 }, [port2]);
  return port1;
}

/** Client side: the liveness end the server sent first over `port`, if any. */
export function takeLiveness(port: ThreadPort): ThreadPort | undefined {
  if (workerThreads === undefined) return undefined;
  const got = workerThreads.receiveMessageOnPort(port)?.message as { shmrpcLiveness?: unknown } | undefined;
  const live = got?.shmrpcLiveness;
  return live !== null && typeof live === "object" ? (live as ThreadPort) : undefined;
}

// The watchdog's code (CommonJS, eval'd): one 'close' listener per watched connection.
const WATCHDOG = `"use strict";
const { parentPort } = process.getBuiltinModule("node:worker_threads");
const watched = new Map();
parentPort.on("message", (m) => {
  if (m.unwatch !== undefined) {
    const port = watched.get(m.unwatch);
    watched.delete(m.unwatch);
    if (port !== undefined) { port.removeAllListeners("close"); port.close(); }
    return;
  }
  const i32 = new Int32Array(m.memory.buffer);
  m.port.on("close", () => {
    watched.delete(m.id);
    Atomics.compareExchange(i32, m.gone, 0, ${GONE_THREAD});
    Atomics.add(i32, m.bell, 1);
    Atomics.notify(i32, m.bell);
  });
  watched.set(m.id, m.port);
});`;

let dog: WatchdogWorker | undefined;
let watching = 0;
let nextId = 1;

/** Has the watchdog watch the connection at `offset` of `memory` through `live` (what
 *  takeLiveness gave). Returns the function that stops it (the client closed). */
export function watchLiveness(live: ThreadPort, memory: WebAssembly.Memory, offset: number): () => void {
  const wt = workerThreads!;
  if (dog === undefined) {
    dog = new wt.Worker(WATCHDOG, { eval: true });
    dog.unref(); // never what keeps this thread alive
  }
  const id = nextId++;
  watching++;
  dog.postMessage({ id, memory, gone: (offset + L.CONN_GONE) >>> 2, bell: (offset + L.CONN_CLIENT_DOORBELL) >>> 2, port: live }, [live]);
  let done = false;
  return () => {
    if (done || dog === undefined) return;
    done = true;
    if (--watching > 0) return dog.postMessage({ unwatch: id });
    void dog.terminate();
    dog = undefined;
  };
}

/** Whether this thread's watchdog runs (for tests). */
export function watchdogRunning(): boolean {
  return dog !== undefined;
}
