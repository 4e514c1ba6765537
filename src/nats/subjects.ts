// How a shmrpc server appears on NATS: its service name, its subjects and the headers of
// an error reply. Both sides (src/nats/serve.ts, src/nats/call.ts) take them from here.
//
// SUBJECTS. A server "/calc" is the NATS service "calc" (ADR-32); each method is an endpoint
// listening on "shmrpc.calc.<method>" in the queue group "q", so that replicas share the
// load. ADR-32 names and subject tokens allow [A-Za-z0-9_-] only, so a name with any other
// character (or starting with "_") travels as "_" + base64url(UTF-8 of the name): "/my.svc"
// is the service "_bXkuc3Zj", the method "$shmrpc.stats" the token "_JHNobXJwYy5zdGF0cw".
// The original names are in the ADR-32 metadata ("shmrpc.name", "shmrpc.method").
//
// PAYLOADS are the shared-memory codec's bytes (src/codec/): a request is the encoded
// argument array, a reply the encoded result. An error reply carries the headers
//   Nats-Service-Error        the message (one line, at most 1 KiB)
//   Nats-Service-Error-Code   an HTTP-like status (ADR-32): 400, 404, 413, 500
//   Shmrpc-Error              the exact ErrorCodes value (ERR_RPC_REMOTE, ...)
// and the encoded details { name, message, stack, code?, issues? } as its payload, as the
// ERROR record of src/protocol.ts does.

import { ErrorCodes, type ErrorCode } from "../errors.js";

export const SUBJECT_PREFIX = "shmrpc";
export const QUEUE_GROUP = "q";
export const HEADER_ERROR = "Nats-Service-Error";
export const HEADER_ERROR_STATUS = "Nats-Service-Error-Code";
export const HEADER_SHMRPC_CODE = "Shmrpc-Error";

const PLAIN = /^[A-Za-z0-9-][A-Za-z0-9_-]*$/;

/** A name as one subject token and ADR-32 name ([A-Za-z0-9_-]+), reversibly. */
export function token(name: string): string {
  return PLAIN.test(name) ? name : "_" + Buffer.from(name, "utf8").toString("base64url");
}

/** The ADR-32 service name of a server name ("/calc" -> "calc"). */
export function serviceName(serverName: string): string {
  return token(serverName.slice(1));
}

/** The subject of a method of a service. */
export function methodSubject(service: string, method: string): string {
  return `${SUBJECT_PREFIX}.${service}.${token(method)}`;
}

/** The method name of a subject token, or undefined if it is not one `token` makes. */
export function methodOf(subjectToken: string): string | undefined {
  if (!subjectToken.startsWith("_")) return PLAIN.test(subjectToken) ? subjectToken : undefined;
  const name = Buffer.from(subjectToken.slice(1), "base64url").toString("utf8");
  return token(name) === subjectToken ? name : undefined; // only the canonical form
}

/** ADR-32's HTTP-like status of each code a reply can carry. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.ERR_RPC_INVALID_ARGUMENT]: 400,
  [ErrorCodes.ERR_RPC_PROTOCOL]: 400,
  [ErrorCodes.ERR_RPC_METHOD_NOT_FOUND]: 404,
  [ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE]: 413,
  [ErrorCodes.ERR_RPC_UNAUTHENTICATED]: 401,
  [ErrorCodes.ERR_RPC_ACCESS_DENIED]: 403,
  [ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED]: 429,
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** A header value: one line, bounded (NATS headers end at CR LF). */
export function headerText(text: string, max = 1024): string {
  const line = text.replace(/[\r\n]+/g, " ");
  return line.length > max ? line.slice(0, max) : line;
}
