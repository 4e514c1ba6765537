// `npm start`: the seed's demo as two processes, a server and a client.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

const server = spawn(process.execPath, [here("./server_demo.js")], { stdio: ["ignore", "pipe", "inherit"] });
const failed = setTimeout(() => {
  console.error("demo: the server did not start within 10 s");
  server.kill("SIGKILL");
  process.exit(1);
}, 10_000);

server.stdout.setEncoding("utf8");
let started = false;
server.stdout.on("data", (text: string) => {
  process.stdout.write(text);
  if (started || !text.includes("serving")) return;
  started = true;
  clearTimeout(failed);
  const client = spawn(process.execPath, [here("./client_demo.js")], { stdio: "inherit" });
  client.on("exit", (code) => {
    server.kill("SIGINT");
    server.on("exit", () => process.exit(code ?? 1));
  });
});
server.on("exit", (code) => {
  if (!started) {
    console.error(`demo: the server exited (${code}) before serving`);
    process.exit(1);
  }
});
