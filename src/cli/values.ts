// How the command line shows shmrpc values as JSON, and reads them back from JSON.
//
// The codec carries values JSON has no form for. Each gets a one-key object whose key
// starts with "$" (the shape of MongoDB's Extended JSON and Meteor's EJSON), so that
// output is plain JSON any tool reads, and nothing is lost:
//   undefined            {"$undefined": true}
//   NaN, ±Infinity, -0   {"$number": "NaN"} / "Infinity" / "-Infinity" / "-0"
//   bigint               {"$bigint": "123456789012345678901"}
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

import { UsageError } from "./exit.js";

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
    case "bigint": return { $bigint: value.toString() };
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
export function fromJson(json: unknown, path = "value"): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) return json.map((v, i) => fromJson(v, `${path}[${i}]`));
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1 || !keys[0]!.startsWith("$")) return revivedObject(o, path);
  const tag = keys[0]!;
  const body = o[tag];
  const bad = (what: string) => new UsageError(`${path}: ${tag} needs ${what}`);
  switch (tag) {
    case "$undefined": return undefined;
    case "$object":
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw bad("an object");
      return revivedObject(body as Record<string, unknown>, path);
    case "$number": {
      const n = ({ NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 } as Record<string, number>)[String(body)];
      if (typeof body !== "string" || n === undefined) throw bad('"NaN", "Infinity", "-Infinity" or "-0"');
      return n;
    }
    case "$bigint":
      if (typeof body !== "string" || !/^-?\d+$/.test(body)) throw bad("a string of decimal digits");
      return BigInt(body);
    case "$date": {
      if (body === null) return new Date(NaN);
      const d = typeof body === "string" ? new Date(body) : new Date(NaN);
      if (Number.isNaN(d.getTime())) throw bad("an ISO 8601 date string or null");
      return d;
    }
    case "$map":
      if (!Array.isArray(body) || !body.every((e) => Array.isArray(e) && e.length === 2)) throw bad("an array of [key, value] pairs");
      return new Map(body.map(([k, v], i) => [fromJson(k, `${path}.$map[${i}][0]`), fromJson(v, `${path}.$map[${i}][1]`)]));
    case "$set":
      if (!Array.isArray(body)) throw bad("an array");
      return new Set(body.map((v, i) => fromJson(v, `${path}.$set[${i}]`)));
    case "$binary": return binaryOf(body, bad);
    case "$error": {
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw bad("an object");
      const fields = body as Record<string, unknown>;
      const e = new Error(typeof fields.message === "string" ? fields.message : "");
      for (const [key, v] of Object.entries(fields)) {
        if (key === "message") continue;
        Object.defineProperty(e, key, { value: fromJson(v, `${path}.$error.${key}`), writable: true, configurable: true, enumerable: !["name", "stack", "cause", "errors"].includes(key) });
      }
      return e;
    }
    default: return revivedObject(o, path); // "$anything else" is an ordinary key
  }
}

function revivedObject(o: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    Object.defineProperty(out, key, { value: fromJson(o[key], `${path}.${key}`), writable: true, enumerable: true, configurable: true });
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
