// gRPC (@grpc/grpc-js) over a Unix domain socket: server in a child process. grpc-js is
// imported when first used, so that without it only this peer is n/a.
import type * as Grpc from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { spawnTracked, stopChild } from "../lib/children.js";
import { tempDir } from "../lib/tmp.js";
import { benchService, grpcOptions } from "./grpc-service.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";

const SERVER = fileURLToPath(new URL("./grpc-server.js", import.meta.url));
type Unary = (req: unknown, callback: (err: Grpc.ServiceError | null, res: unknown) => void) => void;

export async function connectGrpc(args: string[]): Promise<PeerClient> {
  const grpc = await import("@grpc/grpc-js");
  const BenchClient = grpc.makeGenericClientConstructor(benchService, "Bench");
  const client = new BenchClient(`unix:${args[0]!}`, grpc.credentials.createInsecure(), grpcOptions) as unknown as Record<string, Unary> &
    Grpc.Client;
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  const call = (method: string, req: unknown): Promise<unknown> =>
    new Promise((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
  return {
    add: (a, b) => call("Add", [a, b]) as Promise<number>,
    echo: <T extends string | Uint8Array>(x: T) => call(typeof x === "string" ? "EchoString" : "EchoBytes", x) as Promise<T>,
    close: () => client.close(),
  };
}

export const grpcPeer: Peer = {
  id: "grpc",
  label: "gRPC (grpc-js, UDS)",
  module: "@grpc/grpc-js",
  async start(): Promise<PeerServer> {
    const path = join(tempDir(), `grpc-${Date.now()}.sock`);
    const child = spawnTracked(SERVER, [path]);
    await child.line("ready");
    return {
      pid: child.pid,
      loadgen: [path],
      connect: () => connectGrpc([path]),
      stop: () => stopChild(child),
    };
  },
};
