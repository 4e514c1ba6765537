// Call contexts over NATS: a request's deadline (its time left), call id and metadata
// travel as message headers; a caller that gives up publishes the call id on the service's
// cancel subject, which every instance of the service hears (best effort).

import type { MsgHdrs } from "@nats-io/transport-node";
import { DEFAULT_TIMEOUT_MS } from "../protocol.js";
import { ErrorCodes, type ErrorCode } from "../errors.js";
import { receivedMetadata, RESERVED_KEY_PREFIX } from "../metadata.js";
import { NO_METADATA } from "../serving/context.js";
import { SUBJECT_PREFIX } from "./subjects.js";

/** The caller's time left, in ms. */
export const HEADER_TIMEOUT = "shmrpc-timeout-ms";
/** The call's id, which a cancel names. */
export const HEADER_CALL = "shmrpc-call";

/** A stream call's opening credit ("<items> <bytes>") on its request; "item" on each of
 *  its items (the stream's end is the ordinary reply). */
export const HEADER_STREAM = "shmrpc-stream";

/** A request whose argument <index> is streamed (sent as null): its items go to argSubject. */
export const HEADER_STREAM_ARG = "shmrpc-stream-arg";

/** Where the caller of call `callId` publishes its streamed argument's items ("item"), then
 *  its end ("end 0", or "end 1": its source failed), each tagged in HEADER_STREAM. */
export function argSubject(service: string, callId: string): string {
  return `${SUBJECT_PREFIX}.$arg.${service}.${callId}`;
}

/** Where the instance serving stream call `callId` answers its caller's probes
 *  (src/nats/liveness.ts): only that instance subscribes, so a probe of a dead one gets
 *  "no responders". Its probes of the caller go to the call's reply inbox (HEADER_STREAM
 *  "probe"); either answer carries HEADER_STREAM "pong" (sealed under a token). */
export function liveSubject(service: string, callId: string): string {
  return `${SUBJECT_PREFIX}.$live.${service}.${callId}`;
}

/** Where callers of `service` publish more credit for their streams: "<call id> <items> <bytes>". */
export function creditSubject(service: string): string {
  return `${SUBJECT_PREFIX}.$credit.${service}`;
}

/** "<items> <bytes>" (an opening credit) as numbers, or undefined when malformed. */
export function parseCredit(text: string): { items: number; bytes: number } | undefined {
  const m = /^(\d{1,10}) (\d{1,10})$/.exec(text);
  if (m === null) return undefined;
  return { items: Number(m[1]), bytes: Number(m[2]) };
}

/** Where callers of `service` publish the ids of calls they gave up on. */
export function cancelSubject(service: string): string {
  return `${SUBJECT_PREFIX}.$cancel.${service}`;
}

/** A cancel's payload: "<call id> <t|a>" (its timeout, or an abort). */
export function cancelMessage(callId: string, timedOut: boolean): string {
  return `${callId} ${timedOut ? "t" : "a"}`;
}

/** The call id and the abort's code of a cancel's payload. */
export function parseCancel(text: string): { callId: string; code: ErrorCode } {
  const space = text.lastIndexOf(" ");
  return { callId: text.slice(0, space), code: text.slice(space + 1) === "t" ? ErrorCodes.ERR_RPC_TIMEOUT : ErrorCodes.ERR_RPC_ABORTED };
}

// Made on first use: web crypto loads node:crypto, which `import("shmrpc")` must not (bundle.test).
let prefix: string | undefined;
let counter = 0;
/** A call id unique to this process (and across processes, by its random prefix). */
export function newCallId(): string {
  prefix ??= Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  return `${prefix}.${(counter = (counter + 1) % Number.MAX_SAFE_INTEGER)}`;
}

/** The headers of a request, as plain pairs (the sync worker builds them itself). */
export function requestHeaderPairs(timeoutMs: number, callId: string, metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const pairs: Record<string, string> = { ...metadata };
  pairs[HEADER_TIMEOUT] = String(Math.max(0, Math.ceil(timeoutMs)));
  pairs[HEADER_CALL] = callId;
  return pairs;
}

export function toHeaders(make: () => MsgHdrs, pairs: Record<string, string>): MsgHdrs {
  const h = make();
  for (const key in pairs) h.set(key, pairs[key]!);
  return h;
}

/** What requestContext reads: a request's headers, or the pairs sealed in it. */
export type ContextSource = Pick<MsgHdrs, "get" | "keys">;

/** The context pairs of a sealed request (src/nats/auth.ts) as requestContext reads them. */
export function sealedPairs(pairs: Record<string, string>): ContextSource {
  return { get: (key) => pairs[key] ?? "", keys: () => Object.keys(pairs) };
}

/** What a server reads of a request's headers (or of the pairs sealed in it): deadline
 *  (ms since epoch), call id, metadata. */
export function requestContext(h: ContextSource | undefined): { deadline: number; callId: string | undefined; metadata: Readonly<Record<string, string>> } {
  if (h === undefined) return { deadline: Date.now() + DEFAULT_TIMEOUT_MS, callId: undefined, metadata: NO_METADATA };
  const left = Number(h.get(HEADER_TIMEOUT));
  let pairs: Record<string, string> | undefined;
  for (const key of h.keys()) {
    const k = key.toLowerCase();
    if (k.startsWith(RESERVED_KEY_PREFIX) || k.startsWith("nats-")) continue;
    (pairs ??= {})[k] = h.get(key);
  }
  return {
    deadline: Date.now() + (Number.isFinite(left) && left >= 0 ? left : DEFAULT_TIMEOUT_MS),
    callId: h.get(HEADER_CALL) || undefined,
    metadata: (pairs && receivedMetadata(pairs)) ?? NO_METADATA,
  };
}
