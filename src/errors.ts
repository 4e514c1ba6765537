// Every error shmrpc raises, in one registry (like Node's lib/internal/errors.js).
// Codes never change meaning once released; tests assert on `err.code`, never on text.
// gRPC equivalents are noted where the semantics match.

/**
 * Every `err.code` an {@link RpcError} can carry, one entry per code. A code never changes
 * meaning once released; compare `err.code` with these, never the message text.
 */
export const ErrorCodes = {
  /** The call's deadline passed before a response arrived (gRPC DEADLINE_EXCEEDED). */
  ERR_RPC_TIMEOUT: "ERR_RPC_TIMEOUT",
  /** The server has no method of that name (gRPC UNIMPLEMENTED). */
  ERR_RPC_METHOD_NOT_FOUND: "ERR_RPC_METHOD_NOT_FOUND",
  /** The handler (or a middleware) threw or rejected; `err.remote` holds its name, message and stack (gRPC
   *  UNKNOWN). An `RpcError` it threw with a code a server may send (ERR_RPC_INVALID_ARGUMENT, ERR_RPC_UNAUTHENTICATED,
   *  ERR_RPC_ACCESS_DENIED, ERR_RPC_RESOURCE_EXHAUSTED, ERR_RPC_UNAVAILABLE) reaches the caller with that code instead;
   *  any other code (ERR_RPC_TIMEOUT, ERR_RPC_DISCONNECTED, ...: the caller's own) stays in `err.remote.code`. */
  ERR_RPC_REMOTE: "ERR_RPC_REMOTE",
  /** Bad input at the caller (a value that cannot be sent, a bad name or option); nothing was sent. Also
   *  arguments that break a contract's schema, with `err.issues`; the handler did not run (gRPC INVALID_ARGUMENT). */
  ERR_RPC_INVALID_ARGUMENT: "ERR_RPC_INVALID_ARGUMENT",
  /** The handler's result broke its contract's result schema; `err.issues` says how (gRPC INTERNAL). */
  ERR_RPC_INVALID_RESULT: "ERR_RPC_INVALID_RESULT",
  /** The encoded message is above `maxMessageBytes`, or above what this process's memory can
   *  hold at the moment (a value to send, or a message received, with no room left in its 2 GiB
   *  of WebAssembly memory); a request refused so was not sent (gRPC RESOURCE_EXHAUSTED). */
  ERR_RPC_MESSAGE_TOO_LARGE: "ERR_RPC_MESSAGE_TOO_LARGE",
  /** The peer went away or closed while the call was pending (gRPC UNAVAILABLE). */
  ERR_RPC_DISCONNECTED: "ERR_RPC_DISCONNECTED",
  /** No server serves the name (gRPC UNAVAILABLE). */
  ERR_RPC_NOT_CONNECTED: "ERR_RPC_NOT_CONNECTED",
  /** A live server already serves the name. */
  ERR_RPC_ADDRESS_IN_USE: "ERR_RPC_ADDRESS_IN_USE",
  /** The peer broke the protocol (corrupt ring, bad frame, version mismatch); the connection is dropped (gRPC INTERNAL). */
  ERR_RPC_PROTOCOL: "ERR_RPC_PROTOCOL",
  /** The call was aborted through its AbortSignal (gRPC CANCELLED). */
  ERR_RPC_ABORTED: "ERR_RPC_ABORTED",
  /** The Client or Server was closed by its owner before or during the call. */
  ERR_RPC_CLOSED: "ERR_RPC_CLOSED",
  /** The server has its maximum of connections, `maxConnections` (gRPC RESOURCE_EXHAUSTED). */
  ERR_RPC_SERVER_FULL: "ERR_RPC_SERVER_FULL",
  /** Over one of the server's budgets: it refused the connection (rings over `maxRingBytes`, memory over `maxMappedBytes` or `maxMappedBytesPerUser`, no memory for the rings), refused a call (over `maxInflightPerConnection`, or a fragmented request over `maxReassemblyBytes`/`maxReassemblyBytesPerUser`), or dropped this client for leaving its responses unread past `maxQueuedBytes` or `maxQueuedBytesTotal`; the message names the limit (gRPC RESOURCE_EXHAUSTED). */
  ERR_RPC_RESOURCE_EXHAUSTED: "ERR_RPC_RESOURCE_EXHAUSTED",
  /** Not allowed: the server refused this user, group or token, the server runs as another user than `serverUid`, or the operating system refused access to the socket; or a middleware or handler refused the call (it threw this code: `err.remote` holds its details) (gRPC PERMISSION_DENIED). */
  ERR_RPC_ACCESS_DENIED: "ERR_RPC_ACCESS_DENIED",
  /** The server is draining (`close({ drainMs })`) and took no new call: this one did not
   *  run (`maybeExecuted: false`); the client re-sends it to another instance or to a
   *  server started again under the name, idempotent or not, within its deadline (gRPC UNAVAILABLE). */
  ERR_RPC_UNAVAILABLE: "ERR_RPC_UNAVAILABLE",
  /** A middleware or handler found no valid credentials for the call (it threw this code: `err.remote` holds
   *  its details); `maybeExecuted: false` when it refused before the handler started. Never retried (gRPC UNAUTHENTICATED). */
  ERR_RPC_UNAUTHENTICATED: "ERR_RPC_UNAUTHENTICATED",
} as const;

/** One of the {@link ErrorCodes}: the type of {@link RpcError.code}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** What a handler threw, as seen by the caller. */
export interface RemoteErrorInfo {
  /** The thrown error's `name` ("Error", "TypeError", ...). */
  name: string;
  /** The thrown error's `message`. */
  message: string;
  /** The thrown error's stack, as formatted in the server's process. */
  stack: string;
  /** The thrown error's own `code`, when it had a string one. */
  code?: string;
}

/** A value that broke a contract's schema, as the schema library reported it. */
export interface SchemaIssue {
  /** The schema library's message, as it wrote it. */
  message: string;
  /** Where in the value: keys and indexes from its root (for arguments, the first is the argument's index);
   *  empty when the whole value is at fault. */
  path: Array<string | number>;
}

/**
 * The error every shmrpc call and constructor throws or rejects with. Tell failures apart by
 * {@link RpcError.code | code}; the message is for people and may change.
 */
export class RpcError extends Error {
  /** Always "RpcError". */
  override name = "RpcError";
  /** What went wrong: one of {@link ErrorCodes}. */
  readonly code: ErrorCode;
  /** Set for ERR_RPC_REMOTE: the handler's error. */
  declare readonly remote?: RemoteErrorInfo;
  /** For ERR_RPC_DISCONNECTED (and the other errors of a lost connection), ERR_RPC_TIMEOUT and
   *  ERR_RPC_ABORTED: false only when the call provably never runs, so a retry is safe — a lost
   *  connection's server never took the request from the ring; a timed-out or aborted call's
   *  request was still in the client's send queue and was taken back (one already in the ring
   *  may still run: true). For a code a middleware or handler threw (see ERR_RPC_REMOTE): false
   *  when a middleware threw it before the handler started, true once the handler had. */
  declare readonly maybeExecuted?: boolean;
  /** For ERR_RPC_INVALID_ARGUMENT and ERR_RPC_INVALID_RESULT of a contract method: what the schema found. */
  declare readonly issues?: SchemaIssue[];
  /** How many times the failed call was sent (or tried to be): more than 1 when it was
   *  re-sent to another replica or retried (src/calls/retry.ts). 1 on the prototype. */
  declare readonly attempts: number;

  constructor(code: ErrorCode, message: string, extra?: { remote?: RemoteErrorInfo; maybeExecuted?: boolean; cause?: unknown; issues?: SchemaIssue[] }) {
    super(message, extra?.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    // Set only when meaningful, so that they do not clutter a printed error.
    if (extra?.remote) Object.defineProperty(this, "remote", { value: extra.remote, enumerable: true });
    if (extra?.maybeExecuted !== undefined) Object.defineProperty(this, "maybeExecuted", { value: extra.maybeExecuted, enumerable: true });
    if (extra?.issues) Object.defineProperty(this, "issues", { value: extra.issues, enumerable: true });
  }
}

Object.defineProperty(RpcError.prototype, "attempts", { value: 1, writable: false, enumerable: false });

export function rpcError(code: ErrorCode, message: string, extra?: ConstructorParameters<typeof RpcError>[2]): RpcError {
  return new RpcError(code, message, extra);
}
