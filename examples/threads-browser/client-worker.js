// A client in a web worker: it may block, so it makes synchronous calls as well.
import { ThreadClient } from "./shmrpc-threads.js";

self.onmessage = async (e) => {
  const lines = [];
  try {
    const client = new ThreadClient(e.data);
    lines.push(`worker call add(4, 5) = ${client.call("add", 4, 5)}`);
    lines.push(`worker call greet("web worker") = ${client.call("greet", "web worker")}`);
    const all = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.asyncCall("add", i, 1)));
    lines.push(`worker asyncCall add x1000 = ${all.every((v, i) => v === i + 1) ? "all right" : "WRONG"}`);
    const big = await client.asyncCall("bytes", 200000);
    lines.push(`worker asyncCall bytes(200000) = ${big.length} bytes, ${big.every((v, i) => v === (i & 255)) ? "all right" : "WRONG"}`);
    client.close();
  } catch (err) {
    lines.push(`worker FAILED: ${err.code ?? ""} ${err.message}`);
  }
  self.postMessage(lines);
};
