// A server's token over NATS: every request and every reply sealed with AES-256-GCM under
// keys derived from the token, so that only holders of the token are answered, only the
// real server's answers are taken, and a NATS subscriber sees no arguments nor results.
// (Over shared memory the token is proven in the handshake, src/protocol.ts; NATS has no
// connection between caller and server to prove it on, so each message carries its proof.)
//
// KEYS. k = SHA-256(token) (tokenHash, src/protocol.ts); the request key and the reply key
// are HKDF-SHA256(k, salt "shmrpc nats v1", info "request" | "reply", 32 bytes): neither
// direction's message can stand for the other's.
//
// REQUEST. Header Shmrpc-Auth = base64url([version 2 u8][sent at, ms since epoch, f64 LE]
// [iv 12 random bytes]); payload = AES-256-GCM(request key, iv, plaintext) followed by its
// 16-byte tag; additional data "req" | subject | 0 | reply subject | 0 | header bytes. The
// plaintext is [n u32 LE][n bytes: the call's context, a UTF-8 JSON object of strings: the
// shmrpc-timeout-ms and shmrpc-call headers and the metadata, src/nats/context.ts][codec
// bytes of the arguments]: sealed, the context travels inside (a subscriber sees none of
// it, a forger can change none of it), and the server ignores context headers outside. The server takes a request only if it opens, was sent less
// than WINDOW_MS ago (either way: clocks of two hosts differ) and its iv is not in the
// replay cache (every iv opened within the window; at most REPLAY_CACHE_MAX, beyond which
// requests are dropped until old ones expire). A request that fails any of these is dropped
// unanswered (an answer would tell a stranger the service is there) and counted; the
// server reports the count through onError at most once per second.
//
// REPLY. Header Shmrpc-Auth = base64url([version 1 u8][iv 12]); payload sealed as above
// under the reply key, with additional data "rep" | the request's iv | the reply's
// Shmrpc-Error and Nats-Service-Error-Code headers | header bytes: a reply is bound to its
// request (whose iv is fresh) and to the error code it carries. An error reply's
// Nats-Service-Error header holds only the code: its text is in the sealed payload.
// The caller subscribes to its own inbox for each call and takes the first reply that
// opens; others (a forged answer from a peer in the queue group or on the inbox) are
// dropped and the call keeps waiting for the real one within its deadline.
//
// STREAMS (src/nats/stream-seal.ts). Every other message of a stream call is sealed too,
// bound to the call's request iv and numbered: header Shmrpc-Auth = base64url([version 3 u8]
// [seq u32 LE][iv 12][GCM tag 16]); the payload is the ciphertext (of an item's codec bytes;
// empty for credit, cancel and probe messages, whose clear payload is authenticated as part
// of the tag below); key: the request key from the caller, the reply key from the server;
// additional data "stm" | ">" (to the server) or "<" | the request's iv | the message's tag
// (its shmrpc-stream header, or "credit <payload>", "cancel <payload>") | 0 | header bytes.
// The sender numbers its messages 1, 2, ...; a receiver takes one only if it opens and its
// number is above the last it took on that subject: a flipped bit, a message of a peer
// without the token, a message of another stream or a replayed one are dropped (counted:
// the caller's `dropped`, the server's refusals).
//
// WHAT A NATS SUBSCRIBER STILL SEES: the subjects (service and method names), the sizes
// and times of requests and replies, whether a reply is an error and its code, the
// caller's inbox, the ADR-32 answers ($SRV.PING/INFO/STATS: names, counters), and the
// cancels callers publish (a call id, in clear once its caller gave up: ids travel sealed
// in requests, so only the token's holders can name a call still wanted). What a
// publisher without the token can do: make calls fail (a forged "no responders" status
// 503 on a caller's inbox ends its call with ERR_RPC_NOT_CONNECTED, retried as such),
// replay a captured request once to each other replica within the window (replicas keep
// separate caches; the answer goes to the original inbox, whose caller has moved on).
// Nothing it sends runs as a call, and nothing it sends is taken as an answer.

import type { NatsConnection } from "@nats-io/transport-node";
import { nodeCrypto } from "../connection/crypto.js";
import { randomBytes } from "../connection/random.js";
import { natsLibrary } from "./connect.js";
import { HEADER_ERROR_STATUS, HEADER_SHMRPC_CODE } from "./subjects.js";

export const HEADER_AUTH = "Shmrpc-Auth";
/** How old (or how far in the future) a request may be. */
export const WINDOW_MS = 30_000;
/** Ivs remembered at most (about 100 bytes each). */
export const REPLAY_CACHE_MAX = 200_000;
/** Of replies. */
const VERSION = 1;
/** Of requests: 2 since the context travels sealed in the plaintext. */
const REQUEST_VERSION = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const REQUEST_HEAD = 1 + 8 + IV_BYTES;
/** Of stream messages. */
const STREAM_VERSION = 3;
const STREAM_HEAD = 1 + 4 + IV_BYTES;
const REPLY_HEAD = 1 + IV_BYTES;

/** A request that opened: the codec bytes of its arguments, its iv (for the reply) and its
 *  context's string pairs (timeout, call id, metadata; src/nats/context.ts). */
export interface OpenedRequest {
  data: Uint8Array;
  iv: Buffer;
  context: Record<string, string>;
}

/** The request's iv, kept by the caller to open the reply. */
export interface SealedRequest {
  header: string;
  data: Uint8Array;
  iv: Buffer;
}

export class NatsSeal {
  private readonly requestKey: Buffer;
  private readonly replyKey: Buffer;
  /** iv (base64url) -> when it leaves the window. Insertion order is time order. */
  private readonly seen = new Map<string, number>();

  /** `tokenKey`: SHA-256 of the token (tokenHash). */
  constructor(tokenKey: Uint8Array) {
    const c = nodeCrypto();
    this.requestKey = Buffer.from(c.hkdfSync("sha256", tokenKey, "shmrpc nats v1", "request", 32));
    this.replyKey = Buffer.from(c.hkdfSync("sha256", tokenKey, "shmrpc nats v1", "reply", 32));
  }

  // ------------------------------------------------------------ caller

  /** Seals the codec bytes of a call's arguments, `data`, with its `context` pairs. */
  sealRequest(subject: string, reply: string, data: Uint8Array, now = Date.now(), context: Record<string, string> = {}): SealedRequest {
    const head = Buffer.alloc(REQUEST_HEAD);
    head[0] = REQUEST_VERSION;
    head.writeDoubleLE(now, 1);
    const iv = randomBytes(IV_BYTES);
    iv.copy(head, 9);
    const aad = Buffer.concat([Buffer.from(`req${subject}\0${reply}\0`), head]);
    const json = Buffer.from(JSON.stringify(context));
    const prefix = Buffer.alloc(4 + json.length);
    prefix.writeUInt32LE(json.length, 0);
    json.copy(prefix, 4);
    return { header: head.toString("base64url"), data: seal(this.requestKey, iv, aad, prefix, data), iv };
  }

  /** The reply's plaintext, or undefined when it is not the server's answer to `iv`. */
  openReply(iv: Buffer, header: string | undefined, code: string | undefined, status: string | undefined, data: Uint8Array): Uint8Array | undefined {
    if (header === undefined) return undefined;
    const head = Buffer.from(header, "base64url");
    if (head.length !== REPLY_HEAD || head[0] !== VERSION) return undefined;
    const aad = Buffer.concat([Buffer.from("rep"), iv, Buffer.from(`${code ?? ""}\0${status ?? ""}\0`), head]);
    return open(this.replyKey, head.subarray(1), aad, data);
  }

  // ------------------------------------------------------------ server

  /** The request's arguments, iv and context, or why it is dropped. */
  openRequest(subject: string, reply: string, header: string | undefined, data: Uint8Array, now = Date.now()): OpenedRequest | string {
    if (header === undefined) return "no Shmrpc-Auth header (a caller without the token)";
    const head = Buffer.from(header, "base64url");
    if (head.length !== REQUEST_HEAD || head[0] !== REQUEST_VERSION) return "a malformed Shmrpc-Auth header";
    const sentAt = head.readDoubleLE(1);
    if (!(Math.abs(now - sentAt) <= WINDOW_MS)) return `sent ${Number.isFinite(sentAt) ? Math.round(now - sentAt) : "?"} ms from now, outside the ${WINDOW_MS} ms window`;
    const iv = Buffer.from(head.subarray(9));
    const plain = open(this.requestKey, iv, Buffer.concat([Buffer.from(`req${subject}\0${reply}\0`), head]), data);
    if (plain === undefined) return "a request that does not open under the token (wrong token, or altered)";
    // Sealed by a holder of the token, but read as carefully as any input.
    const parts = contextOf(plain);
    if (parts === undefined) return "a malformed sealed context";
    const key = iv.toString("base64url");
    this.expire(now);
    if (this.seen.has(key)) return "a replayed request";
    if (this.seen.size >= REPLAY_CACHE_MAX) return `the replay cache is full (${REPLAY_CACHE_MAX} requests within ${WINDOW_MS} ms)`;
    this.seen.set(key, now + 2 * WINDOW_MS); // a request from the future stays in the window longer
    return { data: parts.args, iv, context: parts.context };
  }

  sealReply(requestIv: Buffer, code: string | undefined, status: string | undefined, data: Uint8Array): { header: string; data: Uint8Array } {
    const head = Buffer.alloc(REPLY_HEAD);
    head[0] = VERSION;
    const iv = randomBytes(IV_BYTES);
    iv.copy(head, 1);
    const aad = Buffer.concat([Buffer.from("rep"), requestIv, Buffer.from(`${code ?? ""}\0${status ?? ""}\0`), head]);
    return { header: head.toString("base64url"), data: seal(this.replyKey, iv, aad, data) };
  }

  // ------------------------------------------------------------ streams

  /** Seals message `seq` of the stream call whose request's iv is `requestIv`, going to the
   *  server (`toServer`) or to its caller: `tag` names what it is, `plain` its body. */
  sealStream(toServer: boolean, requestIv: Buffer, tag: string, seq: number, plain: Uint8Array): { header: string; data: Uint8Array } {
    const head = Buffer.alloc(STREAM_HEAD + TAG_BYTES);
    head[0] = STREAM_VERSION;
    head.writeUInt32LE(seq >>> 0, 1);
    const iv = randomBytes(IV_BYTES);
    iv.copy(head, 5);
    const key = toServer ? this.requestKey : this.replyKey;
    const sealed = seal(key, iv, streamAad(toServer, requestIv, tag, head.subarray(0, STREAM_HEAD)), plain);
    // The GCM tag goes in the header: a payload that is clear text (a credit's) stays as it is.
    Buffer.from(sealed.buffer, sealed.byteOffset + sealed.length - TAG_BYTES, TAG_BYTES).copy(head, STREAM_HEAD);
    return { header: head.toString("base64url"), data: sealed.subarray(0, sealed.length - TAG_BYTES) };
  }

  /** The body and number of a stream message, or undefined when it does not open. */
  openStream(toServer: boolean, requestIv: Buffer, tag: string, header: string | undefined, data: Uint8Array): { seq: number; plain: Uint8Array } | undefined {
    if (header === undefined) return undefined;
    const head = Buffer.from(header, "base64url");
    if (head.length !== STREAM_HEAD + TAG_BYTES || head[0] !== STREAM_VERSION) return undefined;
    const key = toServer ? this.requestKey : this.replyKey;
    const body = Buffer.concat([data, head.subarray(STREAM_HEAD)]);
    const plain = open(key, head.subarray(5, STREAM_HEAD), streamAad(toServer, requestIv, tag, head.subarray(0, STREAM_HEAD)), body);
    return plain === undefined ? undefined : { seq: head.readUInt32LE(1), plain };
  }

  /** Ivs remembered now (for tests). */
  get remembered(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    for (const [key, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(key);
    }
  }
}

/** A request's plaintext split into its context pairs and its arguments' codec bytes, or
 *  undefined when malformed. */
function contextOf(plain: Uint8Array): { context: Record<string, string>; args: Uint8Array } | undefined {
  if (plain.length < 4) return undefined;
  const bytes = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
  const n = bytes.readUInt32LE(0);
  if (n > bytes.length - 4) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8", 4, 4 + n));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const pairs: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") return undefined;
    pairs[k] = v;
  }
  return { context: pairs, args: plain.subarray(4 + n) };
}

function streamAad(toServer: boolean, requestIv: Buffer, tag: string, head: Buffer): Buffer {
  return Buffer.concat([Buffer.from(toServer ? "stm>" : "stm<"), requestIv, Buffer.from(`${tag}\0`), head]);
}

function seal(key: Buffer, iv: Buffer, aad: Buffer, ...parts: Uint8Array[]): Uint8Array {
  const cipher = nodeCrypto().createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = parts.map((part) => cipher.update(part));
  const last = cipher.final();
  return Buffer.concat([...body, last, cipher.getAuthTag()]);
}

function open(key: Buffer, iv: Buffer | Uint8Array, aad: Buffer, data: Uint8Array): Uint8Array | undefined {
  if (data.length < TAG_BYTES) return undefined;
  try {
    const decipher = nodeCrypto().createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const body = decipher.update(data.subarray(0, data.length - TAG_BYTES));
    const last = decipher.final(); // throws when the tag does not match
    return last.length === 0 ? body : Buffer.concat([body, last]);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------ one sealed call

/** A reply that opened: its plaintext and its headers. */
export interface OpenedReply {
  data: Uint8Array;
  headers: Record<string, string>;
}

/** An error the library's names classify as requestFailure (src/nats/connect.ts) expects. */
function named(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** Sends `data` (with the call's `context` pairs) to `subject` sealed and waits for the first reply that opens, dropping
 *  the others (counted in `dropped`). Rejects with a TimeoutError or a NoRespondersError
 *  (named so, for requestFailure) or what the library throws. */
export async function sealedRequest(
  nc: NatsConnection, seal: NatsSeal, subject: string, data: Uint8Array, timeoutMs: number, dropped?: { count: number },
  context?: Record<string, string>,
): Promise<OpenedReply> {
  const lib = await natsLibrary();
  const inbox = lib.createInbox();
  const sealed = seal.sealRequest(subject, inbox, data, Date.now(), context);
  return new Promise<OpenedReply>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, reply?: OpenedReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(named("TimeoutError", "timeout")), Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)));
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return finish(err);
        const h = msg.headers;
        // The NATS server's "no responders" status (a publisher on the inbox could fake it:
        // that only fails the call, as a publisher on the subject dropping it would).
        if (h !== undefined && h.code === 503 && msg.data.length === 0 && !h.has(HEADER_AUTH)) return finish(named("NoRespondersError", "no responders"));
        const get = (name: string): string | undefined => (h !== undefined && h.has(name) ? h.get(name) : undefined);
        const plain = seal.openReply(sealed.iv, get(HEADER_AUTH), get(HEADER_SHMRPC_CODE), get(HEADER_ERROR_STATUS), msg.data);
        if (plain === undefined) {
          if (dropped) dropped.count++;
          return;
        }
        const headers: Record<string, string> = {};
        if (h !== undefined) for (const key of h.keys()) headers[key] = h.get(key);
        finish(undefined, { data: plain, headers });
      },
    });
    try {
      const hdrs = lib.headers();
      hdrs.set(HEADER_AUTH, sealed.header);
      nc.publish(subject, sealed.data, { reply: inbox, headers: hdrs });
    } catch (e) {
      finish(e as Error);
    }
  });
}
