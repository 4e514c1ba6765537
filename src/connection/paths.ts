// Where a server's socket lives. By default in a directory only its user can enter
// (as tmux does with /tmp/tmux-<uid>), so that no other user can create, replace or
// squat on the name; an explicit `socketPath` serves other users on purpose.

import { lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { RpcError, ErrorCodes } from "../errors.js";

/** sun_path holds 108 bytes with its NUL. */
const SOCKET_PATH_MAX = 107;

/** The directory of this user's servers: $XDG_RUNTIME_DIR/shmrpc, or /tmp/shmrpc-<uid>.
 *  Created 0700 if missing; refused unless it is a real directory of this user that
 *  nobody else may enter or write. */
export function runtimeDir(): string {
  const uid = process.geteuid!();
  const xdg = process.env.XDG_RUNTIME_DIR;
  const dir = xdg && xdg.startsWith("/") && ownedPrivateDir(xdg, uid) ? join(xdg, "shmrpc") : `/tmp/shmrpc-${uid}`;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, `cannot create the directory of shmrpc's sockets ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new RpcError(
      ErrorCodes.ERR_RPC_ACCESS_DENIED,
      `refusing to use ${dir} for shmrpc's sockets: it must be a directory of uid ${uid} with mode 0700 ` +
        `(it is ${st.isSymbolicLink() ? "a symbolic link" : st.isDirectory() ? "a directory" : "not a directory"} of uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}); ` +
        "another user may have created it: remove it, or set XDG_RUNTIME_DIR",
    );
  }
  return dir;
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
  return join(dir, "h-" + createHash("sha256").update(name).digest("hex").slice(0, 40) + ".sock");
}

/** Checks a `socketPath` option: an absolute path that fits a Unix socket address. */
export function validateSocketPath(path: unknown, what: string): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== "string" || !path.startsWith("/") || Buffer.byteLength(path) > SOCKET_PATH_MAX || path.includes("\0")) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be an absolute path of at most ${SOCKET_PATH_MAX} bytes`);
  }
  return path;
}
