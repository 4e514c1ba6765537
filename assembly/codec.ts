// The value codec's byte level: the tag table, bounds-checked readers, writers and
// a validator. TypeScript (src/codec/) builds and takes apart JS values; every rule
// about what bytes mean, and every check on untrusted bytes, lives here.
//
// One encoded value = one tag byte, then what the tag says. All multi-byte numbers
// are little-endian. "count" is a number of elements (pairs for objects, maps and
// errors), "len" a number of bytes.
//
//  tag        kind              layout after the tag
//  0x00-0x7f  fixint            none: value = tag (0..127)
//  0x80-0x8f  fixarray          count = tag & 0x0f, then count values
//  0x90-0x9f  fixobject         count = tag & 0x0f, then count (key, value) pairs;
//                               a key is a string (fixstr, str8 or str32)
//  0xa0-0xbf  fixstr            len = tag & 0x1f, then len bytes of UTF-8 (not validated
//                               here: the decoder turns bad sequences into U+FFFD)
//  0xc0       undefined         none
//  0xc1       null              none
//  0xc2       false             none
//  0xc3       true              none
//  0xc4       int8              i8
//  0xc5       int16             i16
//  0xc6       int32             i32
//  0xc7       float32           f32 (a non-integer, or -0, that a float32 holds exactly)
//  0xc8       float64           f64
//  0xc9       str8              len: u8, then len bytes of UTF-8
//  0xca       str32             len: u32, then len bytes of UTF-8
//  0xcb       array32           count: u32, then count values
//  0xcc       object32          count: u32, then count (key, value) pairs
//  0xcd       map32             count: u32, then count (key, value) pairs, any values
//  0xce       set32             count: u32, then count values
//  0xcf       error32           count: u32, then (key, value) pairs as object32:
//                               name, message, stack, cause, own enumerable props
//  0xd0       date              f64 milliseconds since the epoch (NaN: invalid Date)
//  0xd1       bigint >= 0       len: u32, then the magnitude, big-endian (the writer
//                               puts no leading zero bytes; readers accept them)
//  0xd2       bigint < 0        same, value = -magnitude
//  0xd3-0xdf  reserved          rejected (E_BAD_TAG)
//  0xe0-0xed  binary            len: u32, pad: u8 (0..7), pad bytes (ignored), then len
//                               bytes (host byte order); the writer pads so that the
//                               bytes start at a multiple of 8 in memory. The kind is
//                               tag - 0xe0: ArrayBuffer, Buffer, Uint8Array, Int8Array,
//                               Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
//                               Uint32Array, Float32Array, Float64Array, BigInt64Array,
//                               BigUint64Array, DataView; len is a multiple of the
//                               element size (E_LENGTH otherwise)
//  0xee-0xef  reserved          rejected (E_BAD_TAG)
//  0xf0-0xff  negative fixint   none: value = tag - 256 (-16..-1)
//
// Where and why this differs from MessagePack / CBOR:
//  - Little-endian lengths and numbers (both are big-endian): both ends share a host,
//    and WebAssembly and every platform Node runs on are little-endian, so a field is
//    one load. The bigint magnitude is big-endian (like CBOR's bignums) because it is
//    made from and turned into a hex string on the JS side.
//  - JS kinds that neither has as first-class values: undefined, Map vs plain object,
//    Set, Date, bigint, Error, and one tag per typed-array kind (MessagePack needs an
//    extension type for each, CBOR a tag per kind plus a byte string).
//  - Lengths are fix or u32 (plus str8): no u16 forms and no varints; the decoder never
//    loops to read a length. Counts above 15 always take 4 bytes.
//  - Binary payloads are padded to start 8-aligned in memory: V8 copies to and from
//    shared memory a byte at a time (about 6x slower) unless source and destination are
//    both word-aligned. The alignment survives a copy of the message only to an
//    8-aligned destination (the encoder's scratch is page-aligned).
//  - Writers always pick the shortest form; readers accept any form (a small count in
//    array32, a bigint with leading zeros), duplicate keys (the last one wins) and any
//    padding bytes.
//  - Negative fixints cover only -16..-1 (MessagePack: -32..-1) to leave room for the
//    binary tags.
//  - Containers are bounded by their count, never by a break byte (CBOR's indefinite
//    lengths), so every count can be checked against the bytes left before use.
//
// Untrusted input. The bytes may sit in memory another process writes while we read:
// every field is loaded once into a local, checked, and only the local is used. A
// reader never loads at or past `end`; a count is rejected unless the bytes left could
// hold that many elements (one byte per value at least), so a caller may allocate for
// `count` elements; nesting is limited to CODEC_MAX_DEPTH containers.
//
// Readers and writers take positions (offsets in linear memory) and return a kind or a
// new position, with 0 meaning "error" (readers) or "does not fit" (writers). Readers
// leave their other results, and the error code, in the result slot CODEC_SLOT.

// ---------------------------------------------------------------- tags

export const TAG_FIXINT: u32 = 0x00;
export const TAG_FIXARRAY: u32 = 0x80;
export const TAG_FIXOBJECT: u32 = 0x90;
export const TAG_FIXSTR: u32 = 0xa0;
export const TAG_UNDEFINED: u32 = 0xc0;
export const TAG_NULL: u32 = 0xc1;
export const TAG_FALSE: u32 = 0xc2;
export const TAG_TRUE: u32 = 0xc3;
export const TAG_INT8: u32 = 0xc4;
export const TAG_INT16: u32 = 0xc5;
export const TAG_INT32: u32 = 0xc6;
export const TAG_FLOAT32: u32 = 0xc7;
export const TAG_FLOAT64: u32 = 0xc8;
export const TAG_STR8: u32 = 0xc9;
export const TAG_STR32: u32 = 0xca;
export const TAG_ARRAY32: u32 = 0xcb;
export const TAG_OBJECT32: u32 = 0xcc;
export const TAG_MAP32: u32 = 0xcd;
export const TAG_SET32: u32 = 0xce;
export const TAG_ERROR32: u32 = 0xcf;
export const TAG_DATE: u32 = 0xd0;
export const TAG_BIGINT_POS: u32 = 0xd1;
export const TAG_BIGINT_NEG: u32 = 0xd2;
export const TAG_BINARY: u32 = 0xe0;
export const TAG_NEGFIXINT: u32 = 0xf0;

export const CODEC_FIXINT_MAX: i32 = 127;
export const CODEC_NEGFIXINT_MIN: i32 = -16;
export const CODEC_FIXCOUNT_MAX: u32 = 15; // fixarray, fixobject
export const CODEC_FIXSTR_MAX: u32 = 31;
export const CODEC_STR8_MAX: u32 = 255;

// ---------------------------------------------------------------- kinds

// What codecRead found. Scalars are below KIND_CONTAINER, containers from it on.
export const KIND_UNDEFINED: u32 = 1;
export const KIND_NULL: u32 = 2;
export const KIND_FALSE: u32 = 3;
export const KIND_TRUE: u32 = 4;
export const KIND_NUMBER: u32 = 5;     // value in R_NUM
export const KIND_STRING: u32 = 6;     // R_LEN bytes of UTF-8 ending at R_NEXT
export const KIND_BIGINT_POS: u32 = 7; // R_LEN magnitude bytes ending at R_NEXT
export const KIND_BIGINT_NEG: u32 = 8;
export const KIND_DATE: u32 = 9;       // milliseconds in R_NUM
// Binary kinds: KIND_BINARY + (tag - TAG_BINARY), R_LEN bytes ending at R_NEXT.
export const KIND_BINARY: u32 = 16;
export const BIN_ARRAYBUFFER: u32 = 0;
export const BIN_BUFFER: u32 = 1;
export const BIN_UINT8: u32 = 2;
export const BIN_INT8: u32 = 3;
export const BIN_UINT8CLAMPED: u32 = 4;
export const BIN_INT16: u32 = 5;
export const BIN_UINT16: u32 = 6;
export const BIN_INT32: u32 = 7;
export const BIN_UINT32: u32 = 8;
export const BIN_FLOAT32: u32 = 9;
export const BIN_FLOAT64: u32 = 10;
export const BIN_BIGINT64: u32 = 11;
export const BIN_BIGUINT64: u32 = 12;
export const BIN_DATAVIEW: u32 = 13;
export const BIN_COUNT: u32 = 14;
// Containers: R_LEN elements (pairs for object, map, error) starting at R_NEXT.
export const KIND_CONTAINER: u32 = 32;
export const KIND_ARRAY: u32 = 32;
export const KIND_OBJECT: u32 = 33;
export const KIND_MAP: u32 = 34;
export const KIND_SET: u32 = 35;
export const KIND_ERROR: u32 = 36;

// ---------------------------------------------------------------- errors

// Codes start at 16 so that they never collide with the ring's (assembly/ring.ts).
// All of them become ERR_RPC_PROTOCOL at the TypeScript boundary.
export const E_SHORT: u32 = 16;    // a header or payload runs past the end of the input
export const E_BAD_TAG: u32 = 17;  // a reserved tag byte
export const E_DEPTH: u32 = 18;    // containers nested deeper than CODEC_MAX_DEPTH
export const E_LENGTH: u32 = 19;   // a count or length that the bytes left cannot hold, or
                                   // above a limit, or not a multiple of the element size
export const E_KEY: u32 = 20;      // an object or error key that is not a string
export const E_TRAILING: u32 = 21; // bytes after the value (codecScan, and TS for codecSkip)

// ---------------------------------------------------------------- limits

/** Containers may nest this deep: the top value is at depth 0, and a container at
 *  depth CODEC_MAX_DEPTH is rejected. The encoder refuses to go deeper too. */
export const CODEC_MAX_DEPTH: u32 = 256;
/** Longest string: V8's maximum string length (2^29 - 24 UTF-16 units); UTF-8 never
 *  decodes to more units than it has bytes. */
export const CODEC_MAX_STRING_BYTES: u32 = 0x1fffffe8;
/** Largest bigint magnitude (2^27 bits, well under V8's limit of 2^30 bits). */
export const CODEC_MAX_BIGINT_BYTES: u32 = 1 << 24;

// ---------------------------------------------------------------- result slot

/** Scratch where readers leave their results: static, which is per instance where each
 *  instance has a memory of its own; instances that share a memory (threads, src/threads/)
 *  give each its own slot with codecUseSlot. */
let CODEC_SLOT: usize = memory.data(32, 8);

/** Moves this instance's result slot to `at` (32 bytes, 8-aligned, the instance's own). */
export function codecUseSlot(at: usize): void {
  CODEC_SLOT = at;
}

/** Where this instance's result slot is. */
export function codecSlotAt(): usize {
  return CODEC_SLOT;
}
export const R_NUM: u32 = 0;   // f64: a number or a date's milliseconds
export const R_NEXT: u32 = 8;  // u32: position after the value (scalars) or header (containers)
export const R_LEN: u32 = 12;  // u32: byte length or element count
export const R_ERR: u32 = 16;  // u32: E_* of the last failure
export const R_AT: u32 = 20;   // u32: position of the value that failed

@inline function fail(code: u32, at: u32): u32 {
  store<u32>(CODEC_SLOT, code, R_ERR);
  store<u32>(CODEC_SLOT, at, R_AT);
  return 0;
}

@inline function number(value: f64, next: u32): u32 {
  store<f64>(CODEC_SLOT, value, R_NUM);
  store<u32>(CODEC_SLOT, next, R_NEXT);
  return KIND_NUMBER;
}

/** A payload of `len` bytes after a header that ends at `p`. */
@inline function payload(kind: u32, len: u32, p: u32, end: u32, at: u32): u32 {
  if (len > end - p) return fail(E_SHORT, at);
  store<u32>(CODEC_SLOT, len, R_LEN);
  store<u32>(CODEC_SLOT, p + len, R_NEXT);
  return kind;
}

/** A container of `count` elements, each at least `min` bytes, after a header ending at `p`. */
@inline function container(kind: u32, count: u32, min: u32, p: u32, end: u32, depth: u32, at: u32): u32 {
  if (depth >= CODEC_MAX_DEPTH) return fail(E_DEPTH, at);
  if (<u64>count * min > <u64>(end - p)) return fail(E_LENGTH, at);
  store<u32>(CODEC_SLOT, count, R_LEN);
  store<u32>(CODEC_SLOT, p, R_NEXT);
  return kind;
}

/** Bytes per element of binary kind `bin`. */
@inline function elementSize(bin: u32): u32 {
  // ArrayBuffer, Buffer, Uint8, Int8, Uint8Clamped: 1; Int16, Uint16: 2;
  // Int32, Uint32, Float32: 4; Float64, BigInt64, BigUint64: 8; DataView: 1.
  if (bin < BIN_INT16 || bin == BIN_DATAVIEW) return 1;
  if (bin < BIN_INT32) return 2;
  if (bin < BIN_FLOAT64) return 4;
  return 8;
}

// ---------------------------------------------------------------- readers

/** Reads the header of the value at `pos` (a value at nesting `depth`). Returns its
 *  KIND_* and fills the slot: R_NEXT, plus R_NUM (numbers, dates) or R_LEN (strings,
 *  bigints, binary: bytes ending at R_NEXT; containers: elements starting at R_NEXT).
 *  Returns 0 on error, with R_ERR and R_AT set. */
export function codecRead(pos: u32, end: u32, depth: u32): u32 {
  if (pos >= end) return fail(E_SHORT, pos);
  const tag = <u32>load<u8>(pos); // read once
  const p = pos + 1;
  if (tag < TAG_FIXARRAY) return number(<f64>tag, p);
  if (tag < TAG_FIXOBJECT) return container(KIND_ARRAY, tag & 0x0f, 1, p, end, depth, pos);
  if (tag < TAG_FIXSTR) return container(KIND_OBJECT, tag & 0x0f, 2, p, end, depth, pos);
  if (tag < TAG_UNDEFINED) return payload(KIND_STRING, tag & 0x1f, p, end, pos);
  if (tag >= TAG_NEGFIXINT) return number(<f64>(<i32>tag - 256), p);
  const left = end - p;
  switch (tag) {
    case TAG_UNDEFINED: { store<u32>(CODEC_SLOT, p, R_NEXT); return KIND_UNDEFINED; }
    case TAG_NULL: { store<u32>(CODEC_SLOT, p, R_NEXT); return KIND_NULL; }
    case TAG_FALSE: { store<u32>(CODEC_SLOT, p, R_NEXT); return KIND_FALSE; }
    case TAG_TRUE: { store<u32>(CODEC_SLOT, p, R_NEXT); return KIND_TRUE; }
    case TAG_INT8: {
      if (left < 1) return fail(E_SHORT, pos);
      return number(<f64>load<i8>(p), p + 1);
    }
    case TAG_INT16: {
      if (left < 2) return fail(E_SHORT, pos);
      return number(<f64>load<i16>(p), p + 2);
    }
    case TAG_INT32: {
      if (left < 4) return fail(E_SHORT, pos);
      return number(<f64>load<i32>(p), p + 4);
    }
    case TAG_FLOAT32: {
      if (left < 4) return fail(E_SHORT, pos);
      return number(<f64>load<f32>(p), p + 4);
    }
    case TAG_FLOAT64: {
      if (left < 8) return fail(E_SHORT, pos);
      return number(load<f64>(p), p + 8);
    }
    case TAG_DATE: {
      if (left < 8) return fail(E_SHORT, pos);
      store<f64>(CODEC_SLOT, load<f64>(p), R_NUM);
      store<u32>(CODEC_SLOT, p + 8, R_NEXT);
      return KIND_DATE;
    }
    case TAG_STR8: {
      if (left < 1) return fail(E_SHORT, pos);
      return payload(KIND_STRING, <u32>load<u8>(p), p + 1, end, pos);
    }
  }
  return readSized(tag, pos, p, end, depth);
}

/** The tags with a u32 count or length after them (and the reserved ones). */
function readSized(tag: u32, pos: u32, p: u32, end: u32, depth: u32): u32 {
  if (tag > TAG_BIGINT_NEG && (tag < TAG_BINARY || tag >= TAG_BINARY + BIN_COUNT)) {
    return fail(E_BAD_TAG, pos);
  }
  if (end - p < 4) return fail(E_SHORT, pos);
  const n = load<u32>(p); // read once
  const q = p + 4;
  if (tag == TAG_STR32) {
    if (n > CODEC_MAX_STRING_BYTES) return fail(E_LENGTH, pos);
    return payload(KIND_STRING, n, q, end, pos);
  }
  if (tag == TAG_ARRAY32) return container(KIND_ARRAY, n, 1, q, end, depth, pos);
  if (tag == TAG_OBJECT32) return container(KIND_OBJECT, n, 2, q, end, depth, pos);
  if (tag == TAG_MAP32) return container(KIND_MAP, n, 2, q, end, depth, pos);
  if (tag == TAG_SET32) return container(KIND_SET, n, 1, q, end, depth, pos);
  if (tag == TAG_ERROR32) return container(KIND_ERROR, n, 2, q, end, depth, pos);
  if (tag == TAG_BIGINT_POS || tag == TAG_BIGINT_NEG) {
    if (n > CODEC_MAX_BIGINT_BYTES) return fail(E_LENGTH, pos);
    return payload(tag == TAG_BIGINT_POS ? KIND_BIGINT_POS : KIND_BIGINT_NEG, n, q, end, pos);
  }
  const bin = tag - TAG_BINARY;
  if ((n & (elementSize(bin) - 1)) != 0) return fail(E_LENGTH, pos);
  if (q >= end) return fail(E_SHORT, pos);
  const pad = <u32>load<u8>(q); // read once
  if (pad > 7) return fail(E_LENGTH, pos);
  if (pad >= end - q) return fail(E_SHORT, pos);
  return payload(KIND_BINARY + bin, n, q + 1 + pad, end, pos);
}

/** Reads an object key at `pos`: like codecRead, but only a string is accepted
 *  (E_KEY otherwise). */
export function codecReadKey(pos: u32, end: u32): u32 {
  // The tag is read once, by codecRead: checking it here first and reading it again
  // there would let a peer that rewrites it in between pass a container as a key.
  const kind = codecRead(pos, end, 0);
  if (kind == 0) return 0;
  return kind == KIND_STRING ? kind : fail(E_KEY, pos);
}

/** Validates the whole value at `pos` (at nesting `depth`) without building it.
 *  Returns the position after it, or 0 on error (R_ERR, R_AT). */
export function codecSkip(pos: u32, end: u32, depth: u32): u32 {
  const kind = codecRead(pos, end, depth);
  if (kind == 0) return 0;
  let p = load<u32>(CODEC_SLOT, R_NEXT);
  if (kind < KIND_CONTAINER) return p;
  const count = load<u32>(CODEC_SLOT, R_LEN);
  const inner = depth + 1;
  if (kind == KIND_ARRAY || kind == KIND_SET) {
    for (let i: u32 = 0; i < count; i++) {
      p = codecSkip(p, end, inner);
      if (p == 0) return 0;
    }
  } else if (kind == KIND_MAP) {
    for (let i: u32 = 0; i < count; i++) {
      p = codecSkip(p, end, inner);
      if (p == 0) return 0;
      p = codecSkip(p, end, inner);
      if (p == 0) return 0;
    }
  } else { // KIND_OBJECT, KIND_ERROR
    for (let i: u32 = 0; i < count; i++) {
      if (codecReadKey(p, end) == 0) return 0;
      p = codecSkip(load<u32>(CODEC_SLOT, R_NEXT), end, inner);
      if (p == 0) return 0;
    }
  }
  return p;
}

// ---------------------------------------------------------------- scanner

// codecScan walks a whole value header by header (values are stored in pre-order, so
// this is one forward pass) and writes one TOKEN per value or key into a token area,
// so that the decoder makes one call per message, or per SCAN_CAPACITY tokens, and
// not one per value. It checks everything codecSkip checks, plus the trailing bytes.
// The walk is resumable: its state lives in a scan block of the caller's (private)
// memory, SCAN_BYTES long:
//
//  +0    SCAN_POS    u32  next position to read
//  +4    SCAN_END    u32  end of the input
//  +8    SCAN_SP     u32  index of the innermost open container's stack entry
//  +12   SCAN_DONE   u32  1 once the value is complete (and nothing follows it)
//  +16   SCAN_STACK  (CODEC_MAX_DEPTH + 1) u32: values still to read at each level
//                    (pairs count twice); bit 31 set when keys are strings (objects,
//                    errors), which are then read at even counts
//  +SCAN_TOKENS      tokens, TOKEN_BYTES each:
//        +0 TOK_KIND u32   a KIND_*
//        +4 TOK_LEN  u32   byte length (strings, bigints, binary) or element count
//        +8 TOK_NUM  f64   numbers and dates
//        +8 TOK_AT   u32   where the bytes of strings, bigints and binary start
//
// Positions inside tokens were checked against the input's end; the decoder reads only
// tokens (private memory) and payload bytes inside [TOK_AT, TOK_AT + TOK_LEN).

export const SCAN_POS: u32 = 0;
export const SCAN_END: u32 = 4;
export const SCAN_SP: u32 = 8;
export const SCAN_DONE: u32 = 12;
export const SCAN_STACK: u32 = 16;
export const SCAN_TOKENS: u32 = (SCAN_STACK + 4 * (CODEC_MAX_DEPTH + 1) + 15) & ~15;
export const TOKEN_BYTES: u32 = 16;
export const TOK_KIND: u32 = 0;
export const TOK_LEN: u32 = 4;
export const TOK_NUM: u32 = 8;
export const TOK_AT: u32 = 8;
/** Tokens that fit in a 64 KiB scan block. */
export const SCAN_CAPACITY: u32 = (65536 - SCAN_TOKENS) / TOKEN_BYTES;
export const SCAN_BYTES: u32 = 65536;

const KEYED: u32 = 0x80000000;
const LEFT: u32 = 0x7fffffff;

/** Starts a scan of the value in [pos, end) in the scan block at `state` and returns
 *  its first batch of tokens, as codecScan does. */
export function codecScanStart(state: usize, pos: u32, end: u32, max: u32): u32 {
  store<u32>(state, pos, SCAN_POS);
  store<u32>(state, end, SCAN_END);
  store<u32>(state, 0, SCAN_SP);
  store<u32>(state, 0, SCAN_DONE);
  store<u32>(state, 1, SCAN_STACK); // one value at the top level
  return codecScan(state, max);
}

/** Writes up to `max` (at most SCAN_CAPACITY) next tokens at state + SCAN_TOKENS.
 *  Returns how many, or 0 on error (R_ERR, R_AT) or when the scan is already done. */
export function codecScan(state: usize, max: u32): u32 {
  if (load<u32>(state, SCAN_DONE) != 0) return 0;
  if (max > SCAN_CAPACITY) max = SCAN_CAPACITY;
  const end = load<u32>(state, SCAN_END);
  let pos = load<u32>(state, SCAN_POS);
  let sp = load<u32>(state, SCAN_SP);
  const stack = state + SCAN_STACK;
  let out = state + SCAN_TOKENS;
  const stop = out + max * TOKEN_BYTES;
  while (out < stop) {
    const entry = load<u32>(stack + (sp << 2));
    store<u32>(stack + (sp << 2), entry - 1);
    const kind = (entry & KEYED) != 0 && (entry & 1) == 0
      ? codecReadKey(pos, end)
      : codecRead(pos, end, sp);
    if (kind == 0) return 0;
    const len = load<u32>(CODEC_SLOT, R_LEN);
    const next = load<u32>(CODEC_SLOT, R_NEXT);
    store<u32>(out, kind, TOK_KIND);
    store<u32>(out, len, TOK_LEN);
    if (kind == KIND_NUMBER || kind == KIND_DATE) {
      store<f64>(out, load<f64>(CODEC_SLOT, R_NUM), TOK_NUM);
    } else {
      store<u32>(out, next - len, TOK_AT); // payload start (meaningless for others)
    }
    out += TOKEN_BYTES;
    pos = next;
    if (kind >= KIND_CONTAINER && len != 0) {
      sp++; // sp <= CODEC_MAX_DEPTH: codecRead refused containers at that depth
      assert(sp <= CODEC_MAX_DEPTH); // debug builds only (release builds use noAssert)
      store<u32>(stack + (sp << 2),
        kind == KIND_ARRAY || kind == KIND_SET ? len
        : kind == KIND_MAP ? len << 1
        : (len << 1) | KEYED); // len <= bytes left / 2 < 2^31
    }
    // Close every finished container; at the top level the value is complete.
    while ((load<u32>(stack + (sp << 2)) & LEFT) == 0) {
      if (sp == 0) {
        if (pos != end) return fail(E_TRAILING, pos);
        store<u32>(state, 1, SCAN_DONE);
        return <u32>((out - state - SCAN_TOKENS) / TOKEN_BYTES);
      }
      sp--;
    }
  }
  store<u32>(state, pos, SCAN_POS);
  store<u32>(state, sp, SCAN_SP);
  return <u32>((out - state - SCAN_TOKENS) / TOKEN_BYTES);
}

/** The E_* code of the last failed read. */
export function codecError(): u32 {
  return load<u32>(CODEC_SLOT, R_ERR);
}

/** The position of the value whose read failed last. */
export function codecErrorAt(): u32 {
  return load<u32>(CODEC_SLOT, R_AT);
}

// ---------------------------------------------------------------- writers
// Each writes at `pos` only if everything it accounts for fits before `end`, and
// returns the position after what it wrote, or 0 when it does not fit (nothing written).

/** A one-byte value: TAG_UNDEFINED, TAG_NULL, TAG_FALSE or TAG_TRUE. */
export function codecWriteTag(pos: u32, end: u32, tag: u32): u32 {
  if (pos >= end) return 0;
  store<u8>(pos, <u8>tag);
  return pos + 1;
}

/** A number in its shortest exact form: fixint, int8/16/32, float32, else float64.
 *  -0 is not an integer here (it takes the float32 form). */
export function codecWriteNumber(pos: u32, end: u32, value: f64): u32 {
  if (pos >= end) return 0;
  const left = end - pos;
  // NaN and values outside int32 fail the range test, so the conversion never traps;
  // -0 converts to 0 but keeps its sign bit.
  const i = value >= -2147483648.0 && value <= 2147483647.0 ? <i32>value : 0;
  if (<f64>i == value && (i != 0 || reinterpret<i64>(value) >= 0)) {
    if (i >= CODEC_NEGFIXINT_MIN && i <= CODEC_FIXINT_MAX) {
      store<u8>(pos, <u8>i);
      return pos + 1;
    }
    if (i == <i32><i8>i) {
      if (left < 2) return 0;
      store<u8>(pos, <u8>TAG_INT8);
      store<i8>(pos, <i8>i, 1);
      return pos + 2;
    }
    if (i == <i32><i16>i) {
      if (left < 3) return 0;
      store<u8>(pos, <u8>TAG_INT16);
      store<i16>(pos, <i16>i, 1);
      return pos + 3;
    }
    if (left < 5) return 0;
    store<u8>(pos, <u8>TAG_INT32);
    store<i32>(pos, i, 1);
    return pos + 5;
  }
  const f = <f32>value;
  if (<f64>f == value) { // NaN never compares equal: it takes the float64 form
    if (left < 5) return 0;
    store<u8>(pos, <u8>TAG_FLOAT32);
    store<f32>(pos, f, 1);
    return pos + 5;
  }
  if (left < 9) return 0;
  store<u8>(pos, <u8>TAG_FLOAT64);
  store<f64>(pos, value, 1);
  return pos + 9;
}

/** A Date: `ms` is its time value (NaN for an invalid Date). */
export function codecWriteDate(pos: u32, end: u32, ms: f64): u32 {
  if (pos >= end || end - pos < 9) return 0;
  store<u8>(pos, <u8>TAG_DATE);
  store<f64>(pos, ms, 1);
  return pos + 9;
}

/** Bytes of the shortest string header for `len` bytes of UTF-8: 1, 2 or 5. */
export function codecStringHeaderBytes(len: u32): u32 {
  return len <= CODEC_FIXSTR_MAX ? 1 : len <= CODEC_STR8_MAX ? 2 : 5;
}

/** A string header in its shortest form, when it and `len` bytes of UTF-8 fit.
 *  The caller writes the bytes at the returned position. */
export function codecWriteStringHeader(pos: u32, end: u32, len: u32): u32 {
  if (pos >= end || len > CODEC_MAX_STRING_BYTES) return 0;
  const left = end - pos;
  if (len <= CODEC_FIXSTR_MAX) {
    if (len >= left) return 0;
    store<u8>(pos, <u8>(TAG_FIXSTR | len));
    return pos + 1;
  }
  if (len <= CODEC_STR8_MAX) {
    if (left < 2 || len > left - 2) return 0;
    store<u8>(pos, <u8>TAG_STR8);
    store<u8>(pos, <u8>len, 1);
    return pos + 2;
  }
  if (left < 5 || len > left - 5) return 0;
  store<u8>(pos, <u8>TAG_STR32);
  store<u32>(pos, len, 1);
  return pos + 5;
}

/** A container header (KIND_ARRAY, _OBJECT, _MAP, _SET or _ERROR) of `count`
 *  elements, when the header and the smallest possible elements fit. */
export function codecWriteContainer(pos: u32, end: u32, kind: u32, count: u32): u32 {
  if (pos >= end) return 0;
  const left = end - pos;
  const min: u64 = kind == KIND_ARRAY || kind == KIND_SET ? 1 : 2;
  if (count <= CODEC_FIXCOUNT_MAX && (kind == KIND_ARRAY || kind == KIND_OBJECT)) {
    if (<u64>count * min > <u64>(left - 1)) return 0;
    store<u8>(pos, <u8>((kind == KIND_ARRAY ? TAG_FIXARRAY : TAG_FIXOBJECT) | count));
    return pos + 1;
  }
  let tag: u32;
  switch (kind) {
    case KIND_ARRAY: { tag = TAG_ARRAY32; break; }
    case KIND_OBJECT: { tag = TAG_OBJECT32; break; }
    case KIND_MAP: { tag = TAG_MAP32; break; }
    case KIND_SET: { tag = TAG_SET32; break; }
    case KIND_ERROR: { tag = TAG_ERROR32; break; }
    default: return 0;
  }
  if (left < 5 || <u64>count * min > <u64>(left - 5)) return 0;
  store<u8>(pos, <u8>tag);
  store<u32>(pos, count, 1);
  return pos + 5;
}

/** A bigint header for a magnitude of `len` bytes, when it and the bytes fit. */
export function codecWriteBigIntHeader(pos: u32, end: u32, negative: bool, len: u32): u32 {
  if (pos >= end || len > CODEC_MAX_BIGINT_BYTES) return 0;
  const left = end - pos;
  if (left < 5 || len > left - 5) return 0;
  store<u8>(pos, <u8>(negative ? TAG_BIGINT_NEG : TAG_BIGINT_POS));
  store<u32>(pos, len, 1);
  return pos + 5;
}

/** A binary header of kind `bin` (BIN_*) for `len` bytes, padded so that the bytes
 *  start 8-aligned, when it and the bytes fit. Returns where the bytes go. */
export function codecWriteBinaryHeader(pos: u32, end: u32, bin: u32, len: u32): u32 {
  if (pos >= end || bin >= BIN_COUNT || (len & (elementSize(bin) - 1)) != 0) return 0;
  const pad = (8 - ((pos + 6) & 7)) & 7;
  const header: u32 = 6 + pad;
  const left = end - pos;
  if (left < header || len > left - header) return 0;
  store<u8>(pos, <u8>(TAG_BINARY + bin));
  store<u32>(pos, len, 1);
  store<u8>(pos, <u8>pad, 5);
  memory.fill(pos + 6, 0, pad);
  return pos + header;
}
