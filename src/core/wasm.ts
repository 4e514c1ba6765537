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

// Node's built-ins, reached only where the module is read from the package's files: an
// entry that brings the module's bytes itself (shmrpc/threads) loads none of them.
interface NodeBuiltins {
  fs: typeof import("node:fs");
  path: typeof import("node:path");
  url: typeof import("node:url");
}
function builtins(): NodeBuiltins {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (get === undefined) throw new Error("shmrpc: no WebAssembly core was given, and this runtime cannot read it from the package (use shmrpc/threads)");
  return { fs: get("node:fs") as NodeBuiltins["fs"], path: get("node:path") as NodeBuiltins["path"], url: get("node:url") as NodeBuiltins["url"] };
}

let root: string | undefined;

/** The package's root directory (where wasm/ and build/ are), found from this module. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const { fs, path, url } = builtins();
  let dir = path.dirname(url.fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "wasm", "shmrpc.js"))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error("shmrpc: cannot find the package root from " + import.meta.url);
    dir = up;
  }
}

let compiled: WebAssembly.Module | undefined;

/** Gives the core's compiled module (or its bytes) before the first core() is made: an entry
 *  that embeds the bytes (shmrpc/threads), or a worker handed the module, reads no file. */
export function provideCoreModule(module: WebAssembly.Module | Uint8Array): void {
  compiled ??= module instanceof WebAssembly.Module ? module : new WebAssembly.Module(module as Uint8Array<ArrayBuffer>);
}

/** The core's compiled module: the one provided, else read from the package. */
export function coreModule(): WebAssembly.Module {
  if (compiled !== undefined) return compiled;
  const { fs, path } = builtins();
  const wasmPath = path.join(packageRoot(), "wasm", "shmrpc.wasm");
  if (!fs.existsSync(wasmPath)) {
    throw new Error(`shmrpc: the WebAssembly core is not built (${wasmPath} is missing). Reinstall shmrpc (the package ships it), or run \`npm run build:wasm\` in a checkout.`);
  }
  return (compiled = new WebAssembly.Module(fs.readFileSync(wasmPath)));
}

/** A fresh shared memory for a core (`maxPages`: its limit, at most 2 GiB). */
export function newCoreMemory(maxPages = MAX_PAGES): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 16, maximum: Math.min(maxPages, MAX_PAGES), shared: true });
}

/** An instance of the core on `memory`. Synchronous on purpose: no top-level await on the
 *  load path, so the package can be require()d as well as imported (the module is 8 KiB;
 *  compiling and instantiating it synchronously takes about 3 ms). */
export function instantiateCore(memory: WebAssembly.Memory): CoreExports {
  return instantiate(coreModule(), {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`shmrpc: WebAssembly core aborted at ${line}:${column}`);
      },
    },
  });
}

/** A Buffer over `sab` where Node's Buffer exists (its native UTF-8 routines), else a
 *  plain Uint8Array (a browser bundle brings a Buffer of its own: see src/threads/). */
function bufferOver(sab: ArrayBufferLike): Buffer {
  return (typeof Buffer === "function" ? Buffer.from(sab) : new Uint8Array(sab)) as Buffer;
}

/** Typed views over the whole linear memory; replaced when the memory grows. */
export class Core {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  /** Another core allocates in the same memory (the two sides of a thread connection):
   *  each region comes from a growth of the memory of its own, never from pages this core
   *  did not grow itself. */
  private readonly sharing: boolean;
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

  /** With no arguments, this thread's own core on a fresh memory (see core()). With a
   *  memory, an instance on it; `sharing`: another core allocates in it too. */
  constructor(memory?: WebAssembly.Memory, sharing = false) {
    this.memory = memory ?? newCoreMemory();
    this.exports = instantiateCore(this.memory);
    this.sharing = sharing;
    this.pages = this.memory.buffer.byteLength / WASM_PAGE;
    if (!sharing) this.free.push([FIRST_REGION_PAGE, this.pages - FIRST_REGION_PAGE]);
    this.refresh();
    if (sharing) this.exports.codecUseSlot(this.allocHandle()); // the codec's results, this instance's own
  }

  private refresh(): void {
    const sab = this.memory.buffer;
    this.u8 = new Uint8Array(sab);
    this.u32 = new Uint32Array(sab);
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.view = new DataView(sab);
    this.buf = bufferOver(sab);
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
    if (this.sharing) return this.growOwn(want, bytes);
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

  /** A region of `want` new pages at the top of a memory another core grows too: the
   *  pages memory.grow adds are this core's alone. */
  private growOwn(want: number, bytes: number): number {
    let start: number;
    try {
      start = this.memory.grow(want);
    } catch (e) {
      throw new OutOfLinearMemory(`shmrpc: the shared WebAssembly memory would not grow by ${want * WASM_PAGE} bytes (asked for ${bytes})`, { cause: e });
    }
    this.pages = start + want;
    this.refresh();
    return start * WASM_PAGE;
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
