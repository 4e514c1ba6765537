// A streamed argument as its handler gets it: an AsyncIterable (an RpcStream, the class
// a caller reads a stream with) fed by the caller's STREAM_ITEMs, holding at most the
// protocol's argument window (ARG_WINDOW_ITEMS, ARG_WINDOW_BYTES) and granting the caller
// more credit as the handler takes items. Ends with the caller's STREAM_END, or fails when
// the caller cancels, fails its stream or goes. A `{ view: true }` handler's items hold
// views (of the ring, or of the channel's memory), valid until it asks for the next one.

import { RpcStream } from "../calls/stream.js";
import { ARG_WINDOW_BYTES, ARG_WINDOW_ITEMS } from "../protocol.js";
import type { Endpoint } from "../contracts/endpoint.js";

export class Inbound {
  readonly stream: RpcStream<unknown>;
  private resolve: (value: unknown) => void = () => {};
  private reject: (err: unknown) => void = () => {};

  /** `credit`: sends the caller more credit (items, bytes) as the handler takes items. */
  constructor(private readonly ep: Endpoint, credit: (items: number, bytes: number) => void) {
    this.stream = new RpcStream((sink) => {
      sink.link({ credit, cancel: () => {} }); // a handler that stops reading: later items are dropped
      return new Promise((resolve, reject) => {
        this.resolve = resolve;
        this.reject = reject;
      });
    }, ARG_WINDOW_ITEMS, ARG_WINDOW_BYTES, ep.view);
  }

  /** Whether a schema checks its call (a contract method's): view items are then copied
   *  out of the ring first (private-copy.ts). */
  get checked(): boolean {
    return this.ep.spec !== undefined;
  }

  /** Whether its items are decoded as views (a `{ view: true }` handler's). */
  get views(): boolean {
    return this.stream.views;
  }

  /** An item from the caller; false when beyond the credit it was given. `release`: a
   *  view item's, called once the handler is done with it. */
  push(value: unknown, bytes: number, release?: () => void): boolean {
    this.ep.items++;
    this.ep.itemBytes += bytes;
    return this.stream.push(value, bytes, release);
  }

  /** The call is over: a view item the handler still had lets go of its memory. */
  close(): void {
    this.stream.releaseViews();
  }

  /** The caller's iterable ended. */
  end(): void {
    this.resolve(undefined);
  }

  /** The caller's stream failed, or the call ended (cancel, disconnect). */
  fail(err: unknown): void {
    this.reject(err);
  }
}
