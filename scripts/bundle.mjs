// The package as users load it: dist/src (tsc's output, one module per source file) bundled
// by esbuild into dist/bundle/, so that `import("shmrpc")` reads, resolves and compiles two
// files instead of about fifty (the module loader's work was most of the import time).
// Entries, each one self-contained file (no shared chunks: a process loads one of them):
// shmrpc.js (the API), cli.js (the command line), sync-worker.js (the worker of synchronous
// NATS calls, started by URL next to the module that starts it).
// Kept outside: the addon (.node, loaded at run time from build/ or prebuilds/, found from
// the package root as before), the WASM file (read at run time, found the same way) and
// the runtime dependencies (node_modules).
import { build } from "esbuild";
import { readFileSync, rmSync } from "node:fs";

const root = new URL("..", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const outdir = new URL("dist/bundle/", root);
rmSync(outdir, { recursive: true, force: true });

// Node's built-in modules through require(), not import: an ES import of a built-in makes Node
// build its whole export list, and for node:fs that evaluates the lazy `promises` getter,
// which loads fs/promises, streams and readline (35 internal modules, measured with
// process.moduleLoadList). require() gives the object as it is. node:module (for
// createRequire) is the one built-in still imported.
const BUILTIN_NS = "node-builtin";
const builtinsByRequire = {
  name: "builtins-by-require",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.path === "node:module" || args.namespace === BUILTIN_NS ? { path: args.path, external: true } : { path: args.path, namespace: BUILTIN_NS });
    b.onLoad({ filter: /.*/, namespace: BUILTIN_NS }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: "js" }));
  },
};

await build({
  absWorkingDir: new URL(".", root).pathname,
  entryPoints: {
    shmrpc: "dist/src/index.js",
    cli: "dist/src/cli/main.js",
    "sync-worker": "dist/src/nats/sync-worker.js",
    // shmrpc/tracing: the one entry that imports @opentelemetry/api (an optional peer dependency)
    tracing: "dist/src/tracing/index.js",
  },
  outdir: outdir.pathname,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), "*.node"],
  // The CLI's shebang stays on its first line; no other banner.
  legalComments: "none",
  plugins: [builtinsByRequire],
  banner: { js: 'import { createRequire as __builtinRequire } from "node:module";\nconst require = __builtinRequire(import.meta.url);' },
  logLevel: "warning",
});

// shmrpc/threads (dist/bundle/threads.js): loads no native code and no node: module, so that
// it also bundles for browsers. The WebAssembly core is embedded (src/threads/embedded.ts is
// replaced by a module that provides it); node:util's inspect (error details of non-Error
// throws) comes through process.getBuiltinModule where there is one, else a JSON fallback.
const wasmBase64 = readFileSync(new URL("wasm/shmrpc.wasm", root)).toString("base64");
const threadsShims = {
  name: "threads-shims",
  setup(b) {
    b.onLoad({ filter: /[\\/]threads[\\/]embedded\.js$/ }, (args) => ({
      contents: `import { provideCoreModule } from "../core/wasm.js";\n` +
        `provideCoreModule(Uint8Array.from(atob(${JSON.stringify(wasmBase64)}), (ch) => ch.charCodeAt(0)));\n`,
      loader: "js",
      resolveDir: new URL(".", "file://" + args.path).pathname,
    }));
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (args.path !== "node:util") throw new Error(`shmrpc/threads must not import ${args.path} (from ${args.importer})`);
      return { path: "node-util", namespace: "threads-shim" };
    });
    b.onLoad({ filter: /.*/, namespace: "threads-shim" }, () => ({
      contents: `const util = globalThis.process?.getBuiltinModule?.("node:util");\n` +
        `export const inspect = util ? util.inspect : (v) => { try { return JSON.stringify(v) ?? String(v); } catch { return String(v); } };\n`,
      loader: "js",
    }));
  },
};

await build({
  absWorkingDir: new URL(".", root).pathname,
  entryPoints: { threads: "dist/src/threads/index.js" },
  outdir: outdir.pathname,
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: ["node20", "chrome110", "firefox115", "safari16"],
  legalComments: "none",
  plugins: [threadsShims],
  logLevel: "warning",
});
