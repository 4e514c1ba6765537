// Which server a command talks to, and how: the Client options every connecting command
// shares (--timeout, --token or SHMRPC_TOKEN, --socket-path, --server-uid), and the
// replicas of a name as discovery lists them, for the per-replica views and --instance.

import { isAbsolute } from "node:path";
import { Client, type ClientOptions } from "../client.js";
import { listServers, type ServerListing } from "../connection/discovery.js";
import { RpcError, ErrorCodes } from "../errors.js";
import type { Invocation } from "./commands.js";
import { UsageError } from "./exit.js";
import { durationOption } from "./parse.js";
import { isNatsUrl } from "../nats/connect.js";

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The Client options of the command line, and the token hidden from all output. */
export function clientOptions(inv: Invocation): ClientOptions {
  const options: ClientOptions = { timeoutMs: durationOption(inv, "timeout", DEFAULT_TIMEOUT_MS) };
  const token = typeof inv.options.token === "string" ? inv.options.token : inv.env.SHMRPC_TOKEN;
  if (token) {
    inv.out.hide(token);
    options.token = token;
  }
  const [path] = socketPaths(inv);
  if (path !== undefined) options.socketPath = path;
  const uid = inv.options["server-uid"];
  if (uid !== undefined) {
    if (!/^\d+$/.test(String(uid))) throw new UsageError(`${inv.command.name}: --server-uid must be a numeric user id, not '${String(uid)}'`);
    options.serverUid = Number(uid);
  }
  return options;
}

/** The --socket-path values, each checked to be an absolute path (the library would refuse a
 *  relative one with ERR_RPC_INVALID_ARGUMENT; on the command line it is a usage error). */
export function socketPaths(inv: Invocation): string[] {
  const raw = inv.options["socket-path"];
  const paths = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
  for (const p of paths) {
    if (!isAbsolute(p)) throw new UsageError(`${inv.command.name}: --socket-path must be an absolute path, not '${p}'`, "the path the server was given as its socketPath option");
  }
  return paths;
}

/** The name argument, checked as a server name (the Client would refuse it later with
 *  ERR_RPC_INVALID_ARGUMENT; on the command line it is a usage error). */
export function nameArgument(inv: Invocation): string {
  const name = inv.args[0]!;
  if (isNatsUrl(name)) return natsUrlArgument(inv, name);
  if (!/^\/[A-Za-z0-9._-]{1,200}$/.test(name)) {
    throw new UsageError(`${inv.command.name}: '${name}' is not a server name`, "a name is / and 1 to 200 of A-Z a-z 0-9 . _ -, e.g. /calc; 'shmrpc ls' lists them");
  }
  return name;
}

/** A name given as a NATS URL ("nats://host:4222/calc"): checked, its password hidden from
 *  all output, and the options that only reach this host refused. */
function natsUrlArgument(inv: Invocation, url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (parsed === undefined || parsed.host === "" || !/^\/[A-Za-z0-9._-]{1,200}$/.test(decodeURIComponent(parsed.pathname))) {
    throw new UsageError(`${inv.command.name}: '${url}' is not a NATS URL of a server name`, "e.g. nats://127.0.0.1:4222/calc (user:password@ before the host if the NATS server needs them)");
  }
  if (parsed.password !== "") inv.out.hide(decodeURIComponent(parsed.password));
  for (const local of ["instance", "socket-path", "token", "server-uid"]) {
    if (inv.options[local] !== undefined) throw new UsageError(`${inv.command.name}: --${local} is for a server on this host, not one reached over NATS`);
  }
  return url;
}

/** The live instances serving `name` (one per replica; one for a name served without
 *  replicas), at --socket-path when given. */
export async function instancesOf(inv: Invocation, name: string): Promise<ServerListing[]> {
  // Over NATS a call reaches the service (its queue group), not one chosen instance: one row.
  if (isNatsUrl(name)) return [natsListing(name)];
  const [path] = socketPaths(inv);
  const listed = await listServers({ socketPaths: path === undefined ? [] : [path] });
  return listed.filter((s) => {
    if (path !== undefined) return s.socketPath === path || s.socketPath.startsWith(path + ".replicas/");
    return s.name === name;
  });
}

/** Every live instance of `name`, or ERR_RPC_NOT_CONNECTED when there is none. */
export async function requireInstances(inv: Invocation, name: string): Promise<ServerListing[]> {
  const found = await instancesOf(inv, name);
  if (found.length === 0) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `no live server serves ${name}${typeof inv.options["socket-path"] === "string" ? ` at ${String(inv.options["socket-path"])}` : ""}`);
  return found;
}

/** A Client of `name`: of the one replica --instance names, else of the name itself. */
export async function clientFor(inv: Invocation, name: string): Promise<Client> {
  if (isNatsUrl(name)) return new Client(name, { timeoutMs: clientOptions(inv).timeoutMs });
  const options = clientOptions(inv);
  const wanted = inv.options.instance;
  if (typeof wanted === "string") {
    const all = await requireInstances(inv, name);
    const matches = all.filter((s) => s.instanceId.startsWith(wanted));
    if (matches.length !== 1) {
      throw new UsageError(
        `${inv.command.name}: ${matches.length === 0 ? "no" : "more than one"} instance of ${name} ${matches.length === 0 ? "has an id starting with" : "matches"} '${wanted}'`,
        `its instances: ${all.map((s) => s.instanceId || "(no answer)").join(", ")}`,
      );
    }
    options.socketPath = matches[0]!.socketPath;
  }
  return new Client(name, options);
}

/** A Client of exactly the instance `listing`. */
export function clientOfInstance(inv: Invocation, name: string, listing: ServerListing): Client {
  if (isNatsUrl(name)) return new Client(name, { timeoutMs: clientOptions(inv).timeoutMs });
  return new Client(name, { ...clientOptions(inv), socketPath: listing.socketPath });
}

/** A short form of an instance id for tables (--json and `ls --json` give it whole). */
export function shortId(id: string): string {
  return id ? id.slice(0, 8) : "?";
}

/** The one row of a service reached over NATS (`shmrpc ls --nats` lists its instances). */
function natsListing(url: string): ServerListing {
  return {
    name: decodeURIComponent(new URL(url).pathname), instanceId: "nats", replica: false, socketPath: url, pid: 0, uid: -1,
    startedAt: 0, protocolVersion: 0, clients: -1, methods: -1, mayConnect: true, responded: true, tokenRequired: false,
  };
}
