// How many connections the process's fd limit (RLIMIT_NOFILE, soft) leaves room for: each
// connection holds its socket, and a handshake also its memory's memfd until it is mapped.
// A maxConnections beyond that would end in EMFILE at accept, refusing clients with no
// reason told; the Server clamps it instead, and says so.

import { readFileSync, readdirSync } from "node:fs";

/** Fds kept free for everything else the process opens (files, NATS, the spare memory). */
const HEADROOM = 32;

/** The soft RLIMIT_NOFILE, or undefined when /proc does not tell. */
export function openFilesLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (line === null || line[1] === "unlimited") return undefined;
    const n = Number(line[1]);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Connections (handshakes included) the fd limit allows now, or undefined when unknown. */
export function connectionsTheFdLimitAllows(): number | undefined {
  const limit = openFilesLimit();
  if (limit === undefined) return undefined;
  let open = 0;
  try {
    open = readdirSync("/proc/self/fd").length;
  } catch {
    // Unknown: count none.
  }
  return Math.max(1, limit - open - HEADROOM);
}
