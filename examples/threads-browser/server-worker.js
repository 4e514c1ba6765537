// The server: a web worker that serves add and greet, and makes a connection for each
// "connect" message, which it sends back with its port transferred.
import { ThreadServer } from "./shmrpc-threads.js";

const server = new ThreadServer("calc");
server.bind("add", (a, b) => a + b);
server.bind("greet", (who) => `hello, ${who}`);
server.bind("bytes", (n) => new Uint8Array(n).map((_, i) => i & 255));
server.bind("never", () => new Promise(() => {}));

self.onmessage = async () => {
  await server.ready(); // its clients can now tell when this worker ends
  const conn = server.connect();
  self.postMessage(conn, [conn.port]);
};
