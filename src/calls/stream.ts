// A stream call's client side, the same over every transport: `client.stream()` returns an
// RpcStream, an AsyncIterableIterator of the items the server sends. It holds at most its
// credit window of items (and bytes), granting more as the loop takes them (STREAM_CREDIT,
// src/protocol.ts), so a slow loop holds the server's producer and nothing else. `break`,
// `return()` or the call's signal cancels (a CANCEL: the server closes its iterator). The
// call's end (its result, or its error after the items before it) is the transport's
// ordinary answer to the call, deadline and abort included.

import { RpcError, ErrorCodes } from "../errors.js";
import { closedError } from "./closed.js";
import type { Call, StreamControl, StreamSink, Transport } from "./transport.js";

/** The credit a stream opens with: items, and bytes of encoded items (an item larger than
 *  the byte window still comes, alone). */
export const STREAM_WINDOW_ITEMS = 4096;
export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The items of a stream call, as they arrive: `for await (const x of client.stream("m"))`.
 * Ending the loop early (`break`, `return()`) cancels the call on the server. The loop
 * ends with the call's error, if it fails, after the items sent before it; `next()`'s last
 * result (`done: true`) carries the handler's return value.
 */
export class RpcStream<T = unknown> implements AsyncIterableIterator<T> {
  /** How many items it holds at most: the credit it grants the server. */
  readonly windowItems: number;
  /** How many bytes of encoded items it holds at most (plus one item larger than that). */
  readonly windowBytes: number;
  private readonly queue: unknown[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  /** Credit the server holds: granted and not yet used by an item. */
  private outItems: number;
  private outBytes: number;
  /** Taken by the loop since the last grant. */
  private takenItems = 0;
  private takenBytes = 0;
  private control: StreamControl | undefined;
  /** The loop ended it (return()): nothing more is delivered. */
  private cancelled = false;
  /** The call ended (its answer arrived): with `error`, or `result`. */
  private ended = false;
  private failed = false;
  private error: unknown = undefined;
  private result: unknown = undefined;
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  /** Whether binary items come as views (see `views`). */
  readonly views: boolean;
  /** A view item's release, while the item is queued (the last one: its transport reads no
   *  further until it is released), and once handed out (`lent`) until the next `next()`. */
  private heldRelease: (() => void) | undefined = undefined;
  private lent: (() => void) | undefined = undefined;

  /** @internal `end`: the call's answer, which ends it; the window: what it holds at most;
   *  `views`: binary items may be views of the transport's memory, valid until the next
   *  `next()` (or `return()`), each pushed with the function that lets go of its memory. */
  constructor(end: (sink: RpcStream<T>) => Promise<unknown>, windowItems = STREAM_WINDOW_ITEMS, windowBytes = STREAM_WINDOW_BYTES, views = false) {
    this.views = views;
    this.windowItems = this.outItems = windowItems;
    this.windowBytes = this.outBytes = windowBytes;
    end(this).then(
      (value) => this.finish(false, value),
      (e: unknown) => this.finish(true, e),
    );
  }

  /** Itself: `for await` takes its items. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next item, as it arrives; `done` with the call's result at the end; rejects with
   *  the call's error (once) after the items before it. */
  next(): Promise<IteratorResult<T>> {
    if (this.lent !== undefined) this.giveBack();
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.cancelled) return Promise.resolve({ value: undefined, done: true });
    if (this.ended) return this.last();
    if (this.waiting !== undefined) return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "next() called again before its last promise settled"));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Ends the loop: cancels the call on the server unless it has ended. */
  return(value?: unknown): Promise<IteratorResult<T>> {
    if (this.lent !== undefined) this.giveBack();
    if (!this.cancelled) {
      this.cancelled = true;
      this.letGoQueued();
      this.queue.length = 0;
      this.sizes.length = 0;
      this.head = 0;
      if (!this.ended) this.control?.cancel();
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve({ value: undefined, done: true });
    }
    return Promise.resolve({ value: value as T, done: true });
  }

  /** @internal (StreamSink) */
  link(control: StreamControl): void {
    this.control = control;
    if (this.cancelled && !this.ended) control.cancel();
  }

  /** @internal (StreamSink) An item arrived; false when the server had no credit for it.
   *  `release` (a view item, see `views`): called once the loop is done with it (at once
   *  when it is dropped). */
  push(value: unknown, bytes: number, release?: () => void): boolean {
    if (this.outItems <= 0 || this.outBytes <= 0) {
      release?.();
      return false;
    }
    this.outItems--;
    this.outBytes -= bytes;
    if (this.cancelled || this.ended) {
      release?.(); // sent before it saw the CANCEL, or after the call ended (its deadline, an abort): dropped
      return true;
    }
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      this.lent = release;
      this.taken(bytes);
      w.resolve({ value: value as T, done: false });
      return true;
    }
    this.queue.push(value);
    this.sizes.push(bytes);
    if (release !== undefined) this.heldRelease = release;
    return true;
  }

  /** @internal The call is over (its handler returned, say): a view item still lent or
   *  queued lets go of its memory now. */
  releaseViews(): void {
    if (this.lent !== undefined) this.giveBack();
    this.letGoQueued();
  }

  private take(): T {
    const i = this.head++;
    const value = this.queue[i] as T;
    const bytes = this.sizes[i]!;
    this.queue[i] = undefined;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.sizes.length = 0;
      this.head = 0;
      // A view item is the last queued (its transport reads no further while it is held).
      this.lent = this.heldRelease;
      this.heldRelease = undefined;
    }
    this.taken(bytes);
    return value;
  }

  /** The loop moved past the view item it was given: its memory goes back. */
  private giveBack(): void {
    const release = this.lent!;
    this.lent = undefined;
    release();
  }

  private letGoQueued(): void {
    const release = this.heldRelease;
    this.heldRelease = undefined;
    release?.();
  }

  /** The loop took an item: half a window taken is granted again. */
  private taken(bytes: number): void {
    this.takenItems++;
    this.takenBytes += bytes;
    if (this.ended || (this.takenItems < this.windowItems / 2 && this.takenBytes < this.windowBytes / 2)) return;
    this.outItems += this.takenItems;
    this.outBytes += this.takenBytes;
    this.control?.credit(this.takenItems, this.takenBytes);
    this.takenItems = 0;
    this.takenBytes = 0;
  }

  private finish(failed: boolean, value: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failed = failed;
    if (failed) this.error = value;
    else this.result = value;
    const w = this.waiting;
    if (w === undefined || this.cancelled) return;
    this.waiting = undefined;
    this.last().then(w.resolve, w.reject);
  }

  /** The end, once the items are taken: the error (once), then done. */
  private last(): Promise<IteratorResult<T>> {
    if (this.failed) {
      this.failed = false;
      this.cancelled = true; // done from now on
      return Promise.reject(this.error);
    }
    return Promise.resolve({ value: this.result as T, done: true });
  }
}

/** The index of the argument of `args` that is streamed (an async iterable: an async
 *  generator, a Readable, a ReadableStream), or -1. Throws ERR_RPC_INVALID_ARGUMENT for more
 *  than one. */
export function streamedArg(args: unknown[]): number {
  let found = -1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (typeof a !== "object" || a === null || typeof (a as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== "function") continue;
    if (found >= 0) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `arguments ${found} and ${i} are both streams: a call streams one argument at most`, { maybeExecuted: false });
    found = i;
  }
  return found;
}

/** Starts stream call `call` on `t` (one attempt: a stream is never re-sent); with a
 *  `failure` (its options said no), a stream that fails with it. `through`: the client's
 *  interceptors (src/calls/intercept.ts), given the way to send it; their outcome is the
 *  stream's end. `views`: binary items as views (CallOptions.view). */
export function openStream<T>(t: Transport, call: Call, failure?: unknown, through?: (send: (call: Call) => Promise<unknown>) => Promise<unknown>, views = false): RpcStream<T> {
  return new RpcStream<T>((sink) => {
    if (failure !== undefined) return Promise.reject(failure);
    if (through === undefined) return sendStream(t, call, sink);
    let sent = false;
    return through((c) => {
      if (sent) return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `stream "${c.method}": next() sends a stream once (a stream is never sent again)`, { maybeExecuted: true }));
      sent = true;
      return sendStream(t, c, sink);
    });
  }, STREAM_WINDOW_ITEMS, STREAM_WINDOW_BYTES, views);
}

function sendStream(t: Transport, call: Call, sink: StreamSink): Promise<unknown> {
  if (t.closed) return Promise.reject(closedError(t.name));
  const signal = call.settings.signal;
  if (signal?.aborted) {
    return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `stream "${call.method}" was aborted before it was sent`, { cause: signal.reason, maybeExecuted: false }));
  }
  call.stream = sink;
  return t.attemptAsync(call, call.settings.timeoutMs, false);
}
