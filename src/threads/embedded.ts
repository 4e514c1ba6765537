// The WebAssembly core's bytes, for an entry that reads no file: scripts/bundle.mjs
// replaces this module with one that embeds wasm/shmrpc.wasm and provides it
// (provideCoreModule). Unbundled (dist/src, the tests), the core is read from the package.
export {};
