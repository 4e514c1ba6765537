// shmrpc over NATS: a nats-server of its own on a free loopback port, the server process
// serving over NATS, the client here calling through a NATS URL. Two rows: with synchronous
// calls (the worker thread and Atomics.wait) and with asyncCall only (awaited latency).
import { fileURLToPath } from "node:url";
import { Client } from "../../src/index.js";
import { spawnTracked, stopChild, type Child } from "../lib/children.js";
import type { Peer, PeerClient, PeerServer } from "./peer.js";
import { NAME_PREFIX } from "./shmrpc.js";

const SERVER = fileURLToPath(new URL("./shmrpc-nats-server.js", import.meta.url));
let counter = 0;

export async function connectNats(args: string[]): Promise<PeerClient> {
  const [url, sync] = args;
  const client = new Client(url!);
  await client.waitForConnection(30_000);
  const calls: PeerClient = {
    add: (a, b) => client.asyncCall<number>("add", a, b),
    echo: (x) => client.asyncCall("echo", x),
    close: () => client.close(),
  };
  if (sync === "sync") {
    calls.addSync = (a, b) => client.call<number>("add", a, b);
    calls.echoSync = (x) => client.call("echo", x);
  }
  return calls;
}

/** Starts `nats-server -a 127.0.0.1 -p -1`; resolves with it and its URL. */
async function startNatsServer(): Promise<{ child: Child; url: string }> {
  const child = spawnTracked("", ["-a", "127.0.0.1", "-p", "-1"], { command: "nats-server" });
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not listen within 10 s: ${err.slice(-200)}`)), 10_000);
    child.proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(`nats://127.0.0.1:${m[1]}`);
      }
    });
    child.proc.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`nats-server: ${e.message} (apt-get install nats-server)`));
    });
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}): ${err.slice(-200)}`));
    });
  });
  return { child, url };
}

export function natsPeer(sync: boolean): Peer {
  return {
    id: sync ? "shmrpc-nats" : "shmrpc-nats-async",
    label: sync ? "shmrpc over NATS (sync)" : "shmrpc over NATS (async)",
    async start(): Promise<PeerServer> {
      const nats = await startNatsServer();
      const name = `${NAME_PREFIX}nats-${++counter}`;
      const server = spawnTracked(SERVER, [name, nats.url]);
      try {
        await server.line("ready", 30_000);
      } catch (e) {
        server.kill();
        nats.child.kill();
        throw e;
      }
      const args = [`${nats.url}${name}`, sync ? "sync" : "async"];
      return {
        pid: server.pid,
        loadgen: args,
        connect: () => connectNats(args),
        stop: async () => {
          await stopChild(server);
          nats.child.proc.kill("SIGTERM");
          await nats.child.exited;
        },
      };
    },
  };
}
