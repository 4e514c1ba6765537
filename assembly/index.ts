// The WebAssembly core: everything that touches shared memory by offset.
// It knows nothing of Node: it runs on any WebAssembly.Memory.
export * from "./layout";
export * from "./ring";
export * from "./codec";
