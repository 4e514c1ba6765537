// The only module that loads the native addon (a local build in build/Release,
// else the prebuild the package ships in prebuilds/; see findAddon).
// The addon maps POSIX shared memory into a WebAssembly.Memory and gives
// cross-process futex wait/wake; it holds no RPC logic.
//
// Offsets are WASM addresses: byte offsets from the start of the memory's
// buffer. `mem` is always a Uint8Array over the whole shared buffer,
// `new Uint8Array(memory.buffer)`; a range must lie inside that view.
// System-call failures throw an Error shaped like Node's system errors:
// message "shm_open(/name): EACCES (Permission denied)", `code` ("EACCES"),
// `errno` (negative, as in Node: `util.getSystemErrorName(err.errno)`),
// `syscall`, and `path` when a shared-memory name is involved.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The system-call error the addon throws. */
export interface NativeError extends Error {
  /** The errno name, e.g. "ENOENT". */
  code: string;
  /** The errno value, negated (Node's convention). */
  errno: number;
  /** The failing call, e.g. "shm_open". */
  syscall: string;
  /** The shared-memory name involved, if any. */
  path?: string;
  /** For shmLink: the new name. */
  dest?: string;
}

/** What futexWait returns (and why a Waiter's wait ended). */
export const FutexResult = {
  /** Woken by futexWake (or spuriously: always re-check the word). */
  Woken: 0,
  /** The word did not hold the expected value. */
  NotEqual: 1,
  /** The timeout passed. */
  TimedOut: 2,
} as const;
export type FutexResult = (typeof FutexResult)[keyof typeof FutexResult];

/**
 * A background thread that does one futex wait at a time for the JS thread
 * and then calls `callback` on the JS thread. Created unref'd: an idle (or
 * armed but unref'd) Waiter never keeps the process alive.
 */
export interface Waiter {
  /**
   * Asks the thread to wait on the 32-bit word at `offset` while it equals
   * `expected` (same semantics as {@link Native.futexWait}). When the wait
   * ends for any reason (woken, not equal, timed out) `callback` runs once.
   * Replaces an earlier arm, whose callback then never runs. The timeout
   * counts from this call. Throws if the Waiter is closed.
   */
  arm(mem: Uint8Array, offset: number, expected: number, timeoutMs: number): void;
  /** Cancels the pending arm; its callback will not run. Idempotent. */
  disarm(): void;
  /** Keeps the event loop alive until unref() or close() (not counted). */
  ref(): void;
  /** Lets the process exit even while armed. */
  unref(): void;
  /** Stops and joins the thread. Idempotent; also done by the finalizer and at environment teardown. */
  close(): void;
}

export interface Native {
  /**
   * Creates a new shared-memory object (O_EXCL) of `size` bytes with exactly
   * `mode` (default 0o600, the umask is not applied) and returns its fd
   * (close-on-exec). Throws code "EEXIST" if the name exists. Names are "/"
   * and 1..255 characters without "/" (TypeError otherwise).
   */
  shmCreate(name: string, size: number, mode?: number): number;
  /** Opens an existing object read-write. Throws code "ENOENT" or "EACCES". */
  shmOpen(name: string): { fd: number; size: number; uid: number; gid: number };
  /** Lets the owner and these users and groups read and write the object, nobody
   *  else (a POSIX access ACL). Throws (ENOTSUP) where /dev/shm has no ACLs. */
  grantAccess(fd: number, uids: number[], gids: number[]): void;
  /** Removes a name: true if removed, false if there was none. */
  shmUnlink(name: string): boolean;
  /**
   * Gives the object `from` a second name `to`, atomically (link(2) in
   * /dev/shm): publishes a fully initialised object. Throws code "EEXIST"
   * if `to` exists, "ENOENT" if `from` does not.
   */
  shmLink(from: string, to: string): void;
  /** Names (with the leading "/") in /dev/shm that start with `prefix` (which starts with "/"). */
  shmList(prefix: string): string[];
  /**
   * Takes the liveness lock (an open-file-description write lock, F_OFD_SETLK)
   * through this fd: true if taken, false if another open holds it. It dies
   * with its holder, even on SIGKILL, so it marks a live owner.
   */
  lock(fd: number): boolean;
  /** True when another open of the object holds the liveness lock (F_OFD_GETLK; takes nothing). */
  isLocked(fd: number): boolean;
  /** Closes an fd from shmCreate/shmOpen (mappings stay valid). */
  closeFd(fd: number): void;
  /**
   * Maps the object's first `length` bytes over mem[offset, offset + length)
   * (MAP_SHARED | MAP_FIXED), in place: WASM code then reads and writes the
   * shared object. `offset` and `length` are multiples of {@link pageSize}
   * and length > 0 (RangeError otherwise, also if the object is smaller
   * than `length`). `mem` must view a SharedArrayBuffer. The mapping
   * survives memory.grow and lasts until unmapShared or the memory is freed.
   */
  mapShared(mem: Uint8Array, offset: number, length: number, fd: number): void;
  /** Replaces mem[offset, offset + length) with private zero pages (never a hole). */
  unmapShared(mem: Uint8Array, offset: number, length: number): void;
  /**
   * Blocks this thread while the 32-bit word at `offset` (4-byte aligned)
   * equals `expected` (0..2^32-1; negative int32 readings also accepted),
   * until a futexWake from any thread or process, or `timeoutMs` (may be
   * fractional; Infinity, negative or NaN: no timeout). Works across
   * processes on a mapped shared object. Returns 0 woken, 1 not equal,
   * 2 timed out.
   */
  futexWait(mem: Uint8Array, offset: number, expected: number, timeoutMs: number): FutexResult;
  /** Wakes up to `count` waiters (Infinity: all) on the word; returns how many were woken. */
  futexWake(mem: Uint8Array, offset: number, count: number): number;
  /** The OS page size (4096 on x86-64). */
  pageSize(): number;
  /** sched_yield(2): lets another runnable thread on this CPU run (a spinning side's
   *  peer may share the core). */
  yieldCpu(): void;
  /** See {@link Waiter}. */
  Waiter: new (callback: () => void) => Waiter;
}

// The package root is the nearest directory up from this file with both
// package.json and binding.gyp: two levels up from dist/src, one from src.
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "binding.gyp"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`shmrpc: cannot find the package root (with package.json and binding.gyp) above ${import.meta.url}`);
    dir = up;
  }
}

const require = createRequire(import.meta.url);

/**
 * The addon file node-gyp-build picks: a local build (build/Release, as in a
 * checkout or after `npm rebuild shmrpc`) first, else the prebuild shipped in the
 * package for this platform (prebuilds/linux-x64/shmrpc.glibc.node, ...).
 * Undefined when neither fits. SHMRPC_ADDON loads another build instead
 * (`npm run test:asan` points it at the sanitized one in build-asan/).
 */
function findAddon(root: string): string | undefined {
  if (process.env.SHMRPC_ADDON) return process.env.SHMRPC_ADDON;
  const nodeGypBuild = require("node-gyp-build") as { path(dir: string): string };
  try {
    return nodeGypBuild.path(root);
  } catch {
    return undefined; // "No native build was found for ...": explained below
  }
}

const root = packageRoot();
const found = findAddon(root);

/** The absolute path of the addon file (see findAddon; "" when there is none). */
export const addonPath: string = found ?? "";

const BUILD_IT =
  "Build it for this system: install a C++ toolchain (g++, make, python3), then run `npm rebuild shmrpc` " +
  "(`npm run build:addon` in a checkout). If your npm blocks dependencies' install scripts, allow shmrpc's " +
  "(`allowScripts` in your package.json) so that later installs build it too.";

function load(): Native {
  if (found === undefined || !existsSync(found)) {
    const where = `${process.platform}-${process.arch}${process.platform === "linux" ? (existsSync("/etc/alpine-release") ? " (musl)" : " (glibc)") : ""}`;
    throw new Error(
      `shmrpc: no native addon for ${where}. The package ships prebuilt addons for linux-x64 and linux-arm64 (glibc) ` +
        `in ${join(root, "prebuilds")}, and nothing is built in ${join(root, "build", "Release")}` +
        (found !== undefined ? ` (SHMRPC_ADDON=${found} does not exist)` : "") +
        `. ${BUILD_IT}`,
    );
  }
  try {
    return require(found) as Native;
  } catch (err) {
    if (!found.startsWith(join(root, "prebuilds"))) throw err;
    const why = String((err as Error).message).split("\n")[0];
    throw new Error(
      `shmrpc: the prebuilt addon ${found} does not load here (${why}). It needs glibc >= 2.34 and the ` +
        `libstdc++ of GCC >= 12 (Debian 12, Ubuntu 22.04, RHEL 9 and later). ${BUILD_IT}`,
      { cause: err },
    );
  }
}

export const native: Native = load();
