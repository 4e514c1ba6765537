// Three replicas of /calc in three processes, a client balancing over them, listServers(),
// and a kill -9 of one replica in the middle of 3,000 calls.
// `npm run build && node dist/examples/replicas.js`
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client, Server, listServers, type RpcError } from "../src/index.js";

const NAME = "/calc-replicas-demo";

if (process.argv[2] === "replica") {
  const server = new Server(NAME, { replica: true });
  server.bind("add", async (a: number, b: number) => {
    await new Promise((r) => setTimeout(r, 10)); // work that takes a moment
    return a + b;
  });
  server.bind("pid", () => process.pid);
  void server.run();
  console.log("ready");
  process.stdin.on("end", () => void server.close()).resume();
} else {
  const kids: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const kid = spawn(process.execPath, [fileURLToPath(import.meta.url), "replica"], { stdio: ["pipe", "pipe", "inherit"] });
    await new Promise((r) => kid.stdout!.once("data", r));
    kids.push(kid);
  }
  const show = async (): Promise<void> => {
    for (const s of await listServers()) {
      if (s.name === NAME) console.log(`  ${s.name} ${s.instanceId} pid ${s.pid} replica ${s.replica} clients ${s.clients} methods ${s.methods} mayConnect ${s.mayConnect}`);
    }
  };
  console.log("listServers():");
  await show();

  const client = new Client(NAME, { balance: "round_robin" });
  await client.asyncCall("pid");
  while (client.instances.length < 3) await new Promise((r) => setTimeout(r, 10));
  const perPid = new Map<number, number>();
  for (let i = 0; i < 9000; i++) {
    const pid = client.call<number>("pid");
    perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
  }
  console.log("round_robin, 9,000 sync calls:", Object.fromEntries(perPid));

  // kill -9 one replica while 3,000 calls are in flight, half of them idempotent.
  const idempotent = client.withOptions({ idempotent: true });
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < 3000) {
      const i = next++;
      if (i === 1500) kids[0]!.kill("SIGKILL");
      const idem = i % 2 === 0;
      try {
        await (idem ? idempotent : client).asyncCall<number>("add", i, 1);
        count(idem ? "idempotent: ok" : "plain: ok");
      } catch (e) {
        const err = e as RpcError;
        count(`${idem ? "idempotent" : "plain"}: ${err.code} maybeExecuted=${err.maybeExecuted} attempts=${err.attempts}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 90 }, worker)); // 90 calls in flight at a time
  console.log("kill -9 of one replica during 3,000 asyncCalls:", Object.fromEntries(outcomes));
  console.log("listServers() after the kill:");
  await show();
  client.close();
  for (const kid of kids) kid.stdin!.end();
}
