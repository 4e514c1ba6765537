// JS values -> bytes, in the format of assembly/codec.ts (the tag table is there).
//
// What can be sent, and how it arrives:
//   undefined, null, booleans, numbers (every float64: NaN, -0, ±Infinity, denormals),
//   bigints of any sign up to 2^27 bits, strings  -> the same value. Strings travel as
//     UTF-8: well-formed ones round-trip exactly, a lone surrogate becomes U+FFFD.
//   arrays                 -> arrays; holes arrive as undefined, extra (non-index)
//                             properties are dropped.
//   plain objects          -> plain objects (prototype Object.prototype, also for
//     (prototype Object.prototype or null)   null-prototype ones); own enumerable
//                             string keys only, symbol keys are ignored, undefined
//                             members are kept, getters are read.
//   Map, Set               -> Map, Set (any keys and values)
//   Date                   -> Date (an invalid Date stays invalid)
//   Buffer                 -> Buffer; Uint8Array -> Uint8Array (not a Buffer);
//   every other typed array, DataView and ArrayBuffer -> the same kind, a copy of the
//     bytes in the view's window only; SharedArrayBuffer -> an ArrayBuffer copy.
//   Error (and subclasses) -> an Error with the same name, message, stack, cause and
//     own enumerable properties (e.g. `code`). Standard names (TypeError, RangeError,
//     ...) come back as that class, any other name as an Error whose `name` is set.
// Everything else is refused with ERR_RPC_INVALID_ARGUMENT naming what and where:
// functions, symbols, cycles (a value that contains one of its ancestors; a value
// reached twice by other routes is simply encoded twice), nesting deeper than 256,
// class instances (subclasses of Map, Array, Uint8Array... too), boxed primitives,
// Promise, WeakMap, RegExp and so on.
//
// Speed: one-byte forms (small integers, constants, short ASCII strings, small array
// and object headers) are stored from JS; every longer header goes through the core's
// writers, which also check the room left. Numbers, strings, arrays and the like
// allocate nothing; an object allocates its Object.keys array, a Map or Set its
// iterator, a typed array a Uint8Array view, a big bigint its hex string.
// A getter that throws is not caught: its error propagates as it is.

import type { Core } from "../core/wasm.js";
import { OutOfLinearMemory } from "../core/out-of-memory.js";
import { ErrorCodes, RpcError } from "../errors.js";
import {
  BIN_ARRAYBUFFER, BIN_BIGINT64, BIN_BIGUINT64, BIN_BUFFER, BIN_DATAVIEW, BIN_FLOAT32, BIN_FLOAT64,
  BIN_INT16, BIN_INT32, BIN_INT8, BIN_UINT16, BIN_UINT32, BIN_UINT8, BIN_UINT8CLAMPED,
  FIXCOUNT_MAX, FIXINT_MAX, FIXSTR_MAX, KIND_ARRAY, KIND_ERROR, KIND_MAP, KIND_OBJECT, KIND_SET,
  MAX_BIGINT_BYTES, MAX_DEPTH, NEGFIXINT_MIN, TAG_FALSE, TAG_FIXARRAY, TAG_FIXOBJECT, TAG_FIXSTR,
  TAG_NULL, TAG_TRUE, TAG_UNDEFINED,
} from "./wire.js";

/** Node's Buffer methods that skip argument checks (present on every Buffer). */
interface FastBuffer extends Buffer {
  utf8Write(s: string, offset: number, max: number): number;
  hexWrite(s: string, offset: number, max: number): number;
}

const SCRATCH_INITIAL = 64 * 1024;

const ArrayProto = Array.prototype;
const ObjectProto = Object.prototype;
const MapProto = Map.prototype;
const SetProto = Set.prototype;
const DateProto = Date.prototype;
const hasOwn = Object.hasOwn;

/** Prototype -> BIN_* kind, for exactly the built-in binary classes. */
const BINARY_KINDS = new Map<object, number>([
  [ArrayBuffer.prototype, BIN_ARRAYBUFFER],
  [SharedArrayBuffer.prototype, BIN_ARRAYBUFFER],
  [Buffer.prototype, BIN_BUFFER],
  [Uint8Array.prototype, BIN_UINT8],
  [Int8Array.prototype, BIN_INT8],
  [Uint8ClampedArray.prototype, BIN_UINT8CLAMPED],
  [Int16Array.prototype, BIN_INT16],
  [Uint16Array.prototype, BIN_UINT16],
  [Int32Array.prototype, BIN_INT32],
  [Uint32Array.prototype, BIN_UINT32],
  [Float32Array.prototype, BIN_FLOAT32],
  [Float64Array.prototype, BIN_FLOAT64],
  [BigInt64Array.prototype, BIN_BIGINT64],
  [BigUint64Array.prototype, BIN_BIGUINT64],
  [DataView.prototype, BIN_DATAVIEW],
]);

/** Error fields that are not enumerable but travel anyway, in this order. */
const ERROR_FIELDS = ["name", "message", "stack", "cause", "errors"];

/** Thrown inside the encoder; becomes an RpcError with the path at the top. */
class Unsendable {
  /** Path segments, innermost first (added while unwinding). */
  readonly path: string[] = [];
  /** For a cycle: the depth of the ancestor that is repeated. */
  constructor(readonly what: string, readonly ancestor = -1) {}
}

function withPath(err: unknown, segment: string): unknown {
  if (err instanceof Unsendable) err.path.push(segment);
  return err;
}

function keySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? "." + key : "[" + JSON.stringify(key) + "]";
}

function describeKey(key: unknown): string {
  if (typeof key === "string") return JSON.stringify(key.length > 40 ? key.slice(0, 40) + "…" : key);
  if (typeof key === "number" || typeof key === "boolean" || key === null || key === undefined) return String(key);
  if (typeof key === "bigint") return key + "n";
  return "";
}

function className(v: object): string {
  try {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === null || typeof proto !== "object") return "Object";
    const ctor: unknown = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
    if (typeof ctor === "function" && ctor.name) return ctor.name;
  } catch {
    // a Proxy's trap threw: fall through
  }
  return "non-plain object";
}

/** Scratch kept between messages at most, unless big messages keep coming. */
const SCRATCH_KEEP = 4 << 20;
/** A binary at least this long is spliced (with `encode`'s headroom, the ring path):
 *  its bytes stay where they are and the channel copies them straight into the ring. */
export const SPLICE_MIN_BYTES = 64 * 1024;

/** The one big binary of the last `encode` left out of the scratch: the message is
 *  [start + headroom, at) ++ bytes ++ [at, end of the scratch bytes). `bytes` is null
 *  when nothing was spliced. */
export class Splice {
  bytes: Uint8Array | null = null;
  at = 0;
  /** True when the spliced bytes end the message (the receiver can then take them
   *  into a Buffer of their own without reassembling them first). */
  last = false;
}

export class Encoder {
  /** Where `encode` leaves its bytes (valid until the next `encode`). */
  start = 0;
  /** Bytes of the scratch region at `start`. */
  private capacity = 0;
  /** What the last `encode` spliced (see Splice). */
  readonly splice = new Splice();
  /** Splice binaries of SPLICE_MIN_BYTES or more in this encode. */
  private splicing = false;

  private readonly core: Core;
  private u8: Uint8Array;
  private buf: FastBuffer;
  private end = 0;
  private base = 0;
  /** After encodeInto returned -1: bytes from its `pos` known to be needed (a lower bound). */
  private needed = 0;
  /** The containers being encoded, outermost first (cycle check); `depth` of them. */
  private readonly ancestors: unknown[] = new Array<unknown>(MAX_DEPTH).fill(undefined);
  private depth = 0;

  private readonly writeNumber: (pos: number, end: number, value: number) => number;
  private readonly writeDate: (pos: number, end: number, ms: number) => number;
  private readonly writeStringHeader: (pos: number, end: number, len: number) => number;
  private readonly stringHeaderBytes: (len: number) => number;
  private readonly writeContainer: (pos: number, end: number, kind: number, count: number) => number;
  private readonly writeBigIntHeader: (pos: number, end: number, negative: boolean, len: number) => number;
  private readonly writeBinaryHeader: (pos: number, end: number, bin: number, len: number) => number;

  constructor(core: Core) {
    this.core = core;
    this.u8 = core.u8;
    this.buf = core.buf as FastBuffer;
    const x = core.exports;
    this.writeNumber = x.codecWriteNumber;
    this.writeDate = x.codecWriteDate;
    this.writeStringHeader = x.codecWriteStringHeader;
    this.stringHeaderBytes = x.codecStringHeaderBytes;
    this.writeContainer = x.codecWriteContainer;
    this.writeBigIntHeader = x.codecWriteBigIntHeader;
    this.writeBinaryHeader = x.codecWriteBinaryHeader;
    // Allocated now rather than on the first encode: alloc may grow the memory, which
    // replaces the core's views, and callers should not meet that mid-call.
    this.start = core.alloc(SCRATCH_INITIAL);
    this.capacity = SCRATCH_INITIAL;
  }

  /**
   * Encodes `value` into its private scratch region and returns the byte length; the
   * bytes are at `this.start` until the next call. The scratch grows (by doubling) up
   * to `maxBytes`; a value whose encoding is longer throws ERR_RPC_MESSAGE_TOO_LARGE.
   * `what` names the value in error messages ("args" gives "args[1].cb").
   * Growing the scratch may grow the memory: re-read the core's views after a call.
   * With `headroom`, the bytes start at `this.start + headroom`, leaving room for a
   * header in front, and the first binary of SPLICE_MIN_BYTES or more is not copied:
   * `this.splice` says where its bytes belong (the returned length counts them). The
   * caller sends the message before the binary can change (Channel.send copies it).
   */
  encode(value: unknown, maxBytes: number, what = "value", headroom = 0): number {
    // A getter of the value could call back into this encoder (a call from inside a
    // getter) and overwrite the scratch being filled: refuse that instead.
    if (this.busy) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `cannot encode ${what} while another value is being encoded (a call made from a getter?)`);
    }
    this.busy = true;
    try {
      return this.encodeToScratch(value, maxBytes, what, headroom);
    } finally {
      this.busy = false;
    }
  }

  private busy = false;

  private encodeToScratch(value: unknown, maxBytes: number, what: string, headroom: number): number {
    if (this.capacity === 0) this.take(SCRATCH_INITIAL, what);
    for (;;) {
      const room = Math.max(0, Math.min(this.capacity - headroom, maxBytes));
      const from = this.start + headroom;
      this.splicing = headroom > 0;
      const end = this.encodeInto(value, from, from + room, what);
      this.splicing = false;
      if (end >= 0) {
        const splice = this.splice;
        if (splice.bytes === null) return end - from;
        splice.last = splice.at === end;
        const length = end - from + splice.bytes.length;
        if (length > maxBytes) {
          splice.bytes = null;
          throw new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `${what} encodes to at least ${length} bytes, over maxBytes (${maxBytes})`);
        }
        return length;
      }
      if (room >= maxBytes || this.needed > maxBytes) {
        const atLeast = Math.max(this.needed, room + 1);
        throw new RpcError(
          ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE,
          `${what} encodes to at least ${atLeast} bytes, over maxBytes (${maxBytes})`,
        );
      }
      let grown = this.capacity * 2;
      while (grown < this.needed + headroom) grown *= 2;
      this.grow(Math.min(grown, maxBytes + headroom), what);
    }
  }

  /** After a small message, gives back scratch that a big one grew past SCRATCH_KEEP
   *  (steady big traffic keeps its scratch; a burst does not pin memory forever). */
  shrink(lastLength: number): void {
    if (this.capacity > SCRATCH_KEEP && lastLength * 4 < this.capacity) this.dispose();
  }

  /** Returns the scratch region to the core (the next `encode` allocates again). */
  dispose(): void {
    if (this.capacity === 0) return;
    this.core.release(this.start, this.capacity);
    this.capacity = 0;
    this.start = 0;
  }

  private grow(capacity: number, what: string): void {
    this.dispose();
    this.take(capacity, what);
  }

  /** Takes a scratch region of `capacity` bytes (none is held). With no room for it
   *  in the memory, the value is refused as too large for this process now:
   *  ERR_RPC_MESSAGE_TOO_LARGE, as a message received that does not fit (the scratch is
   *  then taken again by the next encode). */
  private take(capacity: number, what: string): void {
    try {
      this.start = this.core.alloc(capacity);
    } catch (e) {
      if (!(e instanceof OutOfLinearMemory)) throw e;
      throw new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `${what} needs ${capacity} bytes to encode, and this process's memory has no room for them now: ${e.message}`, { cause: e, maybeExecuted: false });
    }
    this.capacity = Math.ceil(capacity / 65536) * 65536;
  }

  /**
   * Encodes `value` at [pos, end) of linear memory. Returns the position after it, or
   * -1 when it does not fit (what was written is garbage then). Throws RpcError
   * ERR_RPC_INVALID_ARGUMENT for a value that cannot be sent.
   */
  encodeInto(value: unknown, pos: number, end: number, what = "value"): number {
    const c = this.core;
    this.u8 = c.u8;
    this.buf = c.buf as FastBuffer;
    if (!(pos >= 1 && pos <= end && end <= this.u8.length)) {
      throw new RangeError(`shmrpc: encode window [${pos}, ${end}) is outside linear memory`);
    }
    this.end = end;
    this.base = pos;
    this.needed = 0;
    this.splice.bytes = null;
    try {
      return this.value(value, pos);
    } catch (err) {
      this.ancestors.fill(undefined, 0, this.depth);
      this.depth = 0;
      if (err instanceof Unsendable) throw this.invalid(err, what);
      throw err;
    }
  }

  private invalid(err: Unsendable, what: string): RpcError {
    const path = err.path.reverse();
    let message = `cannot send ${err.what} at ${what}${path.join("")}`;
    if (err.ancestor >= 0) message += `: it refers back to ${what}${path.slice(0, err.ancestor).join("")}`;
    return new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, message);
  }

  /** Records that `need` (an absolute end position) did not fit; returns -1. */
  private full(need: number): number {
    this.needed = need - this.base;
    return -1;
  }

  private value(v: unknown, pos: number): number {
    switch (typeof v) {
      case "number": return this.number(v as number, pos);
      case "string": return this.string(v as string, pos);
      case "object": return v === null ? this.byte(TAG_NULL, pos) : this.object(v as object, pos);
      case "boolean": return this.byte(v ? TAG_TRUE : TAG_FALSE, pos);
      case "undefined": return this.byte(TAG_UNDEFINED, pos);
      case "bigint": return this.bigint(v as bigint, pos);
      case "function": {
        const name = (v as { name?: unknown }).name;
        throw new Unsendable(typeof name === "string" && name ? `a function (${name})` : "a function");
      }
      case "symbol": throw new Unsendable("a symbol");
    }
    throw new Unsendable(`a value of type ${typeof v}`);
  }

  private byte(b: number, pos: number): number {
    if (pos >= this.end) return this.full(pos + 1);
    this.u8[pos] = b;
    return pos + 1;
  }

  private number(v: number, pos: number): number {
    // fixint: an int32 in [-16, 127] that is not -0
    if (v <= FIXINT_MAX && v >= NEGFIXINT_MIN && (v | 0) === v && (v !== 0 || 1 / v > 0)) {
      if (pos >= this.end) return this.full(pos + 1);
      this.u8[pos] = v & 0xff;
      return pos + 1;
    }
    const p = this.writeNumber(pos, this.end, v);
    return p === 0 ? this.full(pos + 9) : p;
  }

  private string(s: string, pos: number): number {
    const n = s.length;
    // Short ASCII: bytes then a fixstr tag, all from JS.
    if (n <= FIXSTR_MAX && pos + 1 + n <= this.end) {
      const u8 = this.u8;
      let p = pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        u8[p++] = c;
      }
      if (i === n) {
        u8[pos] = TAG_FIXSTR | n;
        return p;
      }
    }
    return this.stringUtf8(s, pos);
  }

  private stringUtf8(s: string, pos: number): number {
    const n = s.length;
    const end = this.end;
    if (n > end - pos) return this.full(pos + 1 + n); // at least a byte per UTF-16 unit
    // Write at the offset of the header for the worst case (3 bytes per unit; a
    // surrogate pair is 4 bytes for 2 units), then move down if the header is shorter.
    const worst = 3 * n;
    const room = this.stringHeaderBytes(worst);
    if (worst > end - pos - room) {
      const len = Buffer.byteLength(s, "utf8");
      const p = this.writeStringHeader(pos, end, len);
      if (p === 0) return this.full(pos + 5 + len);
      this.buf.utf8Write(s, p, len);
      return p + len;
    }
    const len = this.buf.utf8Write(s, pos + room, worst);
    const header = this.stringHeaderBytes(len);
    if (header !== room) this.u8.copyWithin(pos + header, pos + room, pos + room + len);
    const p = this.writeStringHeader(pos, end, len);
    return p === 0 ? this.full(pos + 5 + len) : p + len;
  }

  private bigint(v: bigint, pos: number): number {
    const negative = v < 0n;
    const m = negative ? -v : v;
    if (m < 0x1000000000000n) {
      // Up to 6 bytes: exact in a double.
      let x = Number(m);
      let len = 0;
      for (let t = x; t > 0; t = Math.floor(t / 256)) len++;
      const p = this.writeBigIntHeader(pos, this.end, negative, len);
      if (p === 0) return this.full(pos + 5 + len);
      const u8 = this.u8;
      for (let i = len - 1; i >= 0; i--) {
        u8[p + i] = x % 256;
        x = Math.floor(x / 256);
      }
      return p + len;
    }
    let hex = m.toString(16);
    if (hex.length & 1) hex = "0" + hex;
    const len = hex.length >>> 1;
    if (len > MAX_BIGINT_BYTES) throw new Unsendable(`a bigint of ${len} bytes (the limit is ${MAX_BIGINT_BYTES})`);
    const p = this.writeBigIntHeader(pos, this.end, negative, len);
    if (p === 0) return this.full(pos + 5 + len);
    this.buf.hexWrite(hex, p, len);
    return p + len;
  }

  private object(v: object, pos: number): number {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === ArrayProto) return this.array(v as unknown[], pos);
    if (proto === ObjectProto || proto === null) return this.plain(v as Record<string, unknown>, pos);
    const bin = BINARY_KINDS.get(proto as object);
    if (bin !== undefined) return this.binary(v as ArrayBufferView | ArrayBufferLike, bin, pos);
    if (proto === MapProto) return this.map(v as Map<unknown, unknown>, pos);
    if (proto === SetProto) return this.set(v as Set<unknown>, pos);
    if (proto === DateProto) {
      const p = this.writeDate(pos, this.end, (v as Date).getTime());
      return p === 0 ? this.full(pos + 9) : p;
    }
    if (v instanceof Error) return this.error(v, pos);
    throw new Unsendable(`a ${className(v)} instance`);
  }

  /** Pushes container `v` on the ancestor stack: refuses cycles and deep nesting. */
  private enter(v: object): void {
    const d = this.depth;
    if (d >= MAX_DEPTH) throw new Unsendable(`a value nested deeper than ${MAX_DEPTH} levels`);
    const a = this.ancestors;
    for (let i = 0; i < d; i++) if (a[i] === v) throw new Unsendable("a cyclic reference", i);
    a[d] = v;
    this.depth = d + 1;
  }

  private leave(): void {
    this.ancestors[--this.depth] = undefined;
  }

  /** A header for `count` elements of `kind`: one byte from JS for small arrays and objects. */
  private header(kind: number, count: number, pos: number): number {
    if (count <= FIXCOUNT_MAX && (kind === KIND_ARRAY || kind === KIND_OBJECT)) {
      const min = kind === KIND_ARRAY ? count : 2 * count;
      if (pos + 1 + min > this.end) return this.full(pos + 1 + min);
      this.u8[pos] = (kind === KIND_ARRAY ? TAG_FIXARRAY : TAG_FIXOBJECT) | count;
      return pos + 1;
    }
    const p = this.writeContainer(pos, this.end, kind, count);
    return p === 0 ? this.full(pos + 5 + (kind === KIND_ARRAY || kind === KIND_SET ? count : 2 * count)) : p;
  }

  private array(v: unknown[], pos: number): number {
    this.enter(v);
    const n = v.length;
    let p = this.header(KIND_ARRAY, n, pos);
    let i = 0;
    try {
      for (; i < n && p >= 0; i++) p = this.value(v[i], p);
    } catch (err) {
      throw withPath(err, `[${i}]`);
    }
    this.leave();
    return p;
  }

  private plain(v: Record<string, unknown>, pos: number): number {
    this.enter(v);
    const keys = Object.keys(v);
    const n = keys.length;
    let p = this.header(KIND_OBJECT, n, pos);
    let i = 0;
    try {
      for (; i < n && p >= 0; i++) {
        const k = keys[i]!;
        p = this.string(k, p);
        if (p >= 0) p = this.value(v[k], p);
      }
    } catch (err) {
      throw withPath(err, keySegment(keys[i]!));
    }
    this.leave();
    return p;
  }

  private map(v: Map<unknown, unknown>, pos: number): number {
    this.enter(v);
    const n = v.size;
    let p = this.header(KIND_MAP, n, pos);
    let i = 0;
    let key: unknown;
    let inKey = true;
    try {
      for (const entry of v) {
        if (p < 0 || i === n) break;
        key = entry[0];
        inKey = true;
        p = this.value(key, p);
        inKey = false;
        if (p >= 0) p = this.value(entry[1], p);
        i++;
      }
    } catch (err) {
      const k = describeKey(key);
      throw withPath(err, inKey ? `.keys()[${i}]` : k ? `.get(${k})` : `.values()[${i}]`);
    }
    if (p >= 0 && i !== n) throw new Unsendable("a Map that changed while it was being encoded");
    this.leave();
    return p;
  }

  private set(v: Set<unknown>, pos: number): number {
    this.enter(v);
    const n = v.size;
    let p = this.header(KIND_SET, n, pos);
    let i = 0;
    try {
      for (const item of v) {
        if (p < 0 || i === n) break;
        p = this.value(item, p);
        i++;
      }
    } catch (err) {
      throw withPath(err, `.values()[${i}]`);
    }
    if (p >= 0 && i !== n) throw new Unsendable("a Set that changed while it was being encoded");
    this.leave();
    return p;
  }

  private error(e: Error, pos: number): number {
    this.enter(e);
    const keys: string[] = [];
    for (const k of ERROR_FIELDS) if (k === "name" || k === "message" || hasOwn(e, k)) keys.push(k);
    for (const k of Object.keys(e)) if (!ERROR_FIELDS.includes(k)) keys.push(k);
    const n = keys.length;
    let p = this.header(KIND_ERROR, n, pos);
    let i = 0;
    try {
      for (; i < n && p >= 0; i++) {
        const k = keys[i]!;
        p = this.string(k, p);
        if (p >= 0) p = this.value((e as unknown as Record<string, unknown>)[k], p);
      }
    } catch (err) {
      throw withPath(err, keySegment(keys[i]!));
    }
    this.leave();
    return p;
  }

  private binary(v: ArrayBufferView | ArrayBufferLike, bin: number, pos: number): number {
    const len = v.byteLength;
    if (this.splicing && len >= SPLICE_MIN_BYTES && this.splice.bytes === null && len < 0x7fffffff - this.end) {
      // Only the header goes into the scratch (checked as if the bytes followed it).
      const p = this.writeBinaryHeader(pos, this.end + len, bin, len);
      if (p === 0) return this.full(pos + 13);
      const splice = this.splice;
      splice.bytes = bin === BIN_BUFFER || bin === BIN_UINT8 ? v as Uint8Array
        : bin === BIN_ARRAYBUFFER ? new Uint8Array(v as ArrayBufferLike)
        : new Uint8Array((v as ArrayBufferView).buffer, (v as ArrayBufferView).byteOffset, len);
      splice.at = p;
      return p;
    }
    const p = this.writeBinaryHeader(pos, this.end, bin, len);
    if (p === 0) return this.full(pos + 13 + len);
    if (bin === BIN_BUFFER || bin === BIN_UINT8) {
      this.u8.set(v as Uint8Array, p);
    } else if (bin === BIN_ARRAYBUFFER) {
      this.u8.set(new Uint8Array(v as ArrayBufferLike), p);
    } else {
      const view = v as ArrayBufferView;
      this.u8.set(new Uint8Array(view.buffer, view.byteOffset, len), p);
    }
    return p + len;
  }
}
