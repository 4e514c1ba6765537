// Compiles bench/floor/pingpong.c with `cc -O2` into the run's temporary directory and
// runs it: the cache-line ping-pong floor (both sides spin) and the futex wake-up floor.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { spawnTracked } from "../lib/children.js";
import { tempDir } from "../lib/tmp.js";

// The .c file stays in the source tree; dist/bench/floor holds only the compiled JS.
const SOURCE = fileURLToPath(new URL("../../../bench/floor/pingpong.c", import.meta.url));

let binary: string | undefined;

function compile(): string {
  if (binary === undefined) {
    const out = join(tempDir(), "pingpong");
    execFileSync("cc", ["-O2", "-o", out, SOURCE], { stdio: "pipe" });
    binary = out;
  }
  return binary;
}

/** Round trips in µs. */
async function run(mode: "spin" | "wake", calls: number, extra: number, timeoutMs: number): Promise<Float64Array> {
  const child = spawnTracked("", [mode, String(calls), String(extra)], { command: compile() });
  const chunks: Buffer[] = [];
  child.proc.stdout!.on("data", (d: Buffer) => chunks.push(d));
  const timer = setTimeout(() => child.kill(), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`pingpong ${mode} exited with ${code}`);
  const lines = Buffer.concat(chunks).toString().trim().split("\n");
  const us = new Float64Array(lines.length);
  for (let i = 0; i < lines.length; i++) us[i] = Number(lines[i]) / 1000;
  return us;
}

export const floorSpin = (calls: number, warmup: number, timeoutMs: number) => run("spin", calls, warmup, timeoutMs);
export const floorWake = (calls: number, idleMicros: number, timeoutMs: number) => run("wake", calls, idleMicros, timeoutMs);
