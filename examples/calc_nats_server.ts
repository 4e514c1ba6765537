// node dist/examples/calc_nats_server.js <name> <nats URL> [socket path]: serves the calc
// contract over shared memory and NATS at once. A second replica on the same host takes
// another socket path (the shared-memory name is one per host and user).
import { Server } from "shmrpc";
import { calc } from "./calc.js";

const [name = "/calc", nats = "nats://127.0.0.1:4222", socketPath] = process.argv.slice(2);
const server = new Server(name, { nats, socketPath });
server.implement(calc, {
  add: (a, b) => a + b,
  greet: async (who) => `hello ${who} from ${process.pid}`,
  stats: (xs) => ({ mean: xs.reduce((s, x) => s + x, 0) / xs.length, n: xs.length }),
});
const done = server.run();
try {
  await server.ready();                                // NATS has the subscriptions (rejects as run() did: name taken, NATS unreachable)
} catch (e) {
  console.error(`calc_nats_server: ${(e as Error).message}`);
  process.exit(1);
}
console.log(`serving ${server.name} over shared memory and ${nats} (pid ${process.pid})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void server.close());
await done;
