// shmrpc ls [name]: the live servers and their replicas (listServers()).

import { readFileSync } from "node:fs";
import { listServers, type ServerListing } from "../connection/discovery.js";
import type { Invocation } from "./commands.js";
import { Exit } from "./exit.js";
import { table, uptime } from "./output.js";
import { nameArgument, socketPaths } from "./target.js";

export async function run(inv: Invocation): Promise<number> {
  const name = inv.args.length > 0 ? nameArgument(inv) : undefined;
  const listed = (await listServers({ socketPaths: socketPaths(inv) }))
    .filter((s) => name === undefined || s.name === name)
    .sort((a, b) => a.name.localeCompare(b.name) || a.startedAt - b.startedAt || a.instanceId.localeCompare(b.instanceId));
  if (inv.options.json === true) {
    inv.out.json(listed.map((s) => ({ ...s, user: userName(s.uid) })));
    return Exit.OK;
  }
  if (listed.length === 0) {
    inv.out.out(name ? `no live server serves ${name}\n` : "no live servers\n");
    return Exit.OK;
  }
  const now = Date.now();
  const rows = listed.map((s) => [
    s.name || "?", s.instanceId || "?", s.pid || "?", userName(s.uid), count(s.clients), count(s.methods), uptime(s.startedAt, now), notes(s),
  ]);
  inv.out.out(table(["NAME", "INSTANCE", "PID", "USER", "CLIENTS", "METHODS", "UPTIME", "NOTES"], rows, [2, 4, 5, 6]));
  return Exit.OK;
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
