// The commands, their arguments and options, and their help: everything `shmrpc --help`
// and the parser need, without loading a command's module (nor shmrpc itself: the
// WebAssembly core and the addon load only when a command runs), so that help and
// usage errors are fast.

import type { Output } from "./output.js";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** May be given more than once (the values are collected). */
  multiple?: boolean;
  /** The value's placeholder in help ("<duration>"). */
  value?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** The positional arguments, as help shows them. */
  args: string;
  minArgs: number;
  maxArgs: number;
  summary: string;
  /** Paragraphs of help after the usage line. */
  details: string[];
  options: Record<string, OptionSpec>;
  examples: string[];
  load: () => Promise<{ run(inv: Invocation): Promise<number> }>;
}

/** A parsed command line, handed to the command's `run`. */
export interface Invocation {
  command: CommandSpec;
  args: string[];
  options: Record<string, string | boolean | string[] | undefined>;
  out: Output;
  env: NodeJS.ProcessEnv;
}

const json: OptionSpec = { type: "boolean", help: "print JSON (one document per line) instead of a table" };
const help: OptionSpec = { type: "boolean", short: "h", help: "show this help" };
const socketPath: OptionSpec = { type: "string", value: "<path>", help: "the server listens at this shared socket path (its `socketPath` option), not in your runtime directory" };
const timeout: OptionSpec = { type: "string", value: "<duration>", help: "deadline of each call, e.g. 500ms, 2s, 1m (default 10s)" };
const token: OptionSpec = { type: "string", value: "<secret>", help: "the server's token; better in the environment as SHMRPC_TOKEN (an argument shows in `ps`). Never printed" };
const serverUid: OptionSpec = { type: "string", value: "<uid>", help: "the user id the server must run as (default: yours)" };
const instance: OptionSpec = { type: "string", value: "<id>", help: "talk to this one replica (an instance id from `shmrpc ls`, or a unique prefix of one)" };
const connecting = { json, help, "socket-path": socketPath, timeout, token, "server-uid": serverUid };

const NATS_NAME_HELP = "The name may be a NATS URL, nats://host:4222/calc (user:password@ before the host if needed): the command then goes over NATS to the service, one of its instances answering (the queue group picks; `shmrpc ls --nats` lists them); --socket-path, --token, --server-uid and --instance are for this host only.";

export const VALUES_HELP = [
  "Values JSON has no form for are one-key objects: {\"$undefined\":true}, {\"$number\":\"NaN\"} (also \"Infinity\", \"-Infinity\", \"-0\"), {\"$bigint\":\"123\"}, {\"$date\":\"2026-01-02T03:04:05.000Z\"}, {\"$binary\":{\"type\":\"Buffer\",\"base64\":\"AAE=\"}} (also Uint8Array, Float64Array, ... , ArrayBuffer, DataView), {\"$map\":[[k,v],...]}, {\"$set\":[...]}, {\"$error\":{\"name\",\"message\",\"stack\",...}}; a plain object whose only key starts with $ is wrapped in {\"$object\":{...}}. Arguments may use the same forms.",
];

export const COMMANDS: CommandSpec[] = [
  {
    name: "ls", args: "[name]", minArgs: 0, maxArgs: 1,
    summary: "list live servers and their replicas",
    details: [
      "Lists every live shmrpc server you can see: yours (your runtime directory) and those at each --socket-path, one row per replica. A server killed by kill -9 is not listed: each socket's lock is checked, then the server is asked who it is. With a name, only that name's.",
      "NOTES: replica (one of several serving the name), token (it needs one), no access (its checks refuse you), no answer (alive, but did not answer within a second).",
    ],
    options: {
      json, help, "socket-path": { ...socketPath, multiple: true, help: "also look at this shared socket path (and its replicas); may be repeated" },
      nats: { type: "string", value: "<url>", help: "also list the services that answer $SRV.PING on this NATS server (one row per instance, with its methods), in a table of their own; with --json: { local, nats: { url, instances } }" },
      timeout,
    },
    examples: ["shmrpc ls", "shmrpc ls /calc --json", "shmrpc ls --socket-path /run/shared/calc.sock", "shmrpc ls --nats nats://127.0.0.1:4222"],
    load: () => import("./ls.js"),
  },
  {
    name: "describe", args: "<name>", minArgs: 1, maxArgs: 1,
    summary: "the methods a server serves, with their argument and result schemas",
    details: ["Asks the server (one replica, if several serve the name) what it serves. A contract method shows its argument and result types (from their JSON Schema; --json gives the schemas themselves); a bind() method has none (any).", NATS_NAME_HELP],
    options: { ...connecting, instance },
    examples: ["shmrpc describe /calc", "shmrpc describe /calc --json"],
    load: () => import("./describe.js"),
  },
  {
    name: "call", args: "<name> <method> [args…]", minArgs: 2, maxArgs: Infinity,
    summary: "call a method once and print its result as JSON",
    details: [
      NATS_NAME_HELP,
      "Each argument is JSON: 42, '\"text\"', '{\"a\":[1,2]}'. A lone - reads a JSON array of all the arguments from stdin. A negative number needs no --: shmrpc call /calc add -1 2.",
      "The result is printed as JSON (indented, or on one line with --json). On failure the error's code and message go to stderr (a JSON object with --json) and the exit code says which class of error it was (shmrpc --help lists them).",
      ...VALUES_HELP,
    ],
    options: { ...connecting, instance, stream: { type: "boolean", help: "call it as a stream: print each item as one JSON line as it arrives (no deadline unless --timeout); Ctrl-C cancels it" } },
    examples: ["shmrpc call /calc add 1 2", "shmrpc call /calc greet '\"world\"'", "echo '[[1,2,3]]' | shmrpc call /calc stats -", "SHMRPC_TOKEN=s3cret shmrpc call /vault get '\"key\"'", "shmrpc call /logs tail '\"app.log\"' --stream | head -n 20"],
    load: () => import("./call.js"),
  },
  {
    name: "stats", args: "<name>", minArgs: 1, maxArgs: 1,
    summary: "counters per method and per replica; --watch refreshes them",
    details: [
      NATS_NAME_HELP,
      "Asks each replica of the name for its counters (server.stats()): calls, errors, calls in flight and handler time of each method, and the clients connected. With several replicas, an \"all\" row per method sums them, followed by a row for each replica that has had calls of it.",
      "--watch refreshes every --interval: redrawn in place on a terminal, one table after another when piped, one JSON document per refresh (a line each) with --json. Ctrl-C ends it.",
      "--prometheus prints the counters in the Prometheus text format (shmrpc_requests_total, shmrpc_errors_total, shmrpc_in_flight, shmrpc_processing_seconds_total per method; shmrpc_up, shmrpc_connections, shmrpc_start_time_seconds per replica), for a node exporter's textfile collector: shmrpc stats /calc --prometheus > /var/lib/node_exporter/calc.prom.$$ && mv /var/lib/node_exporter/calc.prom.$$ /var/lib/node_exporter/calc.prom",
    ],
    options: {
      ...connecting,
      watch: { type: "boolean", short: "w", help: "refresh until interrupted" },
      interval: { type: "string", value: "<duration>", help: "time between refreshes with --watch (default 1s)" },
      count: { type: "string", value: "<n>", help: "stop after n refreshes (with --watch)" },
      prometheus: { type: "boolean", help: "print the Prometheus text exposition format instead of a table" },
    },
    examples: ["shmrpc stats /calc", "shmrpc stats /calc --watch", "shmrpc stats /calc --watch --json --interval 5s", "shmrpc stats /calc --prometheus"],
    load: () => import("./stats.js"),
  },
  {
    name: "ping", args: "<name>", minArgs: 1, maxArgs: 1,
    summary: "round trip to each replica",
    details: [
      NATS_NAME_HELP,
      "Connects to each replica of the name (the connect time includes the handshake and mapping the rings) and times --count round trips through its rings. A round trip asks for the reserved method \"$shmrpc.ping\", which no server can bind, so it runs no handler: the server answers at once that there is no such method.",
      "Exits 0 when every replica answered; otherwise with the exit code of the first failure.",
    ],
    options: { ...connecting, count: { type: "string", value: "<n>", help: "round trips per replica (default 5)" } },
    examples: ["shmrpc ping /calc", "shmrpc ping /calc --count 100 --json"],
    load: () => import("./ping.js"),
  },
  {
    name: "bench", args: "<name> <method> [args…]", minArgs: 2, maxArgs: Infinity,
    summary: "latency percentiles and calls/s of a method against a live server",
    details: [
      "Calls the method with the given arguments (JSON, as for call) for --duration, keeping --concurrency calls in flight (asyncCall), and prints calls/s and latency percentiles. A progress line on stderr shows how far it is. The first --warmup is not counted.",
      "Exits 0 when no call failed; otherwise, after the results, with the exit code of the first failure. It stops early when every call fails.",
    ],
    options: {
      ...connecting, instance,
      duration: { type: "string", value: "<duration>", help: "how long to measure (default 5s)" },
      concurrency: { type: "string", short: "c", value: "<n>", help: "calls in flight at once (default 1)" },
      warmup: { type: "string", value: "<duration>", help: "calls before measuring, not counted (default 500ms; 0 for none)" },
    },
    examples: ["shmrpc bench /calc add 1 2", "shmrpc bench /calc add 1 2 --duration 10s --concurrency 64 --json"],
    load: () => import("./bench.js"),
  },
];

export const EXIT_HELP = [
  ["0", "success"],
  ["1", "the handler threw or rejected (ERR_RPC_REMOTE), or broke its result schema (ERR_RPC_INVALID_RESULT)"],
  ["2", "usage: unknown command or option, missing or bad argument (not JSON), bad option value; nothing was sent"],
  ["3", "the arguments were refused (ERR_RPC_INVALID_ARGUMENT: a contract's schema, or a value that cannot be sent)"],
  ["4", "no such method (ERR_RPC_METHOD_NOT_FOUND)"],
  ["5", "unavailable: no server serves the name (ERR_RPC_NOT_CONNECTED), or it died or closed (ERR_RPC_DISCONNECTED)"],
  ["6", "the deadline passed (ERR_RPC_TIMEOUT)"],
  ["7", "access denied: another user's server, a missing or wrong token (ERR_RPC_ACCESS_DENIED), or the server's middleware refused the caller (ERR_RPC_ACCESS_DENIED, ERR_RPC_UNAUTHENTICATED)"],
  ["8", "over a limit of the server (ERR_RPC_SERVER_FULL, ERR_RPC_RESOURCE_EXHAUSTED, ERR_RPC_MESSAGE_TOO_LARGE)"],
  ["9", "protocol error (ERR_RPC_PROTOCOL) or anything unexpected"],
];

export function commandNamed(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** Wraps `text` at `width` columns, each line after the first indented by `indent`. */
function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    const limit = lines.length === 0 ? width : width + indent.length;
    if (line && line.length + 1 + word.length > limit) {
      lines.push(line);
      line = indent + word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n");
}

function optionsHelp(options: Record<string, OptionSpec>): string {
  const left = Object.entries(options).map(([name, o]) => `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? " " + o.value : ""}`);
  const pad = Math.max(...left.map((l) => l.length)) + 2;
  return Object.values(options)
    .map((o, i) => "  " + left[i]!.padEnd(pad) + wrap(o.help, 78 - pad, " ".repeat(pad + 2)))
    .join("\n");
}

export function mainHelp(version: string): string {
  const cmds = COMMANDS.map((c) => `  ${c.name.padEnd(10)}${c.summary}`).join("\n");
  const exits = EXIT_HELP.map(([code, what]) => `  ${code!.padStart(2)}  ${wrap(what!, 72, "      ")}`).join("\n");
  return `shmrpc ${version}: look at and call shmrpc servers on this host

Usage: shmrpc <command> [arguments] [options]

Commands:
${cmds}

Every command takes --json (machine-readable output) and --help.
A <name> is a server's name, e.g. /calc. SHMRPC_TOKEN in the environment is the token
for servers that need one (never printed).

Exit codes:
${exits}

Run 'shmrpc <command> --help' for a command's arguments and options.
`;
}

export function commandHelp(c: CommandSpec): string {
  const details = c.details.map((d) => wrap(d, 88)).join("\n\n");
  return `Usage: shmrpc ${c.name} ${c.args} [options]

${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.

${details}

Options:
${optionsHelp(c.options)}

Examples:
${c.examples.map((e) => "  " + e).join("\n")}
`;
}
