// Discovery: which shmrpc servers live on this host, as this process can see them.
// The runtime directory (and any shared socket paths given) hold one socket per
// server, or one per replica in `<name>.sock.replicas/`. A socket file is only a
// claim: a server killed by kill -9 leaves its socket behind. What proves a server
// alive is the lock it holds for its whole life, read here without taking it
// (F_OFD_GETLK), so that looking never gets in the way of a server starting. Each live
// socket is then asked INFO (src/protocol.ts, DISCOVERY), all at once, each for at
// most `probeTimeoutMs`: a wedged server costs the listing that long, never a hang.

import { lstatSync, readdirSync } from "node:fs";
import { join, basename } from "node:path";
import { native } from "../native.js";
import { L } from "../core/layout.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { timerDelay } from "../timers.js";
import { positive } from "../options.js";
import { Link } from "./link.js";
import { runtimeDir, validateSocketPath, REPLICA_DIR_SUFFIX } from "./paths.js";
import { liveReplicaSockets } from "./replicas.js";
import { Msg, MAX_MESSAGE_BYTES, INFO_REPLICA, INFO_TOKEN, infoMessage, parseMessage } from "./handshake.js";

/** One live server (or one replica of a name) as {@link listServers} reports it. */
export interface ServerListing {
  /** The server's name ("/calc"); when the server did not answer, as its socket's file
   *  name says ("" for a hashed long name). */
  name: string;
  /** Unique per serving Server object; "" when the server did not answer. */
  instanceId: string;
  /** Served with `{ replica: true }` (known from where its socket is, even without an answer). */
  replica: boolean;
  /** `new Client(name, { socketPath })` reaches exactly this instance. */
  socketPath: string;
  /** The server's process id (from the kernel, SO_PEERCRED, when we could connect); 0 when unknown. */
  pid: number;
  /** The server's user id: from the kernel when we could connect, else the socket file's owner. */
  uid: number;
  /** When it started, ms since the epoch; 0 when it did not answer. */
  startedAt: number;
  /** The protocol version it speaks (also told by a refusal); 0 when unknown. */
  protocolVersion: number;
  /** Clients connected now; -1 when it did not answer. */
  clients: number;
  /** Methods it serves (its own two reserved ones aside); -1 when it did not answer. */
  methods: number;
  /** Whether this process passes the server's credential checks (it may still need a token). */
  mayConnect: boolean;
  /** Whether it answered the probe in time (false: refused us, or its event loop is
   *  stuck; the unknown fields then hold 0, "" or -1 as said above). */
  responded: boolean;
  /** Whether it requires a token (false when it did not answer). */
  tokenRequired: boolean;
}

/** Options of {@link listServers}. */
export interface ListServersOptions {
  /** Shared socket paths (a server's `socketPath` option) to look at too, beside this
   *  user's runtime directory; the replicas of each are found beside it. */
  socketPaths?: string[];
  /** How long each server may take to answer (default 1000 ms; all are asked at once). */
  probeTimeoutMs?: number;
}

/** A socket to probe and what its place says about it. */
interface Candidate { path: string; name: string; replica: boolean }

/** Every live server this process can see: this user's (its runtime directory) and
 *  those at `options.socketPaths`, replicas one entry each. Never lists a server whose
 *  lock is free (it died); removes stale replica sockets of this user on the way. */
export async function listServers(options: ListServersOptions = {}): Promise<ServerListing[]> {
  const timeoutMs = positive(options.probeTimeoutMs, 1000, "probeTimeoutMs");
  const paths = options.socketPaths ?? [];
  if (!Array.isArray(paths)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "option socketPaths must be an array of absolute paths");
  const candidates: Candidate[] = [];
  const dir = runtimeDir();
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    // An unreadable directory lists nothing.
  }
  for (const entry of entries.sort()) {
    if (entry.endsWith(".sock")) addSocket(candidates, join(dir, entry), nameOfFile(entry));
    else if (entry.endsWith(".sock" + REPLICA_DIR_SUFFIX) || (entry.startsWith("h-") && entry.endsWith(REPLICA_DIR_SUFFIX))) {
      addReplicas(candidates, join(dir, entry), nameOfFile(entry.slice(0, -REPLICA_DIR_SUFFIX.length)));
    }
  }
  for (const p of paths) {
    const path = validateSocketPath(p, "socketPaths")!;
    addSocket(candidates, path, "");
    addReplicas(candidates, path + REPLICA_DIR_SUFFIX, "");
  }
  const seen = new Set<string>();
  const unique = candidates.filter((c) => !seen.has(c.path) && seen.add(c.path));
  const listed = await Promise.all(unique.map((c) => probe(c, timeoutMs)));
  return listed.filter((s): s is ServerListing => s !== undefined);
}

/** "/calc" from "calc.sock"; "" for a hashed name (only the server can tell it). */
function nameOfFile(file: string): string {
  if (/^h-[0-9a-f]{40}(\.sock)?$/.test(file)) return "";
  return "/" + file.slice(0, -".sock".length);
}

/** Adds the socket at `path` if a live server holds its lock. */
function addSocket(out: Candidate[], path: string, name: string, replica = false): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) return;
  // Only a write lock, held for the server's whole life, proves it alive. The name's lock
  // of another user's server is private to that user (mode 0600): then the probe decides
  // (a dead server's socket refuses the connect).
  const state = native.lockState(path + ".lock");
  if (state !== 1 && !(state === -1 && st.uid !== process.geteuid!())) return;
  out.push({ path, name, replica });
}

function addReplicas(out: Candidate[], dir: string, name: string): void {
  for (const socket of liveReplicaSockets(dir)) addSocket(out, socket, name, true);
}

/** Asks the server at `c.path` who it is, for at most `timeoutMs`. Undefined when nobody
 *  listens there after all (it died between the lock check and now). */
function probe(c: Candidate, timeoutMs: number): Promise<ServerListing | undefined> {
  const listing: ServerListing = {
    name: c.name, instanceId: c.replica ? basename(c.path, ".sock") : "", replica: c.replica, socketPath: c.path,
    pid: 0, uid: ownerOf(c.path), startedAt: 0, protocolVersion: 0, clients: -1, methods: -1,
    mayConnect: false, responded: false, tokenRequired: false,
  };
  let fd: number;
  try {
    fd = native.connectUnix(c.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // EACCES: alive (its lock said so) but not ours to reach. EAGAIN: alive, its
    // accept queue full. Anything else (ECONNREFUSED, ENOENT): gone.
    if (code === "EACCES" || code === "EPERM" || code === "EAGAIN") return Promise.resolve(listing);
    return Promise.resolve(undefined);
  }
  const link = new Link(fd);
  try {
    const cred = native.peerCred(fd);
    listing.pid = cred.pid;
    listing.uid = cred.uid;
    // Our own user's server always lets us in (src/connection/listener.ts, allowed).
    listing.mayConnect = cred.uid === process.geteuid!();
    link.send(infoMessage());
  } catch {
    // It hung up at once: a refusal may still be waiting to be read.
  }
  const buffer = Buffer.alloc(MAX_MESSAGE_BYTES + 1);
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      link.close();
      resolve(listing);
    };
    const timer = setTimeout(finish, timerDelay(timeoutMs)); // ref'd: the listing keeps the process alive
    link.onEvent = () => {
      let packet;
      try {
        packet = native.recvPacket(fd, buffer);
      } catch {
        return finish();
      }
      if (packet === null) return;
      for (const passed of packet.fds) native.closeFd(passed);
      if (packet.bytes === 0 || packet.truncated) return finish();
      const m = parseMessage(buffer, packet.bytes);
      if (typeof m !== "string" && m.type === Msg.INFO_REPLY) {
        const i = m.info;
        Object.assign(listing, {
          name: i.name, instanceId: i.instanceId, replica: (i.flags & INFO_REPLICA) !== 0, startedAt: i.startedAt,
          protocolVersion: i.version, clients: i.clients, methods: i.methods, mayConnect: true, responded: true,
          tokenRequired: (i.flags & INFO_TOKEN) !== 0,
        });
      } else if (typeof m !== "string" && m.type === Msg.REFUSE) {
        listing.protocolVersion = m.refuse.version;
        listing.mayConnect = m.refuse.reason !== L.REASON_ACCESS && listing.mayConnect;
      }
      finish();
    };
    link.watch();
  });
}

function ownerOf(path: string): number {
  try {
    return lstatSync(path).uid;
  } catch {
    return -1;
  }
}
