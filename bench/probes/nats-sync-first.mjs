// node bench/probes/nats-sync-first.mjs <nats-url>: where the first synchronous NATS call's
// time goes. A worker thread does what src/nats/sync-worker.js does on its first request,
// timed per phase: thread start, shmrpc's modules, importing @nats-io/transport-node,
// connecting, the first request (to a subject nobody needs to serve: no responders is a
// full round trip too). Prints one JSON line of milliseconds.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

if (!isMainThread) {
  const abs = () => performance.timeOrigin + performance.now();
  const tStart = abs();
  await import(`${workerData.dist}errors.js`);
  await import(`${workerData.dist}nats/connect.js`);
  const tMods = abs();
  const lib = await import("@nats-io/transport-node");
  const tLib = abs();
  const nc = await lib.connect({ servers: workerData.url });
  const tConn = abs();
  await nc.request("shmrpc.nats-sync-first.add", new Uint8Array(1), { timeout: 5000 }).catch(() => {});
  const tReq = abs();
  parentPort.postMessage({ tStart, tMods, tLib, tConn, tReq });
  await nc.close();
  process.exit(0);
}

const url = process.argv[2] ?? "nats://127.0.0.1:4222";
const dist = new URL("../../dist/src/", import.meta.url).href;
const abs = () => performance.timeOrigin + performance.now();
const t0 = abs();
const worker = new Worker(new URL(import.meta.url), { workerData: { url, dist } });
worker.once("message", (m) => {
  const ms = (a, b) => +(b - a).toFixed(1);
  console.log(JSON.stringify({ threadStart: ms(t0, m.tStart), shmrpcModules: ms(m.tStart, m.tMods), natsImport: ms(m.tMods, m.tLib), connect: ms(m.tLib, m.tConn), firstRequest: ms(m.tConn, m.tReq), total: ms(t0, m.tReq) }));
});
