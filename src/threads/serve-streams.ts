// Stream calls on one thread connection's serving side (src/threads/serve.ts): the
// caller's STREAM_CREDIT, STREAM_ARG, STREAM_ITEM and STREAM_END records, as between
// processes (src/serving/dispatch.ts). The pump that sends a handler's items is the one of
// every transport (pumpStream, run by invoke through Wire.stream and Wire.item); a
// streamed argument is an Inbound (src/serving/inbound.ts). Made on a connection's first
// stream record: a connection that streams nothing pays one field check per request.

import { L } from "../core/layout.js";
import { RpcError, ErrorCodes, type ErrorCode } from "../errors.js";
import { P_ID, P_RESPONSE_BODY, HEADROOM } from "../frames.js";
import { StreamCredit } from "../serving/stream.js";
import { Inbound } from "../serving/inbound.js";
import type { Endpoint } from "../contracts/endpoint.js";
import type { Encoder } from "../codec/encode.js";
import type { Decoder } from "../codec/decode.js";
import type { ThreadLink } from "./connection.js";

/** What the streams need of their connection. */
export interface ServedHost {
  readonly closed: boolean;
  /** Writes into the ring, dropping the connection if that throws (an overwritten ring). */
  guarded(write: () => void): void;
  /** Publishes what was written and rings the client. */
  publish(): void;
  /** The client broke the protocol: its connection ends. */
  protocolError(why: string): void;
  /** Answers call `id` with ERR_RPC_INVALID_ARGUMENT. */
  refuse(id: number, why: string): void;
}

export class ServedStreams {
  /** The request of this id opens a stream, with this credit (a STREAM_CREDIT before it). */
  private openId = 0;
  private openItems = 0;
  private openBytes = 0;
  /** The request of this id streams argument argIndex (a STREAM_ARG before it). */
  private argId = 0;
  private argIndex = 0;
  private readonly streams = new Map<number, StreamCredit>();
  private readonly inbound = new Map<number, Inbound>();
  private readonly creditExtra = new Uint8Array(8);
  private readonly creditView = new DataView(this.creditExtra.buffer);

  constructor(private readonly host: ServedHost, private readonly link: ThreadLink, private readonly encoder: Encoder, private readonly decoder: Decoder, private readonly maxMessageBytes: number) {}

  /** A STREAM_CREDIT: more credit for stream `id`, or the opening credit of the request that follows. */
  takeCredit(at: number, length: number): void {
    if (length < 12) return this.host.protocolError("a STREAM_CREDIT shorter than its header");
    const v = this.link.core.view;
    const id = v.getUint32(at + P_ID, true);
    const items = v.getUint32(at + 4, true);
    const bytes = v.getUint32(at + 8, true);
    const stream = this.streams.get(id);
    if (stream !== undefined) return stream.grant(items, bytes);
    this.openId = id;
    this.openItems = items;
    this.openBytes = bytes;
  }

  /** A STREAM_ARG: that argument of the request that follows is streamed. */
  takeArg(at: number, length: number): void {
    if (length < 8) return this.host.protocolError("a STREAM_ARG shorter than its header");
    const v = this.link.core.view;
    this.argId = v.getUint32(at + P_ID, true);
    this.argIndex = v.getUint32(at + 4, true);
  }

  /** A STREAM_ITEM: one item of a call's streamed argument. */
  takeItem(at: number, length: number): void {
    if (length < P_RESPONSE_BODY) return this.host.protocolError("a STREAM_ITEM shorter than its header");
    const inbound = this.inbound.get(this.link.core.view.getUint32(at + P_ID, true));
    if (inbound === undefined) return; // its call ended: dropped
    let value: unknown;
    try {
      value = this.decoder.decode(at + P_RESPONSE_BODY, at + length, this.link.channel.tail);
    } catch (e) {
      return this.host.protocolError(`an undecodable stream item (${(e as Error).message})`);
    }
    if (!inbound.push(value, length - P_RESPONSE_BODY)) this.host.protocolError("stream items beyond the credit given");
  }

  /** A STREAM_END: [id][reason]: a streamed argument ended (0) or failed (1). */
  takeEnd(at: number, length: number): void {
    if (length < 5) return this.host.protocolError("a STREAM_END shorter than its header");
    const c = this.link.core;
    const id = c.view.getUint32(at + P_ID, true);
    const inbound = this.inbound.get(id);
    if (inbound === undefined) return;
    this.inbound.delete(id); // later items are dropped
    if (c.u8[at + 4] === 0) inbound.end();
    else inbound.fail(new RpcError(ErrorCodes.ERR_RPC_ABORTED, "the caller's stream failed"));
  }

  /** Request `id` is about to run: false when it was answered here instead (a view method
   *  called as a stream, or given a streamed argument). A streamed argument (sent as
   *  null) is replaced by an Inbound's stream. */
  prepare(id: number, ep: Endpoint, args: unknown[]): boolean {
    if (this.openId !== 0 && this.openId !== id) this.openId = 0; // announced for another request: dropped
    const view = ep.view;
    if (this.argId !== 0) {
      const index = this.argIndex;
      const mine = this.argId === id;
      this.argId = 0;
      if (mine) {
        if (index >= args.length || args[index] !== null) {
          this.host.protocolError("a STREAM_ARG for an argument that is not there (or not null)");
          return false;
        }
        if (view) {
          this.openId = 0;
          this.host.refuse(id, "a method that takes views (view: true) cannot take a streamed argument");
          return false;
        }
        const inbound = new Inbound(ep, (items, bytes) => this.sendArgCredit(id, items, bytes));
        if (this.openId !== id) ep.streams++; // (a stream call too: counted by invoke)
        this.inbound.set(id, inbound);
        args[index] = inbound.stream;
      }
    }
    if (view && this.openId === id) {
      // Its request would stay delivered until the stream ends, and no credit could be read.
      this.openId = 0;
      this.host.refuse(id, `method "${ep.name}" takes views (view: true): it cannot be called as a stream`);
      return false;
    }
    return true;
  }

  /** Wire.stream: call `id`'s credit if it opened as a stream. */
  opened(id: number): StreamCredit | undefined {
    if (this.openId !== id) return undefined;
    this.openId = 0;
    const credit = new StreamCredit(this.openItems, this.openBytes);
    this.streams.set(id, credit);
    return credit;
  }

  /** Wire.item: sends one item of stream `id`; returns its encoded size. */
  item(id: number, value: unknown): number {
    if (this.host.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the caller went");
    const encoder = this.encoder;
    const length = encoder.encode(value, this.maxMessageBytes, "item", HEADROOM);
    this.host.guarded(() => this.link.channel.send(L.T_STREAM_ITEM, id, null, encoder.start + HEADROOM, length, encoder.splice));
    encoder.shrink(length);
    if (this.host.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the caller went");
    this.host.publish();
    return length;
  }

  private sendArgCredit(id: number, items: number, bytes: number): void {
    if (this.host.closed || this.inbound.get(id) === undefined) return;
    this.creditView.setUint32(0, items, true);
    this.creditView.setUint32(4, bytes, true);
    this.host.guarded(() => this.link.channel.send(L.T_STREAM_CREDIT, id, this.creditExtra, this.encoder.start + HEADROOM, 0));
    if (!this.host.closed) this.host.publish();
  }

  /** A CANCEL for call `id`: its stream's iterator closes, its streamed argument fails. */
  cancel(id: number, code: ErrorCode): void {
    this.streams.get(id)?.cancel();
    this.inbound.get(id)?.fail(new RpcError(code, "the caller gave up on the call"));
  }

  /** Call `id` settled. */
  settled(id: number): void {
    this.streams.delete(id);
    this.inbound.delete(id);
  }

  /** The connection ended: iterators close (a generator's finally runs), streamed arguments fail. */
  end(): void {
    for (const s of this.streams.values()) s.cancel();
    this.streams.clear();
    for (const a of this.inbound.values()) a.fail(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the caller closed or died"));
    this.inbound.clear();
  }
}
