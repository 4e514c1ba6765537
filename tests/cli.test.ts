// The `shmrpc` command line, run as a user runs it: `node dist/src/cli/main.js ...`
// spawned against live server processes, judged by its stdout, stderr and exit code.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { killAll, ownRuntimeEntries, removeNameFiles, spawnFixture, spawnServer, stopServer, uniqueName, until, type Child } from "./helpers.js";
import { startNats } from "./nats-helpers.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");
const TOKEN = "tok-9f2c1e7a-never-print-me";
/** Any escape code: piped output must have none. */
const ESCAPE = /\x1b/;

interface Ran { code: number | null; stdout: string; stderr: string }

/** Runs `shmrpc ...args` to its end, with SHMRPC_TOKEN only where `env` sets it. */
function shmrpc(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (!opts.env?.SHMRPC_TOKEN) delete env.SHMRPC_TOKEN;
  const proc = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  proc.stdin.end(opts.input ?? "");
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  return new Promise((resolve) => proc.on("close", (code, signal) => {
    clearTimeout(timer);
    resolve({ code: code ?? (signal ? -1 : null), stdout, stderr });
  }));
}

function show(r: Ran): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Exit 0, no escape codes, stdout as JSON. */
function json<T = unknown>(r: Ran): T {
  assert.is(r.code, 0, show(r));
  assert.not.match(r.stdout + r.stderr, ESCAPE, "no escape codes when piped");
  return JSON.parse(r.stdout) as T;
}

/** A failure: its exit code and the `{ error }` document --json puts on stderr. */
function failure(r: Ran, exit: number, code: string): Record<string, unknown> {
  assert.is(r.code, exit, show(r));
  assert.is(r.stdout, "", "nothing on stdout");
  const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error;
  assert.is(error.code, code, show(r));
  return error;
}

interface Listing { name: string; instanceId: string; replica: boolean; pid: number; clients: number; methods: number; tokenRequired: boolean; user: string }

let plain: Child;
let plainName: string;
test.before(async () => {
  plainName = named("cli");
  plain = await spawnServer(plainName);
});
const used: string[] = [];
/** A unique name, its leftovers removed after the suite. */
function named(tag: string): string {
  const name = uniqueName(tag);
  used.push(name);
  return name;
}
test.after(async () => {
  await stopServer(plain).catch(() => {});
  killAll();
  // What the replicated and killed servers leave by design (a name's lock file and replicas
  // directory, a killed server's socket): removed, so that the suite leaves nothing behind.
  for (const name of used) removeNameFiles(name);
  assert.equal(ownRuntimeEntries(), [], "the suite leaves nothing in the runtime directory");
});

// ------------------------------------------------------------------ usage

test("--help lists every command and the exit codes, and loads neither the addon nor the WebAssembly core", async () => {
  // A broken addon path makes any load of shmrpc itself fail: help must not need it.
  const r = await shmrpc(["--help"], { env: { SHMRPC_ADDON: "/nonexistent/shmrpc.node" } });
  assert.is(r.code, 0, show(r));
  for (const c of ["ls", "describe", "call", "stats", "ping", "bench"]) assert.match(r.stdout, new RegExp(`^  ${c} `, "m"));
  for (let code = 0; code <= 9; code++) assert.match(r.stdout, new RegExp(`^ +${code}  `, "m"), `exit code ${code} is explained`);
  const broken = await shmrpc(["ls"], { env: { SHMRPC_ADDON: "/nonexistent/shmrpc.node" } });
  assert.is.not(broken.code, 0, "ls does load it (so the check above is real)");
});

test("each command explains itself with --help, and `help <command>` says the same", async () => {
  for (const c of ["ls", "describe", "call", "stats", "ping", "bench"]) {
    const r = await shmrpc([c, "--help"]);
    assert.is(r.code, 0, show(r));
    assert.ok(r.stdout.startsWith(`Usage: shmrpc ${c} `), r.stdout);
    assert.match(r.stdout, /--json/);
    assert.is((await shmrpc(["help", c])).stdout, r.stdout);
  }
});

test("an unknown command, an unknown option, a missing argument or no command at all is a usage error (exit 2) with a hint", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["lss"], /unknown command 'lss'[\s\S]*did you mean 'ls'/],
    [["call", plainName, "add", "--jsn"], /unknown option '--jsn'[\s\S]*did you mean --json/],
    [["call", plainName], /missing <method>/],
    [["describe"], /missing <name>/],
    [["describe", plainName, "extra"], /unexpected argument 'extra'/],
    [["ping", plainName, "--count", "many"], /--count must be an integer/],
    [["call", plainName, "add", "--timeout", "soon"], /--timeout must be a duration/],
    [["call", plainName, "add", "--timeout", "500"], /--timeout needs a unit[\s\S]*hint: use 500ms or 500s/],
    [["stats", plainName, "--watch", "--interval", "2"], /--interval needs a unit[\s\S]*hint: use 2ms or 2s/],
    [["call", "calc", "add"], /'calc' is not a server name/],
    [["--json", "ls"], /options come after the command/],
    [["ls", "--socket-path", "relative.sock"], /--socket-path must be an absolute path/],
    [["call", plainName, "add", "--socket-path", "relative.sock"], /--socket-path must be an absolute path/],
    [[], /no command given/],
  ];
  for (const [args, message] of cases) {
    const r = await shmrpc(args);
    assert.is(r.code, 2, `${args.join(" ")}: ${show(r)}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.match(r.stderr, /hint: |--help/, "says what to do");
    assert.is(r.stdout, "");
  }
});

// ------------------------------------------------------------------ piped output

test("piped output is complete: a slow reader gets every byte of a 1.3 MB answer, valid JSON, exit 0; a reader that leaves early ends it quietly", async () => {
  const bytes = 1_000_000; // a Buffer of 1 MB: 1.33 MB of base64 in the JSON
  const proc = spawn(process.execPath, [CLI, "call", plainName, "bytes", String(bytes), "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  const killer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // A slow reader: after each chunk it stops for 5 ms (the pipe stays full while the command ends).
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve) => proc.stdout.once("end", resolve));
  proc.stdout.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    proc.stdout.pause();
    setTimeout(() => proc.stdout.resume(), 5);
  });
  const code = await new Promise<number | null>((resolve) => proc.on("exit", (c) => resolve(c)));
  await ended;
  clearTimeout(killer);
  const out = Buffer.concat(chunks).toString();
  assert.is(code, 0, stderr);
  assert.is(stderr, "");
  const doc = JSON.parse(out) as { $binary: { base64: string } };
  assert.is(Buffer.from(doc.$binary.base64, "base64").length, bytes, "every byte arrived");
  assert.is(out.length, jsonLength(bytes), "and nothing else");
  // `| head -c 100`: the reader closes the pipe early; no stack trace, the command's own exit code.
  const head = spawnSync("bash", ["-c", `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} call ${plainName} bytes ${bytes} --json | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: "utf8", timeout: 60_000 });
  assert.is(head.stdout, "0\n", head.stderr);
  assert.is(head.stderr, "", "no EPIPE stack trace");
});

/** The length of `{"$binary":{"type":"Buffer","base64":"…"}}\n` for n bytes. */
function jsonLength(n: number): number {
  return '{"$binary":{"type":"Buffer","base64":""}}\n'.length + Math.ceil(n / 3) * 4;
}

// ------------------------------------------------------------------ ls

test("ls lists a live server with its pid, user, clients and methods; --json gives every field", async () => {
  const table = await shmrpc(["ls"]);
  assert.is(table.code, 0, show(table));
  const row = table.stdout.split("\n").find((l) => l.startsWith(plainName + " "));
  assert.ok(row, table.stdout);
  assert.match(row!, new RegExp(`\\b${plain.pid}\\b`));
  assert.match(table.stdout.split("\n")[0]!, /^NAME +INSTANCE +PID +USER +CLIENTS +METHODS +UPTIME +NOTES$/);
  const listed = json<Listing[]>(await shmrpc(["ls", plainName, "--json"]));
  assert.is(listed.length, 1);
  assert.is(listed[0]!.pid, plain.pid);
  assert.is(listed[0]!.replica, false);
  assert.is(listed[0]!.methods, 19, "the fixture's methods (tests/fixtures/server.ts: methods.ts's, mark and marks)");
  assert.is(listed[0]!.user, spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim());
  assert.match(listed[0]!.instanceId, /^[0-9a-f]{22}$/);
});

test("ls lists each replica, and not one killed by kill -9", async () => {
  const name = named("clirep");
  const a = await spawnServer(name, { replica: true });
  const b = await spawnServer(name, { replica: true });
  try {
    const both = json<Listing[]>(await shmrpc(["ls", name, "--json"]));
    assert.equal(both.map((l) => l.pid).sort(), [a.pid, b.pid].sort());
    assert.ok(both.every((l) => l.replica && l.name === name));
    assert.is(new Set(both.map((l) => l.instanceId)).size, 2);
    const text = await shmrpc(["ls", name]);
    assert.is(text.stdout.split("\n").filter((l) => l.startsWith(name) && l.includes("replica")).length, 2, text.stdout);
    b.kill("SIGKILL");
    await b.exited;
    const one = json<Listing[]>(await shmrpc(["ls", name, "--json"]));
    assert.equal(one.map((l) => l.pid), [a.pid], "no stale entry");
  } finally {
    await stopServer(a);
    b.kill();
  }
});

// ------------------------------------------------------------------ describe

test("describe shows a contract's methods with their types; --json gives the JSON Schemas", async () => {
  const name = named("clidesc");
  const server = await spawnFixture("contract-server.js", [name]);
  try {
    const d = json<{ name: string; pid: number; methods: Array<{ name: string; args: { prefixItems?: unknown[] } | null; idempotent: boolean }> }>(await shmrpc(["describe", name, "--json"]));
    assert.is(d.name, name);
    assert.is(d.pid, server.pid);
    const add = d.methods.find((m) => m.name === "add")!;
    assert.is(add.args?.prefixItems?.length, 2);
    assert.is(d.methods.find((m) => m.name === "plain")!.args, null, "a bind() method has no schema");
    const text = await shmrpc(["describe", name]);
    assert.is(text.code, 0, show(text));
    assert.match(text.stdout, /^add +\(number, number\) +number\b/m);
    assert.match(text.stdout, /^greet +\(string\) +string +yes/m);
    assert.match(text.stdout, /^plain +\(any…\) +any/m);
  } finally {
    await stopServer(server);
  }
});

// ------------------------------------------------------------------ call

test("call prints the result as JSON; arguments are JSON, negative numbers included, or a JSON array on stdin", async () => {
  assert.is(json(await shmrpc(["call", plainName, "add", "-1", "2.5"])), 1.5);
  assert.equal(json(await shmrpc(["call", plainName, "echoAll", "-"], { input: '[1, "two", {"three": [3]}]' })), [1, "two", { three: [3] }]);
  const pretty = await shmrpc(["call", plainName, "echo", '{"a":[1,2]}']);
  assert.is(pretty.stdout, '{\n  "a": [\n    1,\n    2\n  ]\n}\n', "indented without --json");
  assert.is((await shmrpc(["call", plainName, "echo", '{"a":[1,2]}', "--json"])).stdout, '{"a":[1,2]}\n', "one line with --json");
});

test("values JSON lacks travel both ways in their tagged forms, unchanged", async () => {
  const value = [
    { $undefined: true }, { $number: "NaN" }, { $number: "-Infinity" }, { $number: "-0" }, { $bigint: "-123456789012345678901234567890" },
    { $date: "2026-11-30T12:34:56.789Z" }, { $date: null },
    { $binary: { type: "Buffer", base64: "AAEC/w==" } }, { $binary: { type: "Float64Array", base64: "AAAAAAAA8D8=" } }, { $binary: { type: "ArrayBuffer", base64: "" } },
    { $map: [[{ $bigint: "1" }, "one"], [{ a: 1 }, { $set: [1, "x"] }]] }, { $set: [] },
    { $object: { $date: "not a tag: an ordinary key" } }, { a: { $undefined: true }, b: "$map" },
  ];
  const r = await shmrpc(["call", plainName, "echo", JSON.stringify(value), "--json"]);
  assert.equal(json(r), value);
  // The server got real values: an Error's fields come back, and a Buffer's length is its bytes'.
  assert.is(json(await shmrpc(["call", plainName, "length", '{"$binary":{"type":"Buffer","base64":"AAECAwQ="}}'])), 5);
  const err = json<{ $error: Record<string, unknown> }>(await shmrpc(["call", plainName, "echo", '{"$error":{"name":"RangeError","message":"out","code":"E_X"}}', "--json"]));
  assert.is(err.$error.name, "RangeError");
  assert.is(err.$error.message, "out");
  assert.is(err.$error.code, "E_X");
});

test("a bad JSON argument is a usage error (exit 2) with a hint, and nothing reaches the server", async () => {
  const before = json<number>(await shmrpc(["call", plainName, "count"]));
  const r = await shmrpc(["call", plainName, "count", "world"]);
  assert.is(r.code, 2, show(r));
  assert.match(r.stderr, /args\[0\] is not JSON[\s\S]*'"world"'/);
  for (const bad of [["{"], ['{"$bigint": 12}'], ['{"$binary":{"type":"Float64Array","base64":"AAA="}}'], ["1", "-"]]) {
    const b = await shmrpc(["call", plainName, "count", ...bad, "--json"]);
    failure(b, 2, "USAGE");
  }
  failure(await shmrpc(["call", plainName, "count", "-", "--json"], { input: '{"not": "an array"}' }), 2, "USAGE");
  assert.is(json<number>(await shmrpc(["call", plainName, "count"])), before + 1, "no call in between ran");
});

test("arguments nested 60,000 deep (argv) or 100,000 deep (stdin) are a usage error, exit 2, no stack trace", async () => {
  for (const [args, input] of [[["[".repeat(60_000) + "]".repeat(60_000)], ""], [["-"], "[" + "[".repeat(100_000) + "]".repeat(100_000) + "]"]] as const) {
    const r = await shmrpc(["call", plainName, "echo", ...args], { input });
    assert.is(r.code, 2, show(r).slice(0, 2000));
    assert.match(r.stderr, /^shmrpc call: args\[0\] is nested deeper than 512 levels\n  hint: /);
    assert.not.match(r.stderr, /    at /, "no stack trace");
  }
  // 200 levels still go through.
  const deep = "[".repeat(200) + "]".repeat(200);
  assert.equal(json(await shmrpc(["call", plainName, "echo", deep, "--json"])), JSON.parse(deep));
});

test("a 2^27-bit bigint answer prints at once, in hex; small ones in decimal; hex and decimal arguments are read", async () => {
  const bits = 2 ** 27 - 1; // the codec's largest bigint (2^24 bytes)
  const value = "0x" + "7" + "f".repeat((bits - 3) / 4);
  assert.is(BigInt(value).toString(2).length, bits);
  // The command's CPU time (user + system, from /usr/bin/time: load-independent, unlike the
  // wall clock): decimal took 24 s of CPU here (quadratic), hex about 2 s; the bound leaves 5x.
  const timed = spawnSync("/usr/bin/time", ["-f", "cpu %U %S", process.execPath, CLI, "call", plainName, "echo", "-", "--json"], { input: JSON.stringify([{ $bigint: value }]), encoding: "utf8", timeout: 120_000, maxBuffer: 128 << 20 });
  assert.is(timed.status, 0, timed.stderr.slice(0, 2000));
  assert.equal(JSON.parse(timed.stdout), { $bigint: value }, "the same bigint, as hex");
  const [user, system] = /cpu ([\d.]+) ([\d.]+)/.exec(timed.stderr)!.slice(1).map(Number) as [number, number];
  assert.ok(user + system < 10, `${user + system} s of CPU`);
  assert.equal(json(await shmrpc(["call", plainName, "echo", '{"$bigint":"-0x1f"}', "--json"])), { $bigint: "-31" });
  failure(await shmrpc(["call", plainName, "echo", JSON.stringify({ $bigint: "9".repeat(20_001) }), "--json"]), 2, "USAGE");
});

test("each class of failure has its exit code, and its code and message on stderr", async () => {
  const notFound = failure(await shmrpc(["call", plainName, "nope", "--json"]), 4, "ERR_RPC_METHOD_NOT_FOUND");
  assert.match(String(notFound.message), /nope/);
  const remote = failure(await shmrpc(["call", plainName, "fail", '"it broke"', "--json"]), 1, "ERR_RPC_REMOTE");
  assert.equal(remote.remote, { name: "TypeError", message: "it broke", code: "E_FIXTURE" });
  failure(await shmrpc(["call", plainName, "returnFunction", "--json"]), 1, "ERR_RPC_REMOTE");
  const late = failure(await shmrpc(["call", plainName, "delayed", "5000", "1", "--timeout", "200ms", "--json"]), 6, "ERR_RPC_TIMEOUT");
  assert.is(late.maybeExecuted, true);
  failure(await shmrpc(["call", named("nobody"), "add", "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
  // A method name off by a letter or two: did you mean, from the server's own list (call and bench).
  assert.match(String(failure(await shmrpc(["call", plainName, "ad", "1", "2", "--json"]), 4, "ERR_RPC_METHOD_NOT_FOUND").hint), /did you mean 'add'\?/);
  assert.match(String(failure(await shmrpc(["bench", plainName, "ecoh", "1", "--json"]), 4, "ERR_RPC_METHOD_NOT_FOUND").hint), /did you mean 'echo'\?/);
  const far = await shmrpc(["call", plainName, "zzzzzz"]);
  assert.is(far.code, 4);
  assert.not.match(far.stderr, /did you mean/, "nothing close: no guess");
  // No server at all: it says the server is not running, not that "the call" did not run.
  const missing = await shmrpc(["describe", named("nobody")]);
  assert.is(missing.code, 5, show(missing));
  assert.match(missing.stderr, /the server is not running/);
  assert.not.match(missing.stderr, /did not run/);
  // The same in text: "shmrpc call: CODE: message", and the handler's own error.
  const text = await shmrpc(["call", plainName, "fail", '"it broke"']);
  assert.is(text.code, 1);
  assert.match(text.stderr, /^shmrpc call: ERR_RPC_REMOTE: it broke\n {2}thrown by the handler: TypeError \[E_FIXTURE\]: it broke\n/);
});

test("arguments a contract refuses exit 3 with the schema's issues", async () => {
  const name = named("cliarg");
  const server = await spawnFixture("contract-server.js", [name]);
  try {
    const e = failure(await shmrpc(["call", name, "greet", '""', "--json"]), 3, "ERR_RPC_INVALID_ARGUMENT");
    assert.equal((e.issues as Array<{ path: unknown[] }>)[0]!.path, [0]);
    failure(await shmrpc(["call", name, "broken", "1", "--json"]), 1, "ERR_RPC_INVALID_RESULT");
  } finally {
    await stopServer(server);
  }
});

test("a server killed between ls and call: the call fails with exit 5, not a hang", async () => {
  const name = named("clikill");
  const server = await spawnServer(name);
  const listed = json<Listing[]>(await shmrpc(["ls", name, "--json"]));
  assert.is(listed[0]?.pid, server.pid);
  server.kill("SIGKILL");
  await server.exited;
  const started = Date.now();
  const e = failure(await shmrpc(["call", name, "add", "1", "2", "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
  assert.is(e.maybeExecuted, false);
  assert.ok(Date.now() - started < 10_000, "well before the call's 10 s timeout (margin for a busy machine)");
  failure(await shmrpc(["ping", name, "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
  failure(await shmrpc(["stats", name, "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
});

test("a token from SHMRPC_TOKEN or --token works, a missing or wrong one exits 7, and the token is never printed", async () => {
  const name = named("clitok");
  const server = await spawnServer(name, { token: TOKEN });
  const runs: Ran[] = [];
  const go = async (args: string[], env: Record<string, string> = {}): Promise<Ran> => {
    const r = await shmrpc(args, { env });
    runs.push(r);
    return r;
  };
  try {
    assert.is(json(await go(["call", name, "add", "1", "2"], { SHMRPC_TOKEN: TOKEN })), 3);
    assert.is(json(await go(["call", name, "add", "1", "2", "--token", TOKEN])), 3);
    failure(await go(["call", name, "add", "1", "2", "--json"]), 7, "ERR_RPC_ACCESS_DENIED");
    failure(await go(["call", name, "add", "1", "2", "--json"], { SHMRPC_TOKEN: TOKEN + "x" }), 7, "ERR_RPC_ACCESS_DENIED");
    // Places the token could leak through: a handler's error quoting it, a usage error,
    // the per-replica views, help, and a result that contains it.
    assert.is((await go(["call", name, "fail", JSON.stringify(`bad ${TOKEN}`)], { SHMRPC_TOKEN: TOKEN })).code, 1);
    assert.is((await go(["call", name, "fail", JSON.stringify(`bad ${TOKEN}`), "--json"], { SHMRPC_TOKEN: TOKEN })).code, 1);
    assert.is((await go(["call", name, "add", "--token", TOKEN, "--bogus"])).code, 2);
    assert.is((await go(["call", name, "echo", `"${TOKEN}"`], { SHMRPC_TOKEN: TOKEN })).code, 0);
    assert.is((await go(["stats", name], { SHMRPC_TOKEN: TOKEN })).code, 0);
    assert.is((await go(["ping", name, "--json"], { SHMRPC_TOKEN: TOKEN })).code, 0);
    assert.is((await go(["describe", name, "--token", TOKEN])).code, 0);
    const listed = json<Listing[]>(await go(["ls", name, "--json"]));
    assert.is(listed[0]!.tokenRequired, true);
    for (const r of runs) assert.not.ok((r.stdout + r.stderr).includes(TOKEN), `the token leaked:\n${show(r)}`);
    assert.ok(runs.some((r) => r.stderr.includes("bad ***")), "the handler's message is shown, the token blanked out");
  } finally {
    await stopServer(server);
  }
});

test("a server's strings cannot put control characters on the terminal: results, errors and tables escape them", async () => {
  // ESC [2J (clear screen), a C1 CSI (U+009B), a BEL: as a result, a handler's error, and a stats cell.
  const nasty = "\u001b[2J\u009b31m\u0007";
  const result = await shmrpc(["call", plainName, "echo", JSON.stringify(nasty)]);
  assert.is(result.code, 0, show(result));
  assert.is(JSON.parse(result.stdout), nasty, "still the same string, as JSON");
  const thrown = await shmrpc(["call", plainName, "fail", JSON.stringify(nasty)]);
  const thrownJson = await shmrpc(["call", plainName, "fail", JSON.stringify(nasty), "--json"]);
  assert.is((JSON.parse(thrownJson.stderr) as { error: { message: string } }).error.message, nasty);
  const stats = await shmrpc(["stats", plainName]);
  assert.match(stats.stdout, /\\u001b\[2J\\u009b31m\\u0007/, "the last error, escaped");
  for (const r of [result, thrown, thrownJson, stats]) assert.not.match(r.stdout + r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, show(r));
});

test("--socket-path reaches a server at a shared path: ls lists it, call and ping reach it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shmrpc-cli-"));
  const path = join(dir, "shared.sock");
  const name = named("clipath");
  const server = await spawnServer(name, { socketPath: path });
  try {
    const mine = await shmrpc(["ls", name, "--json"]);
    assert.is(mine.code, 5, "none of that name in the runtime directory");
    assert.equal(JSON.parse(mine.stdout), [], "not in the runtime directory");
    const listed = json<Array<Listing & { socketPath: string }>>(await shmrpc(["ls", name, "--socket-path", path, "--json"]));
    assert.equal(listed.map((l) => [l.name, l.pid, l.socketPath]), [[name, server.pid, path]]);
    assert.is(json(await shmrpc(["call", name, "add", "20", "22", "--socket-path", path])), 42);
    assert.is(json<unknown[]>(await shmrpc(["ping", name, "--socket-path", path, "--json"])).length, 1);
    failure(await shmrpc(["call", name, "add", "1", "2", "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ stats, ping, bench

test("stats shows each method's counters per replica, and an all row that sums them", async () => {
  const name = named("clistats");
  const a = await spawnServer(name, { replica: true });
  const b = await spawnServer(name, { replica: true });
  try {
    const [la, lb] = json<Listing[]>(await shmrpc(["ls", name, "--json"])).sort((x, y) => (x.pid === a.pid ? -1 : y.pid === a.pid ? 1 : 0));
    // Calls to each replica through --instance: 2 on a, 3 on b.
    for (const [l, n] of [[la!, 2], [lb!, 3]] as const) {
      for (let i = 0; i < n; i++) json(await shmrpc(["call", name, "add", "1", "2", "--instance", l.instanceId.slice(0, 6)]));
    }
    type Snap = { name: string; replicas: Array<{ instanceId: string; pid: number; stats: { endpoints: Array<{ name: string; num_requests: number }> } }> };
    const snap = json<Snap>(await shmrpc(["stats", name, "--json"]));
    const adds = Object.fromEntries(snap.replicas.map((r) => [r.pid, r.stats.endpoints.find((e) => e.name === "add")!.num_requests]));
    assert.equal(adds, { [a.pid]: 2, [b.pid]: 3 });
    const text = await shmrpc(["stats", name]);
    assert.is(text.code, 0, show(text));
    assert.match(text.stdout, /^add +all +5 +0 +0 /m);
    assert.match(text.stdout, new RegExp(`^add +${la!.instanceId.slice(0, 8)} +2 `, "m"));
    assert.match(text.stdout, new RegExp(`^add +${lb!.instanceId.slice(0, 8)} +3 `, "m"));
    assert.not.match(text.stdout, ESCAPE);
  } finally {
    await stopServer(a);
    await stopServer(b);
  }
});

test("call and bench reach a name served only by replicas; --instance picks one, an unknown one is a usage error", async () => {
  const name = named("clibal");
  const a = await spawnServer(name, { replica: true });
  const b = await spawnServer(name, { replica: true });
  try {
    assert.ok([a.pid, b.pid].includes(json<number>(await shmrpc(["call", name, "pid"]))));
    const listed = json<Listing[]>(await shmrpc(["ls", name, "--json"]));
    for (const l of listed) assert.is(json<number>(await shmrpc(["call", name, "pid", "--instance", l.instanceId.slice(0, 8)])), l.pid);
    // Through the attempts of a replicated name the deadline left is fractional: printed rounded.
    const late = failure(await shmrpc(["call", name, "delayed", "5000", "1", "--timeout", "300ms", "--json"]), 6, "ERR_RPC_TIMEOUT");
    assert.match(String(late.message), /timed out after \d+ ms$/);
    const wrong = await shmrpc(["call", name, "pid", "--instance", "zz"]);
    assert.is(wrong.code, 2, show(wrong));
    assert.match(wrong.stderr, new RegExp(`hint: its instances: .*${listed[0]!.instanceId}`));
    const bench = json<{ calls: number; errors: object }>(await shmrpc(["bench", name, "add", "1", "2", "--duration", "500ms", "--warmup", "0", "--concurrency", "8", "--json"]));
    assert.ok(bench.calls > 0);
    assert.equal(bench.errors, {});
  } finally {
    await stopServer(a);
    await stopServer(b);
  }
});

test("stats --watch refreshes: one JSON document per refresh with --json, tables one after another when piped", async () => {
  const r = await shmrpc(["stats", plainName, "--watch", "--count", "3", "--interval", "50ms", "--json"]);
  assert.is(r.code, 0, show(r));
  const docs = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { time: string; replicas: unknown[] });
  assert.is(docs.length, 3);
  assert.ok(docs.every((d) => d.replicas.length === 1));
  assert.ok(Date.parse(docs[2]!.time) > Date.parse(docs[0]!.time), "later refreshes are later");
  const text = await shmrpc(["stats", plainName, "--watch", "--count", "2", "--interval", "50ms"]);
  assert.is(text.code, 0, show(text));
  assert.not.match(text.stdout, ESCAPE);
  assert.is(text.stdout.split("\n").filter((l) => l.startsWith("METHOD ")).length, 2);
});

test("stats --watch on a terminal redraws in place at 80, 100 and 150 columns: rows cut to the width, no repeated header, no scrolling", async () => {
  if (spawnSync("script", ["--version"]).status !== 0) return void console.log("  (skipped: no script(1) to make a terminal)");
  const name = named("cliwatch");
  const server = await spawnServer(name);
  try {
    // A last error of 300 characters: its row is far wider than any of the terminals.
    assert.is((await shmrpc(["call", name, "fail", JSON.stringify("x".repeat(300))])).code, 1);
    for (const cols of [80, 100, 150]) {
      const cmd = `stty rows 40 cols ${cols}; ${process.execPath} ${CLI} stats ${name} --watch --count 4 --interval 50ms`;
      const r = spawnSync("script", ["-qfc", cmd, "/dev/null"], { encoding: "utf8", timeout: 30_000, env: { ...process.env, TERM: "xterm" } });
      assert.is(r.status, 0, r.stdout + r.stderr);
      // Frames: the text between the redraws (cursor up N lines, clear below).
      const parts = r.stdout.split(/\x1b\[(\d+)F\x1b\[J/);
      const frames = [parts[0]!, ...parts.filter((_, i) => i % 2 === 0).slice(1)];
      const ups = parts.filter((_, i) => i % 2 === 1).map(Number);
      assert.is(frames.length, 4, `four frames at ${cols} columns`);
      for (let i = 0; i < frames.length; i++) {
        const lines = frames[i]!.replace(/\r/g, "").split("\n").slice(0, -1);
        if (i > 0) assert.is(ups[i - 1], frames[i - 1]!.replace(/\r/g, "").split("\n").length - 1, "goes up exactly the lines it drew");
        assert.ok(lines.every((l) => l.length < cols), `a line wider than ${cols - 1} columns: ${lines.map((l) => l.length).join(",")}`);
        assert.is(lines.filter((l) => l.startsWith("METHOD ")).length, 1, "one header per frame");
        assert.ok(lines.some((l) => /^fail .*…$/.test(l)), "the long row, cut with …");
      }
    }
  } finally {
    await stopServer(server);
  }
});

test("ping times a round trip to each replica; --count sets how many", async () => {
  const name = named("cliping");
  const a = await spawnServer(name, { replica: true });
  const b = await spawnServer(name, { replica: true });
  try {
    type Ping = { pid: number; connectNs: number; roundTripsNs: number[]; medianNs: number; error: unknown };
    const pings = json<Ping[]>(await shmrpc(["ping", name, "--count", "4", "--json"]));
    assert.equal(pings.map((p) => p.pid).sort(), [a.pid, b.pid].sort());
    for (const p of pings) {
      assert.is(p.error, null);
      assert.is(p.roundTripsNs.length, 4);
      assert.ok(p.roundTripsNs.every((ns) => ns > 0) && p.connectNs > 0 && p.medianNs > 0);
    }
    const text = await shmrpc(["ping", name]);
    assert.is(text.code, 0, show(text));
    assert.is(text.stdout.split("\n").filter((l) => / ok$/.test(l)).length, 2, text.stdout);
  } finally {
    await stopServer(a);
    await stopServer(b);
  }
});

test("bench reports calls/s and latency percentiles, with a progress line on stderr", async () => {
  type Bench = { calls: number; errors: Record<string, number>; callsPerSecond: number; concurrency: number; latencyUs: Record<string, number> };
  const r = await shmrpc(["bench", plainName, "add", "1", "2", "--duration", "1500ms", "--warmup", "0", "--concurrency", "4", "--json"]);
  const b = json<Bench>(r);
  assert.ok(b.calls > 100, `calls: ${b.calls}`);
  assert.equal(b.errors, {});
  assert.is(b.concurrency, 4);
  const l = b.latencyUs;
  assert.ok(l.min! > 0 && l.min! <= l.p50! && l.p50! <= l.p90! && l.p90! <= l.p99! && l.p99! <= l["p99.9"]! && l["p99.9"]! <= l.max!, JSON.stringify(l));
  // calls/s within 30 % of calls over the duration (margin: the measured window ends with the last call).
  assert.ok(Math.abs(b.callsPerSecond - b.calls / 1.5) / (b.calls / 1.5) < 0.3, `${b.callsPerSecond} vs ${b.calls / 1.5}`);
  assert.match(r.stderr, /^bench \S+ add: [\d.]+ s of 1\.5 s, [\d,]+ calls, [\d.]+k? calls\/s$/m);
  const text = await shmrpc(["bench", plainName, "add", "1", "2", "--duration", "300ms", "--warmup", "0"]);
  assert.is(text.code, 0, show(text));
  assert.match(text.stdout, /^ *CALLS\/S +MIN +P50 +P90 +P99 +P99\.9 +MAX +MEAN$/m);
});

test("Ctrl-C during bench prints what was measured so far, closes the progress line, exits 0", async () => {
  const proc = spawn(process.execPath, [CLI, "bench", plainName, "add", "1", "2", "--duration", "60s", "--warmup", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  const killer = setTimeout(() => proc.kill("SIGKILL"), 50_000);
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("close", (c) => resolve(c)));
  try {
    await until(() => / s of 60\.0 s, [\d,]+ calls/.test(stderr), 20_000, "a progress line");
    proc.kill("SIGINT");
    const code = await exited;
    assert.is(code, 0, stderr);
    const r = JSON.parse(stdout) as { interrupted: boolean; calls: number; durationMs: number; latencyUs: Record<string, number> };
    assert.is(r.interrupted, true);
    assert.ok(r.calls > 0 && r.latencyUs.p50! > 0, stdout);
    assert.ok(r.durationMs < 50_000, `measured until interrupted: ${r.durationMs} ms`);
  } finally {
    clearTimeout(killer);
    proc.kill("SIGKILL");
  }
  // On a terminal: the progress line is redrawn in place, and erased before the results.
  if (spawnSync("script", ["--version"]).status !== 0) return void console.log("  (skipped: no script(1) to make a terminal)");
  const cmd = `timeout --preserve-status -s INT 2 ${process.execPath} ${CLI} bench ${plainName} add 1 2 --duration 60s --warmup 0; echo "exit $?"`;
  const tty = spawnSync("script", ["-qfc", cmd, "/dev/null"], { encoding: "utf8", timeout: 30_000, env: { ...process.env, TERM: "xterm" } });
  assert.match(tty.stdout, /\r\x1b\[Kbench \S+ add: [\d.]+ s of 60\.0 s/, "redrawn in place");
  assert.match(tty.stdout, /\r\x1b\[K\S+ add: [\d,]+ calls in [\d.]+ s, 1 in flight, 0 failed \(interrupted\)/, "erased, then the results");
  assert.match(tty.stdout, /exit 0/);
});

test("bench of a method that fails stops at once with its exit code", async () => {
  const started = Date.now();
  failure(await shmrpc(["bench", plainName, "nope", "--duration", "20s", "--json"]), 4, "ERR_RPC_METHOD_NOT_FOUND");
  assert.ok(Date.now() - started < 15_000, "long before its 20 s");
});

test("over NATS: ls --nats lists each instance with its methods; call, describe, stats and ping take a NATS URL", async () => {
  const node = await startNats();
  const name = named("cli-nats");
  const natsDir = mkdtempSync(join(tmpdir(), "shmrpc-cli-nats-"));
  const servers: Child[] = [];
  try {
    servers.push(await spawnFixture("nats-server.js", [name, JSON.stringify(node.url), JSON.stringify({ replica: true })]));
    servers.push(await spawnFixture("nats-server.js", [name, JSON.stringify(node.url), JSON.stringify({ replica: true, socketPath: join(natsDir, "cli-nats.sock") })]));
    const listed = json<{ local: Listing[]; nats: { url: string; instances: Array<{ name: string; service: string; id: string; version: string; endpoints: string[] }> } }>(
      await shmrpc(["ls", name, "--nats", node.url, "--json"]));
    assert.is(listed.local.length, 1, "one replica in this user's runtime directory");
    assert.is(listed.nats.url, node.url);
    assert.is(listed.nats.instances.length, 2, "both replicas answer $SRV.PING");
    for (const i of listed.nats.instances) {
      assert.is(i.name, name);
      assert.is(i.service, name.slice(1));
      assert.ok(i.endpoints.includes("add") && i.endpoints.includes("pid"), i.endpoints.join(" "));
    }
    assert.ok(listed.nats.instances.some((i) => i.id === listed.local[0]!.instanceId), "the local replica is the same instance on NATS");
    const text = await shmrpc(["ls", "--nats", node.url]);
    assert.is(text.code, 0, show(text));
    assert.match(text.stdout, `On NATS at ${node.url}:`);
    assert.match(text.stdout, listed.nats.instances[1]!.id);

    const url = `${node.url}${name}`;
    assert.is(json(await shmrpc(["call", url, "add", "2", "3", "--json"])), 5);
    const pid = json<number>(await shmrpc(["call", url, "pid", "--json"]));
    assert.ok(servers.some((s) => s.pid === pid), "answered by one of the replicas");
    const described = json<{ methods: Array<{ name: string }> }>(await shmrpc(["describe", url, "--json"]));
    assert.ok(described.methods.some((m) => m.name === "add"));
    const stats = json<{ replicas: Array<{ pid: number; stats: object | null; error: unknown }> }>(await shmrpc(["stats", url, "--json"]));
    assert.is(stats.replicas.length, 1);
    assert.ok(servers.some((s) => s.pid === stats.replicas[0]!.pid), "the pid of the instance that answered, as describe gives it");
    const statsText = await shmrpc(["stats", url]);
    assert.match(statsText.stdout, new RegExp(`^\\S+ +(${servers.map((s) => s.pid).join("|")}) +`, "m"), statsText.stdout);
    assert.is(stats.replicas[0]!.error, null);
    assert.ok(stats.replicas[0]!.stats !== null);
    const pinged = await shmrpc(["ping", url, "--count", "3", "--json"]);
    const pings = json<Array<{ roundTripsNs: number[]; error: unknown }>>(pinged);
    assert.is(pings[0]!.roundTripsNs.length, 3);
    assert.is(pings[0]!.error, null);
    // What only reaches this host is refused for a NATS URL; a bad URL is a usage error.
    assert.is((await shmrpc(["call", url, "add", "1", "2", "--instance", "ab"])).code, 2);
    assert.is((await shmrpc(["describe", `${node.url}/no spaces`])).code, 2);
    assert.is((await shmrpc(["ls", "--nats", `${node.url}/calc`])).code, 2);
    // Nobody serves it: the exit code of ERR_RPC_NOT_CONNECTED, nothing ran.
    failure(await shmrpc(["call", `${node.url}/nobody-${process.pid}`, "add", "1", "2", "--json"]), 5, "ERR_RPC_NOT_CONNECTED");
  } finally {
    for (const s of servers) await stopServer(s);
    await node.stop();
    rmSync(natsDir, { recursive: true, force: true });
  }
});

test("ls of a name nobody serves exits 5; a plain ls of nothing exits 0", async () => {
  const nobody = named("nobody");
  const r = await shmrpc(["ls", nobody]);
  assert.is(r.code, 5, show(r));
  assert.is(r.stdout, `no live server serves ${nobody}\n`);
  const j = await shmrpc(["ls", nobody, "--json"]);
  assert.is(j.code, 5, show(j));
  assert.equal(JSON.parse(j.stdout), []);
});

test("ls --nats with no service on the bus says none answered and exits 5; one peer answering 20,000 fake services is listed bounded in instances, time and memory", async () => {
  const node = await startNats();
  let flood: Child | undefined;
  try {
    const empty = await shmrpc(["ls", "--nats", node.url]);
    assert.is(empty.code, 5, show(empty));
    assert.match(empty.stdout, /On NATS at nats:\/\/127\.0\.0\.1:\d+:\nno services answered\n$/);
    assert.is(empty.stderr, "");
    const emptyJson = await shmrpc(["ls", "--nats", node.url, "--json"]);
    assert.is(emptyJson.code, 5, show(emptyJson));
    assert.equal((JSON.parse(emptyJson.stdout) as { nats: unknown }).nats, { url: node.url, instances: [], truncated: false });

    flood = await spawnFixture("nats-flood.js", [node.url, "20000"]);
    // /usr/bin/time -f %M: the command's peak RSS in KiB. It used 700 MB and listed 20,000.
    const started = Date.now();
    const r = spawnSync("/usr/bin/time", ["-f", "maxrss %M", process.execPath, CLI, "ls", "--nats", node.url, "--json"], { encoding: "utf8", timeout: 60_000, maxBuffer: 64 << 20 });
    const seconds = (Date.now() - started) / 1000;
    assert.is(r.status, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as { nats: { instances: Array<{ id: string; endpoints: string[] | null }>; truncated: boolean } };
    assert.is(listed.nats.instances.length, 1000, "at most 1,000 instances");
    assert.is(listed.nats.truncated, true, "and it says there were more");
    const rssMb = Number(/maxrss (\d+)/.exec(r.stderr)![1]) / 1024;
    // Measured on a 2-core VM: 81 MB with the bounds, 182 MB without; 140 MB leaves 1.7x of margin.
    assert.ok(rssMb < 140, `peak RSS ${rssMb.toFixed(0)} MB`);
    // 0.5 s of collecting, at most 3 s of $SRV.INFO, plus start-up; margin for a busy machine.
    assert.ok(seconds < 20, `${seconds} s`);
    const text = await shmrpc(["ls", "--nats", node.url]);
    assert.is(text.code, 0, show(text).slice(0, 2000));
    assert.match(text.stdout, /more than 1000 instances answered: the first 1000 are listed/);
  } finally {
    if (flood) await stopServer(flood).catch(() => flood!.kill());
    await node.stop();
  }
});

test("the process ends on its own after each command: nothing keeps it alive", async () => {
  // main.ts ends with process.exit(); this run goes around it to see that every command closes what it opened.
  const code = `process.exit = () => {}; process.argv = [process.argv[0], ${JSON.stringify(CLI)}, ...process.argv.slice(1)]; await import(${JSON.stringify(CLI)});`;
  for (const args of [["ls"], ["describe", plainName], ["call", plainName, "add", "1", "2"], ["stats", plainName], ["ping", plainName], ["bench", plainName, "add", "1", "2", "--duration", "200ms", "--warmup", "0"]]) {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code, ...args], { encoding: "utf8", timeout: 20_000 });
    assert.is(r.status, 0, `${args.join(" ")} did not end on its own: ${r.signal ?? r.status}\n${r.stderr}`);
  }
});

test.run();

