// The wire protocol of shmrpc, version 7 (L.PROTOCOL_VERSION): everything a client in another language
// needs, next to assembly/layout.ts (offsets of the shared memory), src/connection/handshake.ts
// (the handshake's message layouts) and assembly/codec.ts (value encoding).
//
// NAMES. A server is named "/" then 1..200 of [A-Za-z0-9._-] ("/rpc_demo"). It listens on a
// Unix socket (SOCK_SEQPACKET) at "<dir>/<name without the slash>.sock", where <dir> is
// $XDG_RUNTIME_DIR/shmrpc or /tmp/shmrpc-<uid>: a directory of the server's user, mode
// 0700, checked before use, so no other user can create, replace or squat on the name.
// (A name too long for a socket address becomes "h-<40 hex digits of its SHA-256>.sock".)
// The option socketPath, given to both sides, puts it elsewhere, for serving other users.
//
// OWNERSHIP. The server holds an open-file-description lock on "<socket path>.lock"
// for its life; the kernel drops it when the process dies, even by kill -9. Only the
// holder of the lock replaces the socket file, so a dead server's socket is reclaimed
// and two servers starting at once cannot both win: the other gets ERR_RPC_ADDRESS_IN_USE.
//
// HANDSHAKE (each message one packet; layouts in src/connection/handshake.ts).
//  1. The client connects and reads the server's credentials from the kernel
//     (SO_PEERCRED): unless the server runs as its own user (or the uid given as
//     serverUid), it hangs up having sent nothing.
//  2. The server reads the client's pid, uid and gid the same way and refuses
//     (REFUSE, reason ACCESS) users and groups it does not allow, before reading a byte.
//  3. Client: HELLO (version, ring size, whether it holds a token, a fresh 32-byte nonce).
//  4. A server that requires a token answers CHALLENGE: its own fresh nonce, nothing else.
//     The client sends AUTH with HMAC-SHA256(key, "shmrpc client proof" | server nonce |
//     client nonce), where key is the SHA-256 of the token; the server checks it (else
//     REFUSE, reason ACCESS) and puts its own proof, HMAC-SHA256(key, "shmrpc server proof" |
//     client nonce | server nonce), in its ACCEPT, which the client checks before using the
//     connection. Order (since version 5): the server is the side open to less-trusted
//     peers (any user it allows may connect), so it sends nothing derived from the token
//     until the peer has proven the token; a peer that stops after CHALLENGE has nothing to
//     crack offline. The client proves first only to a server of the uid it trusts (step 1).
//     Neither side sends the token or anything that lets a recording be replayed: the nonces
//     are new on every connection. A token is at least 16 bytes (MIN_TOKEN_BYTES): a proof
//     an allowed client sees is still an offline oracle for a token short enough to guess.
//  5. The server checks the version and its budgets (maxRingBytes, maxMappedBytes,
//     maxConnections), creates the connection's memory as a memfd, reserves its pages
//     (fallocate), seals it (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), writes its header
//     (through the fd) and sends ACCEPT with the fd (SCM_RIGHTS), mapping the memory itself
//     only then. Or REFUSE with a REASON_* and a text.
//  6. The client checks the fd's seals and size, maps it, and calls at once.
// A handshake must finish within handshakeTimeoutMs (default 5 s); the server holds at
// most maxConnections connections and handshakes together.
//
// DISCOVERY. Instead of HELLO at step 3, a client may send INFO; a server that allowed
// it at step 2 answers INFO_REPLY (pid, uid, instance id, name, started, clients,
// methods, whether it is a replica, whether it requires a token) and hangs up. No token
// is asked for: what it tells is what `ps` and the runtime directory already show to
// the users it allows.
//
// NAMES. A server without replicas holds a write lock (OFD) on `<name>.sock.lock` and
// listens on `<name>.sock`. Replicas each hold a read lock on that same file (so that
// neither kind can join the other, however they race) and a write lock on
// `<name>.sock.replicas/<instance id>.sock.lock`, listening beside it. A socket whose
// lock nobody holds is stale, whatever the file system says.
//
// LIVENESS. Each side keeps the socket for the connection's life. Its hang-up is the
// peer's death or close: the event loop reports it; a side busy in a loop (a serving
// turn, a blocked synchronous call) polls the socket at a bounded interval.
//
// ENDING. Either side may send GOODBYE in the ring and then close the socket. When the
// server ends a connection itself (close, a broken protocol, responses left unread past
// maxQueuedBytes) it first writes a REASON_* at CONN_DROP_REASON of the connection's
// memory, so that a client whose ring is too full for the GOODBYE still learns why.
//
// RETRY SAFETY. Before running a request the server stores its id at CONN_TAKEN_ID.
// Ids grow by one per request and requests are taken in order, so after a lost
// connection (or a timeout) a call was never run when its id is after that one: the
// client reports this as err.maybeExecuted = false.
//
// BACKPRESSURE. While responses to a client wait for room in its ring, the server
// takes no more of its requests.
//
// RECORDS (assembly/ring.ts): [length u32][type u32][payload]. Payloads, all
// little-endian, start with the call id so that every message can be matched:
//   REQUEST   [id u32][name length u8][method name, UTF-8][pad][arguments: one encoded array]
//   CALL      [id u32][method id u32][arguments: one encoded array]       (since version 4)
//   METHOD_ID [method id u32][name length u8][method name, UTF-8][pad]     (server -> client)
//   RESPONSE  [id u32][pad][result: one encoded value]
//   ERROR     [id u32][kind u8][pad][details: one encoded value, see ErrorKind]
//             details = { name, message, stack, code? , issues? }; issues (INVALID_ARGUMENT
//             and INVALID_RESULT of a contract method) = [{ message, path: (string|number)[] }]
// The encoded value always starts 8-byte aligned in the payload (pad = 0..7
// bytes of any content), so binary data inside it is aligned for fast copies.
//   FRAGMENT_FIRST [total u32][inner type u32][tail u32][0 u32][first bytes of the inner payload]  (16-byte header since version 4)
//                  (tail: bytes at the end that are one binary ending the value, or 0)
//   FRAGMENT_MORE  [next bytes]   (until total bytes have arrived; no other record
//                                  interleaves: the producer finishes a message first)
//   GOODBYE   []                  the sender closes; nothing follows
//   CONTEXT   [id u32][remaining ms u32][metadata: one encoded object of strings, or none]
//             (since version 6; client -> server) the deadline and metadata of call `id`,
//             sent just before its REQUEST or CALL, only when the call has metadata or a
//             timeout other than the connection's default. With id 0 (the first record of
//             a connection): the client's default timeout, the deadline of every call sent
//             without a CONTEXT. A CONTEXT whose next request has another id is dropped.
//   CANCEL    [id u32][reason u8][pad]   (since version 6; client -> server) the caller
//             gave up on call `id` (reason 1: its timeout, 2: an abort): a running handler
//             bound with { context: true } has its ctx.signal aborted, a stream ends; otherwise ignored.
//   STREAM_ITEM   [id u32][pad][item: one encoded value]   (since version 7; both ways)
//   STREAM_CREDIT [id u32][items u32][bytes u32][pad]      (since version 7; both ways)
//   STREAM_ARG    [id u32][argument index u32]              (since version 7; client -> server)
//   STREAM_END    [id u32][reason u8][pad]                  (since version 7; client -> server)
// STREAMS (version 7). A STREAM_CREDIT just before a REQUEST or CALL (after its CONTEXT) makes
// that call a stream call and is the credit it opens with; later ones for a running stream add
// credit. A stream handler's items go as STREAM_ITEMs while item and byte credit are both above
// zero (each costs 1 item and its encoded size in bytes); the stream ends with the call's
// RESPONSE (the iterator's return value) or ERROR. CANCEL closes the iterator. A client that
// gets an item beyond its credit ends the connection. (src/serving/stream.ts, src/calls/stream.ts)
// A STREAM_ARG before a request says its argument `index` (sent as null) is streamed: its items
// follow as STREAM_ITEMs from the client within ARG_WINDOW_* and the server's STREAM_CREDITs,
// then STREAM_END (0: done, 1: the caller's source failed). (src/serving/inbound.ts)
// DRAINING (version 6, no new bytes). A server closed with close({ drainMs }) stops
// listening (a restarted server or a replica may take the name at once) and answers every
// request it takes from then on with an ERROR of kind UNAVAILABLE (7), having run nothing:
// that answer is how its clients learn it drains. The client reports ERR_RPC_UNAVAILABLE
// with maybeExecuted false and re-sends the call to another instance, or to a server
// started again under the name, within the call's deadline, whatever its method. Calls
// already running finish (up to drainMs; then those bound with { context: true } have
// their ctx.signal aborted) and the server ends every connection as on close().
// A message whose payload exceeds a quarter of the ring travels as fragments.
// The payload offsets (P_ID, P_NAME, ...) and the code that writes these headers are in
// src/frames.ts.
//
// METHOD IDS (version 4). A server numbers its methods; a number is given to one name for
// the server's life and never to another (src/serving/methods.ts). A client calls a
// method by name (REQUEST) until the server has told it the number: on the first
// REQUEST of a method on a connection, the server sends METHOD_ID before the answer.
// The client then sends CALLs with that number on that connection (and only there:
// another server, a replica or a restart, numbers its methods its own way). A CALL
// whose number the server never gave, or whose method was removed, is answered ERROR
// METHOD_NOT_FOUND; a CALL shorter than its header breaks the protocol. A server needs
// no CALL from a client: REQUESTs alone are a complete client. A version 3 peer is
// refused in the handshake (REFUSE, REASON_VERSION), naming both versions; so is an older
// peer since version 6 (CONTEXT, CANCEL).
//
// RESERVED METHODS. Method names starting with "$" belong to shmrpc: bind() and
// implement() refuse them, and the server answers these itself, as ordinary requests:
//   "$shmrpc.describe" ()  -> { name, version, pid, uid, started, methods: [{ name, args,
//                             result, yields, idempotent, description }] } (src/contracts/describe.ts)
//   "$shmrpc.stats"    ()  -> a NATS ADR-32 stats response plus connections (src/contracts/stats.ts)
//
// OVER NATS. The same methods, values and error codes travel over NATS too: subjects,
// headers and payloads are described in src/nats/subjects.ts.
//
// WAKING. The client parks on a futex: it increments CONN_CLIENT_PARKED, re-checks its
// ring, then sleeps on CONN_CLIENT_DOORBELL. The server, having published, swaps the
// parked word to zero when it is not, and if it cleared it bumps the doorbell and
// futex-wakes. The server parks in its event loop: it sets CONN_SERVER_PARKED in every
// connection's memory, re-checks every ring, and returns to the loop; a client that
// published and swaps that word from non-zero to zero sends one byte on its socket,
// which wakes the loop. No word is shared between two connections: a client that plays
// with its own words can only delay its own calls. Sequentially consistent atomics on
// both sides make a lost wake-up impossible (see assembly/ring.ts).

import { nodeCrypto } from "./connection/crypto.js";
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

// (defined in src/frames.ts, which the engine imports without the handshake's crypto)
export { METHOD_NAME_MAX_BYTES } from "./frames.js";

/** The kind byte of an ERROR record, and the error code the caller sees. */
export const ErrorKind = {
  REMOTE: 1,
  METHOD_NOT_FOUND: 2,
  MESSAGE_TOO_LARGE: 3,
  INVALID_ARGUMENT: 4,
  /** A handler's result broke its contract's result schema (details carry issues). */
  INVALID_RESULT: 5,
  /** Over one of the server's budgets for this client (calls in flight, memory of
   *  unfinished messages): the call did not run. */
  RESOURCE_EXHAUSTED: 6,
  /** The server is draining (close({ drainMs })): it takes no new call; this one did
   *  not run, and the client sends it elsewhere (ERR_RPC_UNAVAILABLE, maybeExecuted false). */
  UNAVAILABLE: 7,
  /** A middleware or handler threw ERR_RPC_UNAUTHENTICATED (src/serving/status.ts). */
  UNAUTHENTICATED: 8,
  /** A middleware or handler threw ERR_RPC_ACCESS_DENIED (src/serving/status.ts). */
  ACCESS_DENIED: 9,
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
  [ErrorKind.RESOURCE_EXHAUSTED]: ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED,
  [ErrorKind.UNAVAILABLE]: ErrorCodes.ERR_RPC_UNAVAILABLE,
  [ErrorKind.UNAUTHENTICATED]: ErrorCodes.ERR_RPC_UNAUTHENTICATED,
  [ErrorKind.ACCESS_DENIED]: ErrorCodes.ERR_RPC_ACCESS_DENIED,
};

export function codeOfKind(kind: number): ErrorCode | undefined {
  return KIND_TO_CODE[kind];
}

/** Defaults shared by both sides. */
export const DEFAULT_RING_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Server budgets: the largest ring one client may ask for, the shared memory all
 *  connections may take together (half the 2 GiB WebAssembly memory: the rest holds
 *  reassembled big messages and queues), and connections at once. */
export const DEFAULT_MAX_RING_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_MAPPED_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** The credit a streamed argument opens with (STREAM_ARG): items, and bytes of encoded items,
 *  that a client may send before its server grants more. What a server holds per stream. */
export const ARG_WINDOW_ITEMS = 64;
export const ARG_WINDOW_BYTES = 1024 * 1024;

/** The shortest token taken, in bytes (UTF-8 for a string). */
export const MIN_TOKEN_BYTES = 16;

/** The SHA-256 of a token: the key of both sides' HMAC proofs in the handshake (and of
 *  the keys derived for NATS, src/nats/auth.ts). */
export function tokenHash(token: unknown, what: string): Buffer {
  if (typeof token !== "string" && !(token instanceof Uint8Array)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be a string or Uint8Array of at least ${MIN_TOKEN_BYTES} bytes`);
  }
  const bytes = typeof token === "string" ? Buffer.byteLength(token) : token.length;
  if (bytes < MIN_TOKEN_BYTES) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} has ${bytes} bytes: a token must have at least ${MIN_TOKEN_BYTES} (a short one can be guessed offline from any proof)`);
  }
  return nodeCrypto().createHash("sha256").update(token).digest();
}

