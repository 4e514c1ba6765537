// The JSON-RPC-over-Unix-socket peer: server in a child process, client here.
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { spawnTracked, stopChild } from "../lib/children.js";
import { FrameReader, frame, fromJsonValue, toJsonValue } from "./frames.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";
import { tempDir } from "../lib/tmp.js";

const SERVER = fileURLToPath(new URL("./socket-server.js", import.meta.url));

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export function connectSocket(args: string[]): Promise<PeerClient> {
  const path = args[0]!;
  return new Promise((resolve, reject) => {
    const pending = new Map<number, Pending>();
    let nextId = 0;
    const socket = connect(path);
    const reader = new FrameReader((json) => {
      const msg = JSON.parse(json) as { id: number; result?: unknown; error?: string };
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
    socket.on("data", (chunk) => reader.push(chunk));
    socket.on("error", (err) => {
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    const request = (method: string, params: unknown[]): Promise<unknown> =>
      new Promise((res, rej) => {
        const id = ++nextId;
        pending.set(id, { resolve: res, reject: rej });
        socket.write(frame({ id, method, params }));
      });
    socket.on("connect", () =>
      resolve({
        add: (a, b) => request("add", [a, b]) as Promise<number>,
        echo: async <T extends string | Uint8Array>(x: T) => fromJsonValue(await request("echo", [toJsonValue(x)])) as T,
        close: () => void socket.destroy(),
      }),
    );
  });
}

export const socketPeer: Peer = {
  id: "socket",
  label: "unix socket JSON-RPC",
  module: "node:net",
  async start(): Promise<PeerServer> {
    const path = join(tempDir(), `socket-${Date.now()}.sock`);
    const child = spawnTracked(SERVER, [path]);
    await child.line("ready");
    return {
      pid: child.pid,
      loadgen: [path],
      connect: () => connectSocket([path]),
      stop: () => stopChild(child),
    };
  },
};
