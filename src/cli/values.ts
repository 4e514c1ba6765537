// How the command line shows shmrpc values as JSON, and reads them back from JSON.
//
// The codec carries values JSON has no form for. Each gets a one-key object whose key
// starts with "$" (the shape of MongoDB's Extended JSON and Meteor's EJSON), so that
// output is plain JSON any tool reads, and nothing is lost:
//   undefined            {"$undefined": true}
//   NaN, ±Infinity, -0   {"$number": "NaN"} / "Infinity" / "-Infinity" / "-0"
//   bigint               {"$bigint": "123456789012345678901"}; above 2^16 bits in hex, {"$bigint": "0x1f…"}
//                        (decimal is quadratic: a 2^27-bit bigint took 24 s, its hex 0.15 s)
//   Date                 {"$date": "2026-11-30T19:00:00.000Z"} ({"$date": null}: an invalid Date)
//   Buffer, typed arrays,{"$binary": {"type": "Buffer", "base64": "AAEC"}}: the bytes of the
//   DataView, ArrayBuffer  view's window, in this machine's byte order (little-endian)
//   Map                  {"$map": [[key, value], ...]}
//   Set                  {"$set": [value, ...]}
//   Error                {"$error": {"name": "TypeError", "message": "...", "stack": "...", ...}}
//   a plain object whose only key starts with "$"
//                        {"$object": {...}}: escaped, so it is never mistaken for one of the above
// Everything else (null, booleans, finite numbers, strings, arrays, plain objects) is
// itself. `fromJson` reverses `toJson` exactly, so `call` arguments can be any of these.
// Arguments nest at most MAX_JSON_DEPTH levels (the codec sends 256) and a decimal
// $bigint has at most MAX_DECIMAL_DIGITS digits (hex for bigger ones): beyond, a usage error.

import { UsageError } from "./exit.js";

/** JSON arguments nested deeper than this are a usage error (the codec sends 256 levels;
 *  tagged forms take one or two JSON levels each). */
export const MAX_JSON_DEPTH = 512;
/** Bigints above this many bits are shown in hex: decimal conversion is quadratic. */
export const MAX_DECIMAL_BITS = 65_536;
/** A decimal $bigint argument of more digits (2^16 bits is 19,729 digits) is a usage error: give it in hex. */
export const MAX_DECIMAL_DIGITS = 20_000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const BINARY_TYPES: Record<string, (bytes: Uint8Array) => unknown> = {
  Buffer: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ArrayBuffer: (b) => b.buffer,
  DataView: (b) => new DataView(b.buffer),
  Uint8Array: (b) => b,
  Int8Array: (b) => new Int8Array(b.buffer),
  Uint8ClampedArray: (b) => new Uint8ClampedArray(b.buffer),
  Int16Array: (b) => new Int16Array(b.buffer),
  Uint16Array: (b) => new Uint16Array(b.buffer),
  Int32Array: (b) => new Int32Array(b.buffer),
  Uint32Array: (b) => new Uint32Array(b.buffer),
  Float32Array: (b) => new Float32Array(b.buffer),
  Float64Array: (b) => new Float64Array(b.buffer),
  BigInt64Array: (b) => new BigInt64Array(b.buffer),
  BigUint64Array: (b) => new BigUint64Array(b.buffer),
};
const ELEMENT_BYTES: Record<string, number> = {
  Int16Array: 2, Uint16Array: 2, Int32Array: 4, Uint32Array: 4, Float32Array: 4, Float64Array: 8, BigInt64Array: 8, BigUint64Array: 8,
};

/** A decoded value as plain JSON (see the table above). */
export function toJson(value: unknown): Json {
  switch (typeof value) {
    case "undefined": return { $undefined: true };
    case "boolean": case "string": return value;
    case "bigint": return { $bigint: bigintText(value) };
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { $number: Object.is(value, -0) ? "-0" : String(value) };
    case "object": break;
    default: return { $unsupported: typeof value }; // the codec decodes no functions or symbols
  }
  if (value === null) return null;
  if (Array.isArray(value)) return Array.from(value, toJson);
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Map) return { $map: Array.from(value, ([k, v]) => [toJson(k), toJson(v)]) };
  if (value instanceof Set) return { $set: Array.from(value, toJson) };
  if (value instanceof Error) return { $error: errorFields(value) };
  if (value instanceof ArrayBuffer) return binary("ArrayBuffer", new Uint8Array(value));
  if (ArrayBuffer.isView(value)) {
    const type = Buffer.isBuffer(value) ? "Buffer" : value.constructor.name;
    return binary(type, new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  }
  const out = plainObject(value as Record<string, unknown>);
  const keys = Object.keys(out);
  return keys.length === 1 && keys[0]!.startsWith("$") ? { $object: out } : out;
}

/** Decimal up to MAX_DECIMAL_BITS, hex ("0x…", "-0x…") above: linear time at any size. */
function bigintText(v: bigint): string {
  const magnitude = v < 0n ? -v : v;
  if (magnitude >> BigInt(MAX_DECIMAL_BITS) === 0n) return v.toString();
  return (v < 0n ? "-0x" : "0x") + magnitude.toString(16);
}

function binary(type: string, bytes: Uint8Array): Json {
  return { $binary: { type, base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") } };
}

/** Own enumerable members, "__proto__" kept as a member (the decoder makes it one). */
function plainObject(o: Record<string, unknown>): { [key: string]: Json } {
  const out: { [key: string]: Json } = Object.create(null);
  for (const key of Object.keys(o)) out[key] = toJson(o[key]);
  return out;
}

function errorFields(e: Error): { [key: string]: Json } {
  const out: { [key: string]: Json } = Object.create(null);
  out.name = toJson(e.name);
  out.message = toJson(e.message);
  if (e.stack !== undefined) out.stack = toJson(e.stack);
  if ("cause" in e) out.cause = toJson(e.cause);
  if ("errors" in e) out.errors = toJson((e as AggregateError).errors);
  for (const key of Object.keys(e)) out[key] = toJson((e as unknown as Record<string, unknown>)[key]);
  return out;
}

/** JSON text (already parsed) back to the value `toJson` made it from. A malformed
 *  tagged object is a UsageError naming where, as `path` says. */
export function fromJson(json: unknown, path = "value", depth = 0): unknown {
  if (json === null || typeof json !== "object") return json;
  if (depth >= MAX_JSON_DEPTH) throw new UsageError(`${/^[^.[]*(?:\[\d+\])?/.exec(path)![0]} is nested deeper than ${MAX_JSON_DEPTH} levels`, "shmrpc sends values nested at most 256 levels deep");
  const inner = depth + 1;
  if (Array.isArray(json)) return json.map((v, i) => fromJson(v, `${path}[${i}]`, inner));
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1 || !keys[0]!.startsWith("$")) return revivedObject(o, path, inner);
  const tag = keys[0]!;
  const body = o[tag];
  const bad = (what: string) => new UsageError(`${path}: ${tag} needs ${what}`);
  switch (tag) {
    case "$undefined": return undefined;
    case "$object":
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw bad("an object");
      return revivedObject(body as Record<string, unknown>, path, inner);
    case "$number": {
      const n = ({ NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 } as Record<string, number>)[String(body)];
      if (typeof body !== "string" || n === undefined) throw bad('"NaN", "Infinity", "-Infinity" or "-0"');
      return n;
    }
    case "$bigint": {
      const m = typeof body === "string" ? /^(-?)(?:(\d+)|0x([0-9a-fA-F]+))$/.exec(body) : null;
      if (m === null) throw bad('a string of decimal digits, or hex digits after 0x ("-0x1f")');
      if (m[2] !== undefined && m[2].length > MAX_DECIMAL_DIGITS) throw bad(`at most ${MAX_DECIMAL_DIGITS} decimal digits (a bigger one in hex, "0x…": decimal conversion is slow)`);
      const magnitude = BigInt(m[2] ?? `0x${m[3]!}`);
      return m[1] ? -magnitude : magnitude;
    }
    case "$date": {
      if (body === null) return new Date(NaN);
      const d = typeof body === "string" ? new Date(body) : new Date(NaN);
      if (Number.isNaN(d.getTime())) throw bad("an ISO 8601 date string or null");
      return d;
    }
    case "$map":
      if (!Array.isArray(body) || !body.every((e) => Array.isArray(e) && e.length === 2)) throw bad("an array of [key, value] pairs");
      return new Map(body.map(([k, v], i) => [fromJson(k, `${path}.$map[${i}][0]`, inner + 1), fromJson(v, `${path}.$map[${i}][1]`, inner + 1)]));
    case "$set":
      if (!Array.isArray(body)) throw bad("an array");
      return new Set(body.map((v, i) => fromJson(v, `${path}.$set[${i}]`, inner)));
    case "$binary": return binaryOf(body, bad);
    case "$error": {
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw bad("an object");
      const fields = body as Record<string, unknown>;
      const e = new Error(typeof fields.message === "string" ? fields.message : "");
      for (const [key, v] of Object.entries(fields)) {
        if (key === "message") continue;
        Object.defineProperty(e, key, { value: fromJson(v, `${path}.$error.${key}`, inner), writable: true, configurable: true, enumerable: !["name", "stack", "cause", "errors"].includes(key) });
      }
      return e;
    }
    default: return revivedObject(o, path, inner); // "$anything else" is an ordinary key
  }
}

function revivedObject(o: Record<string, unknown>, path: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    Object.defineProperty(out, key, { value: fromJson(o[key], `${path}.${key}`, depth), writable: true, enumerable: true, configurable: true });
  }
  return out;
}

function binaryOf(body: unknown, bad: (what: string) => UsageError): unknown {
  const b = body as { type?: unknown; base64?: unknown } | null;
  const make = typeof b?.type === "string" && Object.hasOwn(BINARY_TYPES, b.type) ? BINARY_TYPES[b.type] : undefined;
  if (!make || typeof b!.base64 !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(b!.base64)) {
    throw bad(`{ "type": one of ${Object.keys(BINARY_TYPES).join(", ")}, "base64": "..." }`);
  }
  const decoded = Buffer.from(b!.base64, "base64");
  const bytes = new Uint8Array(decoded.byteLength); // its own ArrayBuffer, aligned for any element size
  bytes.set(decoded);
  const size = ELEMENT_BYTES[b!.type as string] ?? 1;
  if (bytes.byteLength % size !== 0) throw bad(`a byte length that is a multiple of ${size} for ${String(b!.type)}`);
  return make(bytes);
}

/** Parses command-line argument `text` (JSON) into a value; a UsageError, with a hint, when it is not JSON. */
export function parseArgument(text: string, path: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const hint = /^[A-Za-z_][\w.-]*$/.test(text) && !["true", "false", "null"].includes(text) ? ` (a string needs JSON quotes: '"${text}"')` : "";
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}${hint}`);
  }
  return fromJson(json, path);
}
