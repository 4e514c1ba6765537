// Bytes -> JS values, in the format of assembly/codec.ts (the tag table is there).
//
// The input is untrusted: another process wrote it into shared memory and may still
// be changing it. The core's codecScan reads every header (each field loaded once,
// checked against the end of the message and the nesting limit) and writes checked
// tokens into this decoder's private scan block, a batch of up to SCAN_CAPACITY per
// call; this file reads only those tokens and the payload bytes inside the ranges
// they give. Counts are checked against the bytes left before anything is allocated
// for them. Any problem is an ERR_RPC_PROTOCOL RpcError.
// Binary payloads are copied out (the ring is reused) into memory of their own
// (byteOffset 0; a Buffer may come from Node's pool like any small Buffer); strings
// are decoded as UTF-8, invalid sequences becoming U+FFFD. Object keys are set in
// order (a repeated key: the last one wins; "__proto__" becomes an own data property,
// never the prototype). An Error gets the sender's stack, not a local one.
// See encode.ts for what each kind of value arrives as.

import type { Core } from "../core/wasm.js";
import { copyWithSet, type CopyBytes } from "../core/copy.js";
import { ErrorCodes, RpcError } from "../errors.js";
import {
  BIN_ARRAYBUFFER, BIN_BIGINT64, BIN_BIGUINT64, BIN_BUFFER, BIN_DATAVIEW, BIN_FLOAT32, BIN_FLOAT64,
  BIN_INT16, BIN_INT32, BIN_INT8, BIN_UINT16, BIN_UINT32, BIN_UINT8, BIN_UINT8CLAMPED,
  E_TRAILING, KIND_ARRAY, KIND_BIGINT_NEG, KIND_BIGINT_POS, KIND_BINARY, KIND_CONTAINER, KIND_DATE,
  KIND_FALSE, KIND_MAP, KIND_NULL, KIND_NUMBER, KIND_OBJECT, KIND_SET, KIND_STRING, KIND_TRUE,
  KIND_UNDEFINED, SCAN_BYTES, SCAN_CAPACITY, SCAN_TOKENS, TOK_AT_U32, TOK_KIND_U32, TOK_LEN_U32,
  TOK_NUM_F64, TOKEN_U32, corrupt, TAG_FIXARRAY, TAG_UNDEFINED, TAG_NULL, TAG_FALSE, TAG_TRUE,
  TAG_INT8, TAG_INT16, TAG_INT32, TAG_FLOAT32, TAG_FLOAT64, TAG_NEGFIXINT, FIXCOUNT_MAX,
} from "./wire.js";

/** Node's Buffer methods that skip argument checks (present on every Buffer). */
interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}

const fromCharCode = String.fromCharCode;
/** Binaries at least this long are copied out by the addon (see copyOut). */
const COPY_NATIVE_BYTES = 16 * 1024;
/** What `scalar` returns for anything it does not decode itself. */
const NOT_SCALAR = Symbol("not a scalar");
/** Messages up to this long are tried on the JS fast path first. */
const FAST_BYTES = 64;
/** Short ASCII strings seen lately (mostly object keys), by a hash of their bytes. */
const SHORT_STRING = 16;
/** Method names up to this many ASCII bytes are cached the same way. */
const NAME_CACHED = 64;
const CACHE_SIZE = 4096;
const defineProperty = Object.defineProperty;

/** Error classes rebuilt by name; any other name gives an Error with `name` set. */
const ERROR_CLASSES = new Map<string, ErrorConstructor>([
  ["Error", Error], ["TypeError", TypeError], ["RangeError", RangeError],
  ["SyntaxError", SyntaxError], ["ReferenceError", ReferenceError], ["EvalError", EvalError],
  ["URIError", URIError], ["AggregateError", AggregateError as unknown as ErrorConstructor],
]);
/** Error fields set as non-enumerable own properties, as the engine does. */
const HIDDEN_ERROR_FIELDS = new Set(["name", "message", "stack", "cause", "errors"]);

export class Decoder {
  private readonly core: Core;
  private u8: Uint8Array;
  private u32: Uint32Array;
  private f64: Float64Array;
  private buf: FastBuffer;
  /** Private (unshared) bytes that UTF-8 is decoded from: see `utf8`. */
  private stage: FastBuffer = Buffer.allocUnsafeSlow(4096) as FastBuffer;
  private start = 0;
  private end = 0;
  /** The scan block (private memory) and its first token, as a u32 index. */
  private block = 0;
  private tokens = 0;
  /** Next token to read and the end of the current batch, as u32 indexes. */
  private t = 0;
  private tEnd = 0;
  private readonly cache: (string | undefined)[] = new Array<string | undefined>(CACHE_SIZE).fill(undefined);

  private readonly scanStart: (state: number, pos: number, end: number, max: number) => number;
  private readonly scan: (state: number, max: number) => number;
  private readonly skip: (pos: number, end: number, depth: number) => number;
  private readonly error: () => number;
  private readonly errorAt: () => number;

  constructor(core: Core, private readonly copyBytes: CopyBytes = copyWithSet) {
    this.core = core;
    this.u8 = core.u8;
    this.u32 = core.u32;
    this.f64 = core.f64;
    this.buf = core.buf as FastBuffer;
    const x = core.exports;
    this.scanStart = x.codecScanStart;
    this.scan = x.codecScan;
    this.skip = x.codecSkip;
    this.error = x.codecError;
    this.errorAt = x.codecErrorAt;
    // Allocated now (not on the first decode): alloc may grow the memory and replace
    // the core's views, which callers should not meet in the middle of a decode.
    this.block = core.alloc(SCAN_BYTES);
    this.tokens = (this.block + SCAN_TOKENS) >>> 2;
  }

  /** Decodes the one value that occupies exactly [start, end) of linear memory. With
   *  `tail` (a message whose last value is a big binary, received as fragments), the
   *  memory holds only [start, end - tail.length): the value must end with a binary whose
   *  bytes are exactly the tail, which it then takes as its own memory (no copy). */
  decode(start: number, end: number, tail: Buffer | null = null): unknown {
    if (tail !== null) return this.decodeWithTail(start, end, tail);
    return this.decodeWindow(start, end);
  }

  /** As `decode`, but every `Buffer` and `Uint8Array` comes out as a view of the bytes
   *  where they are (the ring, the reassembly region, or the tail), not a copy: valid
   *  only while the caller keeps that memory from being reused (a `{ view: true }`
   *  handler's call; see README "Views"). Other binary kinds are copied as usual. */
  decodeViews(start: number, end: number, tail: Buffer | null): unknown {
    this.views = true;
    try {
      return this.decode(start, end, tail);
    } finally {
      this.views = false;
    }
  }

  /** Set for the length of a `decodeViews`. */
  private views = false;

  private decodeWithTail(start: number, end: number, tail: Buffer): unknown {
    const tailAt = end - tail.length;
    this.ensureBlock();
    this.window(start, tailAt);
    // The scan's bounds are the whole message; no byte at or after tailAt is read (the
    // string and bigint paths check, and `binary` takes the tail only at exactly tailAt).
    this.end = end;
    this.tailAt = tailAt;
    this.tail = tail;
    try {
      const n = this.scanStart(this.block, start, end, SCAN_CAPACITY);
      if (n === 0) throw this.fail();
      this.t = this.tokens;
      this.tEnd = this.tokens + TOKEN_U32 * n;
      const value = this.value();
      if (this.tail !== null) throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, "corrupt message: its fragments announced a trailing binary it does not end with");
      return value;
    } finally {
      this.tail = null;
      this.tailAt = Infinity;
    }
  }

  /** The binary that ends the message being decoded, taken over by `binary`, and where
   *  its bytes would start (Infinity without one: every read is then in memory). */
  private tail: Buffer | null = null;
  private tailAt = Infinity;

  private ensureBlock(): void {
    if (this.block === 0) {
      this.block = this.core.alloc(SCAN_BYTES); // after dispose()
      this.tokens = (this.block + SCAN_TOKENS) >>> 2;
    }
  }

  private decodeWindow(start: number, end: number): unknown {
    this.ensureBlock();
    this.window(start, end);
    if (end - start <= FAST_BYTES && this.fastPath) {
      const v = this.small(start, end);
      if (v !== NOT_SCALAR) return v;
    }
    const n = this.scanStart(this.block, start, end, SCAN_CAPACITY);
    if (n === 0) throw this.fail();
    this.t = this.tokens;
    this.tEnd = this.tokens + TOKEN_U32 * n;
    return this.value();
  }

  /** Tests turn this off to compare the JS fast path with the core's decoding. */
  fastPath = true;

  /** The commonest small messages, decoded from JS with each byte read once: a number
   *  or constant, or a fixarray of them that fills [start, end) exactly. NOT_SCALAR for
   *  anything else (the general path then decodes it, with all its checks). */
  private small(start: number, end: number): unknown {
    const tag = this.u8[start]!;
    if ((tag & 0xf0) !== TAG_FIXARRAY) {
      const v = this.scalar(start, end);
      return this.scalarEnd === end ? v : NOT_SCALAR;
    }
    const n = tag & FIXCOUNT_MAX;
    if (end - start - 1 < n) return NOT_SCALAR;
    const a = new Array<unknown>(n);
    let p = start + 1;
    for (let i = 0; i < n; i++) {
      const v = this.scalar(p, end);
      if (v === NOT_SCALAR) return NOT_SCALAR;
      a[i] = v;
      p = this.scalarEnd;
    }
    return p === end ? a : NOT_SCALAR;
  }

  /** Where the value read by the last `scalar` ends. */
  private scalarEnd = 0;

  /** The number or constant at `p` (ending by `end`), or NOT_SCALAR. */
  private scalar(p: number, end: number): unknown {
    const tag = this.u8[p]!;
    this.scalarEnd = p + 1;
    if (tag < TAG_FIXARRAY) return tag;
    if (tag >= TAG_NEGFIXINT) return tag - 256;
    const view = this.core.view;
    switch (tag) {
      case TAG_UNDEFINED: return undefined;
      case TAG_NULL: return null;
      case TAG_FALSE: return false;
      case TAG_TRUE: return true;
      case TAG_INT8: return p + 2 <= end ? ((this.scalarEnd = p + 2), view.getInt8(p + 1)) : NOT_SCALAR;
      case TAG_INT16: return p + 3 <= end ? ((this.scalarEnd = p + 3), view.getInt16(p + 1, true)) : NOT_SCALAR;
      case TAG_INT32: return p + 5 <= end ? ((this.scalarEnd = p + 5), view.getInt32(p + 1, true)) : NOT_SCALAR;
      case TAG_FLOAT32: return p + 5 <= end ? ((this.scalarEnd = p + 5), view.getFloat32(p + 1, true)) : NOT_SCALAR;
      case TAG_FLOAT64: return p + 9 <= end ? ((this.scalarEnd = p + 9), view.getFloat64(p + 1, true)) : NOT_SCALAR;
    }
    return NOT_SCALAR;
  }

  /** Checks that [start, end) holds exactly one well-formed value, without building it. */
  validate(start: number, end: number): void {
    this.window(start, end);
    const after = this.skip(start, end, 0);
    if (after === 0) throw this.fail();
    if (after !== end) throw corrupt(E_TRAILING, after, start, end);
  }

  /** Returns the scan block to the core (the next `decode` allocates again). */
  dispose(): void {
    if (this.block === 0) return;
    this.core.release(this.block, SCAN_BYTES);
    this.block = 0;
  }

  private window(start: number, end: number): void {
    const c = this.core;
    this.u8 = c.u8;
    this.u32 = c.u32;
    this.f64 = c.f64;
    this.buf = c.buf as FastBuffer;
    if (!(start >= 1 && start <= end && end <= this.u8.length && Number.isInteger(start) && Number.isInteger(end))) {
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `corrupt message: window [${start}, ${end}) is outside memory`);
    }
    this.start = start;
    this.end = end;
  }

  private fail(): RpcError {
    return corrupt(this.error(), this.errorAt(), this.start, this.end);
  }

  /** The u32 index of the next token, scanning the next batch when needed. */
  private next(): number {
    let t = this.t;
    if (t === this.tEnd) {
      const n = this.scan(this.block, SCAN_CAPACITY);
      if (n === 0) throw this.fail();
      t = this.tokens;
      this.tEnd = t + TOKEN_U32 * n;
    }
    this.t = t + TOKEN_U32;
    return t;
  }

  private value(): unknown {
    const t = this.next();
    const u32 = this.u32;
    const kind = u32[t + TOK_KIND_U32]!;
    if (kind === KIND_NUMBER) return this.f64[(t >>> 1) + TOK_NUM_F64];
    if (kind === KIND_STRING) {
      const at = u32[t + TOK_AT_U32]!;
      const e = at + u32[t + TOK_LEN_U32]!;
      if (e > this.tailAt) throw this.pastTail();
      return this.string(at, e);
    }
    if (kind >= KIND_CONTAINER) return this.container(kind, u32[t + TOK_LEN_U32]!);
    switch (kind) {
      case KIND_UNDEFINED: return undefined;
      case KIND_NULL: return null;
      case KIND_FALSE: return false;
      case KIND_TRUE: return true;
      case KIND_DATE: return new Date(this.f64[(t >>> 1) + TOK_NUM_F64]!);
      case KIND_BIGINT_POS:
      case KIND_BIGINT_NEG: {
        const at = u32[t + TOK_AT_U32]!;
        const len = u32[t + TOK_LEN_U32]!;
        if (at + len > this.tailAt) throw this.pastTail();
        return kind === KIND_BIGINT_POS ? this.bigint(at, len) : -this.bigint(at, len);
      }
    }
    const at = u32[t + TOK_AT_U32]!;
    return this.binary(kind - KIND_BINARY, at, at + u32[t + TOK_LEN_U32]!);
  }

  /** Decodes UTF-8 bytes [s, e) of linear memory. The bytes are copied to private
   *  memory first: V8's UTF-8 decoder measures, then converts, and a peer rewriting
   *  shared bytes between the two passes could make it write past its output. */
  utf8(s: number, e: number): string {
    const len = e - s;
    if (len > this.stage.length) {
      this.stage = Buffer.allocUnsafeSlow(Math.max(len, this.stage.length * 2)) as FastBuffer;
    }
    this.core.buf.copy(this.stage, 0, s, e); // the current view: memory may have grown
    return this.stage.utf8Slice(0, len);
  }

  /** A method name in bytes [s, e): names of up to 64 ASCII bytes come from the cache,
   *  so a server's dispatch allocates no string for the names it keeps seeing. */
  name(s: number, e: number): string {
    this.u8 = this.core.u8; // outside a decode: the memory may have grown since
    return this.string(s, e, NAME_CACHED);
  }

  /** The string in bytes [s, e). Short ASCII ones come from a cache or from JS. */
  private string(s: number, e: number, cached = SHORT_STRING): string {
    const len = e - s;
    if (len > cached) return this.utf8(s, e);
    const u8 = this.u8;
    let h = len;
    for (let i = s; i < e; i++) {
      const c = u8[i]!;
      if (c >= 0x80) return this.utf8(s, e);
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = (h ^ (h >>> 12)) & (CACHE_SIZE - 1);
    const hit = this.cache[slot];
    if (hit !== undefined && hit.length === len) {
      let i = 0;
      while (i < len && hit.charCodeAt(i) === u8[s + i]) i++;
      if (i === len) return hit;
    }
    let out = "";
    for (let i = s; i < e; i++) out += fromCharCode(u8[i]!);
    this.cache[slot] = out;
    return out;
  }

  /** The bigint whose magnitude is the `len` bytes at `at`, big-endian. */
  private bigint(at: number, len: number): bigint {
    if (len <= 6) {
      const u8 = this.u8;
      let x = 0;
      for (let i = at; i < at + len; i++) x = x * 256 + u8[i]!;
      return BigInt(x);
    }
    return BigInt("0x" + this.buf.hexSlice(at, at + len));
  }

  /** Copies bytes [s, e) of linear memory to the start of `to`: big ones with a plain
   *  memmove (V8 copies out of shared memory a word at a time). */
  private copyOut(s: number, e: number, to: Uint8Array): void {
    if (e - s >= COPY_NATIVE_BYTES) this.copyBytes(this.u8, s, to, to.byteOffset, e - s);
    else this.buf.copy(to, 0, s, e);
  }

  private pastTail(): RpcError {
    return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, "corrupt message: a value runs into the trailing binary its fragments announced");
  }

  /** The tail (see decodeWithTail) as a binary of kind `bin`. The Channel made it with
   *  Buffer.allocUnsafeSlow: an ArrayBuffer of exactly its size, so every kind is a
   *  view of all of it. */
  private takeTail(bin: number, s: number, e: number): unknown {
    const tail = this.tail!;
    if (s !== this.tailAt || e !== this.end) throw this.pastTail();
    this.tail = null;
    if (bin === BIN_BUFFER) return tail;
    if (bin === BIN_UINT8) return new Uint8Array(tail.buffer, tail.byteOffset, tail.length);
    // Other kinds own their memory: a view handler's tail is reused (a copy), and a
    // reused tail is part of a bigger ArrayBuffer.
    if (this.views || tail.byteOffset !== 0 || tail.length !== tail.buffer.byteLength) {
      return binaryOf(bin, tail.buffer.slice(tail.byteOffset, tail.byteOffset + tail.length) as ArrayBuffer);
    }
    return binaryOf(bin, tail.buffer as ArrayBuffer);
  }

  private binary(bin: number, s: number, e: number): unknown {
    if (e > this.tailAt) return this.takeTail(bin, s, e);
    if (this.views) {
      if (bin === BIN_BUFFER) return this.buf.subarray(s, e);
      if (bin === BIN_UINT8) return this.u8.subarray(s, e);
    }
    if (bin === BIN_BUFFER) {
      const b = Buffer.allocUnsafe(e - s);
      this.copyOut(s, e, b);
      return b;
    }
    const bytes = new Uint8Array(e - s); // a copy, in a new (non-shared) ArrayBuffer
    this.copyOut(s, e, bytes);
    if (bin === BIN_UINT8) return bytes;
    return binaryOf(bin, bytes.buffer);
  }

  /** A container of `n` elements (the core checked n against the bytes left). */
  private container(kind: number, n: number): unknown {
    if (kind === KIND_ARRAY) {
      // Preallocated when small (a huge `new Array(n)` would be a slow dictionary array).
      const a: unknown[] = n <= 1024 ? new Array<unknown>(n) : [];
      for (let i = 0; i < n; i++) a[i] = this.value();
      return a;
    }
    if (kind === KIND_OBJECT) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = this.key();
        const v = this.value();
        if (key === "__proto__") defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
        else o[key] = v;
      }
      return o;
    }
    if (kind === KIND_MAP) {
      const m = new Map<unknown, unknown>();
      for (let i = 0; i < n; i++) {
        const k = this.value();
        m.set(k, this.value());
      }
      return m;
    }
    if (kind === KIND_SET) {
      const s = new Set<unknown>();
      for (let i = 0; i < n; i++) s.add(this.value());
      return s;
    }
    return this.errorValue(n); // KIND_ERROR
  }

  /** An object or error key: the core only lets strings through there. */
  private key(): string {
    const t = this.next();
    const at = this.u32[t + TOK_AT_U32]!;
    return this.string(at, at + this.u32[t + TOK_LEN_U32]!);
  }

  private errorValue(n: number): Error {
    const fields = new Map<string, unknown>();
    for (let i = 0; i < n; i++) {
      const key = this.key();
      fields.set(key, this.value());
    }
    const name = fields.get("name");
    const Class = (typeof name === "string" && ERROR_CLASSES.get(name)) || Error;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // the stack comes from the sender
    let e: Error;
    try {
      e = Class === (AggregateError as unknown) ? new AggregateError([]) : new Class();
    } finally {
      Error.stackTraceLimit = limit;
    }
    for (const [key, value] of fields) {
      if (key === "name" && value === Class.prototype.name) continue;
      defineProperty(e, key, { value, writable: true, enumerable: !HIDDEN_ERROR_FIELDS.has(key), configurable: true });
    }
    return e;
  }
}

/** A binary of kind `bin` (not BIN_BUFFER) over the whole of `ab`, which the decoder owns. */
function binaryOf(bin: number, ab: ArrayBuffer): unknown {
  switch (bin) {
    case BIN_ARRAYBUFFER: return ab;
    case BIN_UINT8: return new Uint8Array(ab);
    case BIN_INT8: return new Int8Array(ab);
    case BIN_UINT8CLAMPED: return new Uint8ClampedArray(ab);
    case BIN_INT16: return new Int16Array(ab);
    case BIN_UINT16: return new Uint16Array(ab);
    case BIN_INT32: return new Int32Array(ab);
    case BIN_UINT32: return new Uint32Array(ab);
    case BIN_FLOAT32: return new Float32Array(ab);
    case BIN_FLOAT64: return new Float64Array(ab);
    case BIN_BIGINT64: return new BigInt64Array(ab);
    case BIN_BIGUINT64: return new BigUint64Array(ab);
    case BIN_DATAVIEW: return new DataView(ab);
  }
  // The core produces only the kinds above.
  throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `corrupt message: binary kind ${bin}`);
}
