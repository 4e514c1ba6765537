// The seed's client: `npm run client` (or `node dist/examples/client_demo.js`) while the server runs.
import { Client, RpcError } from "shmrpc";

const client = new Client("/rpc_demo", { timeoutMs: 5000 });
try {
  await client.waitForConnection(2000);
} catch (e) {
  console.error(`client: ${(e as RpcError).message} (${(e as RpcError).code}); start the server first: npm run server`);
  process.exit(1);
}

// Synchronous call.
const sum = client.call<number>("add", 10, 20);
console.log(`10 + 20 = ${sum}`);

// Asynchronous call: a Promise.
const future = client.asyncCall<number>("square", 12);
// ... other work ...
console.log(`12^2 = ${await future}`);

// The measured round trip of a synchronous add.
const samples = new Float64Array(20_000);
for (let i = 0; i < 5_000; i++) client.call("add", i, 1); // warm-up
for (let i = 0; i < samples.length; i++) {
  const t0 = process.hrtime.bigint();
  client.call("add", i, 1);
  samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
}
samples.sort();
const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(1);
console.log(`sync add round trip over ${samples.length} calls: median ${q(0.5)} µs, p99 ${q(0.99)} µs`);
client.close();
