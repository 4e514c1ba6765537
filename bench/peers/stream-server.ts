// The servers of the stream rows: `node stream-server.js shm <name>` serves count(n) (n
// integers), chunks(count, bytes) (one preallocated Buffer, `count` times: the producer
// costs nothing) and add over shared memory; `node stream-server.js ndjson <socket path>`
// answers a line "<n>" on a Unix socket with n JSON lines of integers, as fast as the
// reader takes them (write's backpressure), 256 lines a write (tuned); `ndjson-plain` the
// same written as a streaming Node server usually is: the items of an async generator, one
// socket.write(JSON.stringify(item) + "\n") each, waiting for "drain" when write says so.
// Prints "ready"; closes when stdin ends.
import { createServer } from "node:net";
import { unlinkSync } from "node:fs";
import { Server } from "../../src/index.js";

const [mode, where] = process.argv.slice(2);
if (mode === "shm") {
  const server = new Server(where!);
  server.bind("add", (a: number, b: number) => a + b);
  server.bind("count", async function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
  });
  server.bind("chunks", async function* (count: number, bytes: number) {
    const chunk = Buffer.alloc(bytes, 7);
    for (let i = 0; i < count; i++) yield chunk;
  });
  const done = server.run();
  await server.ready();
  console.log("ready");
  process.stdin.on("end", () => void server.close());
  process.stdin.resume();
  await done;
  process.exit(0);
} else {
  const plain = mode === "ndjson-plain";
  async function* count(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
  const streamPlain = async (socket: import("node:net").Socket, n: number): Promise<void> => {
    for await (const item of count(n)) {
      if (!socket.write(JSON.stringify(item) + "\n")) await new Promise((r) => socket.once("drain", r));
    }
  };
  const server = createServer((socket) => {
    let buffered = "";
    socket.on("data", (d) => {
      buffered += d.toString();
      const nl = buffered.indexOf("\n");
      if (nl < 0) return;
      const n = Number(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (plain) return void streamPlain(socket, n).catch(() => {});
      let i = 0;
      const more = (): void => {
        // Batches of lines per write, as a tuned NDJSON server would.
        while (i < n) {
          let text = "";
          for (let k = 0; k < 256 && i < n; k++) text += JSON.stringify(i++) + "\n";
          if (!socket.write(text)) return void socket.once("drain", more);
        }
      };
      more();
    });
    socket.on("error", () => {});
  });
  server.listen(where!, () => console.log("ready"));
  process.stdin.on("end", () => {
    server.close();
    try {
      unlinkSync(where!);
    } catch {
      // gone already
    }
    process.exit(0);
  });
  process.stdin.resume();
}
