// The value codec: what round-trips, what is refused, and what hostile bytes do.
// Runs on this thread's WebAssembly memory only (no addon, no other process).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Worker } from "node:worker_threads";
import { core } from "../src/core/wasm.js";
import { Encoder } from "../src/codec/encode.js";
import { Decoder } from "../src/codec/decode.js";
import { RpcError } from "../src/errors.js";
import { same } from "./same.js";
import { generator, rng } from "./values.js";

const c = core();
const x = c.exports;
const encoder = new Encoder(c);
const decoder = new Decoder(c);
const MAX = 64 * 1024 * 1024;

/** A private region for hand-made (hostile) inputs. */
const REGION_BYTES = 4 * 1024 * 1024;
const region = c.alloc(REGION_BYTES);

function encodeBytes(value: unknown, maxBytes = MAX): Uint8Array {
  const n = encoder.encode(value, maxBytes);
  return c.u8.slice(encoder.start, encoder.start + n);
}

function roundTrip<T>(value: T): T {
  const n = encoder.encode(value, MAX);
  const out = decoder.decode(encoder.start, encoder.start + n) as T;
  // The core's validator agrees with the encoder.
  assert.is(x.codecSkip(encoder.start, encoder.start + n, 0), encoder.start + n);
  return out;
}

/** Decodes `bytes` placed in the private region. */
function decodeBytes(bytes: ArrayLike<number>): unknown {
  c.u8.set(bytes, region);
  return decoder.decode(region, region + bytes.length);
}

function errorOf(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RpcError)) throw new Error(`expected an RpcError, got ${String(e)}`, { cause: e });
    return e;
  }
  throw new Error("expected an RpcError, nothing was thrown");
}

function codeOf(fn: () => unknown): string {
  return errorOf(fn).code;
}

/** Decoding `bytes` either works or throws ERR_RPC_PROTOCOL (anything else fails the test),
 *  and the validator reaches the same verdict. Returns whether it decoded. */
function decodesOrProtocol(bytes: ArrayLike<number>): boolean {
  c.u8.set(bytes, region);
  let ok = true;
  try {
    decoder.decode(region, region + bytes.length);
  } catch (e) {
    if (!(e instanceof RpcError) || e.code !== "ERR_RPC_PROTOCOL") throw e;
    ok = false;
  }
  const end = region + bytes.length;
  // The core never reports a value (or a value's header) ending past the end.
  const after = x.codecSkip(region, end, 0);
  assert.ok(after === 0 || (after > region && after <= end), "codecSkip went past the end");
  if (x.codecRead(region, end, 0) !== 0) assert.ok(c.u32[(x.codecSlotAt() + x.R_NEXT.value) >> 2]! <= end, "codecRead went past the end");
  const valid = after === end;
  assert.is(valid, ok, `codecSkip and decode disagree on ${Buffer.from(bytes).toString("hex").slice(0, 80)}`);
  return ok;
}


// ------------------------------------------------------------------ sizes

test("small values encode to a handful of bytes", () => {
  assert.is(encodeBytes([10, 20]).length, 3);
  assert.is(Buffer.from(encodeBytes([10, 20])).toString("hex"), "820a14");
  assert.is(encodeBytes("hello").length, 6);
  assert.is(encodeBytes({ a: 1 }).length, 4);
  assert.is(encodeBytes([]).length, 1);
  assert.is(encodeBytes({}).length, 1);
  assert.is(encodeBytes(undefined).length, 1);
  assert.is(encodeBytes(null).length, 1);
  assert.is(encodeBytes(true).length, 1);
});

test("integers take the smallest exact form, and -0 is never an integer", () => {
  const size = (v: number) => encodeBytes(v).length;
  for (const v of [0, 1, 127, -1, -16]) assert.is(size(v), 1, String(v));
  for (const v of [-17, -128]) assert.is(size(v), 2, String(v));
  for (const v of [128, 32767, -129, -32768]) assert.is(size(v), 3, String(v));
  for (const v of [32768, -32769, 2 ** 31 - 1, -(2 ** 31)]) assert.is(size(v), 5, String(v));
  assert.is(size(-0), 5); // float32
  assert.is(size(0.1), 9);
  assert.is(size(1.5), 5);
  assert.is(size(2 ** 31), 5); // float32 holds it exactly
  assert.is(size(2 ** 31 + 1), 9);
});

test("the JS fast path writes numbers exactly as the core's writer does", () => {
  const values = [-0, NaN, Infinity, 0.5, 1e300, 2 ** 53];
  for (let v = -300; v <= 300; v++) values.push(v);
  for (const v of values) {
    const js = Buffer.from(encodeBytes(v)).toString("hex");
    const end = x.codecWriteNumber(region, region + 16, v);
    assert.ok(end > region);
    assert.is(Buffer.from(c.u8.subarray(region, end)).toString("hex"), js, String(v));
  }
});

// ------------------------------------------------------------------ round trips

test("undefined, null and booleans round-trip", () => {
  for (const v of [undefined, null, true, false]) assert.is(roundTrip(v), v);
});

test("every kind of float64 round-trips bit for bit", () => {
  const values = [
    0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE,
    2.2250738585072014e-308, 2.225073858507201e-308, Number.EPSILON, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
    0.1, -0.1, 1 / 3, Math.PI, Math.fround(0.1), 3.4028234663852886e38, 1.401298464324817e-45, 2 ** 31, -(2 ** 31) - 1,
    2 ** 32, 2 ** 53 + 2, 1e21, 127, 128, -16, -17, -128, -129, 32767, 32768, -32768, -32769,
  ];
  for (const v of values) {
    const out = roundTrip(v);
    assert.ok(Object.is(out, v), `${v} became ${out}`);
  }
});

test("bigints of any size and sign round-trip", () => {
  const values = [0n, 1n, -1n, 255n, 256n, -256n, 2n ** 48n - 1n, 2n ** 48n, -(2n ** 48n), 2n ** 63n - 1n, -(2n ** 63n),
    2n ** 64n, -(2n ** 64n), 10n ** 1000n, -(10n ** 1000n), 2n ** 100000n - 1n];
  for (const v of values) assert.is(roundTrip(v), v);
  assert.is(encodeBytes(0n).length, 5);
  assert.is(encodeBytes(-1n).length, 6);
});

test("strings round-trip: empty, ASCII, multi-byte, astral, long, at every header boundary", () => {
  const values = ["", "a", "hello", "héllo", "日本語のテキスト", "😀", "a😀b𝄞c", "\u0000\u007f\u0080\u07ff\u0800\uffff",
    "x".repeat(31), "x".repeat(32), "x".repeat(85), "x".repeat(86), "x".repeat(255), "x".repeat(256),
    "é".repeat(15), "é".repeat(16), "é".repeat(31), "é".repeat(127), "é".repeat(128), "😀".repeat(7), "😀".repeat(8),
    "😀".repeat(64), "日".repeat(10), "日".repeat(11), "日".repeat(85), "日".repeat(86), "x".repeat(100_000) + "é",
    "a\ud83d\ude00".repeat(1000)];
  for (const v of values) assert.is(roundTrip(v), v, JSON.stringify(v.slice(0, 20)));
  assert.is(encodeBytes("é".repeat(15)).length, 31);
  assert.is(encodeBytes("é".repeat(16)).length, 34);
});

test("lone surrogates become U+FFFD (strings travel as UTF-8)", () => {
  assert.is(roundTrip("\ud800"), "\ufffd");
  assert.is(roundTrip("a\udc00b"), "a\ufffdb");
  assert.is(roundTrip("x".repeat(40) + "\ud83d"), "x".repeat(40) + "\ufffd");
});

test("a Buffer arrives as a Buffer and a Uint8Array as a Uint8Array, not a Buffer", () => {
  const b = roundTrip(Buffer.from("hello"));
  assert.ok(Buffer.isBuffer(b));
  assert.is(b.toString(), "hello");
  const u = roundTrip(new Uint8Array([1, 2, 3]));
  assert.not.ok(Buffer.isBuffer(u));
  assert.is(Object.getPrototypeOf(u), Uint8Array.prototype);
  assert.equal([...u], [1, 2, 3]);
  assert.ok(Buffer.isBuffer(roundTrip(Buffer.alloc(0))));
});

test("every typed array kind arrives as its own kind with its length and contents", () => {
  const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array] as const;
  for (const Kind of kinds) {
    const a = new Kind(37);
    for (let i = 0; i < a.length; i++) a[i] = (i * 7919) % 251 - 100.5;
    const out = roundTrip(a);
    assert.is(out.constructor, Kind);
    assert.is(out.length, 37);
    same(a, out);
  }
  for (const Kind of [BigInt64Array, BigUint64Array] as const) {
    const a = new Kind([0n, 1n, -1n, 2n ** 62n].map((v) => (Kind === BigUint64Array ? BigInt.asUintN(64, v) : v)));
    const out = roundTrip(a);
    assert.is(out.constructor, Kind);
    assert.equal([...out], [...a]);
  }
});

test("a subarray view sends only its window", () => {
  const whole = new Float64Array([1, 2, 3, 4, 5, 6]);
  const view = whole.subarray(2, 4);
  const out = roundTrip(view);
  assert.is(out.constructor, Float64Array);
  assert.equal([...out], [3, 4]);
  assert.is(out.byteOffset, 0);
  assert.is(out.buffer.byteLength, 16);
  const buf = Buffer.from("abcdefgh").subarray(3, 5);
  assert.is(roundTrip(buf).toString(), "de");
  const dv = new DataView(new Uint8Array([9, 8, 7, 6, 5]).buffer, 1, 3);
  const dvOut = roundTrip(dv);
  assert.ok(dvOut instanceof DataView);
  assert.equal([...new Uint8Array(dvOut.buffer)], [8, 7, 6]);
});

test("ArrayBuffer arrives as ArrayBuffer; SharedArrayBuffer arrives as an ArrayBuffer copy", () => {
  const ab = new Uint8Array([1, 2, 3]).buffer;
  const out = roundTrip(ab);
  assert.is(Object.getPrototypeOf(out), ArrayBuffer.prototype);
  assert.equal([...new Uint8Array(out)], [1, 2, 3]);
  const sab = new SharedArrayBuffer(4);
  new Uint8Array(sab).set([4, 5, 6, 7]);
  const sabOut = roundTrip(sab) as unknown as ArrayBuffer;
  assert.is(Object.getPrototypeOf(sabOut), ArrayBuffer.prototype);
  assert.equal([...new Uint8Array(sabOut)], [4, 5, 6, 7]);
});

test("decoded binary data is a copy, not a view of linear memory", () => {
  const n = encoder.encode([Buffer.from("abc"), new Uint8Array([1, 2]), new Int32Array([7])], MAX);
  const out = decoder.decode(encoder.start, encoder.start + n) as [Buffer, Uint8Array, Int32Array];
  c.u8.fill(0xee, encoder.start, encoder.start + n);
  assert.is(out[0].toString(), "abc");
  assert.equal([...out[1]], [1, 2]);
  assert.equal([...out[2]], [7]);
  for (const v of out) assert.not.ok(v.buffer instanceof SharedArrayBuffer);
});

test("binary payloads start 8-byte aligned in memory", () => {
  for (let shift = 0; shift < 8; shift++) {
    const pos = region + 8 + shift;
    const end = encoder.encodeInto(["x".repeat(shift), new Float64Array([1.5])], pos, region + 1024);
    assert.ok(end > pos);
    const value = decoder.decode(pos, end) as [string, Float64Array];
    assert.equal([...value[1]], [1.5]);
    // The 8 payload bytes end the message and start aligned.
    assert.is((end - 8) % 8, 0);
  }
});

test("arrays round-trip, holes arrive as undefined", () => {
  same([], roundTrip([]));
  same([1, [2, [3, []]]], roundTrip([1, [2, [3, []]]]));
  // eslint-disable-next-line no-sparse-arrays
  const holey = roundTrip([1, , 3]);
  assert.is(holey.length, 3);
  assert.ok(1 in holey);
  assert.is(holey[1], undefined);
  for (const n of [15, 16, 17, 1000, 100_000]) {
    const a = Array.from({ length: n }, (_, i) => i * 3 - 7);
    same(a, roundTrip(a));
  }
});

test("plain objects round-trip with undefined members, key order and no symbol keys", () => {
  const o = { b: 1, a: undefined, "with space": "x", "0": 0, é: [], nested: { deeper: { deepest: null } } };
  const out = roundTrip(o);
  same(o, out);
  assert.ok("a" in out);
  const sym = Symbol("s");
  const withSymbol = roundTrip({ [sym]: 1, k: 2 } as Record<string | symbol, number>);
  assert.equal(Object.getOwnPropertySymbols(withSymbol), []);
  assert.equal(withSymbol, { k: 2 });
  const hidden = Object.defineProperty({ shown: 1 }, "hidden", { value: 2, enumerable: false });
  assert.equal(Object.keys(roundTrip(hidden)), ["shown"]);
  for (const n of [15, 16]) {
    const wide = Object.fromEntries(Array.from({ length: n }, (_, i) => ["k" + i, i]));
    same(wide, roundTrip(wide));
  }
});

test("a null-prototype object arrives as a plain object", () => {
  const o = Object.assign(Object.create(null) as Record<string, unknown>, { q: 1 });
  const out = roundTrip(o);
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(out, { q: 1 });
});

test("an own __proto__ key round-trips as data and never sets the prototype", () => {
  const o = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
  const out = roundTrip(o);
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.ok(Object.hasOwn(out, "__proto__"));
  assert.equal(Object.getOwnPropertyDescriptor(out, "__proto__")!.value, { polluted: true });
  assert.is((out as { polluted?: boolean }).polluted, undefined);
  assert.is(({} as { polluted?: boolean }).polluted, undefined);
});

test("Map and Set round-trip with any keys and values", () => {
  const key = { id: 1 };
  const m = new Map<unknown, unknown>([[1, "one"], ["1", 1], [key, [key]], [NaN, -0], [null, undefined], [10n, new Set([1, "1"])]]);
  const out = roundTrip(m);
  assert.ok(out instanceof Map);
  same(m, out);
  const s = new Set<unknown>([1, "a", NaN, undefined, { a: 1 }, [2]]);
  const sOut = roundTrip(s);
  assert.ok(sOut instanceof Set);
  same(s, sOut);
  same(new Map(), roundTrip(new Map()));
  same(new Set(), roundTrip(new Set()));
});

test("Dates round-trip, including an invalid Date", () => {
  for (const d of [new Date(0), new Date(1_700_000_000_123), new Date(-8.64e15), new Date(8.64e15), new Date(NaN)]) {
    const out = roundTrip(d);
    assert.ok(out instanceof Date);
    assert.ok(Object.is(out.getTime(), d.getTime()));
  }
});

test("Errors arrive as errors of the same class with message, stack, cause and own properties", () => {
  const e = Object.assign(new TypeError("bad thing"), { code: "E_BAD", detail: { n: 1 } });
  const out = roundTrip(e);
  assert.ok(out instanceof TypeError);
  assert.is(out.name, "TypeError");
  assert.is(out.message, "bad thing");
  assert.is(out.stack, e.stack);
  assert.is(out.code, "E_BAD");
  assert.equal(out.detail, { n: 1 });
  assert.equal(Object.keys(out), ["code", "detail"]);

  class CustomError extends Error {
    override name = "CustomError";
  }
  const custom = roundTrip(new CustomError("custom", { cause: new RangeError("inner") }));
  assert.ok(custom instanceof Error);
  assert.is(custom.name, "CustomError");
  assert.is(custom.message, "custom");
  assert.ok(custom.cause instanceof RangeError);
  assert.is((custom.cause as Error).message, "inner");

  const agg = roundTrip(new AggregateError([new Error("a")], "many"));
  assert.ok(agg instanceof AggregateError);
  assert.is((agg.errors[0] as Error).message, "a");
});

test("nested combinations of every kind round-trip", () => {
  const value = {
    list: [1, -1, 1.5, -0, NaN, 2n ** 70n, "s", "é😀", null, undefined, true, false],
    bin: { buf: Buffer.from([1, 2]), u8: new Uint8Array([3]), f32: new Float32Array([0.5]), dv: new DataView(new ArrayBuffer(2)) },
    when: new Date(12345),
    map: new Map<unknown, unknown>([[{ k: [1] }, new Set([new Date(1), Buffer.from("x")])]]),
    err: new Error("e"),
    deep: [[[[[[[[[[{ end: "here" }]]]]]]]]]],
  };
  same(value, roundTrip(value));
});

test("a value reached twice by different routes is encoded twice", () => {
  const shared = { a: 1 };
  const out = roundTrip([shared, shared, { again: shared }]);
  same([{ a: 1 }, { a: 1 }, { again: { a: 1 } }], out);
  assert.is.not(out[0], out[1]);
});

test("nesting up to 256 containers round-trips", () => {
  let v: unknown = "leaf";
  for (let i = 0; i < 256; i++) v = i % 2 ? [v] : { v };
  same(v, roundTrip(v));
});

// ------------------------------------------------------------------ randomized

test("thousands of random values round-trip exactly (seeded)", () => {
  const gen = generator(0x5eed);
  for (let i = 0; i < 3000; i++) {
    const v = gen();
    const out = roundTrip(v);
    try {
      same(v, out);
    } catch (e) {
      throw new Error(`random value #${i}: ${(e as Error).message}`);
    }
  }
});

// ------------------------------------------------------------------ refused values

test("functions, symbols and unsupported objects throw ERR_RPC_INVALID_ARGUMENT", () => {
  class Point {
    constructor(public x = 1) {}
  }
  class MyMap extends Map {}
  const refused: unknown[] = [
    () => 1, function named() {}, Symbol("s"), new Point(), new MyMap(), new WeakMap(), new WeakSet(), Promise.resolve(),
    /re/, new Number(1), new String("s"), new Boolean(true), new (class extends Uint8Array {})(2), new WeakRef({}),
    [1, [2, Symbol.iterator]], { ok: 1, bad: () => 0 }, new Map([[1, () => 0]]), new Set([Symbol("x")]),
    new Map([[Promise.resolve(), 1]]),
  ];
  refused.forEach((v, i) => assert.is(codeOf(() => encoder.encode(v, MAX)), "ERR_RPC_INVALID_ARGUMENT", `refused[${i}]`));
});

test("the error names what cannot be sent and where", () => {
  const e = errorOf(() => encoder.encode([1, { cb: () => 0 }], MAX, "args"));
  assert.is(e.code, "ERR_RPC_INVALID_ARGUMENT");
  assert.match(e.message, "args[1].cb");
  assert.match(e.message, "function");
  class Point {}
  const p = errorOf(() => encoder.encode({ "a b": new Map([["k", new Point()]]) }, MAX, "args"));
  assert.match(p.message, 'args["a b"].get("k")');
  assert.match(p.message, "Point");
});

test("cycles throw ERR_RPC_INVALID_ARGUMENT, through arrays, objects, maps, sets and errors", () => {
  const a: unknown[] = [1];
  a.push(a);
  const o: Record<string, unknown> = { x: { y: {} } };
  (o.x as Record<string, Record<string, unknown>>).y!.back = o;
  const m = new Map<unknown, unknown>();
  m.set("self", [m]);
  const s = new Set<unknown>();
  s.add({ s });
  const e = new Error("loop");
  (e as Error & { self?: unknown }).self = e;
  for (const v of [a, o, m, s, e]) assert.is(codeOf(() => encoder.encode(v, MAX)), "ERR_RPC_INVALID_ARGUMENT");
  // Found as a cycle, not as runaway nesting.
  const err = errorOf(() => encoder.encode(o, MAX, "args"));
  assert.match(err.message, /cyclic reference at args\.x\.y\.back: it refers back to args$/);
});

test("nesting deeper than 256 containers throws ERR_RPC_INVALID_ARGUMENT", () => {
  let v: unknown = 1;
  for (let i = 0; i < 257; i++) v = [v];
  assert.is(codeOf(() => encoder.encode(v, MAX)), "ERR_RPC_INVALID_ARGUMENT");
});

test("a failed encode leaves the encoder usable", () => {
  const a: unknown[] = [];
  a.push(a);
  assert.is(codeOf(() => encoder.encode([[[a]]], MAX)), "ERR_RPC_INVALID_ARGUMENT");
  same([[["ok"]]], roundTrip([[["ok"]]]));
});

// ------------------------------------------------------------------ sizes and room

test("a value over maxBytes throws ERR_RPC_MESSAGE_TOO_LARGE; exactly maxBytes fits", () => {
  const v = ["x".repeat(1000), Buffer.alloc(1000)];
  const size = encodeBytes(v).length;
  assert.is(encoder.encode(v, size), size);
  assert.is(codeOf(() => encoder.encode(v, size - 1)), "ERR_RPC_MESSAGE_TOO_LARGE");
  assert.is(codeOf(() => encoder.encode(Array.from({ length: 100_000 }, (_, i) => i), 64 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
});

test("the scratch region grows past 64 KiB for large values", () => {
  const big = { s: "é".repeat(300_000), b: Buffer.alloc(200_000, 1), a: Array.from({ length: 50_000 }, (_, i) => i) };
  same(big, roundTrip(big));
});

test("huge Buffers, strings and sparse arrays fail fast without growing to their size", () => {
  const huge = Buffer.allocUnsafe(512 * 1024 * 1024);
  const long = "y".repeat(64 * 1024 * 1024);
  const sparse: unknown[] = [];
  sparse.length = 1e9;
  const t0 = performance.now();
  assert.is(codeOf(() => encoder.encode(huge, 16 * 1024 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
  assert.is(codeOf(() => encoder.encode([1, long], 16 * 1024 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
  assert.is(codeOf(() => encoder.encode(sparse, 16 * 1024 * 1024)), "ERR_RPC_MESSAGE_TOO_LARGE");
  assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
});

test("encodeInto returns -1 when out of room and never writes past the end", () => {
  const values: unknown[] = [
    [10, 20], "hello", { a: 1 }, 1.5, 0.1, -70000, 2n ** 80n, "é".repeat(40), "x".repeat(300), new Date(1),
    Buffer.from("abcdefgh"), new Float64Array([1, 2]), new Map([[1, 2]]), new Set([3]), new Error("e"),
    Array.from({ length: 20 }, (_, i) => i),
  ];
  for (const v of values) {
    const size = encodeBytes(v).length;
    for (let room = 0; room <= size; room++) {
      c.u8.fill(0xa5, region, region + size + 64);
      const end = encoder.encodeInto(v, region, region + room);
      if (room < size) {
        assert.is(end, -1, `${String(v)} in ${room} of ${size} bytes`);
      } else {
        assert.is(end, region + size);
      }
      for (let i = region + room; i < region + size + 64; i++) {
        if (c.u8[i] !== 0xa5) throw new Error(`${String(v)}: wrote byte ${i - region} with room for ${room}`);
      }
    }
  }
});

// ------------------------------------------------------------------ hostile input

test("every truncation of an encoding is ERR_RPC_PROTOCOL", () => {
  const values: unknown[] = [
    [10, 20], { a: [1, "two", { three: 3n }] }, "é".repeat(40), -70000, 0.1, new Date(0), Buffer.from("xyz"),
    new Map([[{ k: 1 }, new Set([1])]]), new TypeError("t"), 2n ** 100n, new Float32Array([1, 2]),
  ];
  for (const v of values) {
    const bytes = encodeBytes(v);
    for (let n = 0; n < bytes.length; n++) {
      assert.not.ok(decodesOrProtocol(bytes.subarray(0, n)), `prefix ${n} of ${bytes.length}`);
    }
    assert.ok(decodesOrProtocol(bytes));
  }
});

test("trailing bytes after the value are ERR_RPC_PROTOCOL", () => {
  assert.is(codeOf(() => decodeBytes([0x01, 0x02])), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decodeBytes([0x82, 0x01, 0x02, 0xc0])), "ERR_RPC_PROTOCOL");
});

test("random bytes decode to something or throw ERR_RPC_PROTOCOL, never anything else", () => {
  const r = rng(42);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + Math.floor(r() * 64);
    const bytes = new Uint8Array(n);
    for (let j = 0; j < n; j++) bytes[j] = Math.floor(r() * 256);
    if (decodesOrProtocol(bytes)) decoded++;
  }
  assert.ok(decoded > 0);
});

test("random corruptions of valid encodings decode or throw ERR_RPC_PROTOCOL", () => {
  const gen = generator(7);
  const r = rng(8);
  for (let i = 0; i < 1500; i++) {
    const bytes = encodeBytes([gen(), gen()]);
    for (let k = 0; k < 4; k++) {
      const copy = bytes.slice();
      for (let j = 1 + Math.floor(r() * 3); j > 0; j--) copy[Math.floor(r() * copy.length)] = Math.floor(r() * 256);
      decodesOrProtocol(copy);
    }
  }
});

test("lengths and counts claiming 2^32-1 items are ERR_RPC_PROTOCOL at once", () => {
  const t0 = performance.now();
  const ff = [0xff, 0xff, 0xff, 0xff];
  for (const tag of [0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd1, 0xd2, 0xe0, 0xe1, 0xe5, 0xed]) {
    assert.is(codeOf(() => decodeBytes([tag, ...ff, 0, 1, 2, 3, 4, 5, 6, 7])), "ERR_RPC_PROTOCOL", tag.toString(16));
  }
  // A count that fits the bytes left only at one byte per item, with pairs needing two.
  assert.is(codeOf(() => decodeBytes([0xcc, 2, 0, 0, 0, 0xa1, 0x61, 1])), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decodeBytes([0x8f, 1, 2, 3])), "ERR_RPC_PROTOCOL");
  assert.ok(performance.now() - t0 < 200);
});

test("nesting beyond 256 levels is ERR_RPC_PROTOCOL, and 256 levels decode", () => {
  const ok = [...new Array<number>(256).fill(0x81), 0xc0];
  assert.ok(decodesOrProtocol(ok));
  const tooDeep = [...new Array<number>(257).fill(0x81), 0xc0];
  assert.is(codeOf(() => decodeBytes(tooDeep)), "ERR_RPC_PROTOCOL");
  const huge = new Array<number>(1_000_000).fill(0x81);
  assert.is(codeOf(() => decodeBytes(huge)), "ERR_RPC_PROTOCOL");
  assert.is(x.codecSkip(region, region + huge.length, 0), 0);
  assert.is(x.codecError(), x.E_DEPTH.value);
});

test("reserved tags, non-string keys, misaligned typed arrays and bad padding are ERR_RPC_PROTOCOL", () => {
  for (let tag = 0xd3; tag <= 0xdf; tag++) assert.is(codeOf(() => decodeBytes([tag, 0, 0, 0, 0])), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decodeBytes([0xee, 0, 0, 0, 0, 0])), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decodeBytes([0xef])), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decodeBytes([0x91, 0x01, 0x01])), "ERR_RPC_PROTOCOL"); // key 1
  assert.is(codeOf(() => decodeBytes([0xcf, 1, 0, 0, 0, 0xc0, 0xc0])), "ERR_RPC_PROTOCOL"); // error key undefined
  assert.is(codeOf(() => decodeBytes([0xe7, 3, 0, 0, 0, 0, 1, 2, 3])), "ERR_RPC_PROTOCOL"); // Int32Array of 3 bytes
  assert.is(codeOf(() => decodeBytes([0xe2, 1, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9])), "ERR_RPC_PROTOCOL"); // pad 8
  assert.equal([...(decodeBytes([0xe2, 1, 0, 0, 0, 2, 0, 0, 9]) as Uint8Array)], [9]); // any pad 0..7 is read
});

test("invalid UTF-8 decodes to replacement characters", () => {
  assert.is(decodeBytes([0xa3, 0x61, 0xff, 0x62]), "a\ufffdb");
  assert.is(decodeBytes([0xa2, 0xc3, 0x28]), "\ufffd(");
});

test("values with more tokens than one scan batch decode, and a late error is still caught", () => {
  const n = x.SCAN_CAPACITY.value * 3 + 7;
  const a = Array.from({ length: n }, (_, i) => ({ i, t: true }));
  same(a, roundTrip(a));
  const bytes = encodeBytes(a);
  assert.is(bytes[bytes.length - 1], 0xc3);
  bytes[bytes.length - 1] = 0xd5; // a reserved tag instead of the last `true`
  assert.is(codeOf(() => decodeBytes(bytes)), "ERR_RPC_PROTOCOL");
});

test("bytes changing under the decoder never yield anything but values or ERR_RPC_PROTOCOL", async () => {
  const gen = generator(99);
  // Long non-ASCII strings too: V8's UTF-8 decoder must never see bytes change under it.
  const samples = Array.from({ length: 50 }, (_, i) => encodeBytes([gen(), gen(), "é𝄞".repeat(20 + i * 30)]));
  const area = region + REGION_BYTES / 2;
  const worker = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     const u8 = new Uint8Array(workerData.memory.buffer, workerData.area, workerData.size);
     let seed = 1;
     parentPort.postMessage("go");
     for (;;) {
       seed = (seed * 1103515245 + 12345) >>> 0;
       u8[seed % workerData.size] = seed >>> 24;
       if (Atomics.load(new Int32Array(workerData.memory.buffer, workerData.stop, 1), 0)) break;
     }`,
    { eval: true, workerData: { memory: c.memory, area, size: 4096, stop: region + 8 } },
  );
  try {
    c.i32[(region + 8) >> 2] = 0;
    await new Promise((resolve) => worker.once("message", resolve));
    const t0 = performance.now();
    let rounds = 0;
    while (performance.now() - t0 < 600) {
      const bytes = samples[rounds++ % samples.length]!;
      c.u8.set(bytes, area);
      try {
        decoder.decode(area, area + bytes.length);
      } catch (e) {
        if (!(e instanceof RpcError) || e.code !== "ERR_RPC_PROTOCOL") throw e;
      }
    }
    assert.ok(rounds > 10);
  } finally {
    Atomics.store(c.i32, (region + 8) >> 2, 1);
    await worker.terminate();
  }
});

// Issue point 8a: codecReadKey checked a key's tag and then codecRead loaded it again,
// so a peer rewriting it in between passed a container as a key. The scanner then
// made a key token of it whose bytes start `count` bytes before the container's
// header (before the message here), and the validator stopped inside the message.
// Here the tag flips between a fixstr of 15 bytes and a fixarray of 15 fixints over
// the very same bytes: both are well-formed but for the key rule, so with the bug the
// scan succeeds and the decoder reads a key out of the guard bytes.
test("a key tag flipped between a string and a container while decoding gives the string key or E_KEY, and nothing outside the window", async () => {
  const GUARD = 64;
  const area = region + REGION_BYTES / 2;
  const start = area + GUARD;
  const KEY = "k".repeat(15); // 0x6b: also a fixint
  const message = [0x91, 0xaf, ...Buffer.from(KEY), 0x01]; // { kkk…: 1 }
  const end = start + message.length;
  const tagAt = start + 1;
  c.u8.fill(0x5a, area, start);
  c.u8.set(message, start);
  c.u8.fill(0x5a, end, end + GUARD);
  const stop = region + 8;
  c.i32[stop >> 2] = 0;
  const block = c.alloc(x.SCAN_BYTES.value);
  const tokens = block + x.SCAN_TOKENS.value;
  const worker = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     const u8 = new Uint8Array(workerData.memory.buffer);
     const stop = new Int32Array(workerData.memory.buffer, workerData.stop, 1);
     parentPort.postMessage("go");
     for (let k = 0; ; k++) {
       u8[workerData.tagAt] = k & 1 ? 0xaf : 0x8f;
       if ((k & 1023) === 0 && Atomics.load(stop, 0)) break;
     }`,
    { eval: true, workerData: { memory: c.memory, tagAt, stop } },
  );
  const seen = { decoded: 0, refused: 0, skipped: 0, skipRefused: 0, scanned: 0, scanRefused: 0 };
  try {
    await new Promise((resolve) => worker.once("message", resolve));
    const t0 = performance.now();
    while (performance.now() - t0 < 1500 || (seen.decoded < 100 || seen.refused < 100) && performance.now() - t0 < 10_000) {
      // The decoder (codecScan, then the tokens).
      try {
        const v = decoder.decode(start, end) as Record<string, unknown>;
        if (Object.keys(v).length !== 1 || v[KEY] !== 1) throw new Error(`decoded ${JSON.stringify(v)}`);
        seen.decoded++;
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
        assert.is(e.code, "ERR_RPC_PROTOCOL");
        assert.is(x.codecError(), x.E_KEY.value);
        assert.is(x.codecErrorAt(), tagAt);
        seen.refused++;
      }
      // The validator (codecSkip): the whole message, or E_KEY at the key.
      const after = x.codecSkip(start, end, 0);
      if (after === 0) {
        assert.is(x.codecError(), x.E_KEY.value);
        seen.skipRefused++;
      } else {
        assert.is(after, end, "codecSkip stopped inside the message");
        seen.skipped++;
      }
      // The scanner's tokens: the key is a string whose bytes lie inside the window.
      const n = x.codecScanStart(block, start, end, x.SCAN_CAPACITY.value);
      if (n === 0) {
        assert.is(x.codecError(), x.E_KEY.value);
        seen.scanRefused++;
      } else {
        const key = tokens + x.TOKEN_BYTES.value;
        const kind = c.u32[(key + x.TOK_KIND.value) >> 2]!;
        const at = c.u32[(key + x.TOK_AT.value) >> 2]!;
        const len = c.u32[(key + x.TOK_LEN.value) >> 2]!;
        assert.is(n, 3);
        assert.is(kind, x.KIND_STRING.value, "a key token that is not a string");
        assert.ok(at === tagAt + 1 && len === 15, `key bytes [${at - start}, ${at - start + len}) of the window`);
        seen.scanned++;
      }
    }
  } finally {
    Atomics.store(c.i32, stop >> 2, 1);
    await worker.terminate();
    c.release(block, x.SCAN_BYTES.value);
  }
  for (let i = area; i < start; i++) if (c.u8[i] !== 0x5a) throw new Error(`guard byte ${i - start} changed`);
  for (let i = end; i < end + GUARD; i++) if (c.u8[i] !== 0x5a) throw new Error(`guard byte +${i - end} changed`);
  // Both forms of the tag were met by each path, so the race really ran.
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 0, `${what}: ${JSON.stringify(seen)}`);
});

test("an object key with a container tag is E_KEY for the scanner and for codecSkip", () => {
  for (const keyTag of [0x81, 0x91, 0xcb, 0xcc, 0xcd, 0xce, 0xcf]) {
    const bytes = [0x91, keyTag, 0, 0, 0, 0, 1, 1]; // fix forms: 1 element; u32 forms: a count of 0
    c.u8.set(bytes, region);
    assert.is(codeOf(() => decoder.decode(region, region + bytes.length)), "ERR_RPC_PROTOCOL");
    assert.is(x.codecError(), x.E_KEY.value, keyTag.toString(16));
    assert.is(x.codecSkip(region, region + bytes.length, 0), 0);
    assert.is(x.codecError(), x.E_KEY.value, keyTag.toString(16));
  }
});

test("a decode window outside memory is ERR_RPC_PROTOCOL", () => {
  assert.is(codeOf(() => decoder.decode(10, 5)), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decoder.decode(1, c.u8.length + 1)), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decoder.decode(region, region)), "ERR_RPC_PROTOCOL"); // empty: no value
});

test("small messages decode the same on the JS fast path as through the core, or fail the same way", () => {
  const slow = new Decoder(c);
  slow.fastPath = false;
  const outcome = (d: Decoder, bytes: ArrayLike<number>): unknown => {
    c.u8.set(bytes, region);
    try {
      return { value: d.decode(region, region + bytes.length) };
    } catch (e) {
      return { code: (e as RpcError).code };
    }
  };
  const check = (bytes: number[]): void => {
    const fast = outcome(decoder, bytes) as { value?: unknown };
    const ref = outcome(slow, bytes) as { value?: unknown };
    assert.equal(fast, ref, `bytes ${bytes.map((b) => b.toString(16)).join(" ")}`);
    if (typeof ref.value === "number") assert.ok(Object.is(fast.value, ref.value), "-0 and NaN too");
  };
  for (let a = 0; a < 256; a++) {
    check([a]);
    for (let b = 0; b < 256; b++) check([a, b]);
  }
  // Arrays of scalars, whole, truncated and with trailing bytes (seeded).
  let seed = 12345;
  const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const scalars = [[0], [127], [0xf0], [0xff], [0xc0], [0xc1], [0xc2], [0xc3], [0xc4, 0x80], [0xc5, 0x00, 0x80],
    [0xc6, 0xff, 0xff, 0xff, 0x7f], [0xc7, 0, 0, 0xc0, 0x7f], [0xc8, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f], [0xc8, 0, 0, 0, 0, 0, 0, 0, 0x80]];
  for (let i = 0; i < 20000; i++) {
    const n = rand(16);
    const bytes = [0x80 | n];
    for (let k = 0; k < n; k++) bytes.push(...scalars[rand(scalars.length)]!);
    const cut = rand(4) === 0 ? rand(bytes.length + 1) : bytes.length;
    check(rand(8) === 0 ? [...bytes, rand(256)] : bytes.slice(0, Math.max(1, cut)));
  }
  assert.equal(decodeBytes([0x82, 0xc6, 0x40, 0x0d, 0x03, 0x00, 0x01]), [200000, 1]);
  slow.dispose();
});

test("validate accepts what decode accepts", () => {
  const n = encoder.encode({ ok: [1, 2, 3] }, MAX);
  decoder.validate(encoder.start, encoder.start + n);
  assert.is(codeOf(() => decoder.validate(encoder.start, encoder.start + n - 1)), "ERR_RPC_PROTOCOL");
  assert.is(codeOf(() => decoder.validate(encoder.start, encoder.start + n + 1)), "ERR_RPC_PROTOCOL");
});

test("a getter that encodes again while its value is being encoded is refused, not corrupting", () => {
  const value = {
    get inner() {
      return encoder.encode("nested", MAX);
    },
  };
  let code = "";
  try {
    encoder.encode(value, MAX);
  } catch (e) {
    code = (e as RpcError).code;
  }
  assert.is(code, "ERR_RPC_INVALID_ARGUMENT");
  const n = encoder.encode([1, 2], MAX);
  assert.equal(decoder.decode(encoder.start, encoder.start + n), [1, 2], "the encoder still works");
});

test.run();
