// Park/wake across processes. A client parks on a doorbell word (a futex) of its
// connection's memory; a server parks in its event loop and is woken through a socket.
// The protocol (and why no wake-up is lost) is described in src/protocol.ts, WAKING.

import { native } from "../native.js";
import { core } from "./wasm.js";
import type { Segment } from "./segment.js";

export class Doorbell {
  constructor(
    private readonly seg: Segment,
    private readonly bellAt: number,
    private readonly parkedAt: number,
  ) {}

  /** Byte offset of the doorbell word in linear memory (for a Waiter). */
  get address(): number {
    return this.seg.offset + this.bellAt;
  }

  /** Producer side: wakes the owner if it is parked. Call after publishing.
   *  The first producer to see it parked clears the mark and pays the system call;
   *  the others see 0 and skip it (the owner drains everything once awake). */
  ring(): void {
    if (this.seg.load(this.parkedAt) !== 0 && this.seg.exchange(this.parkedAt, 0) !== 0) this.wake();
  }

  /** Wakes the owner whether or not it says it is parked. */
  wake(): void {
    this.seg.add(this.bellAt, 1);
    native.futexWake(core().u8, this.address, 0x7fffffff);
  }

  /** Owner side, step 1: returns the value to sleep on. Re-check for work, then
   *  `sleep` (or arm a Waiter) with it, then `unpark`. */
  park(): number {
    const seq = this.seg.load(this.bellAt);
    this.seg.add(this.parkedAt, 1);
    return seq;
  }

  /** Withdraws one park (a producer that rang may already have cleared them all). */
  unpark(): void {
    for (;;) {
      const parked = this.seg.load(this.parkedAt);
      if (parked === 0 || this.seg.compareExchange(this.parkedAt, parked, parked - 1) === parked) return;
    }
  }

  /** Blocks this thread until rung, or for at most `timeoutMs`. */
  sleep(seq: number, timeoutMs: number): void {
    native.futexWait(core().u8, this.address, seq, timeoutMs);
  }
}

const WAKE = Uint8Array.of(1);

/** The client's way to wake a parked server: a message on the connection's socket,
 *  which wakes the server's event loop. The server waits on all its sockets at once
 *  (epoll), so it shares no word with any client: a client that plays with its
 *  "parked" word only delays its own calls. */
export class SocketBell {
  constructor(
    private readonly seg: Segment,
    private readonly parkedAt: number,
    private readonly fd: number,
  ) {}

  /** Whether the last `ring` found the server parked (and woke it): a synchronous call
   *  then parks at once instead of spinning while the server is off its CPU. */
  wokeServer = false;

  /** Wakes the server if it said it parked. Call after publishing. */
  ring(): void {
    this.wokeServer = this.seg.load(this.parkedAt) !== 0 && this.seg.exchange(this.parkedAt, 0) !== 0;
    if (this.wokeServer) this.wake();
  }

  wake(): void {
    try {
      native.sendPacket(this.fd, WAKE); // false (socket full): a wake-up is already waiting
    } catch {
      // The server is gone: the socket's hang-up tells the client.
    }
  }
}
