// The typed shmrpc server of the bench: `node shmrpc-contract-server.js <name> <zod|valibot>`.
// The same add and echo as shmrpc-server.ts, through server.implement(), so that every call's
// arguments and result are validated. Prints "ready" once the name is claimed; closes when stdin ends.
import { Server } from "../../src/index.js";
import { zodCalc, valibotCalc } from "./contracts.js";

const [name, lib] = process.argv.slice(2);
const server = new Server(name!);
const handlers = { add: (a: number, b: number) => a + b, echo: <T>(x: T) => x };
if (lib === "zod") server.implement(zodCalc, handlers);
else server.implement(valibotCalc, handlers);

const done = server.run();
console.log("ready");
process.stdin.on("end", () => void server.close());
process.stdin.resume();
await done;
process.exit(0);
