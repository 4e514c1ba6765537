// node dist/examples/calc_nats_client.js <nats URL/name>: the same calls as calc_client.js,
// through NATS; replicas share the calls.
import { Client, RpcError } from "shmrpc";
import { calc } from "./calc.js";

const client = new Client(process.argv[2] ?? "nats://127.0.0.1:4222/calc", { timeoutMs: 5000 });
const api = client.proxy(calc);
const now = client.proxy(calc, { sync: true });        // synchronous calls work over NATS too
console.log("add:", await api.add(1, 2), now.add(20, 22));
const answers = new Map<string, number>();
for (let i = 0; i < 1000; i++) {
  const greeting = await api.greet("world");
  answers.set(greeting, (answers.get(greeting) ?? 0) + 1);
}
for (const [greeting, n] of answers) console.log(`  ${n} × ${greeting}`);
try {
  await client.asyncCall("greet", "");
} catch (err) {
  if (!(err instanceof RpcError)) throw err;
  console.log("refused:", err.code, JSON.stringify(err.issues?.map((i) => i.path)));
}
try {
  await new Client("nats://127.0.0.1:4222/nobody").asyncCall("add", 1, 2);
} catch (err) {
  if (!(err instanceof RpcError)) throw err;
  console.log("no responders:", err.code, "maybeExecuted:", err.maybeExecuted);
}
const { endpoints } = await client.stats();            // the replica that answered
for (const e of endpoints) console.log(`  ${e.name}: ${e.num_requests} calls, ${e.num_errors} errors`);
client.close();
process.exit(0);
