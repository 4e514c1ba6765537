// A contract method's `{ view: true }` handler must never see bytes its schema refused
// (as src/serving/private-copy.ts between processes). A thread connection's memory is all
// shared with the client's thread: the request ring, and the regions where a fragmented
// request is reassembled too. So every request of a contract view method is first copied
// out of it, into this thread's own core (core(): a memory no other thread is given), and
// decoded there: the handler's views point into memory the client cannot reach. One
// region per connection, reused (a connection has one view handler's request at a time,
// ServedThread.viewHeld), freed with the connection.

import { core } from "../core/wasm.js";
import { Decoder } from "../codec/decode.js";
import type { ThreadLink } from "./connection.js";

/** Decodes from this thread's own core (one for every connection: decoding is synchronous). */
let privateDecoder: Decoder | undefined;

export class ThreadPrivateCopy {
  private region = -1;
  private bytes = 0;

  /** Copies [start, end) of `link`'s memory into the private region and decodes it there
   *  as views (`tail`: the request's tail Buffer, private already). */
  decodeViews(link: ThreadLink, start: number, end: number, tail: Buffer | null): unknown {
    const n = end - start;
    const c = core();
    if (n > this.bytes) {
      const region = c.alloc(n);
      this.free();
      this.region = region;
      this.bytes = Math.ceil(Math.max(1, n) / 65536) * 65536;
    }
    c.u8.set(link.core.u8.subarray(start, end), this.region);
    return (privateDecoder ??= new Decoder(c)).decodeViews(this.region, this.region + n, tail);
  }

  free(): void {
    if (this.region >= 0) core().release(this.region, this.bytes);
    this.region = -1;
    this.bytes = 0;
  }
}
