// Terminating a worker thread that uses shmrpc never harms its process (issue 26):
// the addon's callbacks, watchers, waiter threads and handles of a worker being torn
// down stop without calling into JS, and the other threads' calls go on. Each shape
// runs in a process of its own (fixtures/worker-terminate.js), round after round,
// while that process's main thread keeps calls in flight; all of them run at once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { FIXTURES, killAll, leftovers, scale, spawnServer, stopServer, uniqueName, type Child } from "./helpers.js";

const ROUNDS = scale(200, 40); // per shape: 200 under `npm run test:long`
const TIMEOUT_MS = scale(600_000, 240_000);

interface Outcome {
  code: number | string;
  output: string;
}

const wt = suite("worker-terminate");
let server: Child | undefined;
const name = uniqueName("wterm");
const runs = new Map<string, Promise<Outcome>>();
const procs: ReturnType<typeof spawn>[] = [];

function run(mode: string): Promise<Outcome> {
  const proc = spawn(process.execPath, [join(FIXTURES, "worker-terminate.js"), name, mode, String(ROUNDS)], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(proc);
  let output = "";
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), TIMEOUT_MS);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, output });
    });
  });
}

const SHAPES: [mode: string, what: string][] = [
  ["issue", "after one sync call and close (the issue's script)"],
  ["async", "with asyncCalls in flight"],
  ["sync", "in the middle of sync calls"],
  ["handshake", "while it connects"],
  ["server", "running a Server whose client has calls in flight"],
];

wt.before(async () => {
  server = await spawnServer(name);
  for (const [mode] of SHAPES) runs.set(mode, run(mode));
});

wt.after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  if (server) await stopServer(server);
  killAll();
});

for (const [mode, what] of SHAPES) {
  wt(`terminating a worker ${what}, ${ROUNDS} times, leaves its process and the main thread's calls unharmed`, async () => {
    const { code, output } = await runs.get(mode)!;
    assert.not.match(output, /FATAL ERROR|Aborted|AddressSanitizer|runtime error/, `a crash at a worker's teardown:\n${output}`);
    assert.is(code, 0, `the process ended with ${code}:\n${output}`);
    assert.match(output, new RegExp(`^done ${ROUNDS} `, "m"));
  });
}

wt("the terminated workers' servers and connections leave nothing behind", async () => {
  await Promise.all(runs.values());
  assert.equal(leftovers(`${name}-w`), []);
});

wt.run();
