// A stream call's server side, the same over every transport: the caller's credit (what
// it may still take, in items and bytes) and the pump that takes a handler's items from
// its async iterable (an async generator, a Node Readable, a web ReadableStream) and
// sends them through the wire while credit lasts. A slow caller holds the producer here
// (its `yield` waits), and holds nothing else: other calls and streams go on.

/** Largest credit held, in items or bytes (a caller granting more gains nothing). */
const MAX_CREDIT = 2 ** 31;

/** A stream's credit, granted by its caller (STREAM_CREDIT records, src/protocol.ts). */
export class StreamCredit {
  items = 0;
  bytes = 0;
  /** The caller gave up (CANCEL), went, or the server closes. */
  cancelled = false;
  private wake: (() => void) | undefined = undefined;
  /** Called once on cancel (the pump closes its iterator). */
  onCancel: (() => void) | undefined = undefined;
  /** The wire's: a promise of room when the items sent so far wait in memory for room in
   *  the ring (the pump then takes no further item: each goes straight into the ring, not
   *  through a queue, and memory stays bounded by the ring); undefined when there is room. */
  room: (() => Promise<void> | undefined) | undefined = undefined;

  constructor(items: number, bytes: number) {
    this.grant(items, bytes);
  }

  /** More credit from the caller. */
  grant(items: number, bytes: number): void {
    this.items = Math.min(this.items + items, MAX_CREDIT);
    this.bytes = Math.min(this.bytes + bytes, MAX_CREDIT);
    this.resume();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.resume();
    this.onCancel?.();
  }

  /** Whether one more item may go: an item goes while both credits are positive (so an
   *  item larger than the byte window still goes, alone). */
  get open(): boolean {
    return this.items > 0 && this.bytes > 0;
  }

  /** Resolves on the next grant or cancel. */
  waitForCredit(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  private resume(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** An async iterable's iterator, or undefined for any other value. */
export function asyncIteratorOf(value: unknown): AsyncIterator<unknown> | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const f = (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator];
  return typeof f === "function" ? (f.call(value) as AsyncIterator<unknown>) : undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" && typeof (value as PromiseLike<unknown>).then === "function";
}

/** Sends one item; returns its size in bytes (what it costs of the credit). Throws when
 *  it cannot be sent (the stream ends with that error). */
export type SendItem = (value: unknown) => number;

/** Runs a stream call's answer: `result` (a handler's value or promise) is awaited; an
 *  async iterable is pumped through `send` within `credit`, and the promise resolves with
 *  its return value (the stream's result); any other value is the result, with no items.
 *  On cancel the iterator's `return()` runs (a generator's `finally`). `room`: whether the
 *  wire takes another item now; while it says no, the pump waits (1 ms steps), whatever the
 *  credit (a peer that grants more than it reads holds the producer, not our memory); the
 *  credit's own `room` (a promise) is the event-driven form a ring's wire gives. */
export async function pumpStream(result: unknown, credit: StreamCredit, send: SendItem, room?: () => boolean): Promise<unknown> {
  // A generator (the usual answer) is taken at once: one microtask less before the first item.
  const value = isThenable(result) ? await result : result;
  const it = asyncIteratorOf(value);
  if (it === undefined) return value;
  let finished = false;
  // A generator blocked in an await is closed when it next yields (queued behind next()),
  // one waiting at a yield at once; a Readable's iterator destroys the stream.
  credit.onCancel = () => {
    if (!finished) {
      finished = true;
      void Promise.resolve(it.return?.()).catch(() => {});
    }
  };
  try {
    for (;;) {
      while (!credit.open && !credit.cancelled) await credit.waitForCredit();
      while (room !== undefined && !room() && !credit.cancelled) await new Promise((r) => setTimeout(r, 1));
      if (credit.cancelled) return undefined;
      const r = await it.next();
      if (r.done === true) {
        finished = true;
        return r.value;
      }
      if (credit.cancelled) return undefined;
      const bytes = send(r.value);
      credit.items--;
      credit.bytes -= bytes;
      const ringRoom = credit.room?.();
      if (ringRoom !== undefined) await ringRoom;
    }
  } catch (e) {
    finished = true; // a generator that threw is done; an item that could not be sent:
    void Promise.resolve(it.return?.()).catch(() => {}); // (closed, its finally runs)
    throw e;
  } finally {
    credit.onCancel = undefined;
  }
}
