// node dist/examples/calc_client.js [name]: typed calls, a refused argument, describe and stats.
import { Client, RpcError } from "shmrpc";
import { calc } from "./calc.js";

const client = new Client(process.argv[2] ?? "/calc", { timeoutMs: 5000 });
await client.waitForConnection(5000);
const api = client.proxy(calc);                   // api.add(1, 2): Promise<number>
const now = client.proxy(calc, { sync: true });   // now.add(1, 2): number
console.log("add:", await api.add(1, 2), now.add(20, 22));
console.log("greet:", now.greet("world"));
console.log("stats:", await api.stats([1, 2, 3, 6]));
try {
  await client.asyncCall("greet", "");            // untyped, so TypeScript lets it through; the server does not
} catch (err) {
  if (!(err instanceof RpcError)) throw err;
  console.log("refused:", err.code, JSON.stringify(err.issues?.map((i) => i.path)));
}
const { methods } = await client.describe();
console.log("methods:", methods.map((m) => `${m.name}${m.args ? "" : " (untyped)"}`).join(", "));
const { endpoints } = await client.stats();
for (const e of endpoints) console.log(`  ${e.name}: ${e.num_requests} calls, ${e.num_errors} errors`);
client.close();
