// Fuzz targets, as fast-check properties over this thread's WebAssembly core:
//  - decode-bytes:   arbitrary bytes given to the value decoder (src/codec/decode.ts and
//                    the core's scanner, assembly/codec.ts);
//  - decode-mutated: valid encodings with bytes flipped, lengths rewritten, slices cut,
//                    inserted or duplicated;
//  - round-trip:     arbitrary values, encoded then decoded, arrive equal;
//  - frames-raw:     arbitrary ring contents and counters given to the frame layer
//                    (src/channel.ts over the core's ring reader, assembly/ring.ts);
//  - frames-records: well-shaped records of any type, length and fragment total;
//  - frames-sent:    messages sent through a real Channel arrive exactly (a model
//                    check), then the same ring, corrupted, is read again.
// Every input that should be refused must be refused with ERR_RPC_PROTOCOL (or, for a
// ring whose counters are impossible, by the reader refusing to attach); nothing else
// may be thrown. Reading outside the input's window is caught with canaries: the
// window sits between guard bytes in linear memory, each input runs twice with
// different guard bytes, and the two runs must see exactly the same thing (a read of
// a guard byte would make them differ); writes are caught by checking the guards.
// The runner is tests/fuzz/run.ts (`npm run fuzz`); tests/fuzz.test.ts runs a short pass.

import fc from "fast-check";
import { core } from "../../src/core/wasm.js";
import { L } from "../../src/core/layout.js";
import { RingReader, RingWriter } from "../../src/core/ring.js";
import { Channel, OVERSIZED } from "../../src/channel.js";
import { Encoder } from "../../src/codec/encode.js";
import { Decoder } from "../../src/codec/decode.js";
import { RpcError } from "../../src/errors.js";
import { bodyOffset, HEADROOM, P_NAME, P_NAME_LENGTH } from "../../src/frames.js";
import { same } from "../same.js";

const c = core();
const x = c.exports;
const encoder = new Encoder(c);
const decoder = new Decoder(c);

const PAGE = 65536;
const GUARD = 256;
/** Largest decoder input the byte targets make. */
const WINDOW_MAX = 48 * 1024;
const codecRegion = c.alloc(GUARD + WINDOW_MAX + 8 + GUARD);

/** The two guard patterns: all zero, and a byte sequence that decodes differently. */
const GUARDS = [0, 1].map((k) => {
  const g = new Uint8Array(GUARD + WINDOW_MAX + 8 + GUARD + PAGE);
  if (k === 1) for (let i = 0; i < g.length; i++) g[i] = (i * 151 + 0x3d) & 0xff;
  return g;
});

/** Throws unless `e` is the only error a decoder may throw on bad input. */
function expectProtocol(e: unknown, what: string): string {
  if (e instanceof RpcError && e.code === "ERR_RPC_PROTOCOL") return e.message;
  throw new Error(`${what} threw something other than ERR_RPC_PROTOCOL: ${e instanceof Error ? e.stack : String(e)}`);
}

function checkGuard(from: number, to: number, guard: Uint8Array, guardAt: number, what: string): void {
  const u8 = c.u8;
  for (let i = from; i < to; i++) {
    if (u8[i] !== guard[i - guardAt]) throw new Error(`${what}: byte ${i - from} of a guard was written`);
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; message: string };

/** Decodes `bytes` placed `shift` bytes into the window, between guards of pattern `k`. */
function decodeOnce(bytes: Uint8Array, shift: number, k: number): Outcome {
  const guard = GUARDS[k]!;
  const at = codecRegion + GUARD + shift;
  const end = at + bytes.length;
  c.u8.set(guard.subarray(0, end + GUARD - codecRegion), codecRegion);
  c.u8.set(bytes, at);
  let out: Outcome;
  try {
    out = { ok: true, value: decoder.decode(at, end) };
  } catch (e) {
    out = { ok: false, message: expectProtocol(e, "decode") };
  }
  const u8 = c.u8;
  checkGuard(codecRegion, at, guard, codecRegion, "decode");
  checkGuard(end, end + GUARD, guard, codecRegion, "decode");
  for (let i = 0; i < bytes.length; i++) {
    if (u8[at + i] !== bytes[i]) throw new Error(`decode wrote into its input at byte ${i}`);
  }
  // The core's validator gives the same verdict and never reports a position past the end.
  const after = x.codecSkip(at, end, 0);
  if (after !== 0 && (after <= at || after > end)) throw new Error(`codecSkip returned ${after - at} for a window of ${bytes.length}`);
  if ((after === end) !== out.ok) throw new Error(`codecSkip (${after === 0 ? "error" : after - at}) and decode (${out.ok ? "a value" : "an error"}) disagree`);
  let validated = true;
  try {
    decoder.validate(at, end);
  } catch (e) {
    expectProtocol(e, "validate");
    validated = false;
  }
  if (validated !== out.ok) throw new Error("validate and decode disagree");
  return out;
}

/** The property of every decoder input: same outcome whatever surrounds the window. */
export function decodeChecked(bytes: Uint8Array, shift = 0): Outcome {
  const a = decodeOnce(bytes, shift, 0);
  const b = decodeOnce(bytes, shift, 1);
  if (a.ok !== b.ok) throw new Error("the outcome depends on bytes outside the window (read out of bounds)");
  if (a.ok) same(a.value, (b as { value: unknown }).value, "value (read out of bounds?)");
  else if (a.message !== (b as { message: string }).message) throw new Error(`the error depends on bytes outside the window: ${a.message} / ${(b as { message: string }).message}`);
  return a;
}

// ---------------------------------------------------------------- values

const str = fc.oneof(
  fc.string({ unit: "grapheme-ascii", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary-ascii", maxLength: 300 }),
  fc.constantFrom("", "__proto__", "constructor", "0", "4294967295", "a".repeat(31), "a".repeat(32), "é".repeat(128)),
);

const typed: fc.Arbitrary<unknown> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => b.slice().buffer),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat()).map(([b, n]) => new DataView(b.slice().buffer, n % b.length)),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat()).map(([b, n]) => b.subarray(n % b.length)),
  fc.int8Array({ maxLength: 16 }),
  fc.uint8ClampedArray({ maxLength: 16 }),
  fc.int16Array({ maxLength: 16 }),
  fc.uint16Array({ maxLength: 16 }),
  fc.int32Array({ maxLength: 16 }),
  fc.uint32Array({ maxLength: 16 }),
  fc.float32Array({ maxLength: 16 }),
  fc.float64Array({ maxLength: 16 }),
  fc.bigInt64Array({ maxLength: 8 }),
  fc.bigUint64Array({ maxLength: 8 }),
);

const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, -16, -17, 127, 128, -128, -129, 32767, 32768, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, 0.5, 1e-310),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, true, false),
  number,
  fc.oneof(fc.bigInt(), fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n })),
  str,
  fc.date({ noInvalidDate: false }),
  typed,
);

function plainObject(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  return o;
}

const ERROR_CLASSES = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError];

/** Any value the codec carries unchanged (no holes, no lone surrogates: those change on the way by design). */
export const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "xsmall", withCrossShrink: true },
    leaf,
    fc.array(tie("v")),
    fc.array(fc.tuple(str, tie("v"))).map(plainObject),
    fc.array(fc.tuple(tie("v"), tie("v")), { maxLength: 8 }).map((e) => new Map(e)),
    fc.array(tie("v"), { maxLength: 8 }).map((e) => new Set(e)),
    fc.record({ cls: fc.nat(ERROR_CLASSES.length - 1), message: str, code: fc.option(str), cause: fc.option(tie("v")) }).map((r) => {
      const e = r.cause === null ? new ERROR_CLASSES[r.cls]!(r.message) : new ERROR_CLASSES[r.cls]!(r.message, { cause: r.cause });
      if (r.code !== null) (e as Error & { code?: string }).code = r.code;
      return e;
    }),
  ),
})).v;

/** A value nested `depth` containers deep (the codec allows 256). */
const deep = fc.tuple(fc.integer({ min: 200, max: 256 }), leaf).map(([depth, v]) => {
  for (let i = 0; i < depth; i++) v = i % 3 === 0 ? [v] : i % 3 === 1 ? { k: v } : new Set([v]);
  return v;
});

export const anyValue = fc.oneof({ weight: 20, arbitrary: value }, { weight: 1, arbitrary: deep });

function encodeBytes(v: unknown): Uint8Array {
  const n = encoder.encode(v, 1 << 24);
  return c.u8.slice(encoder.start, encoder.start + n);
}

// ---------------------------------------------------------------- mutations

type Mutation =
  | { op: "set"; at: number; byte: number }
  | { op: "u32"; at: number; v: number }
  | { op: "truncate"; at: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; n: number }
  | { op: "copy"; from: number; at: number; n: number };

const interestingU32 = fc.oneof(
  fc.constantFrom(0, 1, 7, 8, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x1000000, 0x1fffffe8, 0x1fffffe9, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const tagByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc4, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xe0, 0xe1, 0xe9, 0xeb, 0xed, 0xee, 0xef, 0xf0),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: tagByte }),
  fc.record({ op: fc.constant("u32" as const), at: fc.nat(), v: interestingU32 }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("copy" as const), from: fc.nat(), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);

export function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.op === "insert" ? 1 : 0));
    switch (m.op) {
      case "set": if (b.length > 0) b[at] = m.byte; break;
      case "u32": {
        if (b.length === 0) break;
        const word = Buffer.alloc(4);
        word.writeUInt32LE(m.v >>> 0);
        word.copy(b, at, 0, Math.min(4, b.length - at));
        break;
      }
      case "truncate": b = b.subarray(0, at); break;
      case "insert": b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break;
      case "delete": b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]); break;
      case "copy": {
        if (b.length === 0) break;
        const from = m.from % b.length;
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + m.n), b.subarray(at)]);
        break;
      }
    }
  }
  return new Uint8Array(b.subarray(0, WINDOW_MAX));
}

// ---------------------------------------------------------------- frames

const CAP = L.RING_MIN_CAPACITY; // 4096: small, so that every input wraps and fills it
const frameRegion = c.alloc(4 * PAGE);
// [guard][ring under test: header + CAP][guard] ... [other ring] [staging for sends]
const RING = frameRegion + GUARD;
const DATA = RING + L.RING_HEADER_BYTES;
const RING_END = DATA + CAP;
const OTHER_RING = frameRegion + PAGE;
const STAGE = frameRegion + 2 * PAGE; // HEADROOM + bodies of up to one page

/** What a reader saw: messages (type, length, the bytes, the decoded body) and how it ended. */
interface Transcript {
  attached: boolean;
  messages: unknown[];
  end: string;
}

/** Reads everything the ring holds through a fresh Channel, checking every message's bounds. */
function readRing(maxMessageBytes: number): Transcript {
  let reader: RingReader;
  try {
    reader = new RingReader(RING, CAP);
  } catch (e) {
    if (!(e instanceof Error) || !/cannot attach ring/.test(e.message)) throw e;
    return { attached: false, messages: [], end: e.message };
  }
  x.ringFormat(OTHER_RING);
  const ch = new Channel(new RingWriter(OTHER_RING, CAP), reader, maxMessageBytes);
  const messages: unknown[] = [];
  try {
    for (let i = 0; ; i++) {
      if (i > 4 * CAP) throw new Error("the channel keeps delivering messages from a ring that cannot hold that many");
      if (!ch.poll()) break;
      // A fragmented message's tail (its last binary's bytes) is a Buffer of its own: the
      // memory at `payload` holds only the bytes before it.
      const { type, payload, length, tail } = ch;
      const inMemory = length - (tail === null ? 0 : tail.length);
      if (type === OVERSIZED) {
        if (length <= maxMessageBytes) throw new Error(`OVERSIZED for ${length} bytes with a limit of ${maxMessageBytes}`);
        messages.push({ oversized: length, id: ch.oversizedId });
        continue;
      }
      if (type !== L.T_REQUEST && type !== L.T_CALL && type !== L.T_METHOD_ID && type !== L.T_RESPONSE && type !== L.T_ERROR && type !== L.T_GOODBYE
        && type !== L.T_CONTEXT && type !== L.T_CANCEL && type !== L.T_STREAM_ITEM && type !== L.T_STREAM_CREDIT && type !== L.T_STREAM_ARG && type !== L.T_STREAM_END) {
        throw new Error(`the channel delivered a record of type ${type}`);
      }
      if (length > maxMessageBytes) throw new Error(`a message of ${length} bytes passed a limit of ${maxMessageBytes}`);
      const inRing = payload >= DATA && payload + inMemory <= RING_END;
      const outside = payload + inMemory <= frameRegion || payload >= frameRegion + 4 * PAGE;
      if (!inRing && !(outside && payload > 0 && payload + inMemory <= c.u8.length)) {
        throw new Error(`message [${payload}, ${payload + inMemory}) is neither inside the ring's data nor in private memory`);
      }
      const bytes = Buffer.from(c.u8.subarray(payload, payload + inMemory));
      messages.push({ type, length, bytes: tail === null ? bytes : Buffer.concat([bytes, tail]), body: decodeBody(type, payload, length, tail) });
    }
    ch.release();
    return { attached: true, messages, end: ch.protocolError ?? `ring error ${reader.error}` };
  } finally {
    ch.dispose();
  }
}

/** Decodes a message's value as the server (requests) or the client (responses, errors) would. */
function decodeBody(type: number, at: number, length: number, tail: Buffer | null): unknown {
  let start: number;
  if (type === L.T_REQUEST) {
    if (length < P_NAME) return "short";
    start = bodyOffset(P_NAME + c.u8[at + P_NAME_LENGTH]!);
  } else if (type === L.T_CALL || type === L.T_RESPONSE || type === L.T_ERROR || type === L.T_STREAM_ITEM) {
    start = 8;
  } else {
    return undefined;
  }
  if (start > length) return "short";
  try {
    return { value: decoder.decode(at + start, at + length, tail) };
  } catch (e) {
    return { error: expectProtocol(e, "decoding a message body") };
  }
}

/** Lays out the ring (counters and data) with guard pattern `k` around it. */
type Layout = (k: number) => void;

/** Runs the reader over the same ring contents with both guard patterns: the two runs
 *  must agree, the guards stay intact, and nothing but the documented errors escapes. */
export function framesChecked(layout: Layout, maxMessageBytes: number): Transcript {
  const runs = [0, 1].map((k) => {
    const guard = GUARDS[k]!.subarray(0, RING_END + GUARD - frameRegion);
    c.u8.set(guard.subarray(0, RING - frameRegion), frameRegion);
    c.u8.set(guard.subarray(RING_END - frameRegion), RING_END);
    layout(k);
    const t = readRing(maxMessageBytes);
    checkGuard(frameRegion, RING, guard, frameRegion, "frame reader");
    checkGuard(RING_END, RING_END + GUARD, guard, frameRegion, "frame reader");
    return t;
  });
  same(runs[0], runs[1], "frame transcript (read out of bounds?)");
  return runs[0]!;
}

function setCounters(tail: number, head: number): void {
  c.view.setUint32(RING + 0, tail >>> 0, true); // RING_TAIL
  c.view.setUint32(RING + 128, head >>> 0, true); // RING_HEAD
}

const counter = fc.oneof(
  fc.constantFrom(0, 8, 16, CAP - 8, CAP, CAP + 8, 2 * CAP, 0x80000000, 0xfffffff8, 0xfffff000, 0xffffffff, 4),
  fc.integer({ min: 0, max: 0xffffffff }).map((n) => n & ~7),
  fc.integer({ min: 0, max: 0xffffffff }),
);

const maxMessage = fc.constantFrom(1024, 64 * 1024, 1 << 20, 128 << 20);

/** Arbitrary counters and bytes. */
export const rawRing = fc.record({
  tail: counter,
  head: counter,
  near: fc.boolean(), // tail = head + a small delta, to get past the counter check often
  delta: fc.integer({ min: 0, max: CAP }).map((n) => (n & ~7) >>> 0),
  bytes: fc.uint8Array({ maxLength: CAP }),
  at: fc.nat(CAP - 1),
  max: maxMessage,
});

export function rawLayout(r: { tail: number; head: number; near: boolean; delta: number; bytes: Uint8Array; at: number }): Layout {
  return () => {
    c.u8.fill(0, DATA, RING_END);
    const room = RING_END - (DATA + r.at);
    c.u8.set(r.bytes.subarray(0, room), DATA + r.at);
    c.u8.set(r.bytes.subarray(room), DATA);
    setCounters(r.near ? r.head + r.delta : r.tail, r.head);
  };
}

/** One record as a peer might write it: type, payload, and a length field that may lie. */
const record = fc.record({
  type: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(L.T_REQUEST, L.T_CALL, L.T_RESPONSE, L.T_ERROR, L.T_FRAGMENT_FIRST, L.T_FRAGMENT_MORE) },
    { weight: 1, arbitrary: fc.constantFrom(0, L.T_PADDING, L.T_GOODBYE, L.T_METHOD_ID, L.T_CONTEXT, L.T_CANCEL, L.T_STREAM_ITEM, L.T_STREAM_CREDIT, L.T_STREAM_ARG, L.T_STREAM_END, L.T_STREAM_END + 1, 0xffffffff) },
  ),
  payload: fc.uint8Array({ maxLength: 1100 }),
  total: fc.oneof(fc.integer({ min: 0, max: 8192 }), interestingU32),
  inner: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(L.T_REQUEST, L.T_CALL, L.T_RESPONSE, L.T_ERROR, L.T_STREAM_ITEM) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) }),
  lie: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: interestingU32 }),
});

export const recordRing = fc.record({
  head: counter.map((n) => (n & ~7) >>> 0),
  records: fc.array(record, { maxLength: 12 }),
  tailDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -64, max: 64 }) }),
  max: maxMessage,
});

type RecordArb = typeof record extends fc.Arbitrary<infer T> ? T : never;

/** Writes the records from `head` on as a producer would (padding at the end of the data area). */
export function recordLayout(r: { head: number; records: RecordArb[]; tailDelta: number }): Layout {
  return () => {
    c.u8.fill(0, DATA, RING_END);
    let pos = r.head;
    for (const rec of r.records) {
      const isFirst = rec.type === L.T_FRAGMENT_FIRST;
      const payload = isFirst ? new Uint8Array(16 + rec.payload.length) : rec.payload;
      if (isFirst) {
        const v = new DataView(payload.buffer);
        v.setUint32(0, rec.total >>> 0, true);
        v.setUint32(4, rec.inner >>> 0, true);
        v.setUint32(8, rec.total & 1 ? rec.total >>> 1 : 0, true); // a tail half the time
        payload.set(rec.payload, 16);
      }
      const length = 8 + payload.length;
      const size = (length + 7) & ~7;
      if (size > CAP - ((pos - r.head) >>> 0)) break; // full
      let index = pos & (CAP - 1);
      if (size > CAP - index) {
        if (size + (CAP - index) > CAP - ((pos - r.head) >>> 0)) break;
        c.view.setUint32(DATA + index, CAP - index, true);
        c.view.setUint32(DATA + index + 4, L.T_PADDING, true);
        pos = (pos + CAP - index) >>> 0;
        index = 0;
      }
      c.view.setUint32(DATA + index, (rec.lie ?? length) >>> 0, true);
      c.view.setUint32(DATA + index + 4, rec.type >>> 0, true);
      c.u8.set(payload, DATA + index + 8);
      pos = (pos + size) >>> 0;
    }
    setCounters(pos + r.tailDelta, r.head);
  };
}

/** Messages as the library sends them: type, id, optional extra header (a method name), body. */
const message = fc.record({
  type: fc.constantFrom(L.T_REQUEST, L.T_RESPONSE, L.T_ERROR, L.T_GOODBYE),
  id: fc.integer({ min: 0, max: 0xffffffff }),
  name: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 40 }),
  body: fc.oneof(value.map((v) => encodeBytes(v)), fc.uint8Array({ maxLength: 6000 })),
});

export const sentRing = fc.record({
  start: counter.map((n) => (n & ~7) >>> 0),
  messages: fc.array(message, { maxLength: 6 }),
  corruptions: fc.array(fc.record({ at: fc.nat(L.RING_HEADER_BYTES + CAP - 1), v: interestingU32, word: fc.boolean() }), { maxLength: 4 }),
});

/** Was true while Channel.sendPayload dropped an empty message that met a full ring. */
const GOODBYE_INTO_FULL_RING_IS_LOST = false;

type MessageArb = typeof message extends fc.Arbitrary<infer T> ? T : never;

/** Sends the messages through a real Channel into the ring while reading them from it,
 *  and checks that exactly they arrive, in order (the frame layer's model check). */
export function sendAndReceive(start: number, messages: MessageArb[], maxMessageBytes = 1 << 20): void {
  setCounters(start, start);
  const sender = new Channel(new RingWriter(RING, CAP), (x.ringFormat(OTHER_RING), new RingReader(OTHER_RING, CAP)), maxMessageBytes);
  const receiver = new Channel(new RingWriter(OTHER_RING, CAP), new RingReader(RING, CAP), maxMessageBytes);
  const got: unknown[] = [];
  try {
    let next = 0;
    for (let rounds = 0; ; rounds++) {
      if (rounds > 10_000) throw new Error("sending stalled");
      while (next < messages.length && sender.idle) {
        const m = messages[next]!;
        // Known bug (tests/fuzz-regressions.test.ts, skipped until src/channel.ts is fixed):
        // an empty message meeting a full ring is dropped, not queued. Wait for room.
        if (GOODBYE_INTO_FULL_RING_IS_LOST && m.type === L.T_GOODBYE && !sender.writer.hasRoom(0)) break;
        next++;
        if (m.type === L.T_GOODBYE) {
          sender.sendEmpty(L.T_GOODBYE);
        } else {
          c.u8.set(m.body, STAGE + HEADROOM);
          const extra = m.type === L.T_REQUEST ? Buffer.concat([Uint8Array.of(Buffer.byteLength(m.name)), Buffer.from(m.name)]) : m.type === L.T_ERROR ? Uint8Array.of(1) : null;
          sender.send(m.type, m.id, extra, STAGE + HEADROOM, m.body.length);
        }
      }
      sender.flush();
      sender.writer.commit();
      while (receiver.poll()) {
        const { type, payload, length } = receiver;
        got.push({ type, bytes: Buffer.from(c.u8.subarray(payload, payload + length)) });
      }
      if (receiver.protocolError !== undefined) throw new Error(`a valid stream was refused: ${receiver.protocolError}`);
      receiver.release();
      if (next === messages.length && sender.idle && receiver.reader.empty()) break;
    }
  } finally {
    sender.dispose();
    receiver.dispose();
  }
  const want = messages.map((m) => {
    if (m.type === L.T_GOODBYE) return { type: m.type, bytes: Buffer.alloc(0) };
    const extra = m.type === L.T_REQUEST ? 1 + Buffer.byteLength(m.name) : m.type === L.T_ERROR ? 1 : 0;
    const head = Buffer.alloc(bodyOffset(4 + extra));
    head.writeUInt32LE(m.id >>> 0, 0);
    if (m.type === L.T_REQUEST) {
      head[4] = Buffer.byteLength(m.name);
      head.write(m.name, 5);
    } else if (m.type === L.T_ERROR) {
      head[4] = 1;
    }
    return { type: m.type, bytes: Buffer.concat([head, m.body]) };
  });
  same(got, want, "received messages");
}

// ---------------------------------------------------------------- the targets

export interface Target {
  name: string;
  /** Share of the total number of runs. */
  share: number;
  property(): fc.IProperty<never>;
}

const asProperty = <T>(arb: fc.Arbitrary<T>, check: (v: T) => void): fc.IProperty<never> =>
  fc.property(arb, (v) => {
    check(v);
  }) as unknown as fc.IProperty<never>;

export const targets: Target[] = [
  {
    name: "decode-bytes",
    share: 0.3,
    property: () => asProperty(
      fc.tuple(fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) }), fc.nat(7)),
      ([bytes, shift]) => void decodeChecked(bytes, shift),
    ),
  },
  {
    name: "decode-mutated",
    share: 0.3,
    property: () => asProperty(
      fc.tuple(anyValue, fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.nat(7)),
      ([v, ms, shift]) => void decodeChecked(mutate(encodeBytes(v), ms), shift),
    ),
  },
  {
    name: "round-trip",
    share: 0.2,
    property: () => asProperty(anyValue, (v) => {
      const bytes = encodeBytes(v);
      const out = decodeChecked(bytes, 0);
      if (!out.ok) throw new Error(`a valid encoding was refused: ${out.message}`);
      same(out.value, v, "round-tripped value");
    }),
  },
  {
    name: "frames-raw",
    share: 0.08,
    property: () => asProperty(rawRing, (r) => void framesChecked(rawLayout(r), r.max)),
  },
  {
    name: "frames-records",
    share: 0.08,
    property: () => asProperty(recordRing, (r) => void framesChecked(recordLayout(r), r.max)),
  },
  {
    name: "frames-sent",
    share: 0.04,
    property: () => asProperty(sentRing, (r) => {
      sendAndReceive(r.start, r.messages);
      if (r.corruptions.length === 0) return;
      // The same stream again, published but not yet read, then corrupted and read.
      framesChecked(() => {
        setCounters(r.start, r.start);
        const w = new RingWriter(RING, CAP);
        const sender = new Channel(w, (x.ringFormat(OTHER_RING), new RingReader(OTHER_RING, CAP)), 1 << 20);
        for (const m of r.messages) {
          if (m.type === L.T_GOODBYE) sender.sendEmpty(m.type);
          else {
            c.u8.set(m.body, STAGE + HEADROOM);
            sender.send(m.type, m.id, m.type === L.T_ERROR ? Uint8Array.of(1) : null, STAGE + HEADROOM, m.body.length);
          }
        }
        w.commit();
        sender.dispose();
        for (const k of r.corruptions) {
          if (k.word) c.view.setUint32(RING + (k.at & ~3), k.v >>> 0, true);
          else c.u8[RING + k.at] = k.v & 0xff;
        }
      }, 1 << 20);
    }),
  },
];
