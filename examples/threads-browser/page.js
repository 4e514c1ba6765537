// The page: starts the server worker, asks it for two connections, hands one to the client
// worker and calls over the other itself (asynchronously: a page's main thread may not
// block, so its synchronous call is refused with ERR_RPC_INVALID_ARGUMENT).
import { ThreadClient } from "./shmrpc-threads.js";

const log = document.getElementById("log");
const lines = [];
const say = (line) => {
  lines.push(line);
  log.textContent = lines.join("\n");
};

function connection(server) {
  return new Promise((resolve) => {
    server.addEventListener("message", (e) => resolve(e.data), { once: true });
    server.postMessage("connect");
  });
}

async function main() {
  say(`crossOriginIsolated = ${self.crossOriginIsolated}`);
  const server = new Worker("./server-worker.js", { type: "module" });
  const forWorker = await connection(server);
  const forPage = await connection(server);

  const worker = new Worker("./client-worker.js", { type: "module" });
  const fromWorker = new Promise((resolve) => worker.addEventListener("message", (e) => resolve(e.data), { once: true }));
  worker.postMessage(forWorker, [forWorker.port]);

  const client = new ThreadClient(forPage);
  say(`page asyncCall add(2, 3) = ${await client.asyncCall("add", 2, 3)}`);
  say(`page asyncCall greet("page") = ${await client.asyncCall("greet", "page")}`);
  try {
    client.call("add", 1, 1);
    say("page call add(1, 1) = not refused (WRONG)");
  } catch (err) {
    say(`page call add(1, 1) refused: ${err.code}`);
  }
  const described = await client.describe();
  say(`page describe() = ${described.methods.map((m) => m.name).sort().join(", ")}`);
  for (const line of await fromWorker) say(line);

  // A server worker that is terminated while a call waits on it: the call fails at once.
  const doomed = new Worker("./server-worker.js", { type: "module" });
  const doomedClient = new ThreadClient(await connection(doomed));
  const waiting = doomedClient.asyncCall("never").then(() => "resolved", (err) => err.code);
  await doomedClient.asyncCall("add", 1, 1);
  const t0 = performance.now();
  doomed.terminate();
  const code = await Promise.race([waiting, new Promise((r) => setTimeout(() => r("still pending after 5 s"), 5000))]);
  say(`page asyncCall to a terminated server worker: ${code}`);
  say(`(noticed ${(performance.now() - t0).toFixed(1)} ms after terminate())`);
  const expected = [
    "crossOriginIsolated = true",
    "page asyncCall add(2, 3) = 5",
    'page asyncCall greet("page") = hello, page',
    "page call add(1, 1) refused: ERR_RPC_INVALID_ARGUMENT",
    "page describe() = add, bytes, greet, never",
    "worker call add(4, 5) = 9",
    'worker call greet("web worker") = hello, web worker',
    "worker asyncCall add x1000 = all right",
    "worker asyncCall bytes(200000) = 200000 bytes, all right",
    "page asyncCall to a terminated server worker: ERR_RPC_DISCONNECTED",
  ];
  const missing = expected.filter((line) => !lines.includes(line));
  document.getElementById("result").textContent = missing.length === 0 ? "RESULT: ok" : `RESULT: FAILED, missing: ${missing.join(" | ")}`;
}

main().catch((err) => {
  say(`page FAILED: ${err.code ?? ""} ${err.message}`);
  document.getElementById("result").textContent = "RESULT: FAILED";
});
