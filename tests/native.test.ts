// Tests of the native addon: sealed memfds, Unix sequenced-packet sockets (with
// fds passed as SCM_RIGHTS and the peer's credentials), liveness locks, the
// FdWatcher, mapping memfds into WebAssembly memory, futex wait/wake across
// threads and processes, and the Waiter's thread. Other processes are
// `node -e` children that load the addon directly; each is spawned with a
// timeout and killed in a finally.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { constants as osConstants, tmpdir } from "node:os";
import { chownSync, closeSync, ftruncateSync, fstatSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { addonPath, FutexResult, native, Poll, Seal, type NativeError } from "../src/native.js";

const PAGE = 4096;
const WASM_PAGE = 65536;
/** What the addon holds open before any test: the last test checks it is back to this. */
const FDS_AT_START = native.openFds();
/** Sockets and lock files live here; removed at the end. */
const DIR = mkdtempSync(join(tmpdir(), "shmrpc-native-"));
let counter = 0;

function newPath(tag: string): string {
  return join(DIR, `${tag}-${counter++}`);
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

/** A new one-page memfd, mapped at WASM_PAGE of a fresh memory here. A child maps it
 *  with `mapSharedPage(at)` (see PRELUDE) given `env` in its environment, which names
 *  the fd through /proc. The caller closes `fd`. */
function sharedPage(): { fd: number; u8: Uint8Array; env: Record<string, string> } {
  const { u8 } = newMemory();
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  native.mapShared(u8, WASM_PAGE, PAGE, fd);
  return { fd, u8, env: { MEMFD: `/proc/${process.pid}/fd/${fd}` } };
}

/** A connected pair of sockets: [the connecting end, the accepted end]. The caller closes both. */
function socketPair(): [number, number] {
  const path = newPath("pair");
  const listener = native.listenUnix(path, 4, 0o600);
  try {
    const a = native.connectUnix(path);
    const b = native.acceptUnix(listener);
    assert.ok(b >= 0, "the connection waits to be accepted");
    return [a, b];
  } finally {
    native.closeFd(listener);
    rmSync(path, { force: true });
  }
}

function closeAll(...fds: number[]): void {
  for (const fd of fds) if (fd >= 0) native.closeFd(fd);
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

/** Resolves once `cond()` holds, checking on every event-loop turn (at least every ms). */
function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  return timeout(
    new Promise<void>((resolve) => {
      const check = () => (cond() ? resolve() : setTimeout(check, 1));
      check();
    }),
    ms,
    what,
  );
}

// What every child script starts with.
const PRELUDE = `
const n = require(process.env.SHMRPC_ADDON);
const fs = require("node:fs");
const out = (s) => process.stdout.write(s + "\\n");
const newMemory = (pages = 4) => new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
// Maps the memfd named by $MEMFD (/proc/<parent>/fd/<fd>) at \`at\` of a fresh memory;
// returns a view of that memory.
const mapSharedPage = (at) => {
  const u8 = new Uint8Array(newMemory(8).buffer);
  const fd = fs.openSync(process.env.MEMFD, "r+");
  n.mapShared(u8, at, 4096, fd);
  fs.closeSync(fd);
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

// --- memfds -------------------------------------------------------------------

test("pageSize returns the OS page size", () => {
  assert.is(native.pageSize(), PAGE);
});

test("keepFreedMemory tunes glibc's malloc (true) and can be called again", () => {
  // This machine is glibc; where there is none it returns false and changes nothing.
  assert.is(native.keepFreedMemory(), true);
  assert.is(native.keepFreedMemory(), true);
});

test("memfdCreate makes a regular file of exactly the size asked, sealed against shrinking, growing and further seals", () => {
  for (const size of [PAGE, 3 * PAGE, 100]) {
    const fd = native.memfdCreate("shmrpc-test", size);
    try {
      assert.ok(Number.isInteger(fd) && fd > 2);
      const info = native.memfdInfo(fd);
      assert.is(info.size, size);
      assert.is(info.regular, true);
      const want = Seal.SHRINK | Seal.GROW | Seal.SEAL;
      assert.is(info.seals & want, want, `seals ${info.seals}`);
      assert.is(info.seals & Seal.WRITE, 0, "still writable");
      assert.ok(fstatSync(fd).blocks * 512 >= size, "its pages are reserved");
    } finally {
      native.closeFd(fd);
    }
  }
  // Not a memfd: not sealable.
  const file = openSync(newPath("plain"), "w+");
  try {
    assert.is(native.memfdInfo(file).seals, -1);
    assert.is(native.memfdInfo(file).regular, true);
  } finally {
    closeSync(file);
  }
  assert.instance(thrown(() => native.memfdCreate("shmrpc-test", -1)), RangeError);
  assert.instance(thrown(() => native.memfdCreate(42 as unknown as string, PAGE)), TypeError);
});

test("ftruncate of a sealed memfd, to 0 or past its size, throws EPERM and changes nothing", () => {
  const fd = native.memfdCreate("shmrpc-test", 2 * PAGE);
  // A second open file description of the same memfd, as a peer would get it.
  const other = openSync(`/proc/self/fd/${fd}`, "r+");
  try {
    const code = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
      return "no error";
    };
    assert.is(code(() => ftruncateSync(other, 0)), "EPERM");
    assert.is(code(() => ftruncateSync(other, 2 * PAGE + 4096)), "EPERM");
    assert.is(code(() => ftruncateSync(other, PAGE)), "EPERM");
    assert.is(native.memfdInfo(fd).size, 2 * PAGE);
    assert.is(fstatSync(other).size, 2 * PAGE);
  } finally {
    closeSync(other);
    native.closeFd(fd);
  }
});

test("closeFd of a closed fd throws EBADF shaped like a Node system error", () => {
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  native.closeFd(fd);
  const err = thrown(() => native.closeFd(fd));
  assert.instance(err, Error);
  assert.is(err.code, "EBADF");
  assert.is(err.errno, -osConstants.errno.EBADF);
  assert.is(err.syscall, "close");
});

// --- sockets --------------------------------------------------------------------

test("listenUnix makes a socket file of the given mode that connectUnix reaches and acceptUnix accepts", () => {
  const path = newPath("listen");
  const listener = native.listenUnix(path, 4, 0o640);
  let a = -1;
  let b = -1;
  try {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.is(st.mode & 0o777, 0o640);
    assert.is(native.acceptUnix(listener), -1, "nobody waits yet");
    a = native.connectUnix(path);
    b = native.acceptUnix(listener);
    assert.ok(b >= 0 && b !== a && b !== listener);
    assert.is(native.acceptUnix(listener), -1, "one connection, accepted once");
    const err = thrown(() => native.listenUnix(path, 4, 0o600));
    assert.is(err.code, "EADDRINUSE");
    assert.is(err.path, path);
  } finally {
    closeAll(a, b, listener);
    rmSync(path, { force: true });
  }
});

test("peerCred gives this process's pid, uid and gid at both ends", () => {
  const [a, b] = socketPair();
  try {
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    assert.equal(native.peerCred(a), me);
    assert.equal(native.peerCred(b), me);
  } finally {
    closeAll(a, b);
  }
});

test("peerCred gives another process's pid", async () => {
  const path = newPath("cred");
  const listener = native.listenUnix(path, 4, 0o600);
  const child = spawnNode(`
    const fd = n.connectUnix(process.env.SOCK);
    out("connected");
    setInterval(() => {}, 1000);
  `, { env: { SOCK: path } });
  let conn = -1;
  try {
    assert.is(await child.line(), "connected", child.stderr());
    conn = native.acceptUnix(listener);
    assert.ok(conn >= 0);
    const cred = native.peerCred(conn);
    assert.is(cred.pid, child.proc.pid);
    assert.is(cred.uid, process.getuid!());
  } finally {
    child.kill();
    closeAll(conn, listener);
  }
});

test("connectUnix throws ENOENT for a missing path and ECONNREFUSED for a socket file nobody listens on", () => {
  const missing = newPath("missing");
  let err = thrown(() => native.connectUnix(missing));
  assert.is(err.code, "ENOENT");
  assert.is(err.errno, -osConstants.errno.ENOENT);
  assert.is(err.syscall, "connect");
  assert.is(err.path, missing);
  const stale = newPath("stale");
  native.closeFd(native.listenUnix(stale, 4, 0o600)); // the file stays, the listener is gone
  assert.ok(statSync(stale).isSocket());
  err = thrown(() => native.connectUnix(stale));
  assert.is(err.code, "ECONNREFUSED");
  assert.is(err.errno, -osConstants.errno.ECONNREFUSED);
  assert.instance(thrown(() => native.connectUnix("x".repeat(200))), RangeError);
});

test("sendPacket and recvPacket keep message boundaries", () => {
  const [a, b] = socketPair();
  try {
    const sizes = [1, 100, 3000, 7];
    for (const [i, size] of sizes.entries()) {
      assert.is(native.sendPacket(a, new Uint8Array(size).fill(i + 1)), true);
    }
    const buffer = new Uint8Array(8192);
    for (const [i, size] of sizes.entries()) {
      buffer.fill(0);
      const p = native.recvPacket(b, buffer);
      assert.ok(p !== null);
      assert.equal(p, { bytes: size, fds: [], truncated: false });
      assert.ok(buffer.subarray(0, size).every((x) => x === i + 1));
      assert.is(buffer[size], 0, "nothing of the next message");
    }
    assert.is(native.recvPacket(b, buffer), null);
    // A message longer than the buffer is cut, and the rest is dropped, not read next.
    native.sendPacket(b, new Uint8Array(10).fill(9));
    native.sendPacket(b, Uint8Array.of(5));
    const small = new Uint8Array(4);
    assert.equal(native.recvPacket(a, small), { bytes: 4, fds: [], truncated: true });
    assert.equal(native.recvPacket(a, small), { bytes: 1, fds: [], truncated: false });
    assert.is(small[0], 5);
  } finally {
    closeAll(a, b);
  }
});

test("sendPacket returns false when the socket is full", () => {
  const [a, b] = socketPair();
  try {
    let sent = 0;
    while (native.sendPacket(a, new Uint8Array(1024))) if (++sent > 100_000) break;
    assert.ok(sent > 0 && sent <= 100_000, `sent ${sent}`);
    assert.is(native.pollFd(a, Poll.OUT, 0) & Poll.OUT, 0, "not writable");
    assert.is(native.drainPackets(b) > 0, true);
    assert.is(native.sendPacket(a, new Uint8Array(1024)), true, "room again");
  } finally {
    closeAll(a, b);
  }
});

test("a memfd sent with sendPacket arrives as a new fd that maps the same memory", () => {
  const [a, b] = socketPair();
  const fd = native.memfdCreate("shmrpc-test", 2 * PAGE);
  const one = newMemory();
  const two = newMemory();
  let got = -1;
  try {
    native.mapShared(one.u8, WASM_PAGE, 2 * PAGE, fd);
    one.u8[WASM_PAGE + 5] = 42;
    assert.is(native.sendPacket(a, Uint8Array.of(1, 2, 3), [fd]), true);
    const before = native.openFds();
    const p = native.recvPacket(b, new Uint8Array(16));
    assert.ok(p !== null);
    assert.is(p.bytes, 3);
    assert.is(p.truncated, false);
    assert.is(p.fds.length, 1);
    got = p.fds[0]!;
    assert.is.not(got, fd);
    assert.is(native.openFds(), before + 1, "the received fd is tracked");
    assert.equal(native.memfdInfo(got), native.memfdInfo(fd));
    native.mapShared(two.u8, 3 * WASM_PAGE, 2 * PAGE, got);
    assert.is(two.u8[3 * WASM_PAGE + 5], 42, "sees the sender's writes");
    two.u8[3 * WASM_PAGE + PAGE] = 7;
    assert.is(one.u8[WASM_PAGE + PAGE], 7, "and the sender sees the receiver's");
    assert.instance(thrown(() => native.sendPacket(a, Uint8Array.of(1), [fd, fd, fd, fd, fd])), RangeError);
  } finally {
    closeAll(got, fd, a, b);
  }
});

test("recvPacket returns null when nothing waits and bytes 0 once the peer has closed", () => {
  const [a, b] = socketPair();
  try {
    const buffer = new Uint8Array(64);
    assert.is(native.recvPacket(b, buffer), null);
    native.sendPacket(a, Uint8Array.of(1));
    native.closeFd(a);
    assert.equal(native.recvPacket(b, buffer), { bytes: 1, fds: [], truncated: false }, "what was sent before the close");
    assert.equal(native.recvPacket(b, buffer), { bytes: 0, fds: [], truncated: false });
    assert.equal(native.recvPacket(b, buffer), { bytes: 0, fds: [], truncated: false }, "and again");
    assert.is(thrown(() => native.sendPacket(b, Uint8Array.of(1))).code, "EPIPE");
  } finally {
    native.closeFd(b);
  }
});

test("messages sent before the peer closed arrive before bytes 0, also when it closed with ours unread", () => {
  const [a, b] = socketPair();
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  let got = -1;
  try {
    native.sendPacket(a, Uint8Array.of(7), [fd]); // a's last word (a refusal, say)
    native.sendPacket(b, Uint8Array.of(1)); // never read by a
    native.closeFd(a); // with unread messages: b's next recvmsg fails with ECONNRESET
    const buffer = new Uint8Array(16);
    const p = native.recvPacket(b, buffer);
    assert.ok(p !== null);
    got = p.fds[0] ?? -1;
    assert.equal(p, { bytes: 1, fds: [got], truncated: false });
    assert.is(buffer[0], 7);
    assert.is(native.memfdInfo(got).size, PAGE);
    assert.equal(native.recvPacket(b, buffer), { bytes: 0, fds: [], truncated: false });
  } finally {
    closeAll(got, fd, b);
  }
});

test("drainPackets counts the waiting messages, closes the fds they carried, and returns -1 on hang-up", () => {
  const [a, b] = socketPair();
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  try {
    assert.is(native.drainPackets(b), 0);
    native.sendPacket(a, Uint8Array.of(1));
    native.sendPacket(a, new Uint8Array(100), [fd]);
    native.sendPacket(a, Uint8Array.of(3));
    const before = native.openFds();
    assert.is(native.drainPackets(b), 3);
    assert.is(native.openFds(), before, "the carried fd was not kept");
    assert.is(native.drainPackets(b), 0);
    native.sendPacket(a, Uint8Array.of(4));
    native.closeFd(a);
    assert.is(native.drainPackets(b), -1);
    assert.is(native.drainPackets(b), -1);
  } finally {
    closeAll(fd, b);
  }
});

test("pollFd returns 0 on timeout, IN when a message waits and RDHUP and HUP after the peer closes", () => {
  const [a, b] = socketPair();
  try {
    const all = Poll.IN | Poll.RDHUP;
    assert.is(native.pollFd(b, all, 0), 0);
    const t = performance.now();
    assert.is(native.pollFd(b, all, 30), 0);
    assert.ok(performance.now() - t >= 29, "waited for the timeout");
    assert.is(native.pollFd(a, Poll.OUT, 0), Poll.OUT);
    native.sendPacket(a, Uint8Array.of(1));
    assert.is(native.pollFd(b, all, 1000), Poll.IN);
    native.closeFd(a);
    const revents = native.pollFd(b, all, 1000);
    assert.is(revents & Poll.RDHUP, Poll.RDHUP, `revents ${revents}`);
    assert.is(revents & Poll.HUP, Poll.HUP, `revents ${revents}`);
  } finally {
    native.closeFd(b);
  }
});

test("pollFd sees another process close its end when it is killed", async () => {
  const path = newPath("kill");
  const listener = native.listenUnix(path, 4, 0o600);
  const child = spawnNode(`
    n.connectUnix(process.env.SOCK);
    out("connected");
    setInterval(() => {}, 1000);
  `, { env: { SOCK: path } });
  let conn = -1;
  try {
    assert.is(await child.line(), "connected", child.stderr());
    conn = native.acceptUnix(listener);
    assert.is(native.pollFd(conn, Poll.IN | Poll.RDHUP, 0), 0);
    child.proc.kill("SIGKILL");
    await child.exit;
    assert.is(native.pollFd(conn, Poll.IN | Poll.RDHUP, 5000) & Poll.RDHUP, Poll.RDHUP);
    assert.is(native.drainPackets(conn), -1);
  } finally {
    child.kill();
    closeAll(conn, listener);
  }
});

// --- locks --------------------------------------------------------------------

test("a second lockPath on the same path returns -1 while the first fd is open, and succeeds after closeFd", () => {
  const path = newPath("lock");
  const first = native.lockPath(path);
  let second = -1;
  try {
    assert.ok(first >= 0);
    const st = statSync(path);
    assert.ok(st.isFile());
    assert.is(st.mode & 0o077, 0, "no access for others");
    assert.is(native.lockPath(path), -1);
    assert.is(native.lockPath(path), -1, "still");
    native.closeFd(first);
    second = native.lockPath(path);
    assert.ok(second >= 0);
  } finally {
    closeAll(second);
  }
});

test("lockPath refuses a symlink and a file of another user", () => {
  const target = newPath("target");
  writeFileSync(target, "");
  const link = newPath("link");
  symlinkSync(target, link);
  const err = thrown(() => native.lockPath(link));
  assert.ok(err.code === "ELOOP" || err.code === "EPERM", `code ${err.code}`);
  assert.is(err.path, link);
  const dangling = newPath("dangling");
  symlinkSync(newPath("nowhere"), dangling);
  const err2 = thrown(() => native.lockPath(dangling));
  assert.ok(err2.code === "ELOOP" || err2.code === "EPERM", `code ${err2.code}`);
  if (process.getuid!() === 0) {
    const theirs = newPath("theirs");
    writeFileSync(theirs, "", { mode: 0o666 });
    chownSync(theirs, 65534, 65534);
    const err3 = thrown(() => native.lockPath(theirs));
    assert.is(err3.code, "EPERM");
    assert.is(err3.path, theirs);
  }
});

test("a lock held by a child process is released when the child is killed with SIGKILL", async () => {
  const path = newPath("childlock");
  const child = spawnNode(`
    out(n.lockPath(process.env.LOCK) >= 0 ? "locked" : "busy");
    setInterval(() => {}, 1000);
  `, { env: { LOCK: path } });
  let fd = -1;
  try {
    assert.is(await child.line(), "locked", child.stderr());
    assert.is(native.lockPath(path), -1);
    child.proc.kill("SIGKILL");
    assert.is((await child.exit).signal, "SIGKILL");
    fd = native.lockPath(path);
    assert.ok(fd >= 0);
  } finally {
    child.kill();
    closeAll(fd);
  }
});

// --- FdWatcher --------------------------------------------------------------------

test("an FdWatcher calls back with bit 1, from the event loop, while its fd is readable", async () => {
  const [a, b] = socketPair();
  const [c, d] = socketPair();
  const seen: number[] = [];
  let inSend = false;
  let calledInSend = false;
  let received = 0;
  const watcher = new native.FdWatcher(b, (events) => {
    if (inSend) calledInSend = true;
    seen.push(events);
    // Level-triggered: called again until the message is read.
    if (seen.length === 2) received = native.drainPackets(b);
  });
  // A readable witness: once it has been called a few times, so could the watcher have been.
  let witnessed = 0;
  const witness = new native.FdWatcher(d, () => witnessed++);
  try {
    watcher.ref();
    witness.ref();
    native.sendPacket(c, Uint8Array.of(1));
    await until(() => witnessed >= 3, 5000, "the witness watcher");
    witness.close();
    assert.equal(seen, [], "not called while its fd is not readable");
    inSend = true;
    native.sendPacket(a, Uint8Array.of(1));
    inSend = false;
    await until(() => received === 1, 5000, "two callbacks");
    assert.is(calledInSend, false, "not from inside sendPacket");
    assert.equal(seen.slice(0, 2), [1, 1]);
  } finally {
    watcher.close();
    witness.close();
    closeAll(a, b, c, d);
  }
});

test("an FdWatcher reports a hang-up with bit 4, or with bit 1 and a recvPacket of 0 bytes", async () => {
  const [a, b] = socketPair();
  let hangUp = false;
  let events = 0;
  const watcher = new native.FdWatcher(b, (e) => {
    events |= e;
    if (e & 4) hangUp = true;
    else if (e & 1 && native.recvPacket(b, new Uint8Array(8))?.bytes === 0) hangUp = true;
    if (hangUp) watcher.close(); // from inside its own callback
  });
  try {
    watcher.ref();
    native.closeFd(a);
    await until(() => hangUp, 5000, "the hang-up");
    assert.ok(events & 4 || events & 1, `events ${events}`);
  } finally {
    watcher.close();
    native.closeFd(b);
  }
});

test("an FdWatcher calls back no more after close()", async () => {
  const [a, b] = socketPair();
  const [c, d] = socketPair();
  let closedCalls = 0;
  let sentinel = 0;
  const watcher = new native.FdWatcher(b, () => closedCalls++);
  // Its fd becomes readable at the same time: once it has been called a few times, the
  // event loop has had as many chances to call the closed watcher.
  const witness = new native.FdWatcher(d, () => sentinel++);
  try {
    witness.ref();
    watcher.close();
    watcher.close(); // idempotent
    watcher.ref();
    watcher.unref();
    native.sendPacket(a, Uint8Array.of(1));
    native.sendPacket(c, Uint8Array.of(1));
    await until(() => sentinel >= 5, 5000, "the witness watcher");
    assert.is(closedCalls, 0);
    assert.is(native.pollFd(b, Poll.IN, 0), Poll.IN, "its fd was readable all along");
  } finally {
    witness.close();
    closeAll(a, b, c, d);
  }
  assert.throws(() => new native.FdWatcher(b, 42 as unknown as () => void), TypeError);
});

test("an exception thrown by an FdWatcher callback is an uncaught exception", async () => {
  const child = spawnNode(`
    process.on("uncaughtException", (e) => { out("uncaught " + e.message); process.exit(0); });
    const path = require("node:path").join(require("node:os").tmpdir(), "shmrpc-native-uncaught-" + process.pid);
    const l = n.listenUnix(path, 4, 0o600);
    const a = n.connectUnix(path);
    const b = n.acceptUnix(l);
    fs.rmSync(path);
    const w = new n.FdWatcher(b, () => { throw new Error("boom"); });
    w.ref();
    n.sendPacket(a, Uint8Array.of(1));
  `);
  try {
    assert.is(await child.line(), "uncaught boom", child.stderr());
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
  }
});

test("an unref'd FdWatcher does not keep the process alive, a ref'd one does", async () => {
  const child = spawnNode(`
    const path = require("node:path").join(require("node:os").tmpdir(), "shmrpc-native-ref-" + process.pid);
    const l = n.listenUnix(path, 4, 0o600);
    const a = n.connectUnix(path), b = n.acceptUnix(l);
    const c = n.connectUnix(path), d = n.acceptUnix(l);
    fs.rmSync(path);
    new n.FdWatcher(b, () => out("never"));            // unref'd, never readable
    const w = new n.FdWatcher(d, () => { out("called"); w.close(); });
    w.ref();
    setTimeout(() => n.sendPacket(c, Uint8Array.of(1)), 150).unref(); // only w keeps us here
    process.on("exit", () => out("exit"));
  `);
  try {
    const t = performance.now();
    assert.is(await child.line(), "called", child.stderr());
    assert.is(await child.line(), "exit");
    assert.is((await child.exit).code, 0);
    assert.ok(performance.now() - t < 5000);
  } finally {
    child.kill();
  }
});

// --- mapping --------------------------------------------------------------------

test("one memfd mapped into two WebAssembly memories is shared by both", () => {
  const a = newMemory();
  const b = newMemory(8);
  const fd = native.memfdCreate("shmrpc-test", 2 * PAGE);
  try {
    native.mapShared(a.u8, WASM_PAGE, 2 * PAGE, fd);
    native.mapShared(b.u8, 5 * WASM_PAGE + PAGE, 2 * PAGE, fd);
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
    native.closeFd(fd);
  }
});

test("writes by another process through its own mapping are seen here", async () => {
  const { fd, u8, env } = sharedPage();
  u8[WASM_PAGE + 10] = 33;
  const child = spawnNode(`
    const u8 = mapSharedPage(7 * 65536);
    const seen = u8[7 * 65536 + 10];
    for (let i = 0; i < 10; i++) u8[7 * 65536 + i] = 200 + i;
    out("wrote " + seen);
  `, { env });
  try {
    assert.is(await child.line(), "wrote 33", child.stderr());
    assert.equal([...u8.subarray(WASM_PAGE, WASM_PAGE + 10)], [200, 201, 202, 203, 204, 205, 206, 207, 208, 209]);
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
    native.closeFd(fd);
  }
});

test("a memfd sent to another process over a Unix socket maps there and shares writes both ways", async () => {
  const path = newPath("pass");
  const listener = native.listenUnix(path, 4, 0o600);
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  const { u8 } = newMemory();
  native.mapShared(u8, WASM_PAGE, PAGE, fd);
  u8[WASM_PAGE] = 11;
  const child = spawnNode(`
    const s = n.connectUnix(process.env.SOCK);
    if (!(n.pollFd(s, 1, 10000) & 1)) throw new Error("nothing came");
    const p = n.recvPacket(s, new Uint8Array(16));
    const info = n.memfdInfo(p.fds[0]);
    const u8 = new Uint8Array(newMemory().buffer);
    n.mapShared(u8, 2 * 65536, 4096, p.fds[0]);
    n.closeFd(p.fds[0]);
    u8[2 * 65536 + 1] = 22;
    out(p.bytes + " " + p.fds.length + " " + info.size + " " + info.seals + " " + u8[2 * 65536]);
  `, { env: { SOCK: path } });
  let conn = -1;
  try {
    await until(() => (conn = native.acceptUnix(listener)) >= 0, 10_000, "the child to connect");
    assert.is(native.sendPacket(conn, Uint8Array.of(1, 2), [fd]), true);
    const seals = Seal.SHRINK | Seal.GROW | Seal.SEAL;
    assert.is(await child.line(), `2 1 ${PAGE} ${seals} 11`, child.stderr());
    assert.is(u8[WASM_PAGE + 1], 22);
    assert.is((await child.exit).code, 0);
  } finally {
    child.kill();
    closeAll(conn, fd, listener);
  }
});

test("unmapShared leaves zeroed, writable private memory and the memfd keeps its data", () => {
  const { u8 } = newMemory();
  const fd = native.memfdCreate("shmrpc-test", 2 * PAGE);
  try {
    native.mapShared(u8, WASM_PAGE, 2 * PAGE, fd);
    u8.fill(5, WASM_PAGE, WASM_PAGE + 2 * PAGE);
    native.unmapShared(u8, WASM_PAGE, 2 * PAGE);
    assert.ok(u8.subarray(WASM_PAGE, WASM_PAGE + 2 * PAGE).every((x) => x === 0));
    u8[WASM_PAGE] = 8;
    assert.is(u8[WASM_PAGE], 8);
    native.mapShared(u8, 2 * WASM_PAGE, 2 * PAGE, fd);
    assert.is(u8[2 * WASM_PAGE], 5, "the memfd still holds what was written");
    u8[2 * WASM_PAGE] = 6;
    assert.is(u8[WASM_PAGE], 8, "the unmapped region is no longer shared");
  } finally {
    native.closeFd(fd);
  }
});

test("mappings survive memory.grow", () => {
  const a = newMemory(2);
  const b = newMemory(2);
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  try {
    native.mapShared(a.u8, WASM_PAGE, PAGE, fd);
    native.mapShared(b.u8, WASM_PAGE, PAGE, fd);
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
    native.closeFd(fd);
  }
});

test("invalid regions and memories throw RangeError or TypeError", () => {
  const { u8 } = newMemory(2);
  const fd = native.memfdCreate("shmrpc-test", 4 * PAGE);
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
    range(() => native.mapShared(u8, 0, 8 * PAGE, fd)); // larger than the memfd
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

test("futexWait returns 0 when another process wakes it with futexWake on a memfd", async () => {
  const { fd, u8, env } = sharedPage();
  const child = spawnNode(`
    const u8 = mapSharedPage(3 * 65536);
    out("ready");
    // Wake until someone was there: the parent may not be asleep yet.
    const timer = setInterval(() => {
      const woken = n.futexWake(u8, 3 * 65536 + 64, 1);
      if (woken > 0) { clearInterval(timer); out("woke " + woken); }
    }, 5);
  `, { env });
  try {
    assert.is(await child.line(), "ready", child.stderr());
    const t = performance.now();
    assert.is(native.futexWait(u8, WASM_PAGE + 64, 0, 10_000), FutexResult.Woken);
    assert.ok(performance.now() - t < 5000);
    assert.is(await child.line(), "woke 1");
  } finally {
    child.kill();
    native.closeFd(fd);
  }
});

test("futexWake wakes a waiter in another process and reports the count", async () => {
  const { fd, u8, env } = sharedPage();
  const child = spawnNode(`
    const u8 = mapSharedPage(65536);
    out("waiting");
    out("result " + n.futexWait(u8, 65536 + 128, 0, 10000));
  `, { env });
  try {
    assert.is(await child.line(), "waiting", child.stderr());
    let woken = 0;
    for (let i = 0; i < 1000 && woken === 0; i++) {
      woken = native.futexWake(u8, WASM_PAGE + 128, Infinity);
      if (woken === 0) await sleep(5);
    }
    assert.is(woken, 1);
    assert.is(await child.line(), "result 0");
  } finally {
    child.kill();
    native.closeFd(fd);
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

test("a Waiter calls back when another process wakes a word of a memfd", async () => {
  const { fd, u8, env } = sharedPage();
  const cb = calls();
  const waiter = new native.Waiter(cb.fn);
  const child = spawnNode(`
    const u8 = mapSharedPage(65536);
    const timer = setInterval(() => {
      if (n.futexWake(u8, 65536 + 4, 1) > 0) { clearInterval(timer); out("woke"); }
    }, 2);
  `, { env });
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
    native.closeFd(fd);
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

test("an idle Waiter collected by the GC stops its own thread (without futex_waitv); with it, 8 Waiters share one thread", async () => {
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
      out(before + " " + armed + " " + threads() + " " + n.haveFutexWaitv());
    })();
  `, { args: ["--expose-gc"] });
  try {
    const [before, armed, after, waitv] = (await child.line()).split(" ");
    if (waitv === "true") {
      // The pool's thread, made for the first arm, stays for later ones (a margin of 1
      // for a thread Node or V8 may start meanwhile; a thread per Waiter would be 8).
      assert.ok(Number(armed) - Number(before) <= 2, `${before} threads, then ${armed}`);
      assert.ok(Number(after) <= Number(armed), `${armed} threads, then ${after}`);
    } else {
      assert.is(Number(armed), Number(before) + 8);
      assert.is(Number(after), Number(before));
    }
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

// Issue point 8b. Without futex_waitv, a cancel is a futexWake on the armed word, and
// one that lands just before the thread enters the kernel is lost. disarm() used not
// to wait for the thread: it could stay asleep on the memfd's page after the caller
// unmapped it, and the next arm(), kicking the private page now at that address,
// waited for it forever. The moment of disarm is swept across the thread's way into
// the kernel. A regression hangs the child, which the test sees as a pause in its
// progress. Against disarm as it was before the fix this failed in 5 of 6 runs (and
// a standalone loop hung in 8 of 8, within 1400 rounds); a run can miss the window,
// probably when the JS thread and the Waiter's thread share a core.
test("without futex_waitv, disarm then unmapShared then arm on the same offset returns at once and the Waiter still works", async () => {
  const child = spawnNode(`
    const AT = 65536;
    const fd = n.memfdCreate("shmrpc-test", 4096);
    const u8 = new Uint8Array(newMemory(2).buffer);
    let count = 0, resolve = () => {};
    const w = new n.Waiter(() => { count++; resolve(); });
    w.ref();
    const called = () => new Promise((r) => (resolve = r));
    let worst = 0;
    (async () => {
      const rounds = Number(process.env.ROUNDS);
      for (let i = 0; i < rounds; i++) {
        n.mapShared(u8, AT, 4096, fd);                   // the memfd's word holds 0
        w.arm(u8, AT, 0, Infinity);                      // the thread goes to sleep on it
        // Disarm at a different moment each round, 0 to 100 µs after arm: the thread
        // is on its way from the condition variable into the kernel somewhere in there.
        const until = performance.now() + ((i * 7919) % 200) / 2000;
        while (performance.now() < until);
        w.disarm();
        n.unmapShared(u8, AT, 4096);                      // a private zero page now
        const p = called();
        const t = performance.now();
        w.arm(u8, AT, 1, Infinity);                      // not equal: calls back at once
        worst = Math.max(worst, performance.now() - t);
        await p;
        if (i % 500 === 499) out("round " + (i + 1));
      }
      // The Waiter still sleeps and wakes on the new (private) word.
      const p = called();
      w.arm(u8, AT, 0, Infinity);
      const timer = setInterval(() => n.futexWake(u8, AT, 1), 2);
      await p;
      clearInterval(timer);
      w.close();
      n.closeFd(fd);
      out("ok " + count + " " + (worst < 1000 ? "prompt" : "slow " + worst + " ms"));
    })();
  `, { env: { SHMRPC_NO_FUTEX_WAITV: "1", ROUNDS: "10000" }, timeoutMs: 120_000 });
  try {
    // A hang shows as no progress for a while (a good run makes 500 rounds in well under a second).
    let line = await child.line(10_000);
    while (line.startsWith("round ")) line = await child.line(10_000);
    assert.is(line, "ok 10001 prompt", child.stderr());
    assert.is((await child.exit).code, 0, child.stderr());
  } finally {
    child.kill();
  }
});

test("writeAt writes through a memfd what a later mapping of it shows (the server's header before ACCEPT), and refuses bad arguments", () => {
  const fd = native.memfdCreate("shmrpc-test", PAGE);
  try {
    native.writeAt(fd, new Uint8Array([1, 2, 3, 4]), 8);
    native.writeAt(fd, new Uint8Array(0), 0);
    const { u8 } = newMemory();
    native.mapShared(u8, WASM_PAGE, PAGE, fd);
    assert.equal([...u8.subarray(WASM_PAGE + 6, WASM_PAGE + 14)], [0, 0, 1, 2, 3, 4, 0, 0]);
    assert.is(native.memfdInfo(fd).size, PAGE, "a write inside the sealed size does not grow it");
    // Past the end would grow the file: the seal refuses it.
    assert.is((thrown(() => native.writeAt(fd, new Uint8Array(4), PAGE)) as NativeError).code, "EPERM");
    assert.instance(thrown(() => native.writeAt(fd, "x" as unknown as Uint8Array, 0)), TypeError);
    assert.instance(thrown(() => native.writeAt(fd, new Uint8Array(1), -1)), RangeError);
  } finally {
    native.closeFd(fd);
  }
});

test("the addon holds no more fds than before the tests", async () => {
  assert.is(native.openFds(), FDS_AT_START);
});

test.after(() => {
  rmSync(DIR, { recursive: true, force: true });
});

test.run();
