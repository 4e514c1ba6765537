// Values for round-trip tests: the seeded random generator (the codec suite and the NATS
// suite use it) and a battery of edge values of every kind the codec carries.

export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generator(seed: number): (depth?: number) => unknown {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const f64 = new Float64Array(1);
  const u32 = new Uint32Array(f64.buffer);
  const chars = ["a", "z", "0", " ", "é", "ß", "日", "😀", "\u0000", "\u007f", "\u0080", "\uffff", "𝄞"];
  const str = (): string => {
    const n = r() < 0.05 ? int(3000) : int(40);
    let s = "";
    if (r() < 0.5) for (let i = 0; i < n; i++) s += String.fromCharCode(32 + int(95));
    else for (let i = 0; i < n; i++) s += chars[int(chars.length)];
    return s;
  };
  const typed = (): unknown => {
    const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array];
    const bytes = new Uint8Array(int(64) * 8 + 8);
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
    switch (int(6)) {
      case 0: return Buffer.from(bytes).subarray(int(4));
      case 1: return bytes.subarray(int(4));
      case 2: return bytes.buffer;
      case 3: return new DataView(bytes.buffer, int(4), int(4));
      case 4: return new BigInt64Array(bytes.buffer, 8, int(bytes.length / 8 - 1));
      default: {
        const Kind = kinds[int(kinds.length)]!;
        const start = int(2) * 8;
        return new Kind(bytes.buffer, start, int((bytes.length - start) / Kind.BYTES_PER_ELEMENT));
      }
    }
  };
  const gen = (depth = 0): unknown => {
    const pick = int(depth > 4 ? 12 : 17);
    switch (pick) {
      case 0: return undefined;
      case 1: return null;
      case 2: return r() < 0.5;
      case 3: return int(300) - 150;
      case 4: return (int(2 ** 32) | 0) * (r() < 0.5 ? 1 : 2 ** 20);
      case 5: {
        u32[0] = int(2 ** 32);
        u32[1] = int(2 ** 32);
        return f64[0];
      }
      case 6: return [0, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE, 0.1][int(8)];
      case 7: {
        let b = BigInt(int(2 ** 30));
        for (let i = int(6); i > 0; i--) b = (b << 30n) | BigInt(int(2 ** 30));
        return r() < 0.5 ? -b : b;
      }
      case 8: case 9: return str();
      case 10: return typed();
      case 11: return new Date(r() < 0.1 ? NaN : int(2 ** 42) - 2 ** 41);
      case 12: case 13: {
        const a: unknown[] = [];
        for (let i = int(20); i > 0; i--) a.push(gen(depth + 1));
        if (r() < 0.1) a.length += 2; // holes
        return a;
      }
      case 14: {
        const o: Record<string, unknown> = r() < 0.1 ? Object.create(null) : {};
        for (let i = int(20); i > 0; i--) o[str()] = gen(depth + 1);
        return o;
      }
      case 15: {
        const m = new Map<unknown, unknown>();
        for (let i = int(6); i > 0; i--) m.set(gen(depth + 1), gen(depth + 1));
        if (r() < 0.3) return new Set(m.keys());
        return m;
      }
      default: {
        const e = new [Error, TypeError, RangeError][int(3)]!(str());
        if (r() < 0.5) (e as Error & { code?: string }).code = str();
        if (r() < 0.3) (e as Error & { extra?: unknown }).extra = gen(depth + 1);
        return e;
      }
    }
  };
  return gen;
}


/** One of each edge the codec's tests exercise: every float64 kind, integer form boundaries,
 *  bigints, strings at header boundaries, every binary kind, containers, dates, errors. */
export function edgeValues(): unknown[] {
  const floats = [0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE,
    2.2250738585072014e-308, Number.EPSILON, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0.1, 1 / 3, Math.fround(0.1),
    2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53 + 2, 1e21, 127, 128, -16, -17, -128, -129, 32767, 32768, -32768, -32769];
  const bigints = [0n, 1n, -1n, 255n, 256n, -256n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n, -(10n ** 1000n), 2n ** 20000n - 1n];
  const strings = ["", "a", "héllo", "日本語のテキスト", "😀", "a😀b𝄞c", "\u0000\u007f\u0080\u07ff\u0800\uffff",
    "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "é".repeat(15), "é".repeat(16), "日".repeat(86),
    "x".repeat(100_000) + "é", "\ud800", "a\udc00b"];
  const bytes = new Uint8Array(72).map((_, i) => (i * 37) & 255);
  const binaries = [Buffer.from("xyz"), new Uint8Array([1, 2, 3]), new Int8Array([-1, 127]), new Uint8ClampedArray([255]),
    new Int16Array([-2, 3]), new Uint16Array([65535]), new Int32Array([-5]), new Uint32Array([2 ** 32 - 1]),
    new Float32Array([1.5, NaN]), new Float64Array([-0, Math.PI]), new BigInt64Array([-(2n ** 63n)]), new BigUint64Array([2n ** 64n - 1n]),
    new DataView(bytes.buffer, 3, 9), bytes.buffer.slice(0, 5), new Uint8Array(bytes.buffer, 8, 16), new Uint8Array(0), Buffer.alloc(0)];
  const err = new RangeError("out") as RangeError & { code?: string; extra?: unknown };
  err.code = "E_X";
  err.extra = { n: 1 };
  const holes: unknown[] = [1];
  holes.length = 3;
  const nullProto = Object.create(null) as Record<string, unknown>;
  nullProto.a = 1;
  const protoKey = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
  const containers = [[], [[[]]], holes, {}, { u: undefined, n: null }, nullProto, protoKey,
    new Map<unknown, unknown>([["a", 1], [2, [3n]], [{}, new Set([1])]]), new Set(["x", 1, null]),
    new Date(86_400_000), new Date(NaN), new Error("plain"), new TypeError("typed"), err,
    Array.from({ length: 256 }, (_, i) => i), Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))];
  let deep: unknown = "bottom";
  for (let i = 0; i < 255; i++) deep = [deep];
  return [undefined, null, true, false, ...floats, ...bigints, ...strings, ...binaries, ...containers, deep];
}
