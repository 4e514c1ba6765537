// shmrpc ls [name]: the live servers and their replicas (listServers()); with --nats <url>,
// also the services on NATS there (src/cli/ls-nats.ts), in a table of their own.

import { readFileSync } from "node:fs";
import { listServers, type ServerListing } from "../connection/discovery.js";
import type { Invocation } from "./commands.js";
import { Exit } from "./exit.js";
import { table, uptime } from "./output.js";
import { nameArgument, socketPaths } from "./target.js";
import { MAX_INSTANCES, natsInstances, type NatsInstance } from "./ls-nats.js";

export async function run(inv: Invocation): Promise<number> {
  const name = inv.args.length > 0 ? nameArgument(inv) : undefined;
  const listed = (await listServers({ socketPaths: socketPaths(inv) }))
    .filter((s) => name === undefined || s.name === name)
    .sort((a, b) => a.name.localeCompare(b.name) || a.startedAt - b.startedAt || a.instanceId.localeCompare(b.instanceId));
  const natsUrl = typeof inv.options.nats === "string" ? inv.options.nats : undefined;
  const found = natsUrl === undefined ? undefined : await natsInstances(inv, natsUrl);
  const remote = found?.instances.filter((s) => name === undefined || s.name === name || `/${s.service}` === name);
  // Nothing of what was asked for: `ls <name>` with no live server of it, `--nats` with no
  // service answering. A plain `ls` that finds no server has listed them all: that is 0.
  const none = (name !== undefined && listed.length === 0 && (remote === undefined || remote.length === 0)) || remote?.length === 0;
  const code = none ? Exit.UNAVAILABLE : Exit.OK;
  if (inv.options.json === true) {
    const local = listed.map((s) => ({ ...s, user: userName(s.uid) }));
    inv.out.json(remote === undefined ? local : { local, nats: { url: natsUrl, instances: remote, truncated: found!.truncated } });
    return code;
  }
  if (remote !== undefined) {
    const more = found!.truncated ? `(more than ${MAX_INSTANCES} instances answered: the first ${MAX_INSTANCES} are listed)\n` : "";
    inv.out.out(`On this host:\n${listed.length === 0 ? (name ? `no live server serves ${name}\n` : "no live servers\n") : localTable(listed)}\nOn NATS at ${natsUrl}:\n${remote.length === 0 ? `no services answered${name ? ` for ${name}` : ""}\n` : natsTable(remote) + more}`);
    return code;
  }
  if (listed.length === 0) {
    inv.out.out(name ? `no live server serves ${name}\n` : "no live servers\n");
    return code;
  }
  inv.out.out(localTable(listed));
  return code;
}

function natsTable(found: NatsInstance[]): string {
  const rows = found.map((s) => [s.name || "-", s.service, s.id, s.version, s.endpoints === null ? "?" : s.endpoints.length, s.endpoints?.join(" ") ?? ""]);
  return table(["NAME", "SERVICE", "INSTANCE", "VERSION", "METHODS", "ENDPOINTS"], rows, [4]);
}

function localTable(listed: ServerListing[]): string {
  const now = Date.now();
  const rows = listed.map((s) => [
    s.name || "?", s.instanceId || "?", s.pid || "?", userName(s.uid), count(s.clients), count(s.methods), uptime(s.startedAt, now), notes(s),
  ]);
  return table(["NAME", "INSTANCE", "PID", "USER", "CLIENTS", "METHODS", "UPTIME", "NOTES"], rows, [2, 4, 5, 6]);
}

function count(n: number): number | string {
  return n < 0 ? "?" : n;
}

function notes(s: ServerListing): string {
  const n: string[] = [];
  if (s.replica) n.push("replica");
  if (s.tokenRequired) n.push("token");
  if (!s.mayConnect) n.push("no access");
  else if (!s.responded) n.push("no answer");
  return n.join(", ");
}

let users: Map<number, string> | undefined;
/** The user's name from /etc/passwd, else the uid. */
function userName(uid: number): string {
  if (users === undefined) {
    users = new Map();
    try {
      for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
        const [user, , id] = line.split(":");
        if (user && id && /^\d+$/.test(id) && !users.has(Number(id))) users.set(Number(id), user);
      }
    } catch {
      // No passwd file: uids it is.
    }
  }
  return uid < 0 ? "?" : users.get(uid) ?? String(uid);
}
