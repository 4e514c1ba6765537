// Where there is no Node Buffer (a browser, a web worker): the part of Buffer the codec and
// the channel use, as a Uint8Array subclass, installed as globalThis.Buffer before they
// load. Node's own Buffer is left alone. UTF-8 through TextEncoder/TextDecoder (the
// decoder reads a copy: TextDecoder refuses views of shared memory).

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** UTF-8 length of `s` (lone surrogates count 3, as TextEncoder writes U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

class WebBuffer extends Uint8Array<ArrayBufferLike> {
  static alloc(n: number): WebBuffer {
    return make(n);
  }

  static allocUnsafe(n: number): WebBuffer {
    return make(n);
  }

  static allocUnsafeSlow(n: number): WebBuffer {
    return make(n);
  }

  static byteLength(s: string | ArrayBufferView | ArrayBuffer): number {
    return typeof s === "string" ? utf8Length(s) : s.byteLength;
  }

  static isBuffer(v: unknown): boolean {
    return v instanceof WebBuffer;
  }

  /** Writes `s` as UTF-8 at `offset`, at most `max` bytes (whole characters); returns the bytes written. */
  utf8Write(s: string, offset: number, max: number): number {
    return encoder.encodeInto(s, this.subarray(offset, offset + max)).written;
  }

  utf8Slice(start: number, end: number): string {
    return decoder.decode(this.slice(start, end));
  }

  hexWrite(s: string, offset: number, max: number): number {
    const n = Math.min(max, s.length >>> 1);
    for (let i = 0; i < n; i++) this[offset + i] = parseInt(s.substr(2 * i, 2), 16);
    return n;
  }

  hexSlice(start: number, end: number): string {
    let s = "";
    for (let i = start; i < end; i++) s += HEX[this[i]!];
    return s;
  }

  copy(target: Uint8Array, targetStart = 0, sourceStart = 0, sourceEnd = this.length): number {
    const n = Math.min(sourceEnd - sourceStart, target.length - targetStart);
    target.set(this.subarray(sourceStart, sourceStart + n), targetStart);
    return n;
  }

  readUInt32LE(offset: number): number {
    return (this[offset]! | (this[offset + 1]! << 8) | (this[offset + 2]! << 16)) + this[offset + 3]! * 0x1000000;
  }

  override toString(encoding?: string): string {
    return encoding === "hex" ? this.hexSlice(0, this.length) : this.utf8Slice(0, this.length);
  }
}

function bufferFrom(value: unknown, offsetOrEncoding?: number | string, length?: number): WebBuffer {
  if (typeof value === "string") {
    if (offsetOrEncoding === "hex") {
      const b = make(value.length >>> 1);
      b.hexWrite(value, 0, b.length);
      return b;
    }
    const bytes = encoder.encode(value);
    return new WebBuffer(bytes.buffer, 0, bytes.length);
  }
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)) {
    const offset = typeof offsetOrEncoding === "number" ? offsetOrEncoding : 0;
    return new WebBuffer(value as ArrayBuffer, offset, length ?? value.byteLength - offset);
  }
  const src = value as ArrayLike<number>;
  const b = make(src.length);
  b.set(src);
  return b;
}

function make(n: number): WebBuffer {
  return new WebBuffer(new ArrayBuffer(n));
}

// Buffer.from(string | ArrayBuffer | SharedArrayBuffer | array-like), beside Uint8Array.from.
Object.defineProperty(WebBuffer, "from", { value: bufferFrom });

const g = globalThis as { Buffer?: unknown };
if (typeof g.Buffer !== "function") g.Buffer = WebBuffer;

export {};
