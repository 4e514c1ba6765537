#!/usr/bin/env node
// `shmrpc`, the command line (package.json "bin"). Parses the command line, then loads
// only the command it runs (src/cli/<command>.ts): help and usage errors never load the
// WebAssembly core or the addon.

import { readFileSync } from "node:fs";
import { commandHelp, mainHelp } from "./commands.js";
import { Exit, UsageError, errorReport, exitCodeOf } from "./exit.js";
import { Output, jsonText, printable } from "./output.js";
import { parseCommandLine } from "./parse.js";

async function main(argv: string[]): Promise<number> {
  const out = new Output();
  out.hide(process.env.SHMRPC_TOKEN); // before anything can print it
  let asJson = argv.includes("--json");
  let prefix = "shmrpc";
  try {
    const parsed = parseCommandLine(argv, out, process.env);
    if (parsed.kind === "help") {
      out.out(parsed.command ? commandHelp(parsed.command) : mainHelp(version()));
      return Exit.OK;
    }
    if (parsed.kind === "version") {
      out.out(version() + "\n");
      return Exit.OK;
    }
    const inv = parsed.invocation;
    asJson = inv.options.json === true;
    prefix = `shmrpc ${inv.command.name}`;
    const command = await inv.command.load();
    return await command.run(inv);
  } catch (err) {
    report(out, err, asJson, prefix);
    return exitCodeOf(err);
  }
}

/** The failure on stderr: `<prefix>: CODE: message` (and the handler's error, a hint), or one JSON object. */
export function report(out: Output, err: unknown, asJson: boolean, prefix: string): void {
  const r = errorReport(err);
  if (asJson) return out.err(jsonText({ error: r }) + "\n");
  const message = String(r.message);
  // A usage error's message may start with the command's name already.
  const lines = [err instanceof UsageError ? (prefix.endsWith(message.split(":")[0]!) ? `shmrpc ${message}` : `${prefix}: ${message}`) : `${prefix}: ${r.code}: ${message}`];
  const remote = r.remote as { name: string; message: string; code?: string } | undefined;
  if (remote) lines.push(`  thrown by the handler: ${remote.name}${remote.code ? ` [${remote.code}]` : ""}: ${remote.message}`);
  // One issue is the message already; several are listed.
  if (Array.isArray(r.issues) && r.issues.length > 1) for (const i of r.issues as { path: unknown[]; message: string }[]) lines.push(`  issue at ${i.path.length ? i.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("") : "(the value)"}: ${i.message}`);
  // No server at all: say so, not that "the call" (the user may not have made one) did not run.
  if (r.code === "ERR_RPC_NOT_CONNECTED") lines.push("  the server is not running (nothing serves that name); 'shmrpc ls' lists the live ones");
  else if (r.maybeExecuted !== undefined) lines.push(`  the call ${r.maybeExecuted ? "may have run" : "did not run"} on the server`);
  if (r.hint) lines.push(`  hint: ${String(r.hint)}`);
  if (r.stack) lines.push(String(r.stack));
  // The message and the handler's error come from the server: no control characters through.
  out.err(lines.flatMap((l) => l.split("\n")).map(printable).join("\n") + "\n");
}

/** The package's version, from the nearest package.json above this file (dist/src/cli/ in a
 *  checkout, dist/bundle/ as installed). */
function version(): string {
  for (let dir = new URL(".", import.meta.url); ; dir = new URL("..", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version: string };
      if (pkg.name === "shmrpc") return pkg.version;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (dir.pathname === "/") throw new Error("shmrpc: cannot find its package.json above " + import.meta.url);
  }
}

// A reader that went away (`shmrpc call … | head -c 100`) is no failure of ours: stop writing, keep the exit code.
for (const stream of [process.stdout, process.stderr]) stream.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit();
});
process.exitCode = await main(process.argv.slice(2));
// Every command closes what it opened; the exit only ends a process a stuck peer would
// keep alive, and only once stdout and stderr have drained: writes to a pipe are queued
// while its reader is behind, and process.exit() would drop them (output cut at 64 KiB).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((drained) => s.write("", () => drained()))));
process.exit();
