// shmrpc with a contract: the server validates each call (zod or valibot); the client calls
// through client.proxy() (without client-side validation). Next to the plain shmrpc row it
// shows what validation costs.
import { fileURLToPath } from "node:url";
import { Client } from "../../src/index.js";
import { spawnTracked, stopChild } from "../lib/children.js";
import { NAME_PREFIX } from "./shmrpc.js";
import { zodCalc, type Library } from "./contracts.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";

const SERVER = fileURLToPath(new URL("./shmrpc-contract-server.js", import.meta.url));
let counter = 0;

export async function connectShmrpcContract(args: string[]): Promise<PeerClient> {
  const [name] = args;
  const client = new Client(name!);
  await client.waitForConnection(30_000);
  // The proxy does not validate, so either contract gives the same calls; the server
  // validates with the library of its row.
  const contract = zodCalc;
  const now = client.proxy(contract, { sync: true });
  const api = client.proxy(contract);
  return {
    addSync: now.add,
    echoSync: now.echo as PeerClient["echoSync"],
    add: api.add,
    echo: api.echo as PeerClient["echo"],
    close: () => client.close(),
  };
}

export function shmrpcContractPeer(lib: Library): Peer {
  return {
    id: `shmrpc-${lib}`,
    label: `shmrpc contract (${lib})`,
    async start(): Promise<PeerServer> {
      const name = `${NAME_PREFIX}c${++counter}`;
      const args = [name, lib];
      const child = spawnTracked(SERVER, args);
      await child.line("ready");
      return {
        pid: child.pid,
        loadgen: args,
        connect: () => connectShmrpcContract(args),
        stop: () => stopChild(child),
      };
    },
  };
}
