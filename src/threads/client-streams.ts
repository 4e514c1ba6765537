// Stream calls of a thread client (src/threads/calls.ts): the same records as between
// processes (STREAM_CREDIT, STREAM_ARG, STREAM_ITEM, STREAM_END, src/protocol.ts) and the
// same halves as every transport: RpcStream (src/calls/stream.ts) holds the items and
// grants credit, pumpStream (src/serving/stream.ts) sends a streamed argument's items
// within the server's credit. Only the writing into this connection's ring is here.

import { L } from "../core/layout.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { P_ID, P_RESPONSE_BODY, HEADROOM, errorExtra } from "../frames.js";
import { ARG_WINDOW_BYTES, ARG_WINDOW_ITEMS } from "../protocol.js";
import { StreamCredit, pumpStream } from "../serving/stream.js";
import { CancelReason } from "../serving/context.js";
import type { StreamSink } from "../calls/transport.js";
import type { Encoder } from "../codec/encode.js";
import type { Decoder } from "../codec/decode.js";
import type { ThreadLink } from "./connection.js";

/** What the streams need of their connection's calls. */
export interface StreamHost {
  readonly name: string;
  /** The connection is up and this client open. */
  readonly connected: boolean;
  /** Tells the server the caller gave up on call `id`. */
  cancel(id: number, reason: number): void;
  /** Settles pending call `id` now (its stream was cancelled by the caller). */
  forget(id: number): void;
  /** The connection is lost (the server broke the protocol). */
  lose(why: RpcError): void;
  /** Runs the pump soon (records queued for want of ring room go as the server reads). */
  flushSoon(): void;
}

export class ThreadStreams {
  /** Stream calls in progress, by id. */
  private readonly streams = new Map<number, StreamSink>();
  /** Calls whose argument is streamed, by id: the credit the server gave. */
  private readonly args = new Map<number, StreamCredit>();
  private readonly creditExtra = new Uint8Array(8);
  private readonly creditView = new DataView(this.creditExtra.buffer);
  private readonly argExtra = new Uint8Array(4);

  constructor(private readonly host: StreamHost, private readonly link: ThreadLink, private readonly encoder: Encoder, private readonly decoder: Decoder, private readonly maxMessageBytes: number) {}

  /** Before call `id`'s request (its arguments already encoded after the encoder's
   *  headroom, where these headers go): the credit a stream call opens with, and which
   *  argument is streamed. */
  announce(id: number, open: StreamSink | undefined, streamed: number): void {
    if (open !== undefined) this.sendCredit(id, open.windowItems, open.windowBytes);
    if (streamed >= 0) {
      new DataView(this.argExtra.buffer).setUint32(0, streamed, true);
      this.link.channel.send(L.T_STREAM_ARG, id, this.argExtra, this.encoder.start + HEADROOM, 0);
    }
  }

  private sendCredit(id: number, items: number, bytes: number): void {
    this.creditView.setUint32(0, items, true);
    this.creditView.setUint32(4, bytes, true);
    this.link.channel.send(L.T_STREAM_CREDIT, id, this.creditExtra, this.encoder.start + HEADROOM, 0);
  }

  private publish(): void {
    this.link.channel.writer.commit();
    this.link.serverBell.ring();
    if (!this.link.channel.idle) this.host.flushSoon();
  }

  /** Stream call `id` is sent: its sink learns how to grant credit and cancel. */
  opened(id: number, sink: StreamSink, end: Promise<unknown>): void {
    this.streams.set(id, sink);
    sink.link({
      credit: (items, bytes) => {
        if (!this.host.connected || this.streams.get(id) !== sink) return;
        this.sendCredit(id, items, bytes);
        this.publish();
      },
      cancel: () => {
        if (this.streams.get(id) !== sink) return;
        this.streams.delete(id);
        this.host.cancel(id, CancelReason.ABORTED);
        this.host.forget(id);
      },
    });
    const forget = (): void => {
      if (this.streams.get(id) === sink) this.streams.delete(id);
    };
    end.then(forget, forget);
  }

  /** Sends the items of call `id`'s streamed argument `source` within the server's credit,
   *  then STREAM_END (reason 1: `source` threw); stops (closing `source`) when the call ends. */
  sendArg(id: number, source: unknown, end: Promise<unknown>): void {
    const credit = new StreamCredit(ARG_WINDOW_ITEMS, ARG_WINDOW_BYTES);
    this.args.set(id, credit);
    const stop = (): void => {
      this.args.delete(id);
      credit.cancel();
    };
    end.then(stop, stop);
    const ended = (reason: number): void => {
      if (credit.cancelled || !this.host.connected) return;
      this.args.delete(id);
      this.link.channel.send(L.T_STREAM_END, id, errorExtra(reason), this.encoder.start + HEADROOM, 0);
      this.publish();
    };
    pumpStream(source, credit, (value) => {
      if (!this.host.connected) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.host.name} ended`);
      const length = this.encoder.encode(value, this.maxMessageBytes, "item", HEADROOM);
      this.link.channel.send(L.T_STREAM_ITEM, id, null, this.encoder.start + HEADROOM, length, this.encoder.splice);
      this.encoder.shrink(length);
      this.publish();
      return length;
    }).then(() => ended(0), () => ended(1));
  }

  /** A STREAM_ITEM or STREAM_CREDIT from the server. */
  take(type: number, at: number, length: number): void {
    const v = this.link.core.view;
    if (type === L.T_STREAM_CREDIT) {
      if (length < 12) return this.bad("a STREAM_CREDIT shorter than its header");
      // More room for a streamed argument (a server that lies only floods its own memory).
      this.args.get(v.getUint32(at + P_ID, true))?.grant(v.getUint32(at + 4, true), v.getUint32(at + 8, true));
      return;
    }
    if (length < P_RESPONSE_BODY) return this.bad("a STREAM_ITEM shorter than its header");
    const stream = this.streams.get(v.getUint32(at + P_ID, true));
    if (stream === undefined) return; // cancelled meanwhile: dropped
    const value = this.decoder.decode(at + P_RESPONSE_BODY, at + length, this.link.channel.tail);
    if (!stream.push(value, length - P_RESPONSE_BODY)) this.bad("a stream item beyond the credit given");
  }

  private bad(why: string): void {
    this.host.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.host.name} sent ${why}`));
  }
}
