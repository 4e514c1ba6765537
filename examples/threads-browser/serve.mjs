// A tiny static server for this example: its files, and shmrpc's threads bundle as
// ./shmrpc-threads.js, with the headers that make the page cross-origin isolated
// (SharedArrayBuffer exists only then). `node examples/threads-browser/serve.mjs [port]`
// after `npm run build`, then open the printed address.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = new URL("./", import.meta.url);
const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/page.js": ["page.js", "text/javascript"],
  "/server-worker.js": ["server-worker.js", "text/javascript"],
  "/client-worker.js": ["client-worker.js", "text/javascript"],
  "/shmrpc-threads.js": ["../../dist/bundle/threads.js", "text/javascript"],
};
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp", "cache-control": "no-store" };

/** Serves the example on 127.0.0.1 (`port` 0: a free one); resolves with the server. */
export function serveExample(port = 0) {
  const server = createServer((req, res) => {
    // Browsers ask every site for a favicon, and this one has none.
    if (req.url === "/favicon.ico") return void res.writeHead(204, ISOLATED).end();
    const file = FILES[new URL(req.url ?? "/", "http://x").pathname];
    if (file === undefined) return void res.writeHead(404, ISOLATED).end();
    res.writeHead(200, { ...ISOLATED, "content-type": file[1] });
    res.end(readFileSync(new URL(file[0], here)));
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serveExample(Number(process.argv[2] ?? 0));
  console.log(`serving http://127.0.0.1:${server.address().port}/`);
}
