// docs/PROTOCOL.md is complete enough to write a client in another language from it alone: a Python client
// written from it (tests/fixtures/protocol_client.py, standard library only) talks to a real server process.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { killAll, spawnServer, stopServer, uniqueName, type Child } from "./helpers.js";
import { socketPathOf } from "../src/connection/paths.js";

const protocol = suite("protocol");
protocol.after(killAll);

const CLIENT = fileURLToPath(new URL("../../tests/fixtures/protocol_client.py", import.meta.url)); // dist/tests -> tests/fixtures

/** Runs the Python client against `socketPath`; resolves with its exit code and output. */
function runClient(socketPath: string, token?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("python3", [CLIENT, socketPath, ...(token === undefined ? [] : [token])], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

protocol("a client written from PROTOCOL.md alone (Python) connects, calls by name and by id, gets errors, fragments and says goodbye", async () => {
  const name = uniqueName("protocol");
  let server: Child | undefined;
  try {
    server = await spawnServer(name);
    const { code, out } = await runClient(socketPathOf(name, undefined));
    assert.is(code, 0, out);
    const lines = out.trim().split("\n");
    assert.match(lines[0]!, new RegExp(`^accepted by pid ${server.proc.pid}$`));
    assert.equal(lines.slice(1), [
      "add by name: ok 5",
      "method id of add known: True",
      "add by id: ok 42",
      "missing method: error kind 2 Error True",
      "describe: ok version 7",
      "echo: ok True",
      "fragmented echo: ok True",
      "taken id: 6",
      "goodbye",
    ]);
    // The server took the goodbye: it serves on, and closes cleanly.
    assert.is(await stopServer(server), 0);
  } finally {
    // Closed gracefully even when an assertion failed, so that no socket is left behind.
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) await stopServer(server);
  }
});

protocol("the Python client proves a token first and checks the server's proof in ACCEPT (version 5); a wrong token is refused", async () => {
  const name = uniqueName("protocol-token");
  const token = "a token of more than sixteen bytes";
  let server: Child | undefined;
  try {
    server = await spawnServer(name, { token });
    const { code, out } = await runClient(socketPathOf(name, undefined), token);
    assert.is(code, 0, out);
    assert.equal(out.trim().split("\n"), ["token proven both ways", `accepted by pid ${server.proc.pid}`, "add: ok 42"]);
    const wrong = await runClient(socketPathOf(name, undefined), "another token, just as long");
    assert.is.not(wrong.code, 0);
    assert.match(wrong.out, /refused: version 7 reason 2/); // REFUSE, reason ACCESS
    assert.is(await stopServer(server), 0);
  } finally {
    // Closed gracefully even when an assertion failed, so that no socket is left behind.
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) await stopServer(server);
  }
});

protocol.run();
