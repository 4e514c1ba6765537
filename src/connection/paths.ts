// Where a server's socket lives. By default in a directory only its user can enter
// (as tmux does with /tmp/tmux-<uid>), so that no other user can create, replace or
// squat on the name; an explicit `socketPath` serves other users on purpose.

import { lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "./crypto.js";
import { RpcError, ErrorCodes } from "../errors.js";

/** sun_path holds 108 bytes with its NUL. */
const SOCKET_PATH_MAX = 107;

/** The directory of this user's servers, the first of: $XDG_RUNTIME_DIR/shmrpc (when
 *  XDG_RUNTIME_DIR is a private directory of this user, as systemd makes it),
 *  /tmp/shmrpc-<uid>, $HOME/.shmrpc-run. Each is created 0700 if missing and used only
 *  if it is a real directory of this user that nobody else may enter or write. Server
 *  and client walk the same list, so another user who created /tmp/shmrpc-<uid> first
 *  moves both to the home directory: it can neither hold the name nor keep the server
 *  from starting. */
export function runtimeDir(): string {
  const uid = process.geteuid!();
  const candidates: string[] = [];
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith("/") && ownedPrivateDir(xdg, uid)) candidates.push(join(xdg, "shmrpc"));
  candidates.push(`/tmp/shmrpc-${uid}`);
  const home = process.env.HOME;
  if (home && home.startsWith("/") && ownedDir(home, uid)) candidates.push(join(home, ".shmrpc-run"));
  const refused: string[] = [];
  for (const dir of candidates) {
    // Looked at first, created only when missing: every connect walks this, and a
    // mkdir that fails with EEXIST costs a thrown error (0.1-0.2 ms of a connect).
    let st = lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) {
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
          refused.push(`${dir}: ${(e as Error).message}`);
          continue;
        }
      }
      st = lstatSync(dir);
    }
    if (st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
    refused.push(
      `${dir} is ${st.isSymbolicLink() ? "a symbolic link" : st.isDirectory() ? "a directory" : "not a directory"} of uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}`,
    );
  }
  throw new RpcError(
    ErrorCodes.ERR_RPC_ACCESS_DENIED,
    `no private directory of uid ${uid} for shmrpc's sockets (${refused.join("; ")}): set XDG_RUNTIME_DIR to one, or use the option socketPath`,
  );
}

function ownedDir(path: string, uid: number): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === uid;
  } catch {
    return false;
  }
}

function ownedPrivateDir(path: string, uid: number): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** The socket path of server `name` ("/calc"): `explicit` if given, else a file in
 *  the runtime directory named after it (hashed when the name would not fit a socket path). */
export function socketPathOf(name: string, explicit: string | undefined): string {
  if (explicit !== undefined) return explicit;
  const dir = runtimeDir();
  const file = name.slice(1) + ".sock";
  if (dir.length + 1 + file.length <= SOCKET_PATH_MAX) return join(dir, file);
  return join(dir, "h-" + sha256Hex(name).slice(0, 40) + ".sock");
}

/** Checks a `socketPath` option: an absolute path that fits a Unix socket address. */
export function validateSocketPath(path: unknown, what: string): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== "string" || !path.startsWith("/") || Buffer.byteLength(path) > SOCKET_PATH_MAX || path.includes("\0")) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be an absolute path of at most ${SOCKET_PATH_MAX} bytes`);
  }
  return path;
}

/** Where replicas of a name keep their sockets: a directory beside the name's socket
 *  path (`calc.sock.replicas/`), one `<instanceId>.sock` and its `.lock` per live
 *  replica. One socket per instance, so a client connects to each; the directory is
 *  found from the name alone. Hashed like the socket when a replica's socket path would
 *  not fit (an explicit socketPath too long for it is refused when the replica starts). */
export function replicaDirOf(name: string, explicit: string | undefined): string {
  const base = socketPathOf(name, explicit);
  if (explicit !== undefined || base.length + REPLICA_SUFFIX_MAX <= SOCKET_PATH_MAX) return base + REPLICA_DIR_SUFFIX;
  return join(runtimeDir(), "h-" + sha256Hex(name).slice(0, 40) + REPLICA_DIR_SUFFIX);
}

export const REPLICA_DIR_SUFFIX = ".replicas";
/** Instance ids are 22 hex digits (src/server.ts). */
const REPLICA_SUFFIX_MAX = REPLICA_DIR_SUFFIX.length + 1 + 22 + ".sock".length;

/** The socket path of replica `instanceId` of a name. */
export function replicaSocketPath(dir: string, instanceId: string): string {
  const path = join(dir, instanceId + ".sock");
  if (Buffer.byteLength(path) > SOCKET_PATH_MAX) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `the replica socket path ${path} is longer than ${SOCKET_PATH_MAX} bytes: choose a shorter socketPath`);
  }
  return path;
}
