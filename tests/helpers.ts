// Shared by the cross-process suites: spawning fixtures, unique names, /dev/shm checks.
import { spawn, type ChildProcess } from "node:child_process";
import * as assert from "uvu/assert";
import { RpcError } from "../src/index.js";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

let counter = 0;
/** A server name no other test (or test run) uses. */
export function uniqueName(tag = "t"): string {
  return `/shmrpc-test-${tag}-${process.pid}-${++counter}`;
}

/** /dev/shm entries that belong to the server name (its own and its clients'). */
export function leftovers(name: string): string[] {
  const base = name.slice(1);
  return readdirSync("/dev/shm").filter((f) => f === base || f.startsWith(base + "@"));
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `node <fixture> ...args`, resolving once it printed a line starting with `readyPrefix`. */
export function spawnFixture(fixture: string, args: string[], readyPrefix = "ready", timeoutMs = 10_000, ids: { uid?: number; gid?: number } = {}): Promise<Child> {
  const proc = spawn(process.execPath, [join(FIXTURES, fixture), ...args], { stdio: ["pipe", "pipe", "pipe"], ...ids });
  let out = "";
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const child: Child = {
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    kill: (signal = "SIGKILL") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${fixture} did not get ready in ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.split("\n").some((l) => l.startsWith(readyPrefix))) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${fixture} exited (${code}) before getting ready; output:\n${out}`));
    });
  });
}

export function spawnServer(name: string, options: object = {}): Promise<Child> {
  return spawnFixture("server.js", [name, JSON.stringify(options)]);
}

/** Closes a server fixture gracefully (stdin ends), killing it if it takes over 5 s. */
export async function stopServer(child: Child): Promise<number | string> {
  child.proc.stdin!.end();
  const timer = setTimeout(() => child.kill(), 5000);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

const children = new Set<Child>();
/** Kills every child still running (call in `after` hooks / finally). */
export function killAll(): void {
  for (const c of children) c.kill();
}
process.on("exit", killAll);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The RpcError `p` rejects with (fails the test if it resolves or rejects with something else). */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, RpcError);
    return e as RpcError;
  }
  throw new Error("expected a rejection");
}
