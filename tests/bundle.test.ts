// The bundled build (scripts/bundle.mjs, dist/bundle/): what `import("shmrpc")` loads.
// Each check runs in a fresh `node` process, as a user's program would start.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { native } from "../src/native.js";
import { uniqueName } from "./helpers.js";

const BUNDLE = new URL("../bundle/shmrpc.js", import.meta.url).href;

/** Runs an ES module's text in a fresh node; its stdout. */
function runModule(code: string): string {
  return execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", timeout: 60_000 });
}

test("the package's entry is the bundle, and its exports are the API's", () => {
  const resolved = runModule('console.log(import.meta.resolve("shmrpc"))').trim();
  assert.is(resolved, BUNDLE);
  const names = JSON.parse(runModule(`const m = await import(${JSON.stringify(BUNDLE)}); console.log(JSON.stringify(Object.keys(m).sort()))`));
  assert.equal(names, ["Client", "ErrorCodes", "RpcError", "Server", "defineContract", "listServers"]);
});

// What the built-ins the bundle needs (node:fs, util, events, path, url, module) load of
// node:crypto and streams by themselves on this Node.js version: node:fs and node:util load
// node:stream on Node 22 and 24, not on 20. Only what shmrpc loads beyond them counts.
const CRYPTO_OR_STREAM = "(m) => / (crypto|stream)$/.test(m) || /internal\\/crypto\\//.test(m)";
function builtinsBaseline(): string[] {
  return JSON.parse(runModule(`
    for (const m of ["fs", "util", "events", "path", "url", "module"]) await import("node:" + m);
    console.log(JSON.stringify(process.moduleLoadList.filter(${CRYPTO_OR_STREAM})));
  `)) as string[];
}

test("a plain import loads neither node:crypto nor streams; a token brings node:crypto in when it is used", () => {
  const baseline = builtinsBaseline();
  const out = runModule(`
    const baseline = new Set(${JSON.stringify(baseline)});
    const loaded = () => process.moduleLoadList.filter(${CRYPTO_OR_STREAM}).filter((m) => !baseline.has(m)).length;
    const { Server, Client } = await import(${JSON.stringify(BUNDLE)});
    const afterImport = loaded();
    const name = ${JSON.stringify(uniqueName("bundle"))};
    const server = new Server(name);
    server.bind("add", (a, b) => a + b);
    const done = server.run();
    const client = new Client(name);
    await client.waitForConnection(10000);
    const sum = await client.asyncCall("add", 2, 3);
    const afterCall = loaded();
    await client.close();
    const secured = new Server(name + "-t", { token: "s3cret-s3cret-s3cret" });
    secured.bind("add", (a, b) => a + b);
    const done2 = secured.run();
    const tokenClient = new Client(name + "-t", { token: "s3cret-s3cret-s3cret" });
    await tokenClient.waitForConnection(10000);
    const sum2 = await tokenClient.asyncCall("add", 4, 5);
    const afterToken = loaded();
    await tokenClient.close();
    await server.close(); await secured.close(); await done; await done2;
    console.log(JSON.stringify({ afterImport, afterCall, sum, sum2, afterToken }));
  `);
  const r = JSON.parse(out) as { afterImport: number; afterCall: number; sum: number; sum2: number; afterToken: number };
  assert.is(r.afterImport, 0, "import loaded node:crypto or streams");
  assert.is(r.sum, 5);
  assert.is(r.afterCall, 0, "a connect without a token loaded node:crypto");
  assert.is(r.sum2, 9);
  assert.ok(r.afterToken > 0, "the token's HMAC came from node:crypto");
});

test("the bundled command line runs (its own file, its version from package.json)", () => {
  const cli = fileURLToPath(new URL("../bundle/cli.js", import.meta.url));
  const version = execFileSync(process.execPath, [cli, "--version"], { encoding: "utf8", timeout: 60_000 }).trim();
  assert.match(version, /^\d+\.\d+\.\d+/);
});

test("randomFill fills a buffer from the kernel (the handshake's nonces) and takes only a Uint8Array", () => {
  const a = new Uint8Array(64);
  const b = new Uint8Array(64);
  native.randomFill(a);
  native.randomFill(b);
  assert.not.equal(Buffer.from(a), Buffer.from(b), "two fills differ");
  assert.ok(a.some((x) => x !== 0));
  native.randomFill(new Uint8Array(0));
  assert.throws(() => native.randomFill(new Uint16Array(4) as unknown as Uint8Array), /Uint8Array/);
  assert.throws(() => native.randomFill("x" as unknown as Uint8Array), /Uint8Array/);
});

test.run();
