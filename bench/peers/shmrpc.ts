// shmrpc itself, in its default mode (spin 50 µs, then park) or in busy-poll mode.
import { fileURLToPath } from "node:url";
import { Client } from "../../src/index.js";

import { spawnTracked, stopChild } from "../lib/children.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";

const SERVER = fileURLToPath(new URL("./shmrpc-server.js", import.meta.url));
let counter = 0;

/** Server names of this bench run: /dev/shm is checked for them at exit. */
export const NAME_PREFIX = `/shmrpc-bench-${process.pid}-`;

export async function connectShmrpc(args: string[]): Promise<PeerClient> {
  const [name, busy, variant] = args;
  const client = new Client(name!, { busyPoll: busy === "1" });
  if (variant === "traced") {
    // Loaded only for this row.
    (await import("./otel.js")).setUpDroppingOtel();
    (await import("../../src/tracing/index.js")).traceClient(client);
  }
  await client.waitForConnection(30_000);
  return {
    addSync: (a, b) => client.call<number>("add", a, b),
    echoSync: (x) => client.call("echo", x),
    add: (a, b) => client.asyncCall<number>("add", a, b),
    echo: (x) => client.asyncCall("echo", x),
    close: () => client.close(),
  };
}

/** The echo of the payload rows with a `{ view: true }` handler (README, "Views"): the
 *  server takes the bytes where they arrived instead of a fresh Buffer. */
export const shmrpcViewPeer: Peer = {
  id: "shmrpc-view",
  label: "shmrpc, view handler",
  payloadsOnly: "payload rows only",
  async start(): Promise<PeerServer> {
    const name = `${NAME_PREFIX}${++counter}`;
    const child = spawnTracked(SERVER, [name, "0", "view"]);
    await child.line("ready");
    return { pid: child.pid, loadgen: undefined, noLoadgen: "payload rows only", connect: () => connectShmrpc([name, "0"]), stop: () => stopChild(child) };
  },
};

/** shmrpc with one pass-through server middleware, or traced on both sides with the
 *  OpenTelemetry SDK (docs/middleware-and-tracing.md): beside the shmrpc row, their cost. */
export function shmrpcVariantPeer(variant: "middleware" | "traced"): Peer {
  return {
    id: `shmrpc-${variant}`,
    label: variant === "middleware" ? "shmrpc, one middleware" : "shmrpc, OpenTelemetry",
    async start(): Promise<PeerServer> {
      const name = `${NAME_PREFIX}${++counter}`;
      const args = [name, "0", variant];
      const child = spawnTracked(SERVER, args);
      await child.line("ready");
      return { pid: child.pid, loadgen: args, connect: () => connectShmrpc(args), stop: () => stopChild(child) };
    },
  };
}

export function shmrpcPeer(busyPoll: boolean): Peer {
  return {
    id: busyPoll ? "shmrpc-busypoll" : "shmrpc",
    ...(busyPoll ? {} : { module: import.meta.resolve("shmrpc") }),
    label: busyPoll ? "shmrpc busy-poll" : "shmrpc",
    async start(): Promise<PeerServer> {
      const name = `${NAME_PREFIX}${++counter}`;
      const args = [name, busyPoll ? "1" : "0"];
      const child = spawnTracked(SERVER, args);
      await child.line("ready");
      return {
        pid: child.pid,
        loadgen: args,
        connect: () => connectShmrpc(args),
        stop: () => stopChild(child),
      };
    },
  };
}
