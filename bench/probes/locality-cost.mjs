// node bench/probes/locality-cost.mjs [calls]: what option nats (the locality switch) costs a
// call that stays on this host: awaited asyncCall and sync call of add, p50 in µs, with and
// without the option, interleaved rounds in one process against one local server.
import { Server, Client } from "../../dist/src/index.js";
import { fork } from "node:child_process";

const N = Number(process.argv[2] ?? 20000);
if (process.argv[3] === "serve") {
  const s = new Server(process.argv[4]);
  s.bind("add", (a, b) => a + b);
  s.run();
  await s.ready();
  process.send("ready");
} else {
  const name = `/locality-cost-${process.pid}`;
  const child = fork(new URL(import.meta.url).pathname, [String(N), "serve", name]);
  await new Promise((r) => child.once("message", r));
  const plain = new Client(name);
  const switching = new Client(name, { nats: "nats://127.0.0.1:4222" }); // never used: a local instance is live
  const p50 = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const rounds = { plain: { async: [], sync: [] }, nats: { async: [], sync: [] } };
  for (const c of [plain, switching]) await c.asyncCall("add", 1, 2);
  for (let round = 0; round < 5; round++) {
    for (const [label, c] of [["plain", plain], ["nats", switching]]) {
      const a = [], s = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await c.asyncCall("add", i, 1);
        a.push(performance.now() - t);
      }
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        c.call("add", i, 1);
        s.push(performance.now() - t);
      }
      rounds[label].async.push(p50(a) * 1000);
      rounds[label].sync.push(p50(s) * 1000);
    }
  }
  for (const label of ["plain", "nats"]) {
    console.log(`${label.padEnd(6)} asyncCall p50 ${rounds[label].async.map((x) => x.toFixed(1)).join(" ")} µs; call p50 ${rounds[label].sync.map((x) => x.toFixed(1)).join(" ")} µs`);
  }
  plain.close();
  switching.close();
  child.kill();
}
