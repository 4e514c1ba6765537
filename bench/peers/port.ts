// worker_threads MessagePort round trip, in-process, for reference: the server is a
// worker thread of this process, messages are structured clones.
import { MessageChannel, Worker } from "node:worker_threads";
import type { Peer, PeerServer } from "./peer.js";

const WORKER = new URL("./port-worker.js", import.meta.url);

export const portPeer: Peer = {
  id: "messageport",
  label: "MessagePort (worker)",
  async start(): Promise<PeerServer> {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER, { workerData: { port: port2 }, transferList: [port2] });
    await new Promise<void>((resolve, reject) => {
      port1.once("message", () => resolve());
      worker.once("error", reject);
    });
    const pending = new Map<number, (v: unknown) => void>();
    let nextId = 0;
    port1.on("message", (msg: { id: number; result: unknown }) => {
      const resolve = pending.get(msg.id);
      pending.delete(msg.id);
      resolve?.(msg.result);
    });
    const request = (method: string, params: unknown[]): Promise<unknown> =>
      new Promise((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        port1.postMessage({ id, method, params });
      });
    return {
      pid: undefined,
      loadgen: undefined,
      noLoadgen: "in-process only",
      connect: async () => ({
        add: (a, b) => request("add", [a, b]) as Promise<number>,
        echo: <T extends string | Uint8Array>(x: T) => request("echo", [x]) as Promise<T>,
        close: () => {},
      }),
      async stop() {
        port1.close();
        await worker.terminate();
      },
    };
  },
};
