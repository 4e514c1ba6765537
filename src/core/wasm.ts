// The WebAssembly core of this thread: one module instance on one shared
// WebAssembly.Memory, plus the map of that memory.
//
// Linear memory map (64 KiB pages):
//   page 0            AssemblyScript's static data (tiny; checked at load)
//   pages 1..         regions handed out by `alloc`: private scratch and ring
//                     handles, and shared segments that the addon mmaps in place
// Regions are whole pages, so a shared segment is always page-aligned for mmap.
// Each thread (main or worker) has its own instance and memory: a module-level
// singleton is per thread in Node.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";
// AssemblyScript's bindings (wasm/shmrpc.js), made synchronous at build time by
// scripts/sync-bindings.mjs; "#core-bindings" is mapped in package.json "imports",
// so the same specifier works from src/ (types) and dist/src/ (run time).
import { instantiate } from "#core-bindings";
import { OutOfLinearMemory } from "./out-of-memory.js";

export type CoreExports = ReturnType<typeof instantiate>;

export const WASM_PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB: keeps every offset a positive int32 in JS
const FIRST_REGION_PAGE = 1;
/** Freed regions at least this big give their memory back to the OS. */
const DISCARD_BYTES = 1 << 20;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "wasm", "shmrpc.js"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("shmrpc: cannot find the package root from " + import.meta.url);
    dir = up;
  }
}

export const ROOT = packageRoot();

// Synchronous on purpose: no top-level await on the load path, so the package
// can be require()d as well as imported (the module is 8 KiB; compiling and
// instantiating it synchronously takes about 3 ms).
function load(): { exports: CoreExports; memory: WebAssembly.Memory } {
  const wasmPath = join(ROOT, "wasm", "shmrpc.wasm");
  if (!existsSync(wasmPath)) {
    throw new Error(`shmrpc: the WebAssembly core is not built (${wasmPath} is missing). Reinstall shmrpc (the package ships it), or run \`npm run build:wasm\` in a checkout.`);
  }
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const exports = instantiate(module, {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`shmrpc: WebAssembly core aborted at ${line}:${column}`);
      },
    },
  });
  return { exports, memory };
}

const loaded = load();

/** Typed views over the whole linear memory; replaced when the memory grows. */
export class Core {
  readonly exports: CoreExports = loaded.exports;
  readonly memory: WebAssembly.Memory = loaded.memory;
  u8!: Uint8Array;
  u32!: Uint32Array;
  i32!: Int32Array;
  f64!: Float64Array;
  view!: DataView;
  /** A Buffer over the same memory, for Node's native UTF-8 routines. */
  buf!: Buffer;

  // Free page runs, [startPage, pageCount], kept sorted and coalesced.
  private free: Array<[number, number]> = [];
  private pages: number;

  constructor() {
    this.pages = this.memory.buffer.byteLength / WASM_PAGE;
    this.free.push([FIRST_REGION_PAGE, this.pages - FIRST_REGION_PAGE]);
    this.refresh();
  }

  private refresh(): void {
    const sab = this.memory.buffer;
    this.u8 = new Uint8Array(sab);
    this.u32 = new Uint32Array(sab);
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.view = new DataView(sab);
    this.buf = Buffer.from(sab);
  }

  /** Reserves `bytes` (rounded up to whole pages) and returns the region's offset. */
  alloc(bytes: number): number {
    const want = Math.max(1, Math.ceil(bytes / WASM_PAGE));
    for (let i = 0; i < this.free.length; i++) {
      const run = this.free[i]!;
      if (run[1] >= want) {
        const start = run[0];
        run[0] += want;
        run[1] -= want;
        if (run[1] === 0) this.free.splice(i, 1);
        return start * WASM_PAGE;
      }
    }
    // Grow, reusing a free run that ends at the top of memory.
    const last = this.free[this.free.length - 1];
    const tail = last && last[0] + last[1] === this.pages ? last[1] : 0;
    const grow = want - tail;
    if (this.pages + grow > MAX_PAGES) {
      throw new OutOfLinearMemory(`shmrpc: out of WebAssembly memory (asked for ${bytes} bytes with ${this.pages * WASM_PAGE} in use)`);
    }
    try {
      this.memory.grow(grow);
    } catch (e) {
      throw new OutOfLinearMemory(`shmrpc: the system would not grow the WebAssembly memory by ${grow * WASM_PAGE} bytes (${this.pages * WASM_PAGE} in use)`, { cause: e });
    }
    this.pages += grow;
    this.refresh();
    if (tail > 0) this.free.pop();
    return (this.pages - want) * WASM_PAGE;
  }

  /** Set by the native layer: gives a region's pages back to the OS (fresh zero
   *  pages take their place). Without it, freed pages stay resident for reuse. */
  discardPages: ((offset: number, bytes: number) => void) | undefined;

  /** Returns a region from `alloc`. Shared mappings must have been undone first.
   *  Big regions give their pages back, unless the caller already replaced them. */
  release(offset: number, bytes: number, discard = true): void {
    const start = offset / WASM_PAGE;
    const count = Math.max(1, Math.ceil(bytes / WASM_PAGE));
    if (discard && count * WASM_PAGE >= DISCARD_BYTES) this.discardPages?.(offset, count * WASM_PAGE);
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < start) i++;
    this.free.splice(i, 0, [start, count]);
    // Coalesce with the neighbours.
    if (i + 1 < this.free.length && start + count === this.free[i + 1]![0]) {
      this.free[i]![1] += this.free[i + 1]![1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1]![0] + this.free[i - 1]![1] === start) {
      this.free[i - 1]![1] += this.free[i]![1];
      this.free.splice(i, 1);
    }
  }

  // Ring handles live in private pages, HANDLE_BYTES each.
  private handlePages: number[] = [];
  private freeHandles: number[] = [];

  allocHandle(): number {
    if (this.freeHandles.length === 0) {
      const page = this.alloc(WASM_PAGE);
      this.handlePages.push(page);
      const size = this.exports.HANDLE_BYTES.value;
      for (let off = page + WASM_PAGE - size; off >= page; off -= size) this.freeHandles.push(off);
    }
    return this.freeHandles.pop()!;
  }

  releaseHandle(h: number): void {
    this.freeHandles.push(h);
  }
}

let instance: Core | undefined;

/** This thread's core. */
export function core(): Core {
  return (instance ??= new Core());
}
