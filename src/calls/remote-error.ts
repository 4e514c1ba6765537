// What a server answered instead of a result, as the RpcError the caller gets: an ERROR
// record's kind and details (shared memory, threads), or a NATS reply's code and details.
// A server answers with the codes of its ERROR kinds only (src/protocol.ts; over NATS also
// ERR_RPC_DISCONNECTED and ERR_RPC_PROTOCOL): a code that is the caller's own
// (ERR_RPC_TIMEOUT, ERR_RPC_NOT_CONNECTED, ...) is never taken from a server
// (src/serving/status.ts says which codes a handler may send).

import { RpcError, ErrorCodes, type ErrorCode, type RemoteErrorInfo } from "../errors.js";
import { codeOfKind, ErrorKind } from "../protocol.js";
// contracts: a contract's schema issues travel in ERROR details
import { receivedIssues } from "../contracts/validate.js";

/** The RpcError of an ERROR record of `kind` with `details` (peer input: checked). */
export function remoteError(kind: number, details: unknown): RpcError {
  return answeredError(codeOfKind(kind) ?? ErrorCodes.ERR_RPC_REMOTE, details, undefined);
}

/** Every code a server may answer with: what the caller's `err.code` can be from a server. */
const ANSWERED = new Set<string>([
  ...Object.values(ErrorKind).map((kind) => codeOfKind(kind)!),
  // over NATS: the server closed while the call ran; the request was undecodable
  ErrorCodes.ERR_RPC_DISCONNECTED,
  ErrorCodes.ERR_RPC_PROTOCOL,
]);

/** The RpcError of a server's answer of `code` (unchecked: a NATS reply's header) with
 *  `details` (peer input: checked); `text` is the message when the details have none. A
 *  code no server sends is ERR_RPC_REMOTE, that code in `err.remote.code`. */
export function answeredError(code: string, details: unknown, text: string | undefined): RpcError {
  const d = (details !== null && typeof details === "object" ? details : {}) as Record<string, unknown>;
  const info: RemoteErrorInfo = {
    name: typeof d.name === "string" ? d.name : "Error",
    message: typeof d.message === "string" ? d.message : text ?? String(d.message),
    stack: typeof d.stack === "string" ? d.stack : "",
  };
  if (typeof d.code === "string") info.code = d.code;
  if (!ANSWERED.has(code)) {
    info.code = code;
    return new RpcError(ErrorCodes.ERR_RPC_REMOTE, info.message, { remote: info });
  }
  const known = code as ErrorCode;
  if (known === ErrorCodes.ERR_RPC_REMOTE) return new RpcError(known, info.message, { remote: info });
  // The server closed while the call ran (over NATS, src/nats/serve.ts close()): it may have
  // run, whatever the details say.
  if (known === ErrorCodes.ERR_RPC_DISCONNECTED) return new RpcError(known, info.message, { maybeExecuted: true });
  // contracts: a contract's schema rejected the arguments or the result
  const issues = receivedIssues(d.issues);
  // A status a middleware or handler threw (src/serving/status.ts): whether the handler had started.
  if (typeof d.maybeExecuted === "boolean" && known !== ErrorCodes.ERR_RPC_PROTOCOL) {
    return new RpcError(known, info.message, { remote: info, maybeExecuted: d.maybeExecuted, issues });
  }
  // A draining server refused it without running it (src/protocol.ts, DRAINING).
  if (known === ErrorCodes.ERR_RPC_UNAVAILABLE) return new RpcError(known, info.message, { maybeExecuted: false });
  return new RpcError(known, info.message, issues === undefined ? undefined : { issues });
}
