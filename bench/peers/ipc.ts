// child_process IPC (process.send) with serialization "json" or "advanced": the
// server is a child of this process, so only this process can be its client.
import { fileURLToPath } from "node:url";
import { spawnTracked } from "../lib/children.js";
import { fromJsonValue, toJsonValue } from "./frames.js";
import type { Peer, PeerServer } from "./peer.js";

const SERVER = fileURLToPath(new URL("./ipc-server.js", import.meta.url));

export function ipcPeer(serialization: "json" | "advanced"): Peer {
  return {
    id: `ipc-${serialization}`,
    label: `process.send ${serialization}`,
    async start(): Promise<PeerServer> {
      const child = spawnTracked(SERVER, [serialization], { stdio: ["pipe", "pipe", "pipe", "ipc"], serialization });
      await child.line("ready");
      const proc = child.proc;
      const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
      let nextId = 0;
      proc.on("message", (msg: { id: number; result?: unknown; error?: string }) => {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.error !== undefined) p.reject(new Error(msg.error));
        else p.resolve(msg.result);
      });
      proc.on("exit", () => {
        for (const p of pending.values()) p.reject(new Error("server exited"));
        pending.clear();
      });
      const request = (method: string, params: unknown[]): Promise<unknown> =>
        new Promise((resolve, reject) => {
          const id = ++nextId;
          pending.set(id, { resolve, reject });
          proc.send({ id, method, params });
        });
      const json = serialization === "json";
      return {
        pid: child.pid,
        loadgen: undefined,
        noLoadgen: "IPC channel is parent-child only",
        connect: async () => ({
          add: (a, b) => request("add", [a, b]) as Promise<number>,
          echo: async <T extends string | Uint8Array>(x: T) =>
            (json ? fromJsonValue(await request("echo", [toJsonValue(x)])) : await request("echo", [x])) as T,
          close: () => {},
        }),
        async stop() {
          proc.disconnect();
          const timer = setTimeout(() => child.kill(), 3000);
          await child.exited;
          clearTimeout(timer);
        },
      };
    },
  };
}
