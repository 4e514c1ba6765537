// The only module that loads the native addon (a local build in build/Release,
// else the prebuild the package ships in prebuilds/; see findAddon).
// The addon makes Unix sockets and sealed memfds, maps shared memory into a
// WebAssembly.Memory and gives cross-process futex wait/wake and event-loop
// watching of fds; it holds no RPC logic.
//
// Offsets are WASM addresses: byte offsets from the start of the memory's
// buffer. `mem` is always a Uint8Array over the whole shared buffer,
// `new Uint8Array(memory.buffer)`; a range must lie inside that view.
// System-call failures throw an Error shaped like Node's system errors:
// message "connect(/path): ENOENT (No such file or directory)", `code`
// ("ENOENT"), `errno` (negative, as in Node: `util.getSystemErrorName(err.errno)`),
// `syscall`, and `path` when a path is involved.

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
  /** The failing call, e.g. "connect". */
  syscall: string;
  /** The path involved, if any. */
  path?: string;
}

/** poll(2) event bits, as pollFd takes and returns them. */
export const Poll = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, RDHUP: 0x2000 } as const;

/** Seal bits of a memfd (F_GET_SEALS). */
export const Seal = { SEAL: 0x1, SHRINK: 0x2, GROW: 0x4, WRITE: 0x8 } as const;

/** A message from recvPacket. */
export interface Packet {
  /** Bytes received; 0 means the peer closed. */
  bytes: number;
  /** File descriptors it carried (now open in this process). */
  fds: number[];
  /** The message or its fds did not fit (the kernel dropped the rest). */
  truncated: boolean;
}

/**
 * Runs `callback(events)` from the event loop while `fd` is readable (events
 * bit 1) or its peer hung up (bit 4). Created started and unref'd.
 */
export interface FdWatcher {
  /** Keeps the event loop alive while open. */
  ref(): void;
  unref(): void;
  /** Stops watching (before the fd is closed). Idempotent. */
  close(): void;
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
 * One futex wait at a time for the JS thread, done by a background thread (shared
 * with up to 126 other Waiters of the process where the kernel has futex_waitv;
 * see {@link Native.haveFutexWaitv}), which then calls `callback` on the JS thread. Created unref'd: an idle (or
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
  /** Takes the arm back for good (joins its own thread, in the fallback). Idempotent; also
   *  done by the finalizer and at environment teardown. */
  close(): void;
}

export interface Native {
  /** Binds a SOCK_SEQPACKET Unix socket at `path` (EADDRINUSE if it exists), sets
   *  its mode and listens; returns its fd (non-blocking, close-on-exec). */
  listenUnix(path: string, backlog: number, mode: number): number;
  /** Connects to the socket at `path`: an fd, or throws ENOENT, ECONNREFUSED,
   *  EACCES, or EAGAIN when the listener's backlog is full. */
  connectUnix(path: string): number;
  /** Accepts one waiting connection: its fd, or -1 when none is waiting. */
  acceptUnix(fd: number): number;
  /** The peer's pid, uid and gid, from the kernel (SO_PEERCRED). */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** Sends one message, with `fds` as SCM_RIGHTS: false if the socket is full.
   *  Throws EPIPE/ECONNRESET when the peer is gone. */
  sendPacket(fd: number, bytes: Uint8Array, fds?: number[]): boolean;
  /** Receives one message into `buffer`: null when none is waiting. */
  recvPacket(fd: number, buffer: Uint8Array): Packet | null;
  /** Reads and drops waiting messages (wake-ups): how many, or -1 when the peer closed. */
  drainPackets(fd: number): number;
  /** poll(2) on one fd for `events` ({@link Poll}): the revents, 0 on timeout. */
  pollFd(fd: number, events: number, timeoutMs: number): number;
  /** A new memfd of `size` bytes, its pages reserved (fallocate: ENOSPC/ENOMEM
   *  when the memory budget is full) and sealed against shrinking, growing and sealing. */
  memfdCreate(name: string, size: number): number;
  /** Size, seals ({@link Seal}; -1 when not sealable) and whether it is a regular file. */
  memfdInfo(fd: number): { size: number; seals: number; regular: boolean };
  /** Opens (creating it with `mode`, default 0600, at most 0644; never through a
   *  symlink; only if this user owns it) the
   *  file at `path` and takes an open-file-description lock on it (a write lock, or a
   *  read lock when `shared`): the fd, or -1 while another open holds a conflicting
   *  lock. The lock dies with its holder. */
  lockPath(path: string, shared?: boolean, mode?: number): number;
  /** Who holds a lock on the file at `path`, without taking one: 0 nobody, 1 a write
   *  lock, 2 read locks, -1 no such file (or not readable by this user). */
  lockState(path: string): number;
  /** Closes an fd the addon made or received (mappings stay valid). */
  closeFd(fd: number): void;
  /** How many fds the addon holds open for this thread (for leak checks). */
  openFds(): number;
  /** Writes all of `bytes` into the file `fd` at `offset` (pwrite(2)). */
  writeAt(fd: number, bytes: Uint8Array, offset: number): void;
  /** Fills `buffer` from the kernel's CSPRNG (getrandom(2)). */
  randomFill(buffer: Uint8Array): void;
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
  /** Whether the kernel has futex_waitv (Linux 5.16+; false when SHMRPC_NO_FUTEX_WAITV=1):
   *  then Waiters share threads, one per up to 127 armed Waiters of the process;
   *  otherwise each Waiter has a thread of its own. */
  haveFutexWaitv(): boolean;
  /** sched_yield(2): lets another runnable thread on this CPU run (a spinning side's
   *  peer may share the core). */
  yieldCpu(): void;
  /** Makes glibc's malloc keep freed blocks of up to 32 MiB for reuse (64 MiB at most
   *  at its heap's top) rather than give each back to the OS; false without glibc. */
  keepFreedMemory(): boolean;
  /** memmove of `length` bytes between two Uint8Arrays (offsets from the start of each
   *  one's buffer; both ranges inside the views): V8's own copies to and from shared
   *  memory are several times slower. For big binaries. */
  copyBytes(src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number): void;
  /** See {@link Waiter}. */
  Waiter: new (callback: () => void) => Waiter;
  /** See {@link FdWatcher}. */
  FdWatcher: new (fd: number, callback: (events: number) => void) => FdWatcher;
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

// Big messages decode into fresh Buffers (the caller owns them). With glibc's defaults
// each is mmap-ed and unmapped again, so every 1 MiB message costs hundreds of page
// faults on each side; keeping freed memory for reuse removes them (README,
// "Big messages"). SHMRPC_KEEP_FREED_MEMORY=0 leaves the process's malloc alone.
if (process.env.SHMRPC_KEEP_FREED_MEMORY !== "0") native.keepFreedMemory();
