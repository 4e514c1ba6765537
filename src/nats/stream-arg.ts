// A streamed argument over NATS, the server's side: the instance that took the request
// subscribes to the call's argument subject (argSubject), then grants the caller its opening
// credit (a "credit <items> <bytes>" message to the request's reply inbox, so no item is
// published before the subscription exists) and more as the handler takes items; the
// items feed an Inbound (src/serving/inbound.ts), as over shared memory. Under a token its
// items and credit are sealed (src/nats/stream-seal.ts): one that does not open is dropped.

import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { RpcError, ErrorCodes } from "../errors.js";
import { ARG_WINDOW_BYTES, ARG_WINDOW_ITEMS } from "../protocol.js";
import type { Endpoint } from "../contracts/endpoint.js";
import { Inbound } from "../serving/inbound.js";
import type { PayloadCodec } from "./payload.js";
import { HEADER_STREAM } from "./context.js";
import { authOf, type StreamSeal } from "./stream-seal.js";

export class NatsArg {
  readonly inbound: Inbound;
  private readonly sub: Subscription;
  private done = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly headersOf: () => MsgHdrs,
    private readonly codec: PayloadCodec,
    subject: string,
    private readonly reply: string,
    ep: Endpoint,
    private readonly seal: StreamSeal | undefined,
    private readonly forged: () => void,
  ) {
    this.inbound = new Inbound(ep, (items, bytes) => this.credit(items, bytes));
    this.sub = nc.subscribe(subject, { callback: (err, m) => this.take(err, m) });
    this.credit(ARG_WINDOW_ITEMS, ARG_WINDOW_BYTES);
  }

  /** The call ended (or the server closes): no more items are taken. */
  close(err?: RpcError): void {
    if (this.done) return;
    this.done = true;
    this.sub.unsubscribe();
    if (err !== undefined) this.inbound.fail(err);
  }

  private credit(items: number, bytes: number): void {
    if (this.done) return;
    const h = this.headersOf();
    const tag = `credit ${items} ${bytes}`;
    h.set(HEADER_STREAM, tag);
    const empty = new Uint8Array(0);
    try {
      this.nc.publish(this.reply, this.seal === undefined ? empty : this.seal.wrap(h, tag, empty), { headers: h });
    } catch {
      // Closed: the call ends with the connection.
    }
  }

  private take(err: Error | null, m: Msg): void {
    if (this.done) return;
    if (err !== null) return this.close(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `the streamed argument's subscription ended: ${err.message}`));
    const kind = m.headers?.has(HEADER_STREAM) ? m.headers.get(HEADER_STREAM) : "";
    const data = this.seal === undefined ? m.data : this.seal.unwrap("arg", kind, authOf(m.headers), m.data);
    if (data === undefined) return this.forged();
    if (kind === "item") {
      let value: unknown;
      try {
        value = this.codec.decode(data);
      } catch (e) {
        return this.close(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `an undecodable item of the caller's stream: ${(e as Error).message}`));
      }
      if (!this.inbound.push(value, data.length)) this.close(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, "the caller sent items beyond the credit given"));
    } else if (kind === "end 0") {
      this.close();
      this.inbound.end();
    } else {
      this.close(new RpcError(ErrorCodes.ERR_RPC_ABORTED, "the caller's stream failed"));
    }
  }
}
