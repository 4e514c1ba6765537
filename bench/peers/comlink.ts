// comlink between two threads of this process, for reference: the server is a worker thread
// (bench/peers/comlink-worker.ts) exposing add and echo; calls are proxied over its
// MessagePort (structured clones), async only.
import { Worker } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import type { Peer, PeerServer } from "./peer.js";

const WORKER = new URL("./comlink-worker.js", import.meta.url);

interface Api {
  add(a: number, b: number): number;
  echo<T>(x: T): T;
}

export const comlinkPeer: Peer = {
  id: "comlink",
  label: "comlink (worker)",
  module: "comlink",
  async start(): Promise<PeerServer> {
    const worker = new Worker(WORKER);
    const api = Comlink.wrap<Api>(nodeEndpoint(worker));
    await api.add(1, 1); // the worker is up
    return {
      pid: undefined,
      loadgen: undefined,
      noLoadgen: "in-process only",
      connect: async () => ({
        add: (a, b) => api.add(a, b) as Promise<number>,
        echo: <T extends string | Uint8Array>(x: T) => api.echo(x) as Promise<T>,
        close: () => {},
      }),
      async stop() {
        api[Comlink.releaseProxy]();
        await worker.terminate();
      },
    };
  },
};
