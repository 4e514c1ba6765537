// The shmrpc server of the bench: `node shmrpc-server.js <name> <busyPoll 0|1> [view]`
// (view: echo is bound with { view: true }).
// Prints "ready" once the name is claimed; closes when stdin ends.
import { Server } from "../../src/index.js";

const [name, busy, view] = process.argv.slice(2);
const server = new Server(name!, { busyPoll: busy === "1" });
server.bind("add", (a: number, b: number) => a + b);
server.bind("echo", (x: unknown) => x, { view: view === "view" });

const done = server.run();
console.log("ready");
process.stdin.on("end", () => void server.close());
process.stdin.resume();
await done;
process.exit(0);
