// The shmrpc/threads peer's server: a worker thread serving add and echo, with a connection
// for each "connect" message (sent back with its port transferred).
import { parentPort, type TransferListItem } from "node:worker_threads";
import { ThreadServer } from "shmrpc/threads";

const server = new ThreadServer("bench");
server.bind("add", (a: number, b: number) => a + b);
server.bind("echo", (x: unknown) => x);
parentPort!.on("message", () => {
  const conn = server.connect();
  parentPort!.postMessage(conn, [conn.port as unknown as TransferListItem]);
});
