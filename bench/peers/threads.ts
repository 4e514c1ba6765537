// shmrpc/threads between two threads of this process: the server is a worker thread
// (bench/peers/threads-worker.ts) that hands over a connection; this thread's ThreadClient
// calls it synchronously (Atomics.wait) and asynchronously.
import { Worker } from "node:worker_threads";
import type { Peer, PeerServer } from "./peer.js";

const WORKER = new URL("./threads-worker.js", import.meta.url);

export const threadsPeer: Peer = {
  id: "shmrpc-threads",
  label: "shmrpc/threads (worker)",
  module: "shmrpc/threads",
  async start(): Promise<PeerServer> {
    const { ThreadClient } = await import("shmrpc/threads");
    const worker = new Worker(WORKER);
    const ask = (): Promise<import("shmrpc/threads").ThreadConnection> =>
      new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
        worker.postMessage("connect");
      });
    return {
      pid: undefined,
      loadgen: undefined,
      noLoadgen: "in-process only",
      connect: async () => {
        const client = new ThreadClient(await ask());
        return {
          addSync: (a, b) => client.call<number>("add", a, b),
          echoSync: <T extends string | Uint8Array>(x: T) => client.call<T>("echo", x),
          add: (a, b) => client.asyncCall<number>("add", a, b),
          echo: <T extends string | Uint8Array>(x: T) => client.asyncCall<T>("echo", x),
          close: () => client.close(),
        };
      },
      async stop() {
        await worker.terminate();
      },
    };
  },
};


