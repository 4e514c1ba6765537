// One direction pair of a connection, as either side sees it: the ring it writes,
// the ring it reads, and what makes messages of any size travel through them.
//  - sending: a message that fits a record goes straight into the ring; a bigger
//    one goes as fragments, straight in while there is room. A big binary the encoder
//    spliced (left where it was) is copied from its own memory into the ring, never
//    into the scratch first. Whatever meets a full ring (or a queue ahead of it) is
//    copied to an in-order queue and sent as room appears (`flush`); the queue's
//    memory is kept for the next big message.
//  - receiving: fragments are reassembled in private memory, except the tail a
//    FRAGMENT_FIRST announces (the bytes of a binary that ends the message): those go
//    straight from the ring into a Buffer of their own, which the decoder hands out.
//    A message above `maxMessageBytes` is skipped and reported as OVERSIZED with its
//    call id.
// Everything read from the ring is checked before use (peer input).

import type { Core } from "./core/wasm.js";
import { copyWithSet, type CopyBytes } from "./core/copy.js";
import { L } from "./core/layout.js";
import { RingReader, RingWriter, ringErrorText } from "./core/ring.js";
import { P_ID, P_FRAGMENT_DATA, P_FRAGMENT_TAIL, P_FRAGMENT_TOTAL, P_FRAGMENT_TYPE, P_RESPONSE_BODY, writeHeader, writeCallHeader, writeFragmentHeader } from "./frames.js";
import type { Splice } from "./codec/encode.js";
import type { ReassemblyBudget } from "./serving/budgets.js";

/** A bigger spare reassembly region is given back after a smaller message. */
const SPARE_KEEP_BYTES = 4 << 20;
/** A fragmented message's region starts at most this big (or twice its first
 *  fragment) and doubles as its bytes arrive: a peer that announces a huge message
 *  and sends nothing more holds little memory. */
const FIRST_REGION_BYTES = 1 << 20;
/** The send queue's memory is kept for the next message when it is at most this big
 *  (a fresh one costs page faults on every message; a bigger one is given back). */
const QUEUE_KEEP_BYTES = 32 << 20;
/** A tail's memory handed back by a view handler (`keepTail`) is kept for the next
 *  message's tail when it is at most this big. */
const TAIL_KEEP_BYTES = 32 << 20;
/** Copies to or from the shared memory at least this long go through the addon's
 *  memmove (V8 copies a word at a time there; the call costs more for small ones). */
const COPY_NATIVE_BYTES = 16 * 1024;

/** `Channel.type` of a message that was too big to accept. */
export const OVERSIZED = -1;

/** A message waiting for ring space: `bytes` is what is still unsent of a payload
 *  of `total` bytes (a message already partly sent as fragments keeps only its tail). */
interface Queued {
  type: number;
  total: number;
  tail: number; // for FRAGMENT_FIRST (see src/frames.ts)
  bytes: Buffer;
  done: number; // of `bytes`, already written
}

export class Channel {
  /** The core whose memory holds the rings (the writer's). */
  private readonly c: Core;
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
  /** Bytes of the message being reassembled counted in the budget (region and tail). */
  private asmCharged = 0;
  private asmId = -1;
  /** Bytes before the announced tail (all of them without one), and the tail's Buffer. */
  private asmPrefix = 0;
  private asmTail: Buffer | null = null;

  // The current message, after a successful `poll`.
  type = 0;
  payload = 0;
  length = 0;
  /** With a fragmented message whose last binary came as its tail: that binary's bytes
   *  (`payload` then holds only the `length - tail.length` bytes before them). */
  tail: Buffer | null = null;
  /** For OVERSIZED: the call id, or -1 when it was not readable. */
  oversizedId = -1;
  /** For OVERSIZED: skipped because the reassembly budget had no room for it (not for
   *  its size). */
  overBudget = false;
  /** Why the peer's data was refused, once `poll` returned false with it set. */
  protocolError: string | undefined;
  /** Set when `poll` gave ring space back on its own (the producer may be waiting for it). */
  freedRoom = false;
  private delivered = false;
  // The last reassembly region, kept for the next big message (a fresh one costs
  // page faults on every message); given back after a burst of big ones.
  private spare = -1;
  private spareBytes = 0;
  private deliveredRegion = -1;
  /** Send queue memory kept from the last big queued message. */
  private spareQueue: Buffer | null = null;
  /** Tail memory a view handler is done with (see keepTail). */
  private spareTail: Buffer | null = null;

  constructor(
    readonly writer: RingWriter,
    readonly reader: RingReader,
    private readonly maxMessageBytes: number,
    /** Big copies (the addon's memmove in the process transport). */
    private readonly copyBytes: CopyBytes = copyWithSet,
    /** Counts the memory of unfinished fragmented messages (the server's; none: no limit). */
    private readonly budget?: ReassemblyBudget,
  ) {
    this.c = writer.c;
  }

  // ------------------------------------------------------------------ sending

  /** True when nothing waits in the send queue. */
  get idle(): boolean {
    return this.queueHead === this.queue.length;
  }

  /** Messages waiting in the send queue. */
  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }

  /** Sends the payload [id u32][extra][pad to 8][body: `bodyLength` bytes of linear
   *  memory at `body`]. The header is written just before `body` (src/frames.ts), so the
   *  caller must leave HEADROOM bytes free there (the encoder's headroom). Whatever does
   *  not fit the ring now is copied to the queue and sent by `flush`. With a `splice`
   *  (the encoder's), `bodyLength` counts the spliced bytes, which are copied from
   *  where they are; the splice is cleared (its binary is not held). */
  send(type: number, id: number, extra: Uint8Array | null, body: number, bodyLength: number, splice?: Splice): void {
    const at = writeHeader(this.c, body, id, extra);
    const total = body - at + bodyLength;
    const spliced = splice === undefined ? null : splice.bytes;
    if (spliced === null) return this.sendPayload(type, at, total);
    splice!.bytes = null;
    this.sendSpliced(type, at, total, spliced, splice!.at, splice!.last);
  }

  /** Sends [at, splicedAt) ++ spliced ++ [splicedAt, ...) of linear memory, `total`
   *  bytes in all: each byte copied once into the ring, or into the queue if full. */
  private sendSpliced(type: number, at: number, total: number, spliced: Uint8Array, splicedAt: number, last: boolean): void {
    const c = this.c;
    const head = splicedAt - at;
    const rest = total - head - spliced.length;
    let sent = 0;
    if (this.idle) {
      if (total <= this.writer.maxPayload) {
        const dst = this.writer.tryClaim(total, type);
        if (dst !== 0) {
          const u8 = this.c.u8;
          u8.copyWithin(dst, at, splicedAt);
          this.copyBytes(spliced, spliced.byteOffset, u8, dst + head, spliced.length);
          u8.copyWithin(dst + head + spliced.length, splicedAt, splicedAt + rest);
          return;
        }
      } else {
        const tail = last ? spliced.length : 0;
        sent = this.writeFragments(type, total, tail, 0, c.u8, at, head);
        if (sent === head) sent = this.writeFragments(type, total, tail, sent, spliced, 0, spliced.length);
        if (sent === head + spliced.length) sent = this.writeFragments(type, total, tail, sent, c.u8, splicedAt, rest);
        if (sent === total) return;
      }
    }
    // Queue what is left: bytes [sent, total) of the message.
    const bytes = this.queueBytes(total - sent);
    let to = 0;
    const u8 = this.c.u8;
    if (sent < head) {
      bytes.set(u8.subarray(at + sent, splicedAt), 0);
      to = head - sent;
    }
    const fromSpliced = Math.max(0, sent - head);
    if (fromSpliced < spliced.length) {
      this.copyBytes(spliced, spliced.byteOffset + fromSpliced, bytes, bytes.byteOffset + to, spliced.length - fromSpliced);
      to += spliced.length - fromSpliced;
    }
    const fromRest = Math.max(0, sent - head - spliced.length);
    if (fromRest < rest) bytes.set(u8.subarray(splicedAt + fromRest, splicedAt + rest), to);
    this.queue.push({ type, total, tail: last ? spliced.length : 0, bytes, done: 0 });
    this.queuedBytes += bytes.length;
  }

  /** Memory for `n` queued bytes: the kept queue memory when it is big enough. */
  private queueBytes(n: number): Buffer {
    const spare = this.spareQueue;
    if (spare !== null && spare.length >= n && n >= 65536) {
      this.spareQueue = null;
      return spare.subarray(0, n);
    }
    return Buffer.allocUnsafe(n);
  }

  /** A queued message was sent: keep its memory for the next one (see QUEUE_KEEP_BYTES). */
  private keepQueueBytes(bytes: Buffer): void {
    const whole = bytes.buffer.byteLength;
    if (whole < 65536 || whole > QUEUE_KEEP_BYTES || bytes.byteOffset !== 0) return;
    if (this.spareQueue === null || this.spareQueue.length < whole) this.spareQueue = Buffer.from(bytes.buffer, 0, whole);
  }

  /** Sends a CALL: the payload [id u32][method id u32][body], the header written just
   *  before `body` as by `send`. */
  sendCall(id: number, methodId: number, body: number, bodyLength: number, splice?: Splice): void {
    const at = writeCallHeader(this.c, body, id, methodId);
    const total = body - at + bodyLength;
    const spliced = splice === undefined ? null : splice.bytes;
    if (spliced === null) return this.sendPayload(L.T_CALL, at, total);
    splice!.bytes = null;
    this.sendSpliced(L.T_CALL, at, total, spliced, splice!.at, splice!.last);
  }

  /** Sends a record with no payload (GOODBYE); `onlyIfRoom`: never queue it. */
  sendEmpty(type: number, onlyIfRoom = false): void {
    if (onlyIfRoom) {
      if (this.idle) this.writer.tryClaim(0, type);
      return;
    }
    this.sendPayload(type, 0, 0);
  }

  /** Sends `total` bytes of linear memory at `at` as one message. */
  private sendPayload(type: number, at: number, total: number): void {
    const c = this.c;
    let sent = 0;
    if (this.idle) {
      if (total <= this.writer.maxPayload) {
        const dst = this.writer.tryClaim(total, type);
        if (dst !== 0) {
          c.u8.copyWithin(dst, at, at + total);
          return;
        }
      } else {
        sent = this.writeFragments(type, total, 0, 0, c.u8, at, total);
        if (sent === total) return;
      }
    }
    const bytes = this.queueBytes(total - sent);
    if (total - sent >= COPY_NATIVE_BYTES) this.copyBytes(this.c.u8, at + sent, bytes, bytes.byteOffset, total - sent);
    else bytes.set(this.c.u8.subarray(at + sent, at + total));
    this.queue.push({ type, total, tail: 0, bytes, done: 0 });
    this.queuedBytes += bytes.length;
  }

  /** Writes fragments of a message of `total` bytes (its last `tail` bytes a binary's),
   *  of which `sent` are already out, taking the next `count` bytes from src[from...].
   *  Returns the new `sent`. */
  private writeFragments(type: number, total: number, tail: number, sent: number, src: Uint8Array, from: number, count: number): number {
    const c = this.c;
    const w = this.writer;
    const stop = sent + count;
    while (sent < stop) {
      const first = sent === 0;
      const header = first ? P_FRAGMENT_DATA : 0;
      const chunk = Math.min(stop - sent, w.maxPayload - header);
      const at = w.tryClaim(header + chunk, first ? L.T_FRAGMENT_FIRST : L.T_FRAGMENT_MORE);
      if (at === 0) break;
      if (first) {
        writeFragmentHeader(c, at, total, type, tail);
      }
      if (src === c.u8) c.u8.copyWithin(at + header, from, from + chunk);
      else this.copyBytes(src, src.byteOffset + from, c.u8, at + header, chunk);
      from += chunk;
      sent += chunk;
      // Let the consumer start on what is there while we produce the rest.
      w.commit();
    }
    return sent;
  }

  /** Writes (and commits) as much of the queue as the ring has room for.
   *  True when it wrote anything: the caller then rings the peer's doorbell. */
  flush(): boolean {
    const w = this.writer;
    let wrote = false;
    while (this.queueHead < this.queue.length) {
      const m = this.queue[this.queueHead]!;
      const left = m.bytes.length - m.done;
      if (m.total <= w.maxPayload) {
        const at = w.tryClaim(m.total, m.type);
        if (at === 0) break;
        if (m.total >= COPY_NATIVE_BYTES) this.copyBytes(m.bytes, m.bytes.byteOffset, this.c.u8, at, m.total);
        else this.c.u8.set(m.bytes, at);
      } else {
        const sentBefore = m.total - left;
        const sent = this.writeFragments(m.type, m.total, m.tail, sentBefore, m.bytes, m.done, left);
        if (sent > sentBefore) wrote = true;
        m.done += sent - sentBefore;
        if (sent < m.total) break;
      }
      wrote = true;
      this.queuedBytes -= m.bytes.length;
      this.keepQueueBytes(m.bytes);
      this.queue[this.queueHead++] = undefined as unknown as Queued;
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    if (wrote) w.commit();
    return wrote;
  }

  /** True when the next queued record would fit in the ring now. */
  canFlush(): boolean {
    const m = this.queue[this.queueHead];
    if (m === undefined) return false;
    if (m.total <= this.writer.maxPayload) return this.writer.hasRoom(m.total);
    const left = m.bytes.length - m.done;
    const first = left === m.total;
    return this.writer.hasRoom(Math.min(this.writer.maxPayload, left + (first ? P_FRAGMENT_DATA : 0)));
  }

  /** Why the peer's side of the ring we write is unusable (it moved its counter
   *  where it cannot be), or undefined. */
  get writeError(): string | undefined {
    const e = this.writer.error;
    return e === 0 ? undefined : ringErrorText(e);
  }

  /** Takes request `id` (a REQUEST or CALL) out of the send queue if none of its bytes
   *  has reached the ring yet: true when it did, and the peer can then never see it.
   *  (A call that gives up before it was published is withdrawn: it never runs.) */
  withdraw(id: number): boolean {
    const queue = this.queue;
    for (let i = this.queueHead; i < queue.length; i++) {
      const m = queue[i]!;
      if (m.done !== 0 || m.bytes.length !== m.total || (m.type !== L.T_REQUEST && m.type !== L.T_CALL)) continue;
      if (m.bytes.readUInt32LE(P_ID) !== id) continue;
      queue.splice(i, 1);
      this.queuedBytes -= m.bytes.length;
      if (this.queueHead === queue.length) {
        queue.length = 0;
        this.queueHead = 0;
      }
      return true;
    }
    return false;
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
    const c = this.c;
    let tookFragments = false;
    while (r.poll()) {
      const type = r.type;
      const at = r.payload;
      const length = r.length;
      if (type === L.T_FRAGMENT_FIRST) {
        if (this.asmTotal !== 0 || length < P_FRAGMENT_DATA) return this.fail("a fragment started inside another message");
        const total = c.view.getUint32(at + P_FRAGMENT_TOTAL, true);
        const inner = c.view.getUint32(at + P_FRAGMENT_TYPE, true);
        const tail = c.view.getUint32(at + P_FRAGMENT_TAIL, true);
        const chunk = length - P_FRAGMENT_DATA;
        if (inner !== L.T_REQUEST && inner !== L.T_CALL && inner !== L.T_RESPONSE && inner !== L.T_ERROR && inner !== L.T_STREAM_ITEM) return this.fail(`fragmented message of type ${inner}`);
        if (total <= chunk || chunk === 0) return this.fail("a fragmented message's size is inconsistent");
        // Every payload has its header before the value (a tail never starts at 0).
        if (tail > total - P_RESPONSE_BODY) return this.fail("a fragmented message's tail is larger than the message");
        this.asmTotal = total;
        this.asmPrefix = total - tail;
        this.asmGot = 0;
        this.asmType = inner;
        this.asmSkip = total > this.maxMessageBytes;
        this.overBudget = false;
        this.asmId = chunk >= 4 ? c.view.getUint32(at + P_FRAGMENT_DATA, true) : -1;
        if (!this.asmSkip) {
          try {
            this.asmRegion = this.takeRegion(this.asmPrefix, Math.max(FIRST_REGION_BYTES, 2 * chunk));
            if (!this.charge(this.spareBytes)) this.skipMessage(true);
          } catch {
            // No memory for it now (many big messages at once): refuse it as too large.
            this.asmSkip = true;
          }
        }
        this.take(at + P_FRAGMENT_DATA, chunk);
        r.advance();
        tookFragments = true;
        continue;
      }
      if (type === L.T_FRAGMENT_MORE) {
        if (this.asmTotal === 0) return this.fail("a fragment continued no message");
        if (length === 0 || length > this.asmTotal - this.asmGot) return this.fail("a fragment overflows its message");
        this.take(at, length);
        r.advance();
        tookFragments = true;
        if (this.asmGot < this.asmTotal) continue;
        // Complete.
        this.delivered = true;
        const total = this.asmTotal;
        this.asmTotal = 0;
        this.uncharge();
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
        this.tail = this.asmTail;
        this.asmTail = null;
        this.deliveredRegion = this.asmRegion;
        this.asmRegion = -1;
        return true;
      }
      if (this.asmTotal !== 0) {
        if (type !== L.T_GOODBYE) return this.fail("a message interleaved a fragmented one");
        // The peer left in the middle of a message (dropped its queue): forget the part.
        this.asmTotal = 0;
        if (this.asmRegion >= 0) this.c.release(this.asmRegion, this.spareBytes);
        this.asmRegion = -1;
        this.asmTail = null;
        this.uncharge();
      }
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
    if (this.asmTotal !== 0 && tookFragments) {
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
      this.keepRegion(this.deliveredRegion, this.length - (this.tail === null ? 0 : this.tail.length));
      this.deliveredRegion = -1;
      this.tail = null;
    } else if (this.type !== OVERSIZED) {
      this.reader.advance();
    }
  }

  /** True when the message from `poll` lies in the ring, which the peer can still
   *  write (a fragmented one was reassembled in private memory). */
  get deliveredInRing(): boolean {
    return this.deliveredRegion < 0;
  }

  /** A view handler is done with `tail` (the `tail` of a message it was given, which
   *  nobody else holds): its memory takes the next tail instead of a fresh Buffer
   *  (fresh memory costs page faults on every message). */
  keepTail(tail: Buffer): void {
    const whole = tail.buffer.byteLength;
    if (whole > TAIL_KEEP_BYTES || (this.spareTail !== null && this.spareTail.length >= whole)) return;
    this.spareTail = Buffer.from(tail.buffer, 0, whole);
  }

  /** Overwrites the delivered message's bytes with 0xdb (debug, SHMRPC_DEBUG_VIEWS=1):
   *  a view kept past its handler then reads 0xdb at once, not later calls' bytes some
   *  time later. Its ring space is still ours until `consumed` and `release`. */
  poisonDelivered(): void {
    if (!this.delivered || this.type === OVERSIZED) return;
    const tail = this.tail;
    this.c.u8.fill(0xdb, this.payload, this.payload + this.length - (tail === null ? 0 : tail.length));
    tail?.fill(0xdb);
  }

  /** Takes the next `n` bytes of the fragmented message being received, at `src` in
   *  the ring: those before the tail into the region, the tail's into its own Buffer
   *  (made when its first byte arrives: a peer that announces a tail and sends nothing
   *  of it costs nothing; the Buffer is not touched beyond what arrived). */
  private take(src: number, n: number): void {
    const got = this.asmGot;
    this.asmGot = got + n;
    if (this.asmSkip) return;
    const c = this.c;
    const toRegion = Math.max(0, Math.min(n, this.asmPrefix - got));
    if (toRegion > 0) {
      if (got + toRegion > this.spareBytes) this.growRegion(got, got + toRegion);
      if (this.asmSkip) return;
      c.u8.copyWithin(this.asmRegion + got, src, src + toRegion);
    }
    if (toRegion === n) return;
    if (this.asmTail === null) {
      const bytes = this.asmTotal - this.asmPrefix;
      const spare = this.spareTail;
      if (spare !== null && spare.length >= bytes) {
        this.spareTail = null;
        this.asmTail = spare.subarray(0, bytes);
      } else {
        try {
          this.asmTail = Buffer.allocUnsafeSlow(bytes);
        } catch {
          this.skipMessage();
          return;
        }
      }
    }
    if (!this.charge(n - toRegion)) return this.skipMessage(true);
    this.copyBytes(c.u8, src + toRegion, this.asmTail, got + toRegion - this.asmPrefix, n - toRegion);
  }

  /** Counts `bytes` more of the message being reassembled; false when the budget is full. */
  private charge(bytes: number): boolean {
    if (this.budget === undefined) return true;
    if (!this.budget.take(bytes)) return false;
    this.asmCharged += bytes;
    return true;
  }

  /** The message being reassembled is finished or forgotten: its bytes leave the budget. */
  private uncharge(): void {
    this.budget?.give(this.asmCharged);
    this.asmCharged = 0;
  }

  /** No memory for the message being received (`overBudget`: no room in the budget): it
   *  is refused as too large (or for the budget), and what it held is given back. */
  private skipMessage(overBudget = false): void {
    if (this.asmRegion >= 0) this.c.release(this.asmRegion, this.spareBytes);
    this.asmRegion = -1;
    this.asmTail = null;
    this.asmSkip = true;
    this.overBudget ||= overBudget;
    this.uncharge();
  }

  /** A region for a message of `total` bytes: the spare one if it is big enough for
   *  the first `first` bytes, else a new one of that size (see growRegion). */
  private takeRegion(total: number, first: number): number {
    const bytes = Math.min(total, first);
    if (this.spare >= 0 && this.spareBytes >= bytes) {
      const region = this.spare;
      this.spare = -1;
      return region;
    }
    if (this.spare >= 0) this.c.release(this.spare, this.spareBytes);
    this.spare = -1;
    const region = this.c.alloc(bytes);
    this.spareBytes = Math.ceil(bytes / 65536) * 65536;
    return region;
  }

  /** Makes the region of the message being reassembled (`got` bytes in it) hold
   *  `needed` bytes (doubling, up to the bytes before its tail); without memory for it,
   *  the message is skipped as too large. */
  private growRegion(got: number, needed: number): void {
    const c = this.c;
    const bytes = Math.ceil(Math.min(this.asmPrefix, Math.max(needed, 2 * this.spareBytes)) / 65536) * 65536;
    if (!this.charge(bytes - this.spareBytes)) return this.skipMessage(true);
    let region: number;
    try {
      region = c.alloc(bytes);
    } catch {
      this.skipMessage();
      return;
    }
    c.u8.copyWithin(region, this.asmRegion, this.asmRegion + got);
    c.release(this.asmRegion, this.spareBytes);
    this.asmRegion = region;
    this.spareBytes = bytes;
  }

  private keepRegion(region: number, used: number): void {
    if (this.spareBytes > SPARE_KEEP_BYTES && used * 4 < this.spareBytes) {
      this.c.release(region, this.spareBytes);
      return;
    }
    this.spare = region;
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
    this.uncharge();
    if (this.asmRegion >= 0) this.c.release(this.asmRegion, this.spareBytes); // the region in use is spareBytes long
    this.asmRegion = -1;
    this.asmTail = null;
    this.spareQueue = null;
    this.spareTail = null;
    if (this.spare >= 0) this.c.release(this.spare, this.spareBytes);
    this.spare = -1;
    this.asmTotal = 0;
    this.clearQueue();
    this.writer.dispose();
    this.reader.dispose();
  }
}
