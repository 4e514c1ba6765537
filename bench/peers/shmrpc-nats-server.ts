// The shmrpc server of the NATS rows: `node shmrpc-nats-server.js <name> <nats URL>`.
// Serves over shared memory and NATS; prints "ready" once NATS has its subscriptions.
import { Server } from "../../src/index.js";

const [name, url] = process.argv.slice(2);
const server = new Server(name!, { nats: url! });
server.bind("add", (a: number, b: number) => a + b);
server.bind("echo", (x: unknown) => x);

const done = server.run();
await server.ready();
console.log("ready");
process.stdin.on("end", () => void server.close());
process.stdin.resume();
await done;
process.exit(0);
