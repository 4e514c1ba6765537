// The child_process IPC peer's server: a child that answers process.send messages.
// `node ipc-server.js <json|advanced>`: with "json", bytes travel as base64; with
// "advanced" (the V8 serializer), Buffers travel as they are.
import { fromJsonValue, toJsonValue } from "./frames.js";

const json = process.argv[2] === "json";

const methods: Record<string, (...args: any[]) => unknown> = {
  add: (a: number, b: number) => a + b,
  echo: (x: string | Uint8Array) => x,
};

process.on("message", (msg: { id: number; method: string; params: unknown[] }) => {
  const fn = methods[msg.method];
  if (!fn) {
    process.send!({ id: msg.id, error: `no method ${msg.method}` });
    return;
  }
  if (json && msg.method === "echo") {
    const result = fn(fromJsonValue(msg.params[0])) as string | Buffer;
    process.send!({ id: msg.id, result: toJsonValue(result) });
  } else {
    process.send!({ id: msg.id, result: fn(...msg.params) });
  }
});
process.on("disconnect", () => process.exit(0));
console.log("ready");
