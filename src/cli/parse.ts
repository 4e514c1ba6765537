// The command line, parsed: which command, its positional arguments and its options,
// checked against the command's spec (src/cli/commands.ts) by Node's util.parseArgs.
// Anything it does not know is a UsageError with a hint, before anything is loaded.

import { parseArgs } from "node:util";
import { COMMANDS, commandNamed, type CommandSpec, type Invocation } from "./commands.js";
import { UsageError } from "./exit.js";
import type { Output } from "./output.js";

export type Parsed =
  | { kind: "help"; command?: CommandSpec }
  | { kind: "version" }
  | { kind: "run"; invocation: Invocation };

/** A negative number is an argument, never an option: `call /calc add -1 2`. */
const NEGATIVE_NUMBER = /^-\d/;

export function parseCommandLine(argv: string[], out: Output, env: NodeJS.ProcessEnv): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError("no command given", "run 'shmrpc --help' for the commands");
  if (first === "--help" || first === "-h") return { kind: "help" };
  if (first === "--version" || first === "-V") return { kind: "version" };
  if (first === "help") {
    if (rest[0] === undefined) return { kind: "help" };
    return { kind: "help", command: known(rest[0]) };
  }
  if (first.startsWith("-")) throw new UsageError(`unknown option '${first}' before the command`, "options come after the command: shmrpc <command> [arguments] [options]; run 'shmrpc --help'");
  const command = known(first);
  const until = rest.indexOf("--");
  const beforeTerminator = until < 0 ? rest : rest.slice(0, until);
  if (beforeTerminator.includes("--help") || beforeTerminator.includes("-h")) return { kind: "help", command };

  // Negative numbers are set aside under placeholders parseArgs takes for positionals.
  const negatives = new Map<string, string>();
  const shielded = rest.map((a, i) => {
    if ((until >= 0 && i > until) || !NEGATIVE_NUMBER.test(a)) return a;
    const key = `\u0000arg${i}`;
    negatives.set(key, a);
    return key;
  });
  const restore = (s: string): string => negatives.get(s) ?? s;
  let parsed;
  try {
    parsed = parseArgs({ args: shielded, options: command.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageOf(e as Error & { code?: string }, command, restore);
  }
  const args = parsed.positionals.map(restore);
  const options: Invocation["options"] = {};
  for (const [k, v] of Object.entries(parsed.values)) options[k] = typeof v === "string" ? restore(v) : Array.isArray(v) ? v.map((x) => (typeof x === "string" ? restore(x) : String(x))) : v;
  if (typeof options.token === "string") out.hide(options.token);
  if (args.length < command.minArgs) {
    const missing = command.args.split(" ")[args.length] ?? "an argument";
    throw new UsageError(`${command.name}: missing ${missing}`, `usage: shmrpc ${command.name} ${command.args} [options]; run 'shmrpc ${command.name} --help'`);
  }
  if (args.length > command.maxArgs) {
    throw new UsageError(`${command.name}: unexpected argument '${args[command.maxArgs]}'`, `usage: shmrpc ${command.name} ${command.args} [options]; run 'shmrpc ${command.name} --help'`);
  }
  return { kind: "run", invocation: { command, args, options, out, env } };
}

function known(name: string): CommandSpec {
  const command = commandNamed(name);
  if (command) return command;
  const near = closest(name, COMMANDS.map((c) => c.name));
  throw new UsageError(`unknown command '${name}'`, `${near ? `did you mean '${near}'? ` : ""}run 'shmrpc --help' for the commands`);
}

function usageOf(e: Error & { code?: string }, command: CommandSpec, restore: (s: string) => string): UsageError {
  const hint = `run 'shmrpc ${command.name} --help' for its options`;
  // util.parseArgs's messages name the option; its codes say which kind of problem.
  const option = /'(-[^' ]+)/.exec(e.message)?.[1];
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) {
    const near = closest(option.replace(/^-+/, ""), Object.keys(command.options));
    return new UsageError(`${command.name}: unknown option '${restore(option)}'`, `${near ? `did you mean --${near}? ` : ""}${hint}`);
  }
  if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option) {
    const spec = command.options[option.replace(/^-+/, "")];
    const what = spec?.type === "boolean" ? "takes no value" : `needs a value${spec?.value ? " " + spec.value : ""} (a value starting with - goes as ${option}=<value>)`;
    return new UsageError(`${command.name}: option ${option} ${what}`, hint);
  }
  return new UsageError(`${command.name}: ${e.message.split("\n")[0]}`, hint);
}

/** The candidate at edit distance at most 2 from `word` (and closest), if any. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------- option values

/** A duration option ("500ms", "2s", "1.5m", "1h"; 0 alone where `allowZero`) in milliseconds.
 *  A bare number is refused: "500" meant seconds once, which nobody expects. */
export function durationOption(inv: Invocation, name: string, fallbackMs: number, allowZero = false): number {
  const raw = inv.options[name];
  if (raw === undefined) return fallbackMs;
  const text = String(raw).trim();
  const bare = /^\d+(?:\.\d+)?$/.test(text);
  if (bare && !(allowZero && Number(text) === 0)) {
    throw new UsageError(`${inv.command.name}: --${name} needs a unit: '${text}' alone is not a duration`, `use ${text}ms or ${text}s (units: ms, s, m, h)`);
  }
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  const ms = bare ? 0 : m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms"] : NaN;
  if (!Number.isFinite(ms) || (ms <= 0 && !allowZero) || ms > 2 ** 31 - 1) {
    throw new UsageError(`${inv.command.name}: --${name} must be a duration like 500ms, 2s or 1m${allowZero ? " (or 0)" : ""}, not '${String(raw)}'`, `run 'shmrpc ${inv.command.name} --help' for its options`);
  }
  return ms;
}

/** An integer option in [min, max]. */
export function integerOption(inv: Invocation, name: string, fallback: number, min: number, max: number): number {
  const raw = inv.options[name];
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${inv.command.name}: --${name} must be an integer from ${min} to ${max}, not '${String(raw)}'`, `run 'shmrpc ${inv.command.name} --help' for its options`);
  }
  return n;
}
