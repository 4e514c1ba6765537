// Park/wake between threads: the doorbell protocol of src/core/doorbell.ts (a sequence
// word and a "parked" word, see WAKING in src/protocol.ts) with Atomics.wait/waitAsync
// and Atomics.notify in place of the addon's futex calls. Both words lie in the
// connection's memory: a peer that plays with them only delays its own calls.

import type { Core } from "../core/wasm.js";

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
export const canBlock: boolean = (() => {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); // "not-equal" at once where allowed
    return true;
  } catch {
    return false;
  }
})();

type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: boolean; value: Promise<string> | string };
const waitAsync: WaitAsync | undefined = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

export class AtomicsBell {
  private readonly bell: number;
  private readonly parked: number;

  /** `bellAt` and `parkedAt`: byte offsets in `c`'s memory (4-aligned). */
  constructor(private readonly c: Core, bellAt: number, parkedAt: number) {
    this.bell = bellAt >>> 2;
    this.parked = parkedAt >>> 2;
  }

  /** Whether the last `ring` found the owner parked (and woke it): a synchronous call
   *  then parks at once (it cannot be answered before the owner's thread is scheduled, and
   *  spinning meanwhile takes a CPU the owner may need). */
  woke = false;

  /** Producer side: wakes the owner if it said it parked. Call after publishing. */
  ring(): void {
    const i32 = this.c.i32;
    this.woke = Atomics.load(i32, this.parked) !== 0 && Atomics.exchange(i32, this.parked, 0) !== 0;
    if (this.woke) this.wake();
  }

  /** Wakes the owner whether or not it says it is parked. */
  wake(): void {
    const i32 = this.c.i32;
    Atomics.add(i32, this.bell, 1); // release: what was published before is seen by the woken side
    Atomics.notify(i32, this.bell);
  }

  /** Owner, step 1: the value to sleep on. Re-check for work, then sleep, then unpark. */
  park(): number {
    const i32 = this.c.i32;
    const seq = Atomics.load(i32, this.bell);
    Atomics.add(i32, this.parked, 1);
    return seq;
  }

  /** Withdraws one park (a producer that rang may already have cleared them all). */
  unpark(): void {
    const i32 = this.c.i32;
    for (;;) {
      const parked = Atomics.load(i32, this.parked);
      if (parked <= 0 || Atomics.compareExchange(i32, this.parked, parked, parked - 1) === parked) return;
    }
  }

  /** Blocks this thread until rung, or for at most `timeoutMs`. */
  sleep(seq: number, timeoutMs: number): void {
    Atomics.wait(this.c.i32, this.bell, seq, timeoutMs);
  }

  /** Resolves once rung (or after `timeoutMs`), without blocking: Atomics.waitAsync, or
   *  where a runtime lacks it, a look at the word every millisecond. */
  sleepAsync(seq: number, timeoutMs: number): Promise<unknown> {
    if (waitAsync !== undefined) {
      const r = waitAsync(this.c.i32, this.bell, seq, timeoutMs);
      return r.async ? (r.value as Promise<string>) : Promise.resolve(r.value);
    }
    const until = performance.now() + timeoutMs;
    return new Promise((resolve) => {
      const look = (): void => {
        if (Atomics.load(this.c.i32, this.bell) !== seq || performance.now() >= until) resolve(undefined);
        else setTimeout(look, 1);
      };
      look();
    });
  }
}

/** Runs `fn` on a later turn of the event loop (after I/O and messages), not as a microtask. */
export const nextTurn: (fn: () => void) => void = typeof setImmediate === "function"
  ? (fn) => void setImmediate(fn)
  : (() => {
    const queue: (() => void)[] = [];
    const ch = new MessageChannel();
    (ch.port1 as unknown as EventTarget).addEventListener("message", () => queue.shift()?.());
    ch.port1.start();
    return (fn: () => void) => {
      queue.push(fn);
      ch.port2.postMessage(null);
    };
  })();
