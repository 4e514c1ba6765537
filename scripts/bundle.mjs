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
