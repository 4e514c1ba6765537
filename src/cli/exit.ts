// The command line's exit codes: one per class of failure, so that a script can tell
// "no such server" from "the handler threw" without reading stderr. The README's
// exit-code table is this one.

import type { ErrorCode } from "../errors.js";

export const Exit = {
  OK: 0,
  /** The handler threw or rejected, or broke its result schema. */
  REMOTE: 1,
  /** The command line could not be understood: unknown command or option, a missing or bad
   *  argument (not JSON), a bad option value. Nothing was sent. */
  USAGE: 2,
  /** The server (or the encoder) refused the arguments: a contract's schema, or a value that cannot be sent. */
  INVALID_ARGUMENT: 3,
  /** The server has no method of that name. */
  METHOD_NOT_FOUND: 4,
  /** No server serves the name, or it died or closed during the call. */
  UNAVAILABLE: 5,
  /** The deadline (`--timeout`) passed. */
  TIMEOUT: 6,
  /** Refused: another user's server, a missing or wrong token; or the server's middleware
   *  refused the caller (ERR_RPC_UNAUTHENTICATED, ERR_RPC_ACCESS_DENIED). */
  ACCESS_DENIED: 7,
  /** Over a limit of the server: connections, memory, message size. */
  RESOURCE_EXHAUSTED: 8,
  /** A broken protocol or anything unexpected. */
  INTERNAL: 9,
} as const;

/** The exit code of each RpcError code; a Record, so a new ErrorCode does not compile until it has one. */
const BY_CODE: Record<ErrorCode, number> = {
  ERR_RPC_REMOTE: Exit.REMOTE,
  ERR_RPC_INVALID_RESULT: Exit.REMOTE,
  ERR_RPC_INVALID_ARGUMENT: Exit.INVALID_ARGUMENT,
  ERR_RPC_METHOD_NOT_FOUND: Exit.METHOD_NOT_FOUND,
  ERR_RPC_NOT_CONNECTED: Exit.UNAVAILABLE,
  ERR_RPC_DISCONNECTED: Exit.UNAVAILABLE,
  ERR_RPC_CLOSED: Exit.UNAVAILABLE,
  ERR_RPC_UNAVAILABLE: Exit.UNAVAILABLE,
  ERR_RPC_TIMEOUT: Exit.TIMEOUT,
  ERR_RPC_ABORTED: Exit.TIMEOUT,
  ERR_RPC_ACCESS_DENIED: Exit.ACCESS_DENIED,
  ERR_RPC_UNAUTHENTICATED: Exit.ACCESS_DENIED,
  ERR_RPC_SERVER_FULL: Exit.RESOURCE_EXHAUSTED,
  ERR_RPC_RESOURCE_EXHAUSTED: Exit.RESOURCE_EXHAUSTED,
  ERR_RPC_MESSAGE_TOO_LARGE: Exit.RESOURCE_EXHAUSTED,
  ERR_RPC_PROTOCOL: Exit.INTERNAL,
  ERR_RPC_ADDRESS_IN_USE: Exit.INTERNAL,
};

/** A command line that cannot be run as written; `hint` says what to do instead. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** The exit code for anything a command threw. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return Exit.USAGE;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && Object.hasOwn(BY_CODE, code)) return BY_CODE[code as ErrorCode];
  return Exit.INTERNAL;
}

/** What a failure says on stderr: `{ code, message, ... }`, the same fields in text and `--json`. */
export function errorReport(err: unknown): Record<string, unknown> {
  if (err instanceof UsageError) return { code: "USAGE", message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  const e = err as { code?: unknown; message?: unknown; remote?: { name: string; message: string; code?: string }; maybeExecuted?: boolean; issues?: unknown; hint?: unknown };
  const code = typeof e?.code === "string" && Object.hasOwn(BY_CODE, e.code) ? e.code : "INTERNAL";
  const report: Record<string, unknown> = { code, message: err instanceof Error ? err.message : String(err) };
  if (e?.remote) report.remote = { name: e.remote.name, message: e.remote.message, ...(e.remote.code ? { code: e.remote.code } : {}) };
  if (e?.maybeExecuted !== undefined) report.maybeExecuted = e.maybeExecuted;
  if (e?.issues !== undefined) report.issues = e.issues;
  if (typeof e?.hint === "string") report.hint = e.hint; // src/cli/suggest.ts
  if (code === "INTERNAL" && err instanceof Error && err.stack) report.stack = err.stack;
  return report;
}
