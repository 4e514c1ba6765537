// The package as users get it: `npm pack` (which builds the prebuilt addon at
// prepack), installed into a scratch project with install scripts blocked and
// no compiler on PATH, then used from an ES module, a CommonJS module and
// TypeScript. One tarball and one install serve every test (uvu runs them in
// order); it all lives in a temp dir, removed at the end.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { uniqueName } from "./helpers.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TMP = mkdtempSync(join(tmpdir(), "shmrpc-package-"));
const APP = join(TMP, "app");
// A PATH with node and nothing else: no g++, cc, make or python, so nothing can be built.
const BIN = join(TMP, "bin");
const NPM_CLI = process.env.npm_execpath?.endsWith("npm-cli.js")
  ? process.env.npm_execpath
  : join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");
// The pack is a release pack (SHMRPC_RELEASE=1: every prebuild, linux-x64 and linux-arm64 for
// glibc and musl, made with Zig, which scripts/prebuild.mjs installs from npm on an x64 host)
// where that can be had; elsewhere a plain one (this machine's architecture, glibc).
const RELEASE = process.arch === "x64" || spawnSync("zig", ["version"]).status === 0;
const PREBUILDS = RELEASE
  ? ["linux-x64/shmrpc.glibc.node", "linux-x64/shmrpc.musl.node", "linux-arm64/shmrpc.glibc.node", "linux-arm64/shmrpc.musl.node"]
  : [`linux-${process.arch}/shmrpc.glibc.node`];

mkdirSync(APP);
mkdirSync(BIN);
symlinkSync(process.execPath, join(BIN, "node"));
const bare: NodeJS.ProcessEnv = { ...process.env, PATH: BIN };
for (const k of Object.keys(bare)) if (k.startsWith("npm_")) delete bare[k]; // not the outer `npm test`'s settings

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? APP, env: opts.env ?? bare, encoding: "utf8", timeout: opts.timeoutMs ?? 300_000 });
  if (r.error) throw r.error;
  return r;
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.is(r.status, 0, `${what} exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let tarball = "";

test("package-lock.json is what `npm install` writes: installing in a clone leaves it as it is", () => {
  // The lockfile copies fields of package.json (bin, engines, dependencies); `npm ci` never
  // rewrites it, so a package.json edit without `npm install` goes unnoticed until a user's
  // `npm install` changes a file of the clone. The lockfile alone is rewritten, from npm's cache.
  const dir = join(TMP, "lock");
  mkdirSync(dir);
  for (const f of ["package.json", "package-lock.json"]) writeFileSync(join(dir, f), readFileSync(join(ROOT, f)));
  ok(run(process.execPath, [NPM_CLI, "install", "--package-lock-only", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, env: { ...bare, PATH: process.env.PATH } }), "npm install --package-lock-only");
  assert.fixture(readFileSync(join(dir, "package-lock.json"), "utf8"), readFileSync(join(ROOT, "package-lock.json"), "utf8"), "npm install rewrote package-lock.json: run `npm install` and commit it");
});


test("npm pack builds the prebuilt addon and ships what a user needs, and nothing else", () => {
  // The real pack, lifecycle scripts and all (prepack builds the prebuilds, prepare the JS and WASM).
  const out = ok(
    run(process.execPath, [NPM_CLI, "pack", "--json", "--pack-destination", TMP], { cwd: ROOT, env: { ...process.env, SHMRPC_RELEASE: RELEASE ? "1" : "" }, timeoutMs: 1_800_000 }),
    "npm pack",
  );
  const info = JSON.parse(out.slice(out.lastIndexOf("\n[\n") + 1))[0] as { filename: string; files: { path: string }[] };
  tarball = join(TMP, info.filename);
  assert.ok(existsSync(tarball), tarball);
  assert.not.ok(existsSync(join(ROOT, "prebuilds")), "postpack leaves no prebuilds/ in the checkout");
  const files = info.files.map((f) => f.path).sort();

  for (const p of PREBUILDS) assert.ok(files.includes(`prebuilds/${p}`), `${p} is in the tarball`);
  for (const f of ["package.json", "README.md", "dist/bundle/shmrpc.js", "dist/bundle/cli.js", "dist/bundle/sync-worker.js", "dist/bundle/tracing.js", "dist/src/tracing/index.d.ts", "dist/bundle/threads.js", "dist/src/threads/index.d.ts", "dist/src/index.d.ts", "dist/types-cjs/index.d.cts", "wasm/shmrpc.wasm", "wasm/shmrpc.js", "wasm/shmrpc.d.ts", "binding.gyp", "addon/shmrpc.h"]) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  const unwanted = files.filter((f) => !/^(package\.json|README\.md|binding\.gyp|addon\/[^/]+\.(cc|h)|dist\/bundle\/(shmrpc|cli|sync-worker|tracing|threads)\.js|dist\/src\/.+\.d\.ts|dist\/types-cjs\/.+\.d\.cts|wasm\/shmrpc\.(wasm|js|d\.ts)|prebuilds\/linux-[a-z0-9]+\/shmrpc\.(glibc|musl)\.node)$/.test(f));
  assert.equal(unwanted, [], "nothing else (tests, benches, sources, maps, tsc's unbundled JavaScript) is shipped");
});

test("installed with install scripts blocked and no compiler on PATH, it loads the prebuilt addon", () => {
  assert.is(spawnSync("g++", ["--version"], { env: bare }).error?.message.includes("ENOENT"), true, "g++ is hidden");
  assert.is(spawnSync("make", ["--version"], { env: bare }).error?.message.includes("ENOENT"), true, "make is hidden");
  writeFileSync(join(APP, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  ok(run(process.execPath, [NPM_CLI, "install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", tarball], { timeoutMs: 600_000 }), "npm install");
  const pkg = join(APP, "node_modules", "shmrpc");
  assert.not.ok(existsSync(join(pkg, "build")), "nothing was built");
  const out = ok(run(process.execPath, ["-e", 'const { Server } = require("shmrpc"); console.log(typeof Server)']), "require");
  assert.is(out.trim(), "function");
  assert.ok(statSync(join(pkg, "prebuilds", `linux-${process.arch}`, "shmrpc.glibc.node")).isFile());
});

test("installed with its install script allowed and no compiler on PATH, the install script finds the prebuild and builds nothing", () => {
  const app = join(TMP, "app-scripts");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app-scripts", version: "1.0.0", private: true, allowScripts: { shmrpc: true } }));
  // npm runs install scripts through sh; sh is all this PATH adds to node.
  const bin = join(TMP, "bin-sh");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync("/bin/sh", join(bin, "sh"));
  const env = { ...bare, PATH: bin };
  ok(run(process.execPath, [NPM_CLI, "install", "--foreground-scripts", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: app, env, timeoutMs: 600_000 }), "npm install");
  assert.not.ok(existsSync(join(app, "node_modules", "shmrpc", "build")), "nothing was built");
  const out = ok(run(process.execPath, ["--input-type=module", "-e", 'import { Client } from "shmrpc"; console.log(typeof Client)'], { cwd: app, env }), "import");
  assert.is(out.trim(), "function");
});

/** What scripts/elf.mjs reads of a shared object: its machine, DT_NEEDED, the highest symbol version per prefix. */
function elf(file: string): { machine: number; needed: string[]; top: Record<string, string> } {
  const code = `import { elfInfo, highestVersions } from ${JSON.stringify(join(ROOT, "scripts", "elf.mjs"))};
const i = elfInfo(process.argv[1]); console.log(JSON.stringify({ machine: i.machine, needed: i.needed, top: highestVersions(i) }));`;
  return JSON.parse(ok(run(process.execPath, ["--input-type=module", "-e", code, file]), `elf ${file}`));
}
const olderOrSame = (a: string, b: string) => {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  return true;
};

test("the shipped prebuilds need glibc <= 2.28 and no C++ runtime (it is inside); the musl ones no versioned symbol", () => {
  if (!RELEASE) return; // a plain pack's prebuild is this machine's (its glibc): see the next test
  const machines: Record<string, number> = { x64: 62, arm64: 183 };
  for (const p of PREBUILDS) {
    const info = elf(join(APP, "node_modules", "shmrpc", "prebuilds", p));
    const arch = p.split("/")[0]!.slice("linux-".length);
    assert.is(info.machine, machines[arch], `${p} is an ${arch} ELF file`);
    for (const runtime of ["GLIBCXX", "CXXABI", "GCC"]) assert.is(info.top[runtime], undefined, `${p} needs no ${runtime}_ version: ${JSON.stringify(info.top)}`);
    assert.not.ok(info.needed.some((n) => /libstdc\+\+|libc\+\+|libgcc_s/.test(n)), `${p} loads no C++ runtime: ${info.needed.join(", ")}`);
    if (p.endsWith(".glibc.node")) {
      assert.ok(info.top.GLIBC !== undefined && olderOrSame(info.top.GLIBC, "2.28"), `${p} needs GLIBC_${info.top.GLIBC}, at most 2.28`);
    } else {
      assert.equal(info.top, {}, `${p} (musl) needs no versioned symbol`);
      assert.ok(info.needed.includes("libc.so"), `${p} (musl) needs musl's libc.so: ${info.needed.join(", ")}`);
    }
  }
});

test("without Zig, the prebuild builds this machine's architecture with the system compiler and warns naming what is missing; a release refuses", () => {
  const out = join(TMP, "no-zig");
  const env = { ...process.env, SHMRPC_ZIG: "off", SHMRPC_RELEASE: "" };
  const r = run(process.execPath, [join(ROOT, "scripts", "prebuild.mjs"), "--out", out], { cwd: ROOT, env, timeoutMs: 900_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(join(out, "prebuilds")), [`linux-${process.arch}`]);
  assert.equal(readdirSync(join(out, "prebuilds", `linux-${process.arch}`)), ["shmrpc.glibc.node"]);
  assert.ok(/WARNING: zig was not found/.test(r.stderr) && r.stderr.includes("musl") && r.stderr.includes("release:pack"), r.stderr);
  const info = elf(join(out, "prebuilds", `linux-${process.arch}`, "shmrpc.glibc.node"));
  assert.ok(r.stderr.includes(`needing GLIBC_${info.top.GLIBC}`), `the warning names the glibc it needs (${info.top.GLIBC}):\n${r.stderr}`);
  assert.is(info.top.GLIBCXX, undefined, "the C++ runtime is linked statically");
  const refused = run(process.execPath, [join(ROOT, "scripts", "prebuild.mjs"), "--release", "--out", join(TMP, "no-zig-release")], { cwd: ROOT, env, timeoutMs: 60_000 });
  assert.is.not(refused.status, 0, "a release without Zig fails");
  assert.not.ok(existsSync(join(TMP, "no-zig-release", "prebuilds")), "and builds nothing");
});

// A server in one module system, a client in the other, in two processes.
const SERVER = (load: string) => `${load}
const server = new Server(process.argv[2]);
server.bind("add", (a, b) => a + b);
server.bind("stop", () => { setImmediate(() => void server.close()); return "bye"; });
const done = server.run();
console.log("ready");
done.then(() => console.log("closed"));
`;
const CLIENT = (load: string) => `${load}
(async () => {
  const client = new Client(process.argv[2], { timeoutMs: 10000 });
  await client.waitForConnection(10000);
  const sum = client.call("add", 2, 3);
  const later = await client.asyncCall("add", 10, 20);
  let code = "";
  try { client.call("nope"); } catch (err) { code = err instanceof RpcError ? err.code : String(err); }
  console.log(JSON.stringify({ sum, later, code, stop: await client.asyncCall("stop") }));
  client.close();
})().catch((err) => { console.error(err); process.exit(1); });
`;
const ESM = 'import { Server, Client, RpcError } from "shmrpc";';
const CJS = 'const { Server, Client, RpcError } = require("shmrpc");';

async function serveAndCall(serverFile: string, clientFile: string): Promise<void> {
  const name = uniqueName("pkg");
  const server = spawn(process.execPath, [serverFile, name], { cwd: APP, env: bare, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  server.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  server.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  // "close", not "exit": the output is all read only then.
  const exited = new Promise<number | string>((resolve) => server.on("close", (code, signal) => resolve(code ?? signal ?? -1)));
  const timer = setTimeout(() => server.kill("SIGKILL"), 60_000);
  try {
    // The client waits for the server itself (waitForConnection), so no readiness wait is needed here.
    const client = run(process.execPath, [clientFile, name], { timeoutMs: 60_000 });
    assert.is(client.status, 0, `client failed:\n${client.stdout}\n${client.stderr}\nserver:\n${out}`);
    assert.equal(JSON.parse(client.stdout), { sum: 5, later: 30, code: "ERR_RPC_METHOD_NOT_FOUND", stop: "bye" });
    assert.is(await exited, 0, `server output:\n${out}`);
    assert.ok(out.includes("closed"), out);
  } finally {
    clearTimeout(timer);
    server.kill("SIGKILL");
  }
}

test("an ES module server answers a CommonJS client", async () => {
  writeFileSync(join(APP, "server.mjs"), SERVER(ESM));
  writeFileSync(join(APP, "client.cjs"), CLIENT(CJS));
  await serveAndCall("server.mjs", "client.cjs");
});

test("a CommonJS server answers an ES module client", async () => {
  writeFileSync(join(APP, "server.cjs"), SERVER(CJS));
  writeFileSync(join(APP, "client.mjs"), CLIENT(ESM));
  await serveAndCall("server.cjs", "client.mjs");
});

test("the installed bin, `npx shmrpc`, lists and calls a server of the installed package", async () => {
  const shmrpc = join(APP, "node_modules", ".bin", "shmrpc");
  assert.ok(existsSync(shmrpc), "npm linked the bin");
  // npx runs the bin through sh: the PATH of node and sh (made by the install-script test above).
  const help = ok(run(process.execPath, [NPM_CLI, "exec", "--offline", "--", "shmrpc", "--help"], { env: { ...bare, PATH: join(TMP, "bin-sh") } }), "npx shmrpc --help");
  assert.ok(help.startsWith("shmrpc 0."), help);
  const name = uniqueName("pkgcli");
  const server = spawn(process.execPath, ["server.mjs", name], { cwd: APP, env: bare, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  server.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  try {
    const end = Date.now() + 30_000;
    while (!out.includes("ready") && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.ok(out.includes("ready"), "the server started");
    const listed = JSON.parse(ok(run(shmrpc, ["ls", name, "--json"]), "shmrpc ls")) as Array<{ pid: number }>;
    assert.equal(listed.map((l) => l.pid), [server.pid]);
    assert.is(ok(run(shmrpc, ["call", name, "add", "2", "-5"]), "shmrpc call").trim(), "-3");
  } finally {
    server.kill("SIGKILL");
  }
});

// A consumer's TypeScript settings: each module mode with its resolution, strict with
// exactOptionalPropertyTypes, and skipLibCheck off so the package's own .d.ts files are checked too.
const TS_MODES = [
  { module: "nodenext", moduleResolution: "nodenext" },
  { module: "node20", moduleResolution: "nodenext" },
  { module: "node16", moduleResolution: "node16" },
  { module: "commonjs", moduleResolution: "node10" },
];
const TS_BODY = `
const server = new Server("/typed", { maxMessageBytes: 1 << 20, nats: { servers: "nats://127.0.0.1:4222", token: "t" } });
server.bind("add", (a: number, b: number) => a + b);
const client = new Client("/typed", { timeoutMs: 100 });
const n: number = client.call<number>("add", 1, 2);
const p: Promise<string> = client.asyncCall<string>("add", 1, 2);
const code: ErrorCode = ErrorCodes.ERR_RPC_TIMEOUT;
const e = new RpcError(code, "x");
const nats: NatsOptions = { servers: ["nats://127.0.0.1:4222"], user: "u", pass: "p" };
export const used = [n, p, e.code satisfies ErrorCode, e.maybeExecuted, nats];
// @ts-expect-error: a name is a string (fails as "unused" if the types were missing or any)
new Server(42);
// @ts-expect-error: not an option
new Client("/typed", { timeoutMS: 5 });
// @ts-expect-error: exactOptionalPropertyTypes: an optional option is left out, not undefined
new Client("/typed", { timeoutMs: undefined });
`;
const TS_ESM = `import { Server, Client, RpcError, ErrorCodes, type ErrorCode, type NatsOptions } from "shmrpc";\n${TS_BODY}`;
const TS_CJS = `import shmrpc = require("shmrpc");\nconst { Server, Client, RpcError, ErrorCodes } = shmrpc;\ntype ErrorCode = shmrpc.ErrorCode;\ntype NatsOptions = shmrpc.NatsOptions;\n${TS_BODY}`;

for (const mode of TS_MODES) {
  test(`TypeScript type-checks ES module and CommonJS consumers with "module": "${mode.module}", exactOptionalPropertyTypes and skipLibCheck off, without NATS's types`, () => {
    const dir = join(APP, `ts-${mode.module}`);
    mkdirSync(dir);
    // Under "commonjs" every .ts file is CommonJS: the ES import syntax compiles to require().
    const [esm, cjs] = mode.module === "commonjs" ? ["esm.ts", "cjs.ts"] : ["esm.mts", "cjs.cts"];
    writeFileSync(join(dir, esm), TS_ESM);
    writeFileSync(join(dir, cjs), TS_CJS);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          ...mode,
          target: "es2022",
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules", "@types")],
        },
        files: [esm, cjs],
      }),
    );
    const files = ok(run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json", "--listFiles"], { cwd: dir }), "tsc");
    const mine = files.split("\n").filter((f) => f.includes("/node_modules/shmrpc/"));
    assert.ok(mine.some((f) => f.endsWith(mode.module === "commonjs" ? "/dist/src/index.d.ts" : "/dist/types-cjs/index.d.cts")), `the CommonJS consumer's types were read:\n${mine.join("\n")}`);
    const nats = files.split("\n").filter((f) => f.includes("/@nats-io/"));
    assert.equal(nats, [], "no declaration of the NATS library is part of the program");
  });
}

test("with no prebuild that fits and nothing built, the error says how to build the addon", () => {
  const empty = join(TMP, "no-prebuilds");
  mkdirSync(empty);
  // node-gyp-build looks for builds and prebuilds in $SHMRPC_PREBUILD instead of the package.
  const r = run(process.execPath, ["-e", 'require("shmrpc")'], { env: { ...bare, SHMRPC_PREBUILD: empty } });
  assert.is.not(r.status, 0);
  assert.ok(r.stderr.includes("npm rebuild shmrpc"), r.stderr);
  assert.equal(readdirSync(empty), []);
});

test("the API reference builds with every export, option and error code documented", () => {
  ok(run(process.execPath, [join(ROOT, "node_modules", "typedoc", "bin", "typedoc"), "--out", join(TMP, "api")], { cwd: ROOT, env: process.env }), "typedoc");
  assert.ok(existsSync(join(TMP, "api", "index.html")));
});

test.after(() => {
  rmSync(TMP, { recursive: true, force: true });
});

test.run();
