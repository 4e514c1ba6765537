// The replicas of a name on the file system: `<name>.sock.replicas/<instance id>.sock`,
// each beside the `.lock` its replica holds (a write lock) for its whole life. A socket
// whose lock nobody holds is stale (its replica died, even by kill -9); instance ids are
// never reused, so whoever takes that lock may remove both files without any race.

import { readdirSync, lstatSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { native } from "../native.js";

/** The sockets of the live replicas in `dir` (sorted), removing stale ones of this user. */
export function liveReplicaSockets(dir: string): string[] {
  let entries: string[];
  let own = false;
  try {
    own = lstatSync(dir).uid === process.geteuid!();
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const live: string[] = [];
  for (const entry of entries.sort()) {
    if (!entry.endsWith(".sock")) continue;
    const socket = join(dir, entry);
    // Only a write lock proves the replica alive; a lock we may not read proves nothing.
    if (native.lockState(socket + ".lock") === 1) live.push(socket);
    else if (own) removeIfStale(socket);
  }
  return live;
}

/** Removes the socket at `socket` and its lock file if no replica holds the lock. */
export function removeIfStale(socket: string): void {
  let fd: number;
  try {
    fd = native.lockPath(socket + ".lock");
  } catch {
    return; // not ours to judge
  }
  if (fd < 0) return; // alive
  try {
    for (const path of [socket, socket + ".lock"]) {
      try {
        unlinkSync(path);
      } catch {
        // Someone else cleaned up first.
      }
    }
  } finally {
    native.closeFd(fd);
  }
}
