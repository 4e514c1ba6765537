// Synchronous calls over NATS. A NATS request needs an event loop, and a blocking call
// stops the caller's: so a worker thread owns a second NATS connection
// (src/nats/sync-worker.ts) and does the request, while the caller sleeps in
// Atomics.wait on a shared word (no spinning). The worker posts the reply on a
// MessagePort, then stores the call's sequence number in the word and wakes the
// caller, which takes the reply with receiveMessageOnPort.
//
// DEADLINE. The worker applies the call's timeout to the request; the caller waits that
// long plus WORKER_GRACE_MS, then gives up on its own (a stuck worker) with
// ERR_RPC_TIMEOUT. There is no futex deadline in the server's process as with shared
// memory: a reply that comes later is dropped by its sequence number.

import { createRequire } from "node:module";
import type { MessagePort, Worker } from "node:worker_threads";
import type { ConnectOptions } from "./options.js";
import { ErrorCodes, type ErrorCode } from "../errors.js";

/** Longer than the worker's own timer may fire late on a busy machine. */
const WORKER_GRACE_MS = 2000;

export interface SyncRequest {
  seq: number;
  subject: string;
  data: Uint8Array;
  timeoutMs: number;
  /** The request's headers (deadline, call id, metadata: src/nats/context.ts). */
  headers: Record<string, string>;
  /** Where to publish the call id if it times out. */
  cancelSubject: string;
}

export type SyncReply =
  | { seq: number; ok: true; data: Uint8Array; headers: Record<string, string> | undefined }
  | { seq: number; ok: false; code: ErrorCode; message: string; maybeExecuted: boolean };

export class SyncBridge {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** The sequence number of the last reply posted (the worker writes, the caller waits on it). */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;

  /** `tokenKey`: the client's token hash, when requests are sealed (src/nats/auth.ts). */
  constructor(options: ConnectOptions, tokenKey?: Buffer) {
    // Loaded here, not at import: importing shmrpc stays as quick as without NATS.
    const { MessageChannel, Worker } = threads();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL("./sync-worker.js", import.meta.url), {
      workerData: { options, port: port2, done: this.done, tokenKey },
      transferList: [port2],
    });
    this.worker.unref(); // an idle client does not keep its process alive
  }

  request(subject: string, data: Uint8Array, timeoutMs: number, headers: Record<string, string>, cancelSubject: string): SyncReply {
    const seq = (this.seq = (this.seq + 1) | 0 || 1);
    this.port.postMessage({ seq, subject, data, timeoutMs, headers, cancelSubject } satisfies SyncRequest);
    const deadline = performance.now() + timeoutMs + WORKER_GRACE_MS;
    for (;;) {
      const last = Atomics.load(this.done, 0);
      if (last === seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        return { seq, ok: false, code: ErrorCodes.ERR_RPC_TIMEOUT, message: `the NATS worker thread did not answer within ${Math.round(timeoutMs + WORKER_GRACE_MS)} ms`, maybeExecuted: true };
      }
      Atomics.wait(this.done, 0, last, left);
    }
    for (;;) {
      const got = threads().receiveMessageOnPort(this.port);
      if (got === undefined) {
        return { seq, ok: false, code: ErrorCodes.ERR_RPC_PROTOCOL, message: "the NATS worker thread signalled a reply it did not post", maybeExecuted: true };
      }
      const reply = got.message as SyncReply;
      if (reply.seq === seq) return reply; // earlier ones are replies of calls that gave up
    }
  }

  close(): void {
    this.port.close();
    void this.worker.terminate();
  }
}

let workerThreads: typeof import("node:worker_threads") | undefined;
function threads(): typeof import("node:worker_threads") {
  return (workerThreads ??= createRequire(import.meta.url)("node:worker_threads") as typeof import("node:worker_threads"));
}
