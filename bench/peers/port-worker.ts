// The MessagePort peer's server: a worker thread answering on the port it was given.
import { workerData, type MessagePort } from "node:worker_threads";

const port = (workerData as { port: MessagePort }).port;
const methods: Record<string, (...args: any[]) => unknown> = {
  add: (a: number, b: number) => a + b,
  echo: (x: unknown) => x,
};
port.on("message", (msg: { id: number; method: string; params: unknown[] }) => {
  port.postMessage({ id: msg.id, result: methods[msg.method]!(...msg.params) });
});
port.postMessage({ ready: true });
