// One stream call's seal over NATS under a token (the format: src/nats/auth.ts, STREAMS):
// what each side keeps to seal the messages it sends (numbered 1, 2, ...) and to open those
// it takes (each subject's last number, so that a replayed message is dropped). Both sides
// make one per stream call from the request's iv; a stream without a token has none.

import type { MsgHdrs } from "@nats-io/transport-node";
import { HEADER_AUTH, type NatsSeal } from "./auth.js";

const EMPTY = new Uint8Array(0);

export class StreamSeal {
  private sent = 0;
  /** The last number taken, by what it came on (the caller's inbox, the credit subject, ...). */
  private readonly last = new Map<string, number>();

  /** `caller`: this side is the stream's caller (it sends to the server). */
  constructor(
    private readonly seal: NatsSeal,
    private readonly iv: Buffer,
    private readonly caller: boolean,
  ) {}

  /** Seals `plain` (a message's body) as what `tag` names, its header set on `h`; returns
   *  the payload to send. */
  wrap(h: MsgHdrs, tag: string, plain: Uint8Array): Uint8Array {
    const sealed = this.seal.sealStream(this.caller, this.iv, tag, ++this.sent, plain);
    h.set(HEADER_AUTH, sealed.header);
    return sealed.data;
  }

  /** Sets on `h` the proof of a message whose payload stays clear (`text`: a credit's or a
   *  cancel's, `kind` says which). */
  prove(h: MsgHdrs, kind: string, text: string): void {
    this.wrap(h, `${kind} ${text}`, EMPTY);
  }

  /** The body of a message that came on `on` as what `tag` names, or undefined when it does
   *  not open under this stream's keys or is not newer than the last taken there. */
  unwrap(on: string, tag: string, header: string | undefined, data: Uint8Array): Uint8Array | undefined {
    const opened = this.seal.openStream(!this.caller, this.iv, tag, header, data);
    if (opened === undefined || opened.seq <= (this.last.get(on) ?? 0)) return undefined;
    this.last.set(on, opened.seq);
    return opened.plain;
  }

  /** Whether a message with a clear payload `text` (`kind`: credit, cancel) is proven. */
  proven(on: string, kind: string, text: string, header: string | undefined): boolean {
    return this.unwrap(on, `${kind} ${text}`, header, EMPTY) !== undefined;
  }
}

/** A message's Shmrpc-Auth header, if any. */
export function authOf(h: MsgHdrs | undefined): string | undefined {
  return h !== undefined && h.has(HEADER_AUTH) ? h.get(HEADER_AUTH) : undefined;
}
