// A contract method's handler must never see bytes its schema refused. Its `{ view: true }`
// arguments would be views of the request ring, which the client still maps writable: it
// could change them after they were validated, under the handler. So a request that lies
// in the ring is first copied here, into memory of the connection's own that no peer
// maps; it is validated there and the handler's views point there. (A fragmented request
// was reassembled in private memory already and needs no copy.) One region per
// connection, reused: a connection has at most one view handler's request delivered at a
// time (Connection.viewHeld); it is freed with the connection's memory (lease.ts).

import { core } from "../core/wasm.js";
import { native } from "../native.js";

/** Copies at least this long go through the addon's memmove (as in src/channel.ts). */
const COPY_NATIVE_BYTES = 16 * 1024;

export class PrivateCopy {
  private region = -1;
  private bytes = 0;
  /** Length of the last copy (what SHMRPC_DEBUG_VIEWS overwrites). */
  private used = 0;

  /** Copies [start, end) of linear memory (the ring) into the private region; returns
   *  where the copy starts. */
  take(start: number, end: number): number {
    const n = end - start;
    if (n > this.bytes) {
      const c = core();
      const region = c.alloc(n); // may grow the memory: core().u8 is read after it
      this.free();
      this.region = region;
      this.bytes = Math.ceil(Math.max(1, n) / 65536) * 65536;
    }
    const u8 = core().u8;
    if (n >= COPY_NATIVE_BYTES) native.copyBytes(u8, start, u8, this.region, n);
    else u8.copyWithin(this.region, start, end);
    this.used = n;
    return this.region;
  }

  /** Overwrites the last copy with 0xdb (SHMRPC_DEBUG_VIEWS=1, as Channel.poisonDelivered). */
  poison(): void {
    if (this.region >= 0) core().u8.fill(0xdb, this.region, this.region + this.used);
  }

  free(): void {
    if (this.region >= 0) core().release(this.region, this.bytes);
    this.region = -1;
    this.bytes = 0;
    this.used = 0;
  }
}
