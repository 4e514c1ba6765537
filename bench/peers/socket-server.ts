// JSON-RPC over a Unix domain socket with node:net, as a Node user would write it:
// `node socket-server.js <path>`. Frames are [length u32 LE][JSON]; a request is
// {id, method, params}, a response {id, result} or {id, error}. Bytes travel as base64.
import { createServer } from "node:net";
import { FrameReader, frame, fromJsonValue, toJsonValue } from "./frames.js";

const path = process.argv[2]!;

const methods: Record<string, (...args: any[]) => unknown> = {
  add: (a: number, b: number) => a + b,
  echo: (x: string | Buffer) => x,
};

const server = createServer((socket) => {
  const reader = new FrameReader((json) => {
    const { id, method, params } = JSON.parse(json) as { id: number; method: string; params: unknown[] };
    const fn = methods[method];
    if (!fn) {
      socket.write(frame({ id, error: `no method ${method}` }));
      return;
    }
    const args = method === "echo" ? [fromJsonValue(params[0])] : params;
    const result = fn(...args);
    socket.write(frame({ id, result: method === "echo" ? toJsonValue(result as string | Buffer) : result }));
  });
  socket.on("data", (chunk) => reader.push(chunk));
  socket.on("error", () => socket.destroy());
});
server.listen(path, () => console.log("ready"));
process.stdin.on("end", () => server.close(() => process.exit(0)));
process.stdin.resume();
