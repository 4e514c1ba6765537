// node dist/examples/calc_locality_client.js <name> <nats URL> [seconds]: calls greet every
// 20 ms through a Client of a local name with option nats, and prints who answered each time
// that changes: an instance on this host (shared memory) or one reached over NATS.
import { Client, RpcError } from "shmrpc";
import { calc } from "./calc.js";

const [name = "/calc", nats = "nats://127.0.0.1:4222", seconds = "10"] = process.argv.slice(2);
const client = new Client(name, { nats, timeoutMs: 5000 });
const api = client.proxy(calc);
const start = performance.now();
let last = "";
let calls = 0;
let failed = 0;
while (performance.now() - start < Number(seconds) * 1000) {
  try {
    const greeting = await api.greet("world");
    const pid = Number(greeting.split(" ").pop());
    // client.instances lists the instances connected on this host.
    const how = client.instances.some((i) => i.pid === pid) ? "shared memory" : "NATS";
    const now = `${greeting} (${how})`;
    if (now !== last) console.log(`${((performance.now() - start) / 1000).toFixed(2)} s  ${now}`);
    last = now;
  } catch (e) {
    failed++;
    console.log(`failed: ${(e as RpcError).code} maybeExecuted: ${(e as RpcError).maybeExecuted}`);
  }
  calls++;
  await new Promise((r) => setTimeout(r, 20));
}
console.log(`${calls} calls, ${failed} failed`);
client.close();
