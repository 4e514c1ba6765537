// Tests of the native addon: shared-memory objects, mapping them into
// WebAssembly memory, futex wait/wake across threads and processes, and the
// Waiter's thread. Other processes are `node -e` children that load the
// addon directly; each is killed in a finally and spawned with a timeout.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { constants as osConstants } from "node:os";
import { statSync } from "node:fs";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { addonPath, FutexResult, native, type NativeError } from "../src/native.js";

const PREFIX = `/shmrpc-test-${process.pid}-`;
const PAGE = 4096;
const WASM_PAGE = 65536;
let counter = 0;
const live = new Set<string>();

function newName(): string {
  const name = `${PREFIX}${counter++}`;
  live.add(name);
  return name;
}

function remove(...names: string[]): void {
  for (const name of names) {
    native.shmUnlink(name);
    live.delete(name);
  }
}

// The tsconfig's lib (ES2022) has no WebAssembly types: just what is used here.
interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(deltaPages: number): number;
}
const { Memory } = (globalThis as unknown as {
  WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory };
}).WebAssembly;

function newMemory(pages = 4): { memory: WasmMemory; u8: Uint8Array } {
  const memory = new Memory({ initial: pages, maximum: 65536, shared: true });
  return { memory, u8: new Uint8Array(memory.buffer) };
}

/** A new page of shared memory, mapped at WASM_PAGE of a fresh memory here; a child
 *  maps it with `mapSharedPage(at)` (see spawnNode), given `NAME` in its environment. */
function sharedPage(): { name: string; u8: Uint8Array } {
  const name = newName();
  const { u8 } = newMemory();
  const fd = native.shmCreate(name, PAGE);
  native.mapShared(u8, WASM_PAGE, PAGE, fd);
  native.closeFd(fd);
  return { name, u8 };
}

function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error("expected a throw");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

// What every child script starts with.
const PRELUDE = `
const n = require(process.env.SHMRPC_ADDON);
const out = (s) => process.stdout.write(s + "\\n");
const newMemory = (pages = 4) => new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
// Maps the page named by $NAME at \`at\` of a fresh memory; returns a view of that memory.
const mapSharedPage = (at) => {
  const u8 = new Uint8Array(newMemory().buffer);
  const { fd } = n.shmOpen(process.env.NAME);
  n.mapShared(u8, at, 4096, fd);
  return u8;
};
`;

interface Child {
  proc: ChildProcess;
  /** The next line the child prints. */
  line(ms?: number): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(): void;
}

function spawnNode(script: string, opts: { env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {}): Child {
  const proc = spawn(process.execPath, [...(opts.args ?? []), "-e", PRELUDE + script], {
    env: { ...process.env, SHMRPC_ADDON: addonPath, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: opts.timeoutMs ?? 20_000,
    killSignal: "SIGKILL",
  });
  let errText = "";
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (errText += d));
  const lines: string[] = [];
  const waiters: Array<(line: string | null) => void> = [];
  let closed = false;
  const rl = createInterface({ input: proc.stdout! });
  rl.on("line", (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else lines.push(line);
  });
  rl.on("close", () => {
    closed = true;
    for (const w of waiters.splice(0)) w(null);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
    proc.on("error", () => resolve({ code: null, signal: null }));
  });
  return {
    proc,
    exit,
    stderr: () => errText,
    line(ms = 10_000) {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      const next = closed
        ? Promise.resolve(null)
        : new Promise<string | null>((resolve) => waiters.push(resolve));
      return timeout(next, ms, "a line from the child").then((line) => {
        if (line === null) throw new Error(`the child ended its output early; stderr:\n${errText}`);
        return line;
      });
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
}

// --- shared-memory objects ---------------------------------------------------

test("pageSize returns the OS page size", () => {
  assert.is(native.pageSize(), PAGE);
});

test("shmCreate makes an object of the given size with exactly the given mode, whatever the umask", () => {
  const a = newName();
  const b = newName();
  const old = process.umask(0o077);
  try {
    const fd = native.shmCreate(a, 3 * PAGE, 0o644);
    native.closeFd(fd);
    process.umask(0o000);
    native.closeFd(native.shmCreate(b, 100));
    const sa = statSync(`/dev/shm${a}`);
    const sb = statSync(`/dev/shm${b}`);
    assert.is(sa.mode & 0o777, 0o644, "the umask must not narrow the mode");
    assert.is(sa.size, 3 * PAGE);
    assert.is(sb.mode & 0o777, 0o600, "the default mode is 0600, and the umask must not widen it");
    assert.is(sb.size, 100);
  } finally {
    process.umask(old);
    remove(a, b);
  }
});

test("shmCreate of an existing name throws EEXIST shaped like a Node system error", () => {
  const name = newName();
  try {
    native.closeFd(native.shmCreate(name, PAGE));
    const err = thrown(() => native.shmCreate(name, PAGE));
    assert.instance(err, Error);
    assert.is(err.code, "EEXIST");
    assert.is(err.errno, -osConstants.errno.EEXIST);
    assert.is(err.syscall, "shm_open");
    assert.is(err.path, name);
    assert.is(err.message, `shm_open(${name}): EEXIST (File exists)`);
  } finally {
    remove(name);
  }
});

test("shmOpen returns the fd and size, and throws ENOENT for a missing name", () => {
  const name = newName();
  try {
    native.closeFd(native.shmCreate(name, 5 * PAGE));
    const { fd, size } = native.shmOpen(name);
    assert.ok(Number.isInteger(fd) && fd > 2);
    assert.is(size, 5 * PAGE);
    native.closeFd(fd);
    remove(name);
    const err = thrown(() => native.shmOpen(name));
    assert.is(err.code, "ENOENT");
    assert.is(err.errno, -osConstants.errno.ENOENT);
    assert.is(err.message, `shm_open(${name}): ENOENT (No such file or directory)`);
  } finally {
    native.shmUnlink(name);
    live.delete(name);
  }
});

test("shmOpen throws EACCES for an object the caller may not open", () => {
  const name = newName();
  try {
    if (process.getuid!() === 0) {
      // Root bypasses permission bits: drop them for the one call (the real
      // uid stays 0, so they come back).
      native.closeFd(native.shmCreate(name, PAGE, 0o600));
      process.seteuid!(65534);
      let err: NativeError;
      try {
        err = thrown(() => native.shmOpen(name));
      } finally {
        process.seteuid!(0);
      }
      assert.is(err.code, "EACCES");
      assert.is(err.errno, -osConstants.errno.EACCES);
      assert.is(err.message, `shm_open(${name}): EACCES (Permission denied)`);
    } else {
      native.closeFd(native.shmCreate(name, PAGE, 0o000));
      assert.is(thrown(() => native.shmOpen(name)).code, "EACCES");
    }
  } finally {
    remove(name);
  }
});

test("shmUnlink returns true when it removed the name and false when there was none", () => {
  const name = newName();
  native.closeFd(native.shmCreate(name, PAGE));
  assert.is(native.shmUnlink(name), true);
  assert.is(native.shmUnlink(name), false);
  live.delete(name);
});

test("shmLink publishes the same object under a second name and never replaces one", () => {
  const from = newName();
  const to = newName();
  const { u8 } = newMemory();
  try {
    const fd = native.shmCreate(from, PAGE);
    native.mapShared(u8, WASM_PAGE, PAGE, fd);
    native.closeFd(fd);
    u8[WASM_PAGE] = 99;
    native.shmLink(from, to);
    assert.is(statSync(`/dev/shm${to}`).ino, statSync(`/dev/shm${from}`).ino);
    const err = thrown(() => native.shmLink(from, to));
    assert.is(err.code, "EEXIST");
    assert.is(err.syscall, "link");
    assert.is(err.path, from);
    assert.is(err.dest, to);
    remove(from);
    assert.is(thrown(() => native.shmLink(from, newName())).code, "ENOENT");
    const opened = native.shmOpen(to);
    native.mapShared(u8, 2 * WASM_PAGE, PAGE, opened.fd);
    native.closeFd(opened.fd);
    assert.is(u8[2 * WASM_PAGE], 99, "the second name opens the same object");
  } finally {
    remove(from, to);
  }
});

test("shmList lists the names that start with a prefix", () => {
  const names = [newName(), newName(), newName()];
  try {
    for (const name of names) native.closeFd(native.shmCreate(name, PAGE));
    const listed = native.shmList(PREFIX).sort();
    assert.equal(listed, [...names].sort());
    assert.equal(native.shmList(`${PREFIX}nothing-`), []);
  } finally {
    remove(...names);
  }
});

test("invalid names throw TypeError before reaching the kernel", () => {
  for (const bad of ["", "/", "noslash", "/a/b", "/.", "/..", "/a\0b", `/${"x".repeat(256)}`]) {
    assert.instance(thrown(() => native.shmCreate(bad, PAGE)), TypeError, JSON.stringify(bad));
    assert.instance(thrown(() => native.shmOpen(bad)), TypeError, JSON.stringify(bad));
  }
  assert.instance(thrown(() => native.shmLink("/a", "/../../etc/x")), TypeError);
  assert.instance(thrown(() => native.shmList("../")), TypeError);
  assert.instance(thrown(() => native.shmCreate(newName(), -1)), RangeError);
  assert.instance(thrown(() => native.shmCreate(newName(), PAGE, 0o1000)), RangeError);
});

test("closeFd of a closed fd throws EBADF", () => {
  const name = newName();
  try {
    const fd = native.shmCreate(name, PAGE);
    native.closeFd(fd);
    assert.is(thrown(() => native.closeFd(fd)).code, "EBADF");
  } finally {
    remove(name);
  }
});

// --- locks --------------------------------------------------------------------

test("lock is exclusive between two opens in one process until the holder closes", () => {
  const name = newName();
  try {
    const a = native.shmCreate(name, PAGE);
    const b = native.shmOpen(name).fd;
    assert.is(native.isLocked(b), false);
    assert.is(native.lock(a), true);
    assert.is(native.lock(a), true, "taking it again through the same open is fine");
    assert.is(native.isLocked(a), false, "one's own lock never conflicts");
    assert.is(native.isLocked(b), true);
    assert.is(native.lock(b), false);
    native.closeFd(a);
    assert.is(native.isLocked(b), false);
    assert.is(native.lock(b), true);
    native.closeFd(b);
  } finally {
    remove(name);
  }
});

test("a lock held by a child process blocks lock until the child is killed with SIGKILL", async () => {
  const name = newName();
  native.closeFd(native.shmCreate(name, PAGE));
  const child = spawnNode(`
    const { fd } = n.shmOpen(process.env.NAME);
    out(n.lock(fd) ? "locked" : "busy");
    setInterval(() => {}, 1000);
  `, { env: { NAME: name } });
  const fd = native.shmOpen(name).fd;
  try {
    assert.is(await child.line(), "locked");
    assert.is(native.isLocked(fd), true);
    assert.is(native.lock(fd), false);
    child.proc.kill("SIGKILL");
    assert.is((await child.exit).signal, "SIGKILL");
    assert.is(native.isLocked(fd), false);
    assert.is(native.lock(fd), true);
  } finally {
    child.kill();
    native.closeFd(fd);
    remove(name);
  }
});

// --- mapping --------------------------------------------------------------------

test("one object mapped into two WebAssembly memories is shared by both", () => {
  const name = newName();
  const a = newMemory();
  const b = newMemory(8);
  try {
    const fd = native.shmCreate(name, 2 * PAGE);
    native.mapShared(a.u8, WASM_PAGE, 2 * PAGE, fd);
    native.mapShared(b.u8, 5 * WASM_PAGE + PAGE, 2 * PAGE, fd);
    native.closeFd(fd);
    a.u8[WASM_PAGE] = 1;
    a.u8[WASM_PAGE + 2 * PAGE - 1] = 2;
    assert.is(b.u8[5 * WASM_PAGE + PAGE], 1);
    assert.is(b.u8[5 * WASM_PAGE + 3 * PAGE - 1], 2);
    const bw = new Uint32Array(b.memory.buffer);
    Atomics.store(bw, (5 * WASM_PAGE + PAGE + 8) / 4, 0xdeadbeef);
    assert.is(new Uint32Array(a.memory.buffer)[(WASM_PAGE + 8) / 4], 0xdeadbeef);
    // Outside the mapped pages the memories stay separate.
    a.u8[WASM_PAGE + 2 * PAGE] = 7;
    assert.is(b.u8[5 * WASM_PAGE + 3 * PAGE], 0);
  } finally {
    remove(name);
  }
});

test("writes by another process through its own mapping are seen here", async () => {
  const name = newName();
  const { u8 } = newMemory();
  const fd = native.shmCreate(name, PAGE);
  native.mapShared(u8, 2 * WASM_PAGE, PAGE, fd);
  native.closeFd(fd);
  u8[2 * WASM_PAGE + 10] = 33;
  const child = spawnNode(`
    const m = newMemory(8);
    const u8 = new Uint8Array(m.buffer);
    const { fd } = n.shmOpen(process.env.NAME);
    n.mapShared(u8, 7 * 65536, 4096, fd);
    n.closeFd(fd);
    const seen = u8[7 * 65536 + 10];
    for (let i = 0; i < 10; i++) u8[7 * 65536 + i] = 200 + i;
    out("wrote " + seen);
  `, { env: { NAME: name } });
  try {
    assert.is(await child.line(), "wrote 33");
    assert.equal([...u8.subarray(2 * WASM_PAGE, 2 * WASM_PAGE + 10)], [200, 201, 202, 203, 204, 205, 206, 207, 208, 209]);
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
    remove(name);
  }
});

test("unmapShared leaves zeroed, writable private memory and the object keeps its data", () => {
  const name = newName();
  const { u8 } = newMemory();
  try {
    const fd = native.shmCreate(name, 2 * PAGE);
    native.mapShared(u8, WASM_PAGE, 2 * PAGE, fd);
    u8.fill(5, WASM_PAGE, WASM_PAGE + 2 * PAGE);
    native.unmapShared(u8, WASM_PAGE, 2 * PAGE);
    assert.ok(u8.subarray(WASM_PAGE, WASM_PAGE + 2 * PAGE).every((x) => x === 0));
    u8[WASM_PAGE] = 8;
    assert.is(u8[WASM_PAGE], 8);
    native.mapShared(u8, 2 * WASM_PAGE, 2 * PAGE, fd);
    native.closeFd(fd);
    assert.is(u8[2 * WASM_PAGE], 5, "the object still holds what was written");
    u8[2 * WASM_PAGE] = 6;
    assert.is(u8[WASM_PAGE], 8, "the unmapped region is no longer shared");
  } finally {
    remove(name);
  }
});

test("mappings survive memory.grow", () => {
  const name = newName();
  const a = newMemory(2);
  const b = newMemory(2);
  try {
    const fd = native.shmCreate(name, PAGE);
    native.mapShared(a.u8, WASM_PAGE, PAGE, fd);
    native.mapShared(b.u8, WASM_PAGE, PAGE, fd);
    native.closeFd(fd);
    a.u8[WASM_PAGE] = 1;
    a.memory.grow(30);
    b.memory.grow(1);
    const a2 = new Uint8Array(a.memory.buffer);
    const b2 = new Uint8Array(b.memory.buffer);
    assert.is(a2.length, 32 * WASM_PAGE);
    assert.is(b2[WASM_PAGE], 1);
    a2[WASM_PAGE + 1] = 2;
    assert.is(b2[WASM_PAGE + 1], 2);
    a2[31 * WASM_PAGE] = 3; // the new pages work too
    assert.is(a2[31 * WASM_PAGE], 3);
  } finally {
    remove(name);
  }
});

test("invalid regions and memories throw RangeError or TypeError", () => {
  const name = newName();
  const { u8 } = newMemory(2);
  const fd = native.shmCreate(name, 4 * PAGE);
  try {
    const range = (fn: () => unknown) => assert.instance(thrown(fn), RangeError);
    range(() => native.mapShared(u8, 100, PAGE, fd));
    range(() => native.mapShared(u8, PAGE, 100, fd));
    range(() => native.mapShared(u8, PAGE, 0, fd));
    range(() => native.mapShared(u8, 2 * WASM_PAGE, PAGE, fd)); // past the end
    range(() => native.mapShared(u8, 2 * WASM_PAGE - PAGE, 2 * PAGE, fd));
    range(() => native.mapShared(u8, -PAGE, PAGE, fd));
    range(() => native.mapShared(u8, 1.5, PAGE, fd));
    range(() => native.mapShared(u8, 2 ** 53, PAGE, fd));
    range(() => native.mapShared(u8, 0, 8 * PAGE, fd)); // larger than the object
    range(() => native.unmapShared(u8, 2 * WASM_PAGE, PAGE));
    range(() => native.unmapShared(u8, 3, PAGE));
    range(() => native.futexWait(u8, 2, 0, 0)); // not 4-byte aligned
    range(() => native.futexWait(u8, 2 * WASM_PAGE, 0, 0));
    range(() => native.futexWake(u8, 2 * WASM_PAGE - 2, 1));
    range(() => native.futexWait(u8, 0, 2 ** 32, 0));
    // Within a subarray's range only.
    range(() => native.mapShared(u8.subarray(WASM_PAGE), 0, PAGE, fd));
    const type = (fn: () => unknown) => assert.instance(thrown(fn), TypeError);
    type(() => native.mapShared(new Uint8Array(new ArrayBuffer(2 * WASM_PAGE)), 0, PAGE, fd));
    type(() => native.mapShared(new Uint32Array(u8.buffer) as unknown as Uint8Array, 0, PAGE, fd));
    type(() => native.mapShared({} as Uint8Array, 0, PAGE, fd));
    type(() => native.futexWait(u8, "0" as unknown as number, 0, 0));
    assert.is(thrown(() => native.mapShared(u8, 0, PAGE, 100_000)).code, "EBADF");
    // Nothing above changed the memory.
    assert.ok(u8.every((x) => x === 0));
  } finally {
    native.closeFd(fd);
    remove(name);
  }
});

// --- futex ------------------------------------------------------------------------

test("futexWait returns 1 when the word differs and 2 after the timeout", () => {
  const { u8 } = newMemory(1);
  const w = new Uint32Array(u8.buffer);
  w[4] = 0xffffffff;
  assert.is(native.futexWait(u8, 16, 0, 1000), FutexResult.NotEqual);
  assert.is(native.futexWait(u8, 16, 0xffffffff, 0), FutexResult.TimedOut);
  assert.is(native.futexWait(u8, 16, -1, 0), FutexResult.TimedOut, "an Int32Array reading is accepted");
  let t = performance.now();
  assert.is(native.futexWait(u8, 16, 0xffffffff, 60), FutexResult.TimedOut);
  let elapsed = performance.now() - t;
  assert.ok(elapsed >= 59 && elapsed < 1000, `took ${elapsed} ms`);
  t = performance.now();
  assert.is(native.futexWait(u8, 16, 0xffffffff, 0.25), FutexResult.TimedOut);
  elapsed = performance.now() - t;
  assert.ok(elapsed >= 0.2 && elapsed < 50, `a sub-millisecond timeout took ${elapsed} ms`);
  assert.is(native.futexWake(u8, 16, 1), 0, "nobody waits");
});

test("futexWait returns 0 when another process wakes it with futexWake", async () => {
  const { name, u8 } = sharedPage();
  const child = spawnNode(`
    const u8 = mapSharedPage(3 * 65536);
    out("ready");
    // Wake until someone was there: the parent may not be asleep yet.
    const timer = setInterval(() => {
      const woken = n.futexWake(u8, 3 * 65536 + 64, 1);
      if (woken > 0) { clearInterval(timer); out("woke " + woken); }
    }, 5);
  `, { env: { NAME: name } });
  try {
    assert.is(await child.line(), "ready");
    const t = performance.now();
    assert.is(native.futexWait(u8, WASM_PAGE + 64, 0, 10_000), FutexResult.Woken);
    assert.ok(performance.now() - t < 5000);
    assert.is(await child.line(), "woke 1");
  } finally {
    child.kill();
    remove(name);
  }
});

test("futexWake wakes a waiter in another process and reports the count", async () => {
  const { name, u8 } = sharedPage();
  const child = spawnNode(`
    const u8 = mapSharedPage(65536);
    out("waiting");
    out("result " + n.futexWait(u8, 65536 + 128, 0, 10000));
  `, { env: { NAME: name } });
  try {
    assert.is(await child.line(), "waiting");
    let woken = 0;
    for (let i = 0; i < 1000 && woken === 0; i++) {
      woken = native.futexWake(u8, WASM_PAGE + 128, Infinity);
      if (woken === 0) await sleep(5);
    }
    assert.is(woken, 1);
    assert.is(await child.line(), "result 0");
  } finally {
    child.kill();
    remove(name);
  }
});

// --- Waiter -------------------------------------------------------------------------

function calls(): { count: number; next(ms?: number): Promise<void>; fn: () => void } {
  const resolvers: Array<() => void> = [];
  const state = {
    count: 0,
    fn: () => {
      state.count++;
      resolvers.shift()?.();
    },
    next: (ms = 5000) => timeout(new Promise<void>((resolve) => resolvers.push(resolve)), ms, "the Waiter callback"),
  };
  return state;
}

test("a Waiter calls back once when another thread wakes the word", async () => {
  const { u8 } = newMemory(1);
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  const worker = new Worker(
    `
    const n = require(require("node:worker_threads").workerData.addon);
    const u8 = new Uint8Array(require("node:worker_threads").workerData.buffer);
    const sleep = new Int32Array(new SharedArrayBuffer(4));
    while (n.futexWake(u8, 256, 1) === 0) Atomics.wait(sleep, 0, 0, 2);
    `,
    { eval: true, workerData: { addon: addonPath, buffer: u8.buffer } },
  );
  try {
    waiter.ref();
    const called = cb.next();
    waiter.arm(u8, 256, 0, Infinity);
    await called;
    await sleep(50);
    assert.is(cb.count, 1);
  } finally {
    waiter.close();
    await worker.terminate();
  }
});

test("a Waiter calls back when another process wakes a word of a shared object", async () => {
  const { name, u8 } = sharedPage();
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  const child = spawnNode(`
    const u8 = mapSharedPage(65536);
    const timer = setInterval(() => {
      if (n.futexWake(u8, 65536 + 4, 1) > 0) { clearInterval(timer); out("woke"); }
    }, 2);
  `, { env: { NAME: name } });
  try {
    waiter.ref();
    const called = cb.next(10_000);
    waiter.arm(u8, WASM_PAGE + 4, 0, Infinity);
    await called;
    assert.is(await child.line(), "woke");
    assert.is(cb.count, 1);
  } finally {
    waiter.close();
    child.kill();
    remove(name);
  }
});

test("a Waiter calls back at once when the word differs, and after the timeout", async () => {
  const { u8 } = newMemory(1);
  new Uint32Array(u8.buffer)[2] = 7;
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  try {
    waiter.ref();
    let called = cb.next();
    waiter.arm(u8, 8, 6, Infinity);
    await called;
    called = cb.next();
    const t = performance.now();
    waiter.arm(u8, 8, 7, 80);
    await called;
    const elapsed = performance.now() - t;
    assert.ok(elapsed >= 79 && elapsed < 2000, `took ${elapsed} ms`);
    assert.is(cb.count, 2);
  } finally {
    waiter.close();
  }
});

test("disarm prevents the callback, and a later arm works again", async () => {
  const { u8 } = newMemory(1);
  const w32 = new Uint32Array(u8.buffer);
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  try {
    waiter.ref();
    // A pending timeout.
    waiter.arm(u8, 0, 0, 20);
    waiter.disarm();
    // A wait that a wake would end.
    waiter.arm(u8, 4, 0, Infinity);
    await sleep(10);
    waiter.disarm();
    Atomics.store(w32, 1, 1);
    native.futexWake(u8, 4, Infinity);
    // A wait that ends by itself (not equal) before disarm runs.
    waiter.arm(u8, 4, 0, Infinity);
    waiter.disarm();
    waiter.disarm();
    await sleep(100);
    assert.is(cb.count, 0);
    const called = cb.next();
    waiter.arm(u8, 8, 0, 10);
    await called;
    assert.is(cb.count, 1);
  } finally {
    waiter.close();
  }
});

test("arm while armed replaces the earlier arm", async () => {
  const { u8 } = newMemory(1);
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  try {
    waiter.ref();
    waiter.arm(u8, 0, 0, Infinity);
    await sleep(10); // the thread is asleep on word 0
    const called = cb.next();
    waiter.arm(u8, 4, 0, 30);
    await called;
    await sleep(50);
    assert.is(cb.count, 1);
    // The thread no longer sleeps on word 0.
    assert.is(native.futexWake(u8, 0, Infinity), 0);
  } finally {
    waiter.close();
  }
});

test("close is idempotent, stops callbacks and makes arm throw", async () => {
  const { u8 } = newMemory(1);
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  waiter.ref();
  waiter.arm(u8, 0, 0, 10);
  waiter.close();
  waiter.close();
  waiter.ref();
  waiter.unref();
  waiter.disarm();
  assert.throws(() => waiter.arm(u8, 0, 0, 10), /closed/);
  await sleep(50);
  assert.is(cb.count, 0);
  // A Waiter that never armed has no thread to stop.
  new native.Waiter(() => {}).close();
  assert.throws(() => new native.Waiter(42 as unknown as () => void), TypeError);
});

test("an exception thrown by the callback is an uncaught exception", async () => {
  const child = spawnNode(`
    process.on("uncaughtException", (e) => { out("uncaught " + e.message); process.exit(0); });
    const u8 = new Uint8Array(newMemory(1).buffer);
    const w = new n.Waiter(() => { throw new Error("boom"); });
    w.ref();
    w.arm(u8, 0, 1, Infinity);
  `);
  try {
    assert.is(await child.line(), "uncaught boom");
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
  }
});

test("an idle or unref'd Waiter does not keep the process alive, a ref'd one does", async () => {
  const child = spawnNode(`
    const u8 = new Uint8Array(newMemory(1).buffer);
    new n.Waiter(() => {});                        // idle, never armed
    new n.Waiter(() => {}).arm(u8, 0, 0, Infinity); // armed, unref'd, never woken
    const w = new n.Waiter(() => { out("called"); w.unref(); });
    w.ref();
    w.arm(u8, 4, 0, 150);
    process.on("exit", () => out("exit"));
  `);
  try {
    const t = performance.now();
    assert.is(await child.line(), "called");
    assert.is(await child.line(), "exit");
    const { code } = await child.exit;
    assert.is(code, 0);
    const elapsed = performance.now() - t;
    assert.ok(elapsed < 5000, `exit took ${elapsed} ms`);
  } finally {
    child.kill();
  }
});

test("process.exit while a Waiter thread is blocked neither crashes nor hangs", async () => {
  const child = spawnNode(`
    const u8 = new Uint8Array(newMemory(1).buffer);
    const ws = [];
    for (let i = 0; i < 4; i++) { const w = new n.Waiter(() => {}); w.ref(); w.arm(u8, 4 * i, 0, Infinity); ws.push(w); }
    setTimeout(() => process.exit(3), 50);
  `);
  try {
    const { code, signal } = await timeout(child.exit, 10_000, "the child to exit");
    assert.is(signal, null, child.stderr());
    assert.is(code, 3, child.stderr());
  } finally {
    child.kill();
  }
});

test("terminating or ending a worker while its Waiter thread is blocked neither crashes nor hangs", async () => {
  const script = `
    const { parentPort, workerData } = require("node:worker_threads");
    const n = require(workerData.addon);
    const u8 = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }).buffer);
    const w = new n.Waiter(() => {});
    w.arm(u8, 0, 0, Infinity);      // unref'd: the worker may end
    if (workerData.ref) w.ref();    // ref'd: it only ends by terminate()
    parentPort.postMessage("armed");
  `;
  for (const ref of [true, false]) {
    const worker = new Worker(script, { eval: true, workerData: { addon: addonPath, ref } });
    const exited = new Promise<number>((resolve) => worker.on("exit", resolve));
    await timeout(new Promise((resolve) => worker.once("message", resolve)), 5000, "the worker");
    if (ref) await worker.terminate();
    assert.is(await timeout(exited, 5000, "the worker to end"), ref ? 1 : 0);
  }
});

test("an armed Waiter is not collected, even when only its callback refers to it", async () => {
  const child = spawnNode(`
    (() => {
      const u8 = new Uint8Array(newMemory(1).buffer);
      const w = new n.Waiter(() => { out("called"); w.close(); });
      w.ref();
      w.arm(u8, 0, 0, 300);
    })();
    const timer = setInterval(() => globalThis.gc(), 10);
    timer.unref();
  `, { args: ["--expose-gc"] });
  try {
    assert.is(await child.line(), "called", child.stderr());
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
  }
});

test("an idle Waiter collected by the GC stops its thread", async () => {
  const child = spawnNode(`
    const { readdirSync } = require("node:fs");
    const threads = () => readdirSync("/proc/self/task").length;
    const u8 = new Uint8Array(newMemory(1).buffer);
    const before = threads();
    let called = 0;
    (() => {
      for (let i = 0; i < 8; i++) {
        const w = new n.Waiter(() => { called++; w.unref(); }); // a cycle through the callback
        w.ref();
        w.arm(u8, 0, 1, Infinity); // not equal: calls back at once, and the thread stays
      }
    })();
    const armed = threads();
    (async () => {
      while (called < 8) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 100 && threads() > before; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      out(before + " " + armed + " " + threads());
    })();
  `, { args: ["--expose-gc"] });
  try {
    const [before, armed, after] = (await child.line()).split(" ").map(Number);
    assert.is(armed, before! + 8);
    assert.is(after, before);
  } finally {
    child.kill();
  }
});

test("Waiters work the same without futex_waitv (the fallback for kernels before 5.16)", async () => {
  const child = spawnNode(`
    const { Worker } = require("node:worker_threads");
    const u8 = new Uint8Array(newMemory(1).buffer);
    let count = 0, resolve;
    const w = new n.Waiter(() => { count++; resolve(); });
    w.ref();
    const called = () => new Promise((r) => (resolve = r));
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      // Cancel and replace while the thread sleeps, many times over.
      for (let i = 0; i < 200; i++) { w.arm(u8, 0, 0, Infinity); if (i % 2) w.disarm(); }
      await sleep(30);
      if (count !== 0) throw new Error("callback after disarm");
      let p = called();
      w.arm(u8, 4, 0, 20);
      await p;
      p = called();
      w.arm(u8, 8, 0, Infinity);
      const worker = new Worker(\`
        const { workerData } = require("node:worker_threads");
        const n = require(workerData.addon);
        const u8 = new Uint8Array(workerData.buffer);
        const s = new Int32Array(new SharedArrayBuffer(4));
        while (n.futexWake(u8, 8, 1) === 0) Atomics.wait(s, 0, 0, 2);
      \`, { eval: true, workerData: { addon: process.env.SHMRPC_ADDON, buffer: u8.buffer } });
      await p;
      await worker.terminate();
      w.arm(u8, 12, 0, Infinity);
      await sleep(5);
      w.close();
      out("ok " + count);
    })();
  `, { env: { SHMRPC_NO_FUTEX_WAITV: "1" } });
  try {
    assert.is(await child.line(), "ok 2", child.stderr());
    assert.is((await child.exit).code, 0, child.stderr());
  } finally {
    child.kill();
  }
});

test("nothing is left in /dev/shm", () => {
  for (const name of live) native.shmUnlink(name);
  assert.equal(native.shmList(PREFIX), []);
});

test.after(() => {
  for (const name of live) native.shmUnlink(name);
});

test.run();
