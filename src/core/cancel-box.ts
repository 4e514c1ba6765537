// The cancel slots of a connection's memory (assembly/layout.ts, +768 and +1024): how a
// client takes back a request it already published to the ring, if the server has not
// taken it yet (Agrona's abort of a claimed message, for a record already committed).
//
// A CANCEL record (src/protocol.ts) travels behind its request in the ring, so a server
// reading in order would run the request before seeing it, and a full ring would hold
// it back in the client's send queue. The slots are beside the ring: the client stores
// the call's id in slot `posted % 64`, then `posted + 1` (sequentially consistent: the
// id is visible before the count). Before it runs a request, the server looks whether
// the count moved; if it did, it reads the new ids into a bounded list and drops a
// request whose id is in it, unrun and unanswered (its caller has gone).
//
// Requests are taken in id order (ids grow by one per request, wrapping, 0 skipped), so
// an id at or before the one being taken is either that one or stale: the list never
// holds more than CANCEL_SLOT_COUNT ids, whatever the client writes. A client that
// writes garbage there can only make the server drop or keep its own requests and read
// 64 words per request: it costs nobody else anything.

import { core } from "./wasm.js";
import { L } from "./layout.js";
import type { Segment } from "./segment.js";

const SLOTS = L.CANCEL_SLOT_COUNT;

/** The client's half: posts call `id`, published and given up on, for the server to drop. */
export function postCancel(seg: Segment, id: number): void {
  // Only this client writes the count: its own last value.
  const posted = seg.load(L.CONN_CANCELS_POSTED);
  seg.store(L.CONN_CANCEL_SLOTS + ((posted & (SLOTS - 1)) << 2), id);
  // Sequentially consistent store: the id above is visible before the new count.
  seg.store(L.CONN_CANCELS_POSTED, (posted + 1) >>> 0);
}

/** The server's half, one per connection: the ids posted and not yet passed. */
export class CancelledIds {
  /** i32 indices, in linear memory, of the count and of the first slot. */
  private readonly postedIndex: number;
  private readonly slotsIndex: number;
  /** The count as last read. */
  private seen = 0;
  /** The linear memory as 32-bit words, as of the last look (see `dropped`). */
  private i32: Int32Array = core().i32;
  /** Ids posted whose request has not been taken yet (or never will be: bounded). */
  private readonly ids: number[] = [];

  constructor(seg: Segment) {
    this.postedIndex = (seg.offset + L.CONN_CANCELS_POSTED) >>> 2;
    this.slotsIndex = (seg.offset + L.CONN_CANCEL_SLOTS) >>> 2;
  }

  /** True when request `id`, about to be taken, was cancelled: it must not run. While
   *  nothing was ever posted, one load and two compares. (The view is kept: a grown
   *  shared memory keeps it valid over the connection's region; a detached one reads
   *  undefined, and `look` takes the new one.) */
  dropped(id: number): boolean {
    if (this.i32[this.postedIndex] === this.seen && this.ids.length === 0) return false;
    return this.look(id);
  }

  private look(id: number): boolean {
    const i32 = (this.i32 = core().i32);
    // Read once; the peer may change it at any time, and whatever it says is bounded below.
    const posted = Atomics.load(i32, this.postedIndex);
    if (posted !== this.seen) {
      // Posts older than the last SLOTS were overwritten: they are lost (the call runs,
      // as its caller was told it might).
      const n = Math.min((posted - this.seen) >>> 0, SLOTS);
      this.seen = posted;
      for (let k = 0; k < n; k++) {
        const slot = (posted - n + k) & (SLOTS - 1);
        this.add(Atomics.load(i32, this.slotsIndex + slot) >>> 0);
      }
    }
    // Keep only the ids after `id` (serial-number arithmetic): the others are this
    // request's or stale (their requests were taken before their cancels came).
    const ids = this.ids;
    let hit = false;
    let kept = 0;
    for (let i = 0; i < ids.length; i++) {
      const other = ids[i]!;
      if (other === id) hit = true;
      else if (((other - id) | 0) > 0) ids[kept++] = other;
    }
    ids.length = kept;
    return hit;
  }

  private add(id: number): void {
    if (id === 0) return;
    if (this.ids.length >= SLOTS) this.ids.shift();
    this.ids.push(id);
  }
}
