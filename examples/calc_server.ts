// node dist/examples/calc_server.js [name]: serves the calc contract until SIGINT/SIGTERM.
import { Server } from "shmrpc";
import { calc } from "./calc.js";

const server = new Server(process.argv[2] ?? "/calc");
server.implement(calc, {                      // each handler is checked against its entry
  add: (a, b) => a + b,                       // a: number, b: number; returns number | Promise<number>
  greet: async (name) => `hello ${name}`,
  stats: (xs) => ({ mean: xs.reduce((s, x) => s + x, 0) / xs.length, n: xs.length }),
});
server.bind("uptime", () => process.uptime()); // untyped methods sit beside the contract
const done = server.run();                    // claims the name now, or rejects
try {
  await server.ready();                       // rejects as run() did: ERR_RPC_ADDRESS_IN_USE if the name is taken
} catch (e) {
  console.error(`calc_server: ${(e as Error).message}`);
  process.exit(1);
}
console.log(`serving ${server.name}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void server.close());
await done;
