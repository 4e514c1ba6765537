// One direction pair of a connection, as either side sees it: the ring it writes,
// the ring it reads, and what makes messages of any size travel through them.
//  - sending: a message that fits a record goes straight into the ring; a bigger
//    one, or one that meets a full ring, is copied to an in-order queue and sent
//    as fragments as room appears (`flush`).
//  - receiving: fragments are reassembled in private memory; a message above
//    `maxMessageBytes` is skipped and reported as OVERSIZED with its call id.
// Everything read from the ring is checked before use (peer input).

import { core } from "./core/wasm.js";
import { L } from "./core/layout.js";
import { RingReader, RingWriter, ringErrorText } from "./core/ring.js";
import { bodyOffset, P_FRAGMENT_DATA, P_FRAGMENT_TOTAL, P_FRAGMENT_TYPE } from "./protocol.js";

/** `Channel.type` of a message that was too big to accept. */
export const OVERSIZED = -1;

interface Queued {
  type: number;
  bytes: Buffer;
  sent: number; // bytes already written (fragments)
}

export class Channel {
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  /** Bytes waiting in the queue (for backpressure decisions). */
  queuedBytes = 0;

  // Reassembly of a fragmented message in progress.
  private asmRegion = -1;
  private asmTotal = 0;
  private asmGot = 0;
  private asmType = 0;
  private asmSkip = false;
  private asmId = -1;

  // The current message, after a successful `poll`.
  type = 0;
  payload = 0;
  length = 0;
  /** For OVERSIZED: the call id, or -1 when it was not readable. */
  oversizedId = -1;
  /** Why the peer's data was refused, once `poll` returned false with it set. */
  protocolError: string | undefined;
  /** Set when `poll` gave ring space back on its own (the producer may be waiting for it). */
  freedRoom = false;
  private delivered = false;
  private deliveredRegion = -1;

  constructor(
    readonly writer: RingWriter,
    readonly reader: RingReader,
    private readonly maxMessageBytes: number,
  ) {}

  // ------------------------------------------------------------------ sending

  /** True when nothing waits in the send queue. */
  get idle(): boolean {
    return this.queueHead === this.queue.length;
  }

  /** Claims a record for a payload of `bytes` if it can go straight into the ring
   *  (nothing queued ahead of it, fits a record, room now). Returns its offset or 0. */
  claim(type: number, bytes: number): number {
    if (!this.idle || bytes > this.writer.maxPayload) return 0;
    return this.writer.tryClaim(bytes, type);
  }

  /** Sends the payload [id u32][extra][pad to 8][body: `bodyLength` bytes of linear
   *  memory at `body`]: straight into the ring when it can, else through the queue (a copy). */
  send(type: number, id: number, extra: Uint8Array | null, body: number, bodyLength: number): void {
    const c = core();
    const head = bodyOffset(4 + (extra === null ? 0 : extra.length));
    const total = head + bodyLength;
    const at = this.claim(type, total);
    if (at !== 0) {
      c.view.setUint32(at, id, true);
      if (extra !== null) c.u8.set(extra, at + 4);
      c.u8.copyWithin(at + head, body, body + bodyLength);
      return;
    }
    const bytes = Buffer.allocUnsafe(total);
    bytes.writeUInt32LE(id >>> 0, 0);
    if (extra !== null) bytes.set(extra, 4);
    bytes.fill(0, 4 + (extra === null ? 0 : extra.length), head);
    bytes.set(c.u8.subarray(body, body + bodyLength), head);
    this.enqueue(type, bytes);
  }

  /** Sends a record with no payload (GOODBYE). */
  sendEmpty(type: number): void {
    if (this.claim(type, 0) === 0) this.enqueue(type, Buffer.alloc(0));
  }

  /** Queues a payload that could not be claimed; `flush` sends it. */
  enqueue(type: number, bytes: Buffer): void {
    this.queue.push({ type, bytes, sent: 0 });
    this.queuedBytes += bytes.length;
    this.flush();
  }

  /** Writes (and commits) as much of the queue as the ring has room for.
   *  True when it wrote anything: the caller then rings the peer's doorbell. */
  flush(): boolean {
    const wrote = this.writeQueued();
    if (wrote) this.writer.commit();
    return wrote;
  }

  private writeQueued(): boolean {
    const c = core();
    const w = this.writer;
    let wrote = false;
    while (this.queueHead < this.queue.length) {
      const m = this.queue[this.queueHead]!;
      const total = m.bytes.length;
      if (total <= w.maxPayload) {
        const at = w.tryClaim(total, m.type);
        if (at === 0) return wrote;
        wrote = true;
        c.u8.set(m.bytes, at);
      } else {
        for (;;) {
          const first = m.sent === 0;
          const header = first ? P_FRAGMENT_DATA : 0;
          const chunk = Math.min(total - m.sent, w.maxPayload - header);
          const at = w.tryClaim(header + chunk, first ? L.T_FRAGMENT_FIRST : L.T_FRAGMENT_MORE);
          if (at === 0) return wrote;
          wrote = true;
          if (first) {
            c.view.setUint32(at + P_FRAGMENT_TOTAL, total, true);
            c.view.setUint32(at + P_FRAGMENT_TYPE, m.type, true);
          }
          c.u8.set(m.bytes.subarray(m.sent, m.sent + chunk), at + header);
          m.sent += chunk;
          if (m.sent === total) break;
          // Let the consumer start on what is there while we produce the rest.
          w.commit();
        }
      }
      this.queuedBytes -= total;
      this.queue[this.queueHead++] = undefined as unknown as Queued;
    }
    this.queue.length = 0;
    this.queueHead = 0;
    return wrote;
  }

  /** True when the next queued record would fit in the ring now. */
  canFlush(): boolean {
    const m = this.queue[this.queueHead];
    if (m === undefined) return false;
    const left = m.bytes.length - m.sent;
    const next = m.bytes.length <= this.writer.maxPayload ? left : Math.min(this.writer.maxPayload, left + (m.sent === 0 ? P_FRAGMENT_DATA : 0));
    return this.writer.hasRoom(next);
  }

  /** Drops everything queued (the connection is gone). */
  clearQueue(): void {
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  // ---------------------------------------------------------------- receiving

  /** Finds the next complete message: true and type/payload/length set, or false
   *  (nothing complete yet, or protocolError set). Call `consumed` when done with it. */
  poll(): boolean {
    if (this.delivered) this.consumed();
    const r = this.reader;
    const c = core();
    while (r.poll()) {
      const type = r.type;
      const at = r.payload;
      const length = r.length;
      if (type === L.T_FRAGMENT_FIRST) {
        if (this.asmTotal !== 0 || length < P_FRAGMENT_DATA) return this.fail("a fragment started inside another message");
        const total = c.view.getUint32(at + P_FRAGMENT_TOTAL, true);
        const inner = c.view.getUint32(at + P_FRAGMENT_TYPE, true);
        const chunk = length - P_FRAGMENT_DATA;
        if (inner !== L.T_REQUEST && inner !== L.T_RESPONSE && inner !== L.T_ERROR) return this.fail(`fragmented message of type ${inner}`);
        if (total <= chunk || chunk === 0) return this.fail("a fragmented message's size is inconsistent");
        this.asmTotal = total;
        this.asmGot = chunk;
        this.asmType = inner;
        this.asmSkip = total > this.maxMessageBytes;
        this.asmId = chunk >= 4 ? c.view.getUint32(at + P_FRAGMENT_DATA, true) : -1;
        if (!this.asmSkip) {
          this.asmRegion = c.alloc(total);
          c.u8.copyWithin(this.asmRegion, at + P_FRAGMENT_DATA, at + length);
        }
        r.advance();
        continue;
      }
      if (type === L.T_FRAGMENT_MORE) {
        if (this.asmTotal === 0) return this.fail("a fragment continued no message");
        if (length === 0 || length > this.asmTotal - this.asmGot) return this.fail("a fragment overflows its message");
        if (!this.asmSkip) c.u8.copyWithin(this.asmRegion + this.asmGot, at, at + length);
        this.asmGot += length;
        r.advance();
        if (this.asmGot < this.asmTotal) continue;
        // Complete.
        this.delivered = true;
        const total = this.asmTotal;
        this.asmTotal = 0;
        if (this.asmSkip) {
          this.type = OVERSIZED;
          this.oversizedId = this.asmId;
          this.payload = 0;
          this.length = total;
          return true;
        }
        this.type = this.asmType;
        this.payload = this.asmRegion;
        this.length = total;
        this.deliveredRegion = this.asmRegion;
        this.asmRegion = -1;
        return true;
      }
      if (this.asmTotal !== 0) return this.fail("a message interleaved a fragmented one");
      this.delivered = true;
      if (length > this.maxMessageBytes) {
        this.type = OVERSIZED;
        this.oversizedId = length >= 4 ? c.view.getUint32(at, true) : -1;
        this.payload = 0;
        this.length = length;
        r.advance();
        return true;
      }
      this.type = type;
      this.payload = at;
      this.length = length;
      return true;
    }
    if (r.error !== 0) return this.fail(ringErrorText(r.error));
    if (this.asmTotal !== 0) {
      // Mid-message: the producer needs the space of the fragments taken so far.
      r.release();
      this.freedRoom = true;
    }
    return false;
  }

  /** Done with the message from `poll`: its ring space may be reused (after `release`). */
  consumed(): void {
    if (!this.delivered) return;
    this.delivered = false;
    if (this.deliveredRegion >= 0) {
      core().release(this.deliveredRegion, this.length);
      this.deliveredRegion = -1;
    } else if (this.type !== OVERSIZED) {
      this.reader.advance();
    }
  }

  /** Publishes the consumed space to the producer (once per batch). */
  release(): void {
    this.reader.release();
  }

  private fail(why: string): false {
    this.protocolError ??= why;
    return false;
  }

  /** Frees private memory; the rings belong to the segment. */
  dispose(): void {
    if (this.delivered) this.consumed();
    if (this.asmRegion >= 0) core().release(this.asmRegion, this.asmTotal);
    this.asmRegion = -1;
    this.asmTotal = 0;
    this.clearQueue();
    this.writer.dispose();
    this.reader.dispose();
  }
}
