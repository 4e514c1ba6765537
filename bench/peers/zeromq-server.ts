// ZeroMQ ROUTER over ipc://, as a Node user would write it with the `zeromq` package:
// `node zeromq-server.js <endpoint>`. A request is the frames [id, method, kind, body],
// a response [id, kind, body]; kind "j" is JSON, "b" raw bytes (no base64: ZeroMQ
// frames are binary).
import { Router } from "zeromq";

const endpoint = process.argv[2]!;
const sock = new Router();
await sock.bind(endpoint);
console.log("ready");
process.stdin.on("end", () => {
  sock.close();
  process.exit(0);
});
process.stdin.resume();

for await (const [peer, id, method, kind, body] of sock) {
  const name = method!.toString();
  if (name === "add") {
    const [a, b] = JSON.parse(body!.toString()) as [number, number];
    await sock.send([peer!, id!, "j", JSON.stringify(a + b)]);
  } else if (name === "echo") {
    await sock.send([peer!, id!, kind!, body!]);
  } else {
    await sock.send([peer!, id!, "e", `no method ${name}`]);
  }
}
