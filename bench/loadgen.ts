// One of the client processes of the multi-process throughput workload:
// `node loadgen.js <peer id> <window> <durationMs> <peer args…>`. Connects, warms up,
// prints "ready", waits for "go" on stdin, runs, prints "result <json Rate>".
import { createInterface } from "node:readline";
import { connectors } from "./peers/index.js";
import { throughput } from "./lib/workloads.js";

const [peerId, window, durationMs, ...args] = process.argv.slice(2);
const connect = connectors[peerId!];
if (!connect) throw new Error(`no loadgen for ${peerId}`);
const client = await connect(args);
await throughput(client, Number(window), 200);
console.log("ready");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === "go") break;
const rate = await throughput(client, Number(window), Number(durationMs));
console.log(`result ${JSON.stringify(rate)}`);
await client.close();
process.exit(0);
