// An ERROR record's kind and details as the RpcError the caller gets: shared by every
// transport that carries ERROR records (shared memory, threads).

import { RpcError, ErrorCodes, type RemoteErrorInfo } from "../errors.js";
import { codeOfKind, ErrorKind } from "../protocol.js";
// contracts: a contract's schema issues travel in ERROR details
import { receivedIssues } from "../contracts/validate.js";

/** The RpcError of an ERROR record of `kind` with `details` (peer input: checked). */
export function remoteError(kind: number, details: unknown): RpcError {
  const d = (details !== null && typeof details === "object" ? details : {}) as Record<string, unknown>;
  const info: RemoteErrorInfo = {
    name: typeof d.name === "string" ? d.name : "Error",
    message: typeof d.message === "string" ? d.message : String(d.message),
    stack: typeof d.stack === "string" ? d.stack : "",
  };
  if (typeof d.code === "string") info.code = d.code;
  const code = codeOfKind(kind) ?? ErrorCodes.ERR_RPC_REMOTE;
  if (kind === ErrorKind.REMOTE) return new RpcError(code, info.message, { remote: info });
  // A draining server refused it without running it (src/protocol.ts, DRAINING).
  if (kind === ErrorKind.UNAVAILABLE) return new RpcError(code, info.message, { maybeExecuted: false });
  // contracts: a contract's schema rejected the arguments or the result
  const issues = receivedIssues(d.issues);
  if (issues !== undefined) return new RpcError(code, info.message, { issues });
  return new RpcError(code, info.message);
}
