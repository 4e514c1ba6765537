// The wire protocol of shmrpc, version 2 (L.PROTOCOL_VERSION): everything a client in another language
// needs, next to assembly/layout.ts (offsets) and assembly/codec.ts (value encoding).
//
// NAMES. A server is named like a POSIX shared-memory object: "/" then 1..200 of
// [A-Za-z0-9._-] ("/rpc_demo"). The server's control segment is that object; a
// client's segment is "<name>@<nonce as 8 hex digits>". "@" cannot appear in a
// user's name, so no user name ever collides with a client segment.
//
// LIVENESS. The server holds an open-file-description lock (F_OFD_SETLK) on its
// control segment, and each client one on its own segment, for as long as they
// live: the kernel drops them when a process dies, even by kill -9, so a peer
// tests the other with F_OFD_GETLK and never trusts a pid.
//
// HANDSHAKE.
//  1. The server creates "<name>@tmp<pid>", takes its lock, writes the header
//     (magic last), then link()s it to "<name>": the name appears fully formed.
//     An existing "<name>" whose lock is free belongs to a dead server and is
//     removed first; one whose lock is held means ERR_RPC_ADDRESS_IN_USE.
//  2. A client maps the control segment, checks magic, version, size and slot count
//     (a mismatch is ERR_RPC_PROTOCOL naming both versions), and claims a slot with a
//     compare-and-swap FREE -> CLAIMED. It creates its segment (header, two rings;
//     mode 0600, plus an ACL entry for the server's user if that is another one),
//     takes its lock, writes the SHA-256 of its token if it has one, fills the slot
//     (pid, nonce, segment size), sets the slot REQUESTED, bumps the connect counter
//     and rings the server's doorbell. It may write requests at once: the server
//     reads them once it has accepted.
//  3. The server, seeing the counter change, opens "<name>@<nonce>", checks its
//     header against the slot, its version, its creator (uid/gid from the kernel:
//     the server's own user, or one allowed by option) and its token, maps it,
//     unlinks the name (both sides hold it open now, so nothing is left in
//     /dev/shm; a client of another user unlinks its own), sets the slot ACCEPTED,
//     or writes a REASON_* into the slot and sets it REJECTED, and rings the
//     client's doorbell. A refused client reads the reason and frees the slot.
//  4. Either side may send GOODBYE; the server frees the slot when the client said
//     goodbye or died. When the server ends a connection itself (close, a broken
//     protocol, responses left unread past maxQueuedBytes) it first writes a
//     REASON_* at +512 of the client's segment, so that a client whose ring is too
//     full for the GOODBYE still learns why.
//
// RETRY SAFETY. Before running a request the server stores its id at +384 of the
// client's segment. Ids grow by one per request and requests are taken in order,
// so after a lost connection (or a timeout) a call was never run when its id is
// after that one: the client reports this as err.maybeExecuted = false.
//
// BACKPRESSURE. While responses to a client wait for room in its ring, the server
// takes no more of its requests.
//
// RECORDS (assembly/ring.ts): [length u32][type u32][payload]. Payloads, all
// little-endian, start with the call id so that every message can be matched:
//   REQUEST   [id u32][name length u8][method name, UTF-8][pad][arguments: one encoded array]
//   RESPONSE  [id u32][pad][result: one encoded value]
//   ERROR     [id u32][kind u8][pad][details: one encoded value, see ErrorKind]
//             details = { name, message, stack, code? , issues? }; issues (INVALID_ARGUMENT
//             and INVALID_RESULT of a contract method) = [{ message, path: (string|number)[] }]
// The encoded value always starts 8-byte aligned in the payload (pad = 0..7
// bytes of any content), so binary data inside it is aligned for fast copies.
//   FRAGMENT_FIRST [total u32][inner type u32][first bytes of the inner payload]
//   FRAGMENT_MORE  [next bytes]   (until total bytes have arrived; no other record
//                                  interleaves: the producer finishes a message first)
//   GOODBYE   []                  the sender closes; nothing follows
// A message whose payload exceeds a quarter of the ring travels as fragments.
//
// RESERVED METHODS. Method names starting with "$" belong to shmrpc: bind() and
// implement() refuse them, and the server answers these itself, as ordinary requests:
//   "$shmrpc.describe" ()  -> { name, version, pid, uid, started, methods: [{ name, args,
//                             result, idempotent, description }] } (src/contracts/describe.ts)
//   "$shmrpc.stats"    ()  -> a NATS ADR-32 stats response plus connections (src/contracts/stats.ts)
//
// WAKING. Each side has a doorbell word and a parked counter in shared memory
// (server: control segment; client: its own segment). A side that found nothing
// to do increments its parked counter, re-checks its rings, then sleeps in
// futex_wait on the doorbell. A producer that published a record (or freed room)
// and sees the peer's parked counter non-zero swaps it to zero; the one producer
// that cleared it increments the doorbell and futex-wakes all sleepers (a burst
// of requests costs one system call, not one each). Sequentially consistent atomics on both sides make a lost
// wake-up impossible (see assembly/ring.ts).

import { createHash } from "node:crypto";
import { RpcError, ErrorCodes, type ErrorCode } from "./errors.js";

export const NAME_MAX_LENGTH = 200;
const NAME_PATTERN = /^\/[A-Za-z0-9._-]{1,200}$/;

/** Throws ERR_RPC_INVALID_ARGUMENT unless `name` is a valid server name. */
export function validateName(name: unknown): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name) || name === "/." || name === "/..") {
    throw new RpcError(
      ErrorCodes.ERR_RPC_INVALID_ARGUMENT,
      `invalid server name ${JSON.stringify(name)}: expected "/" followed by 1 to ${NAME_MAX_LENGTH} characters of [A-Za-z0-9._-]`,
    );
  }
  return name;
}

export function clientSegmentName(server: string, nonce: number): string {
  return `${server}@${(nonce >>> 0).toString(16).padStart(8, "0")}`;
}

export function clientSegmentPrefix(server: string): string {
  return `${server}@`;
}

export const METHOD_NAME_MAX_BYTES = 255;

// Byte offsets inside payloads.
export const P_ID = 0;
export const P_NAME_LENGTH = 4;
export const P_NAME = 5;
export const P_ERROR_KIND = 4;
/** Where the encoded value starts after a header of `bytes`. */
export function bodyOffset(headerBytes: number): number {
  return (headerBytes + 7) & ~7;
}
export const P_RESPONSE_BODY = 8;
/** Room the encoder leaves in front of a value for the longest header (a request's). */
export const HEADROOM = bodyOffset(P_NAME + METHOD_NAME_MAX_BYTES);
export const P_ERROR_DETAILS = 8;
export const P_FRAGMENT_TOTAL = 0;
export const P_FRAGMENT_TYPE = 4;
export const P_FRAGMENT_DATA = 8;

/** The kind byte of an ERROR record, and the error code the caller sees. */
export const ErrorKind = {
  REMOTE: 1,
  METHOD_NOT_FOUND: 2,
  MESSAGE_TOO_LARGE: 3,
  INVALID_ARGUMENT: 4,
  /** A handler's result broke its contract's result schema (details carry issues). */
  INVALID_RESULT: 5,
} as const;

/** The requests a server answers itself (see RESERVED METHODS above). */
export const DESCRIBE_METHOD = "$shmrpc.describe";
export const STATS_METHOD = "$shmrpc.stats";

const KIND_TO_CODE: Record<number, ErrorCode> = {
  [ErrorKind.REMOTE]: ErrorCodes.ERR_RPC_REMOTE,
  [ErrorKind.METHOD_NOT_FOUND]: ErrorCodes.ERR_RPC_METHOD_NOT_FOUND,
  [ErrorKind.MESSAGE_TOO_LARGE]: ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE,
  [ErrorKind.INVALID_ARGUMENT]: ErrorCodes.ERR_RPC_INVALID_ARGUMENT,
  [ErrorKind.INVALID_RESULT]: ErrorCodes.ERR_RPC_INVALID_RESULT,
};

export function codeOfKind(kind: number): ErrorCode | undefined {
  return KIND_TO_CODE[kind];
}

/** Defaults shared by both sides. */
export const DEFAULT_RING_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The SHA-256 of a token: what a client presents and a server compares (equal lengths, so constant time). */
export function tokenHash(token: unknown, what: string): Buffer {
  if ((typeof token !== "string" && !(token instanceof Uint8Array)) || token.length === 0) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be a non-empty string or Uint8Array`);
  }
  return createHash("sha256").update(token).digest();
}

