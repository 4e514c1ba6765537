// Child processes of the bench: every one is tracked and killed when the bench exits,
// however it exits (normal end, an exception, Ctrl-C, SIGTERM).
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

const live = new Set<ChildProcess>();

export function killChildren(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  live.clear();
}

const cleanups: Array<() => void> = [];
/** Runs `fn` at exit (after children are killed), also on Ctrl-C and SIGTERM. */
export function atExit(fn: () => void): void {
  cleanups.push(fn);
}

let exiting = false;
function onExit(): void {
  if (exiting) return;
  exiting = true;
  killChildren();
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort: one failing cleanup must not skip the others
    }
  }
}
process.on("exit", onExit);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    onExit();
    process.exit(130);
  });
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  exited: Promise<number | string>;
  output(): string;
  /** Resolves with the first stdout line starting with `prefix` (rejects on exit or timeout). */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  kill(): void;
}

/** Spawns `node <script> ...args` (or the command itself if `command` is given) and tracks it. */
export function spawnTracked(script: string, args: string[], options: SpawnOptions & { command?: string } = {}): Child {
  const command = options.command ?? process.execPath;
  const argv = options.command ? args : [script, ...args];
  const proc = spawn(command, argv, { stdio: ["pipe", "pipe", "pipe"], ...options });
  live.add(proc);
  let out = "";
  const waiters: Array<() => void> = [];
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.on("exit", (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal ?? -1);
      for (const w of waiters.splice(0)) w();
    }),
  );
  return {
    proc,
    pid: proc.pid ?? -1,
    exited,
    output: () => out,
    line(prefix, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${prefix}" line within ${timeoutMs} ms: ${tail(out)}`)), timeoutMs);
        const check = (): void => {
          const found = out.split("\n").find((l, i, all) => l.startsWith(prefix) && i < all.length - 1);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`exited (${proc.exitCode ?? proc.signalCode}): ${tail(out)}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
}

/** Ends a child gracefully (stdin closes), killing it after `graceMs`. */
export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  child.proc.stdin?.end();
  const timer = setTimeout(() => child.kill(), graceMs);
  await child.exited;
  clearTimeout(timer);
}

function tail(s: string): string {
  const t = s.trim();
  return t.length > 300 ? "…" + t.slice(-300) : t || "(no output)";
}
