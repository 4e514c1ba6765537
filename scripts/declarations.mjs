// After tsc (npm run build:ts): makes the declarations that ship (dist/src/**/*.d.ts) usable by
// every TypeScript consumer setting, and writes their CommonJS twin.
//
// - "#core-bindings" (package.json "imports", what src/core/wasm.ts loads the WebAssembly
//   bindings through) resolves only under node16/nodenext resolution; "module": "commonjs"
//   (node10 resolution) does not read "imports". In the declarations it becomes the relative
//   path of the file it names, wasm/shmrpc.js.
// - "module": "node16" refuses `import x = require("shmrpc")` of ES-module declarations (it
//   models Node 16, which cannot require() an ES module; Node 20.19+ can, and does so with
//   shmrpc's one ES-module bundle). package.json's "require" condition points at
//   dist/types-cjs/index.d.cts instead: the declarations reachable from dist/src/index.d.ts,
//   copied as .d.cts files with their relative specifiers renamed (.js -> .cjs), and the
//   WebAssembly bindings' declarations copied beside them. The same types, in the format a
//   CommonJS importer expects; require("shmrpc") returns the ES module's namespace, which has
//   exactly these named exports.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const esm = join(root, "dist", "src");
const cjs = join(root, "dist", "types-cjs");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const aliases = pkg.imports ?? {};

/** Every module specifier of a declaration file: import/export ... from "x", import("x"). */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\2/g;

function relativeSpecifier(fromFile, toFile) {
  const rel = relative(dirname(fromFile), toFile).split("\\").join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

// 1. The ES-module declarations, in place: package-internal aliases become relative paths.
const reachable = [];
const queue = [join(esm, "index.d.ts")];
const seen = new Set();
while (queue.length > 0) {
  const file = queue.shift();
  if (seen.has(file)) continue;
  seen.add(file);
  if (!existsSync(file)) throw new Error(`declarations: ${relative(root, file)} is imported but was not emitted`);
  let text = readFileSync(file, "utf8");
  text = text.replace(SPECIFIER, (all, lead, quote, spec) => {
    if (!(spec in aliases)) return all;
    return `${lead}${quote}${relativeSpecifier(file, join(root, aliases[spec]))}${quote}`;
  });
  writeFileSync(file, text);
  reachable.push(file);
  for (const [, , , spec] of text.matchAll(SPECIFIER)) {
    if (!spec.startsWith(".")) continue;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(esm) && target.endsWith(".js")) queue.push(target.replace(/\.js$/, ".d.ts"));
  }
}

// 2. The CommonJS twin of what is reachable, and of the WebAssembly bindings' declarations.
rmSync(cjs, { recursive: true, force: true });
const wasmDecl = join(root, "wasm", "shmrpc.d.ts");
const wasmTwin = join(cjs, "wasm", "shmrpc.d.cts");
for (const file of reachable) {
  const out = join(cjs, relative(esm, file)).replace(/\.d\.ts$/, ".d.cts");
  const text = readFileSync(file, "utf8").replace(SPECIFIER, (all, lead, quote, spec) => {
    if (!spec.startsWith(".")) return all;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(esm)) return `${lead}${quote}${spec.replace(/\.js$/, ".cjs")}${quote}`;
    if (target === join(root, "wasm", "shmrpc.js")) return `${lead}${quote}${relativeSpecifier(out, wasmTwin).replace(/\.d\.cts$/, ".cjs")}${quote}`;
    throw new Error(`declarations: ${relative(root, file)} imports ${spec}, outside dist/src and the WebAssembly bindings`);
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
}
mkdirSync(dirname(wasmTwin), { recursive: true });
writeFileSync(wasmTwin, readFileSync(wasmDecl, "utf8"));
console.log(`declarations: ${reachable.length} files reachable from dist/src/index.d.ts; CommonJS twin in ${relative(root, cjs)}`);
