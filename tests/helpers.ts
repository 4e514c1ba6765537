// Shared by the cross-process suites: spawning fixtures, unique names, leftover checks.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as assert from "uvu/assert";
import { RpcError, Client } from "../src/index.js";
import { runtimeDir } from "../src/connection/paths.js";
import { readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

let counter = 0;
/** The names this process made: their files are removed when it exits (below). */
const madeNames = new Set<string>();
/** A server name no other test (or test run) uses. */
export function uniqueName(tag = "t"): string {
  const name = `/shmrpc-test-${tag}-${process.pid}-${++counter}`;
  madeNames.add(name);
  return name;
}

// A test run leaves nothing in the runtime directory: a server killed with -9 leaves its socket
// and lock file, and replicas their directory of instance locks, until a server of the name
// comes back (which, for a test's unique name, never happens). By exit every server of these
// names has ended: their files go.
process.on("exit", () => {
  for (const name of madeNames) {
    const base = `${runtimeDir()}/${name.slice(1)}.sock`;
    for (const path of [base, `${base}.lock`, `${base}.replicas`]) rmSync(path, { recursive: true, force: true });
  }
});

/** What a server name left behind: anything of shmrpc in /dev/shm (there must never be
 *  any: connections share unnamed memfds) and the name's socket and lock files in the
 *  runtime directory (removed by close; a server killed with -9 leaves them until the
 *  next server of the name reclaims them). */
export function leftovers(name: string): string[] {
  const base = name.slice(1);
  const shm = readdirSync("/dev/shm").filter((f) => f === base || f.startsWith(base + "@") || f.startsWith(base + "."));
  const dir = runtimeDir();
  const files = readdirSync(dir).filter((f) => f === `${base}.sock` || f === `${base}.sock.lock`).sort().map((f) => `${dir}/${f}`);
  return [...shm.map((f) => `/dev/shm/${f}`), ...files];
}

/** Removes what a name's servers leave by design once all of them are gone: the lock file
 *  and empty replicas directory of a replicated name (shared by its replicas), and the socket
 *  and lock of a server killed with -9. Call after every server of `name` has exited. */
export function removeNameFiles(name: string): void {
  const base = `${runtimeDir()}/${name.slice(1)}.sock`;
  for (const path of [base, `${base}.lock`]) rmSync(path, { force: true });
  try {
    rmdirSync(`${base}.replicas`); // empty once its replicas are gone; a live one's socket keeps it
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** This process's test names' entries in the runtime directory (uniqueName puts the pid in each). */
export function ownRuntimeEntries(): string[] {
  return readdirSync(runtimeDir()).filter((f) => f.includes(`-${process.pid}-`)).sort();
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `node <fixture> ...args`, resolving once it printed a line starting with `readyPrefix`. */
export function spawnFixture(fixture: string, args: string[], readyPrefix = "ready", timeoutMs = 10_000, ids: { uid?: number; gid?: number } = {}): Promise<Child> {
  const proc = spawn(process.execPath, [join(FIXTURES, fixture), ...args], { stdio: ["pipe", "pipe", "pipe"], ...ids });
  let out = "";
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const child: Child = {
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    kill: (signal = "SIGKILL") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${fixture} did not get ready in ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.split("\n").some((l) => l.startsWith(readyPrefix))) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${fixture} exited (${code}) before getting ready; output:\n${out}`));
    });
  });
}

export function spawnServer(name: string, options: object = {}): Promise<Child> {
  return spawnFixture("server.js", [name, JSON.stringify(options)]);
}

/** Closes a server fixture gracefully (stdin ends), killing it if it takes over 5 s. */
export async function stopServer(child: Child): Promise<number | string> {
  child.proc.stdin!.end();
  const timer = setTimeout(() => child.kill(), 5000);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

const children = new Set<Child>();
/** Kills every child still running (call in `after` hooks / finally). */
export function killAll(): void {
  for (const c of children) c.kill();
}
process.on("exit", killAll);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The RpcError `p` rejects with (fails the test if it resolves or rejects with something else). */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected a rejection");
}

/** `npm run test:long` sets SHMRPC_LONG=1: the full forms of the long tests instead of short ones. */
export const LONG = process.env.SHMRPC_LONG === "1";

/** `long` under `npm run test:long`, `short` under `npm test`. */
export function scale<T>(long: T, short: T): T {
  return LONG ? long : short;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Open file descriptors and resident memory of a process, from /proc. */
export function procStats(pid: number): { fds: number; rssKiB: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { fds, rssKiB: Number(m?.[1] ?? NaN) };
}

/** Waits for a complete output line of `child` starting with `prefix` (after
 *  character `from` of its output); returns the rest of that line. */
export async function expectLine(child: Child, prefix: string, from = 0, timeoutMs = 10_000): Promise<string> {
  let found: string | undefined;
  const check = (): boolean => {
    const text = child.output().slice(from);
    const lines = text.split("\n");
    lines.pop(); // the last one is incomplete
    const line = lines.find((l) => l.startsWith(prefix));
    if (line !== undefined) found = line.slice(prefix.length).trim();
    return found !== undefined;
  };
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`no line "${prefix}..." within ${timeoutMs} ms; output:\n${child.output().slice(from)}`);
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      if (!check()) throw new Error(`exited (${child.proc.exitCode ?? child.proc.signalCode}) before printing "${prefix}..."; output:\n${child.output().slice(from)}`);
      break;
    }
    await sleep(3);
  }
  return found!;
}

/** Waits for `count` complete output lines of `child` starting with `prefix` (after character
 *  `from` of its output); returns the rest of each. */
export async function expectLines(child: Child, prefix: string, count: number, from = 0, timeoutMs = 10_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = child.output().slice(from).split("\n");
    lines.pop();
    const found = lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim());
    if (found.length >= count) return found.slice(0, count);
    if (Date.now() > end || child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`expected ${count} lines "${prefix}..." within ${timeoutMs} ms; output:\n${child.output().slice(from)}`);
    }
    await sleep(3);
  }
}

/** Sends one command line to a fixture that reads stdin; returns its reply line (after `prefix`). */
export function ask(child: Child, line: string, prefix: string, timeoutMs = 10_000): Promise<string> {
  const from = child.output().length;
  child.proc.stdin!.write(line + "\n");
  return expectLine(child, prefix, from, timeoutMs);
}

/** What `probe-server.js` answers to "stats". */
export interface ServerStats {
  connections: number;
  socketsHeld: number;
  /** 1 while the server has a connection memory ready for the next client. */
  spares: number;
  handshakes: number;
  calls: Record<string, number>;
  fds: number;
  rssKiB: number;
  memory: { anonKiB: number; fileKiB: number; shmemKiB: number; heapUsedKiB: number; heapTotalKiB: number; externalKiB: number; wasmKiB: number };
  drops: number[];
}

export async function serverStats(server: Child): Promise<ServerStats> {
  return JSON.parse(await ask(server, "stats", "stats")) as ServerStats;
}

/** A probe server's stats, with connections settled, show nothing leaked since `base`:
 *  - exact: open fds, sockets held (= 2 + connections + handshakes + the spare), WebAssembly memory (unless given a slack:
 *    it keeps its high-water mark of connections and large messages at once);
 *  - the V8 heap in use after a GC grew < 10 % + 1 MiB;
 *  - the RSS outside the V8 heap (RSS - heapTotal) grew < 10 % (+ the WebAssembly growth).
 *  Not the raw RSS: V8 grows its young generation in steps of 16 MiB under allocation
 *  pressure and keeps it (200 client kills took RSS from 60 to 92 MiB within the first 60
 *  kills, all of it heapTotal, then not a MiB more). */
/** Running under `npm run test:asan`: slower, and with an RSS that holds freed memory. */
export const SANITIZED = process.env.SHMRPC_SANITIZED === "1";

export function assertNoServerLeak(base: ServerStats, last: ServerStats, wasmSlackKiB = 0, rssSlackKiB = 0): void {
  // The spare connection memory (a memfd) may have been made or taken since `base`.
  assert.is(last.fds - last.spares, base.fds - base.spares, "the server's open file descriptors");
  assert.is(last.socketsHeld, 2 + last.connections + last.handshakes + last.spares, "sockets held = lock + listener + one per connection + the spare memory");
  const wasmGrowth = last.memory.wasmKiB - base.memory.wasmKiB;
  if (wasmSlackKiB === 0) assert.is(wasmGrowth, 0, "the server's WebAssembly memory grew (KiB)");
  assert.ok(wasmGrowth <= wasmSlackKiB, `the server's WebAssembly memory grew from ${base.memory.wasmKiB} to ${last.memory.wasmKiB} KiB`);
  assert.ok(last.memory.heapUsedKiB < base.memory.heapUsedKiB * 1.1 + 1024,
    `the server's heap grew from ${base.memory.heapUsedKiB} to ${last.memory.heapUsedKiB} KiB`);
  // Under AddressSanitizer freed memory waits in its quarantine (hundreds of MiB): RSS says nothing there.
  if (SANITIZED) return;
  const native = (s: ServerStats) => s.rssKiB - s.memory.heapTotalKiB;
  assert.ok(native(last) < native(base) * 1.1 + Math.max(0, wasmGrowth) + rssSlackKiB,
    `the server's RSS outside the V8 heap grew from ${native(base)} to ${native(last)} KiB`);
}

/** What `leftovers` finds while a server of `name` runs: its socket and its lock file. */
export function servingFiles(name: string): string[] {
  const dir = runtimeDir();
  return [`${dir}${name}.sock`, `${dir}${name}.sock.lock`];
}

/** Connections waiting in the accept queue of the listening socket at `path` (ss's Recv-Q
 *  of a listener), or -1 when it is not listening. */
export function acceptBacklog(path: string): number {
  const out = execFileSync("ss", ["-xlH"], { encoding: "utf8" });
  for (const line of out.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.includes(path)) return Number(cols[2]);
  }
  return -1;
}

/** `n` replica processes of `name` (`replica: true`), each ready. */
export async function startReplicas(name: string, n: number): Promise<Child[]> {
  return Promise.all(Array.from({ length: n }, () => spawnServer(name, { replica: true })));
}

/** A client of `name` connected to all `n` of its replicas. */
export async function connectedClient(name: string, n: number, options: object = {}): Promise<Client> {
  const client = new Client(name, options);
  await client.asyncCall("pid");
  await until(() => client.instances.length === n, 5000, `${n} replicas connected`);
  return client;
}
