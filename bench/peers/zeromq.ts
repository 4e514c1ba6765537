// The ZeroMQ peer (`zeromq` 6, DEALER/ROUTER over ipc://): server in a child process,
// client here. Many Node users reach for it between processes.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Dealer } from "zeromq";
import { spawnTracked, stopChild } from "../lib/children.js";
import { tempDir } from "../lib/tmp.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";

const SERVER = fileURLToPath(new URL("./zeromq-server.js", import.meta.url));

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export async function connectZeromq(args: string[]): Promise<PeerClient> {
  const sock = new Dealer();
  sock.connect(args[0]!);
  const pending = new Map<number, Pending>();
  let nextId = 0;
  // A zeromq 6 socket takes one send at a time: the rest queue here.
  const queue: Array<Array<Buffer | string>> = [];
  let sending = false;
  const pump = async (): Promise<void> => {
    sending = true;
    try {
      while (queue.length > 0) await sock.send(queue.shift()!);
    } finally {
      sending = false;
    }
  };
  const request = (method: string, kind: string, body: Buffer | string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      const idFrame = Buffer.allocUnsafe(4);
      idFrame.writeUInt32LE(id, 0);
      queue.push([idFrame, method, kind, body]);
      if (!sending) void pump().catch((e: Error) => reject(e));
    });
  void (async () => {
    try {
      for await (const [id, kind, body] of sock) {
        const p = pending.get(id!.readUInt32LE(0));
        if (!p) continue;
        pending.delete(id!.readUInt32LE(0));
        const k = kind!.toString();
        if (k === "e") p.reject(new Error(body!.toString()));
        else if (k === "j") p.resolve(JSON.parse(body!.toString()));
        else if (k === "s") p.resolve(body!.toString());
        else p.resolve(body);
      }
    } catch (e) {
      for (const p of pending.values()) p.reject(e as Error);
      pending.clear();
    }
  })();
  return {
    add: (a, b) => request("add", "j", JSON.stringify([a, b])) as Promise<number>,
    echo: <T extends string | Uint8Array>(x: T) =>
      request("echo", typeof x === "string" ? "s" : "b", typeof x === "string" ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength)) as Promise<T>,
    close: () => sock.close(),
  };
}

export const zeromqPeer: Peer = {
  id: "zeromq",
  label: "ZeroMQ DEALER/ROUTER ipc://",
  module: "zeromq",
  async start(): Promise<PeerServer> {
    const endpoint = `ipc://${join(tempDir(), `zmq-${Date.now()}.sock`)}`;
    const child = spawnTracked(SERVER, [endpoint]);
    await child.line("ready");
    return {
      pid: child.pid,
      loadgen: [endpoint],
      connect: () => connectZeromq([endpoint]),
      stop: () => stopChild(child),
    };
  },
};
