// npm run build:wasm, after asc: makes AssemblyScript's generated bindings
// (wasm/shmrpc.js and .d.ts, `"bindings": "raw"` in asconfig.json) instantiate
// synchronously. asc 0.28 emits only an async `instantiate` (`await
// WebAssembly.instantiate`), and loading the core through it needs a top-level
// `await`, which makes `require("shmrpc")` fail with ERR_REQUIRE_ASYNC_MODULE.
// The module is 8 KiB; compiling and instantiating it synchronously takes
// about 3 ms. Only the first two lines change: the export
// adapters asc wrote (u32 results `>>> 0`, globals as `.value`) stay as
// generated. If a newer asc writes them differently, this fails the build
// rather than guess.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const wasm = join(dirname(fileURLToPath(import.meta.url)), "..", "wasm");

function rewrite(file, from, to) {
  const path = join(wasm, file);
  const text = readFileSync(path, "utf8");
  if (text.includes(to)) return; // already done
  if (!text.includes(from)) {
    throw new Error(`sync-bindings: ${path} does not contain\n  ${from}\nas AssemblyScript 0.28 writes it; update scripts/sync-bindings.mjs for this asc version.`);
  }
  writeFileSync(path, text.replace(from, to));
}

rewrite(
  "shmrpc.js",
  "export async function instantiate(module, imports = {}) {\n  const { exports } = await WebAssembly.instantiate(module, imports);",
  "export function instantiate(module, imports = {}) {\n  const { exports } = new WebAssembly.Instance(module, imports);",
);
rewrite("shmrpc.d.ts", "}): Promise<typeof __AdaptedExports>;", "}): typeof __AdaptedExports;");
