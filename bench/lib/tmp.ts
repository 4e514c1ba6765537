// One temporary directory per bench run (sockets, the compiled C floor), removed at exit.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atExit } from "./children.js";

let dir: string | undefined;

export function tempDir(): string {
  if (dir === undefined) {
    const made = mkdtempSync(join(tmpdir(), "shmrpc-bench-"));
    dir = made;
    atExit(() => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}
