// The handshake's messages on the connection's socket (src/protocol.ts, HANDSHAKE,
// describes the exchange). Each message is one SOCK_SEQPACKET packet, little-endian,
// starting with its type byte. Everything received is checked before use.

import { nodeCrypto } from "./crypto.js";
import { randomBytes } from "./random.js";
import { L } from "../core/layout.js";

export const Msg = {
  HELLO: 1,
  CHALLENGE: 2,
  AUTH: 3,
  ACCEPT: 4,
  REFUSE: 5,
  /** Instead of HELLO: "who are you?" (discovery, src/connection/discovery.ts). */
  INFO: 6,
  INFO_REPLY: 7,
} as const;

/** Largest handshake message; a bigger one is a protocol error. */
export const MAX_MESSAGE_BYTES = 512;
export const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const HELLO_MAGIC = 0x524d4853; // "SHMR"
const REFUSE_TEXT_MAX = 400;

export const HELLO_HAS_TOKEN = 1;

//  HELLO     [1][pad 3][magic u32][version u32][ring bytes u32][flags u32][client nonce 32]
//  CHALLENGE [2][pad 3][version u32][server nonce 32]
//  AUTH      [3][pad 3][client proof 32]
//  ACCEPT    [4][pad 3][version u32][memory size u32][request ring u32][response ring u32]
//            [server pid u32][server proof 32, zeros without a token]  + the memfd, as SCM_RIGHTS
// Since version 5 the CHALLENGE carries no proof: the server proves that it knows the token
// only in its ACCEPT, after the client's AUTH has proven it (protocol.ts, HANDSHAKE, says why).
//  REFUSE    [5][pad 3][version u32][reason u32][text length u32][text, UTF-8]
//  INFO      [6][pad 3][magic u32][version u32]
//  INFO_REPLY[7][pad 3][version u32][pid u32][uid u32][clients u32][methods u32]
//            [flags u32][id length u16][name length u16][started f64, ms since epoch]
//            [instance id, ASCII][name, ASCII]
// INFO came after version 1's first release without changing the version: a server
// that predates it answers REFUSE, whose version field still tells the prober which
// protocol the server speaks.
const HELLO_BYTES = 20 + NONCE_BYTES;
const CHALLENGE_BYTES = 8 + NONCE_BYTES;
const AUTH_BYTES = 4 + MAC_BYTES;
const ACCEPT_BYTES = 24 + MAC_BYTES;
const REFUSE_HEAD = 16;
const INFO_BYTES = 12;
const INFO_REPLY_HEAD = 40;
const INFO_ID_MAX = 64;
const INFO_NAME_MAX = 201;

export const INFO_REPLICA = 1;
export const INFO_TOKEN = 2;

export interface Hello { version: number; ringBytes: number; flags: number; nonce: Buffer }
export interface Challenge { version: number; nonce: Buffer }
export interface Accept { version: number; size: number; requestRing: number; responseRing: number; pid: number; proof: Buffer }
export interface Refuse { version: number; reason: number; text: string }
export interface Info {
  version: number; pid: number; uid: number; clients: number; methods: number; flags: number;
  startedAt: number; instanceId: string; name: string;
}

export type Message =
  | { type: typeof Msg.HELLO; hello: Hello }
  | { type: typeof Msg.CHALLENGE; challenge: Challenge }
  | { type: typeof Msg.AUTH; proof: Buffer }
  | { type: typeof Msg.ACCEPT; accept: Accept }
  | { type: typeof Msg.REFUSE; refuse: Refuse }
  | { type: typeof Msg.INFO; version: number }
  | { type: typeof Msg.INFO_REPLY; info: Info };

function head(type: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  b[0] = type;
  return b;
}

export function helloMessage(ringBytes: number, flags: number, nonce: Buffer): Buffer {
  const b = head(Msg.HELLO, HELLO_BYTES);
  b.writeUInt32LE(HELLO_MAGIC, 4);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 8);
  b.writeUInt32LE(ringBytes, 12);
  b.writeUInt32LE(flags, 16);
  nonce.copy(b, 20);
  return b;
}

export function challengeMessage(nonce: Buffer): Buffer {
  const b = head(Msg.CHALLENGE, CHALLENGE_BYTES);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 4);
  nonce.copy(b, 8);
  return b;
}

export function authMessage(proof: Buffer): Buffer {
  const b = head(Msg.AUTH, AUTH_BYTES);
  proof.copy(b, 4);
  return b;
}

/** `proof` is the server's proof when the client proved the token (else zeros). */
export function acceptMessage(a: Omit<Accept, "version" | "proof"> & { proof?: Buffer }): Buffer {
  const b = head(Msg.ACCEPT, ACCEPT_BYTES);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 4);
  b.writeUInt32LE(a.size, 8);
  b.writeUInt32LE(a.requestRing, 12);
  b.writeUInt32LE(a.responseRing, 16);
  b.writeUInt32LE(a.pid, 20);
  a.proof?.copy(b, 24);
  return b;
}

export function refuseMessage(reason: number, text: string): Buffer {
  const utf8 = Buffer.from(text.slice(0, REFUSE_TEXT_MAX));
  const b = head(Msg.REFUSE, REFUSE_HEAD + utf8.length);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 4);
  b.writeUInt32LE(reason, 8);
  b.writeUInt32LE(utf8.length, 12);
  utf8.copy(b, REFUSE_HEAD);
  return b;
}

export function infoMessage(): Buffer {
  const b = head(Msg.INFO, INFO_BYTES);
  b.writeUInt32LE(HELLO_MAGIC, 4);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 8);
  return b;
}

export function infoReplyMessage(i: Omit<Info, "version">): Buffer {
  const id = Buffer.from(i.instanceId, "latin1");
  const name = Buffer.from(i.name, "latin1");
  const b = head(Msg.INFO_REPLY, INFO_REPLY_HEAD + id.length + name.length);
  b.writeUInt32LE(L.PROTOCOL_VERSION, 4);
  b.writeUInt32LE(i.pid, 8);
  b.writeUInt32LE(i.uid, 12);
  b.writeUInt32LE(i.clients, 16);
  b.writeUInt32LE(i.methods, 20);
  b.writeUInt32LE(i.flags, 24);
  b.writeUInt16LE(id.length, 28);
  b.writeUInt16LE(name.length, 30);
  b.writeDoubleLE(i.startedAt, 32);
  id.copy(b, INFO_REPLY_HEAD);
  name.copy(b, INFO_REPLY_HEAD + id.length);
  return b;
}

const INSTANCE_ID_PATTERN = /^[0-9a-f]{1,64}$/;
const NAME_TEXT_PATTERN = /^\/[A-Za-z0-9._-]{1,200}$/;

/** Parses `bytes` bytes of `buf`: the message, or a string saying what is wrong. */
export function parseMessage(buf: Buffer, bytes: number): Message | string {
  if (bytes < 4) return `a message of ${bytes} bytes`;
  const type = buf[0]!;
  const exact = (n: number): string | undefined => (bytes === n ? undefined : `a message of type ${type} with ${bytes} bytes (expected ${n})`);
  switch (type) {
    case Msg.HELLO: {
      const bad = exact(HELLO_BYTES);
      if (bad) return bad;
      if (buf.readUInt32LE(4) !== HELLO_MAGIC) return "a HELLO without shmrpc's magic number";
      return {
        type,
        hello: { version: buf.readUInt32LE(8), ringBytes: buf.readUInt32LE(12), flags: buf.readUInt32LE(16), nonce: Buffer.from(buf.subarray(20, 20 + NONCE_BYTES)) },
      };
    }
    case Msg.CHALLENGE: {
      const bad = exact(CHALLENGE_BYTES);
      if (bad) return bad;
      return {
        type,
        challenge: {
          version: buf.readUInt32LE(4),
          nonce: Buffer.from(buf.subarray(8, 8 + NONCE_BYTES)),
        },
      };
    }
    case Msg.AUTH: {
      const bad = exact(AUTH_BYTES);
      if (bad) return bad;
      return { type, proof: Buffer.from(buf.subarray(4, 4 + MAC_BYTES)) };
    }
    case Msg.ACCEPT: {
      const bad = exact(ACCEPT_BYTES);
      if (bad) return bad;
      return {
        type,
        accept: {
          version: buf.readUInt32LE(4), size: buf.readUInt32LE(8), requestRing: buf.readUInt32LE(12), responseRing: buf.readUInt32LE(16), pid: buf.readUInt32LE(20),
          proof: Buffer.from(buf.subarray(24, 24 + MAC_BYTES)),
        },
      };
    }
    case Msg.REFUSE: {
      if (bytes < REFUSE_HEAD) return "a short REFUSE";
      const length = buf.readUInt32LE(12);
      if (length !== bytes - REFUSE_HEAD) return "a REFUSE whose text length is wrong";
      return { type, refuse: { version: buf.readUInt32LE(4), reason: buf.readUInt32LE(8), text: buf.toString("utf8", REFUSE_HEAD, bytes) } };
    }
    case Msg.INFO: {
      const bad = exact(INFO_BYTES);
      if (bad) return bad;
      if (buf.readUInt32LE(4) !== HELLO_MAGIC) return "an INFO without shmrpc's magic number";
      return { type, version: buf.readUInt32LE(8) };
    }
    case Msg.INFO_REPLY: {
      if (bytes < INFO_REPLY_HEAD) return "a short INFO_REPLY";
      const idLength = buf.readUInt16LE(28);
      const nameLength = buf.readUInt16LE(30);
      if (idLength > INFO_ID_MAX || nameLength > INFO_NAME_MAX || INFO_REPLY_HEAD + idLength + nameLength !== bytes) return "an INFO_REPLY whose lengths are wrong";
      const instanceId = buf.toString("latin1", INFO_REPLY_HEAD, INFO_REPLY_HEAD + idLength);
      const name = buf.toString("latin1", INFO_REPLY_HEAD + idLength, bytes);
      const startedAt = buf.readDoubleLE(32);
      if (!INSTANCE_ID_PATTERN.test(instanceId) || !NAME_TEXT_PATTERN.test(name) || !Number.isFinite(startedAt)) return "an INFO_REPLY with a malformed name, id or start time";
      return {
        type,
        info: {
          version: buf.readUInt32LE(4), pid: buf.readUInt32LE(8), uid: buf.readUInt32LE(12), clients: buf.readUInt32LE(16),
          methods: buf.readUInt32LE(20), flags: buf.readUInt32LE(24), startedAt, instanceId, name,
        },
      };
    }
    default:
      return `a message of unknown type ${type}`;
  }
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The server's proof that it knows the token, over both fresh nonces: sent in ACCEPT, only
 *  to a client whose AUTH proved the token first. */
export function serverProof(key: Buffer, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return nodeCrypto().createHmac("sha256", key).update("shmrpc server proof").update(clientNonce).update(serverNonce).digest();
}

/** The client's proof (AUTH, the first thing derived from the token on the wire); a
 *  different label, so neither proof can stand for the other. */
export function clientProof(key: Buffer, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return nodeCrypto().createHmac("sha256", key).update("shmrpc client proof").update(serverNonce).update(clientNonce).digest();
}

/** Constant-time comparison of two proofs. */
export function sameProof(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && nodeCrypto().timingSafeEqual(a, b);
}
