// Length-prefixed frames over a stream: [length u32 LE][JSON, UTF-8]. Chunks are
// kept in a list and joined once a frame is complete, so a large frame is copied once.

export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(private readonly onFrame: (json: string) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.have < 4) return;
      let first = this.chunks[0]!;
      if (first.length < 4) first = this.join();
      const length = first.readUInt32LE(0);
      if (this.have < 4 + length) return;
      if (first.length < 4 + length) first = this.join();
      const json = first.toString("utf8", 4, 4 + length);
      const rest = first.subarray(4 + length);
      this.have -= 4 + length;
      if (rest.length > 0) this.chunks[0] = rest;
      else this.chunks.shift();
      this.onFrame(json);
    }
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.have);
    this.chunks = [all];
    return all;
  }
}

export function frame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  const length = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(4 + length);
  out.writeUInt32LE(length, 0);
  out.write(json, 4, "utf8");
  return out;
}

/** JSON has no bytes: a Node user sends them as base64. */
export function toJsonValue(x: string | Uint8Array): unknown {
  return typeof x === "string" ? x : { base64: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64") };
}

export function fromJsonValue(v: unknown): string | Buffer {
  return typeof v === "string" ? v : Buffer.from((v as { base64: string }).base64, "base64");
}
