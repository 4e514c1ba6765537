// TypeScript handles on the WebAssembly SPSC ring (assembly/ring.ts holds the logic).
// A handle is private memory; the ring itself may be shared with another process.

import { core, type Core } from "./wasm.js";
import { L } from "./layout.js";

const RING_ERRORS: Record<number, string> = {
  1: "the peer's ring counter is out of range",
  2: "a record in the ring has an impossible length or type",
  3: "bad ring capacity or record size",
};

export function ringErrorText(code: number): string {
  return RING_ERRORS[code] ?? `ring error ${code}`;
}

abstract class RingHandle {
  readonly handle: number;
  readonly capacity: number;

  /** `c`: the core whose memory holds the ring (default: this thread's own). */
  constructor(readonly ring: number, capacity: number, producer: boolean, readonly c: Core) {
    this.handle = this.c.allocHandle();
    this.capacity = capacity;
    if (!this.c.exports.ringAttach(this.handle, ring, capacity, producer)) {
      const e = this.error;
      this.c.releaseHandle(this.handle);
      throw new Error("shmrpc: cannot attach ring: " + ringErrorText(e));
    }
  }

  /** Non-zero once the peer corrupted the ring (sticky). */
  get error(): number {
    return this.c.u32[(this.handle + L.H_ERROR) >>> 2]!;
  }

  /** Bytes written and not yet read, for statistics only: a plain read of both shared
   *  counters (either may be a moment old), clamped to the capacity (the peer writes one). */
  used(): number {
    const u32 = this.c.u32;
    const used = (u32[(this.ring + L.RING_TAIL) >>> 2]! - u32[(this.ring + L.RING_HEAD) >>> 2]!) >>> 0;
    return Math.min(used, this.capacity);
  }

  dispose(): void {
    this.c.releaseHandle(this.handle);
  }
}

export class RingWriter extends RingHandle {
  /** Largest payload one record may carry; bigger messages are fragmented. */
  readonly maxPayload: number;

  constructor(ring: number, capacity: number, c: Core = core()) {
    super(ring, capacity, true, c);
    this.maxPayload = this.c.exports.ringMaxPayload(capacity);
  }

  /** Offset of a `bytes`-long payload to fill, or 0 when the ring is full now. */
  tryClaim(bytes: number, type: number): number {
    return this.c.exports.ringTryClaim(this.handle, bytes, type);
  }

  commit(): void {
    this.c.exports.ringCommit(this.handle);
  }

  hasRoom(bytes: number): boolean {
    return this.c.exports.ringHasRoom(this.handle, bytes);
  }

  /** True when the consumer has taken everything published. */
  drained(): boolean {
    return this.c.exports.ringDrained(this.handle);
  }
}

export class RingReader extends RingHandle {
  constructor(ring: number, capacity: number, c: Core = core()) {
    super(ring, capacity, false, c);
  }

  /** True when a record is ready; its fields are then in type/payload/length. */
  poll(): boolean {
    return this.c.exports.ringPoll(this.handle) !== 0;
  }

  get type(): number {
    return this.c.u32[(this.handle + L.H_REC_TYPE) >>> 2]!;
  }
  get payload(): number {
    return this.c.u32[(this.handle + L.H_REC_PAYLOAD) >>> 2]!;
  }
  get length(): number {
    return this.c.u32[(this.handle + L.H_REC_LENGTH) >>> 2]!;
  }

  advance(): void {
    this.c.exports.ringAdvance(this.handle);
  }

  release(): void {
    this.c.exports.ringRelease(this.handle);
  }

  empty(): boolean {
    return this.c.exports.ringEmpty(this.handle);
  }
}
