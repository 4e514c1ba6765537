// The seed's server: `npm run server` (or `node dist/examples/server_demo.js`).
import { Server } from "shmrpc";

function add(a: number, b: number): number {
  return a + b;
}

const server = new Server("/rpc_demo");
server.bind("add", add);
server.bind("square", (x: number) => x * x); // a lambda works too

const done = server.run(); // the name is claimed once run() returns, or it rejects
try {
  await server.ready(); // rejects as run() did: ERR_RPC_ADDRESS_IN_USE if another server has the name
} catch (e) {
  console.error(`server: ${(e as Error).message}`);
  process.exit(1);
}
console.log("server: serving /rpc_demo (Ctrl-C to stop)");
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void server.close());
await done;
console.log("server: closed");
