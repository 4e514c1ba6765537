// The client's connection as the call paths see it, and what they share about it:
// whether the server took a request, and the error of calls it dropped.

import { L } from "../core/layout.js";
import type { Segment } from "../core/segment.js";
import type { Doorbell, SocketBell } from "../core/doorbell.js";
import type { Channel } from "../channel.js";
import type { Link } from "../connection/link.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { MethodIds } from "./methods.js";
import { Lease } from "../serving/lease.js";

export class Connection {
  closed = false;
  /** The method ids this connection's server gave (src/calls/methods.ts). */
  readonly methodIds = new MethodIds();
  /** A stream's view item is still delivered (a view of the ring or of the channel's
   *  memory, `withOptions({ view: true })`): nothing further is read until it is released. */
  viewHeld = false;
  /** Its memory (the segment, the channel's) until it has ended and no view item holds it. */
  readonly lease: Lease;
  constructor(
    readonly link: Link,
    readonly seg: Segment,
    readonly channel: Channel,
    readonly serverBell: SocketBell,
    readonly bell: Doorbell,
    readonly serverPid: number,
  ) {
    this.lease = new Lease(() => {
      channel.dispose();
      seg.close();
    });
  }
}

/** What the call paths need of their client: its connection, the liveness checks
 *  (which end it when the server is gone) and the ending itself. */
export interface CallHost {
  readonly name: string;
  /** The current connection, if any. */
  current(): Connection | undefined;
  /** Throws (after failing everything pending) when the server died or left; at most
   *  once per LIVENESS_MS unless `force`. */
  checkServer(conn: Connection, now: number, force?: boolean): void;
  /** Ends the connection: every pending call fails with `err`. */
  disconnect(err: RpcError): void;
  /** The caller gave up on call `id` (a CancelReason): tells the server (a CANCEL). */
  cancel(id: number, reason: number): void;
}

/** Check the server's liveness at least this often while a call waits. */
export const LIVENESS_MS = 50;

/** Ids grow by one per request (wrapping, 0 skipped) and the server takes requests in
 *  order, so `id` was taken when it is not after `taken` (serial-number arithmetic). */
export function wasTaken(id: number, taken: number): boolean {
  return taken !== 0 && ((id - taken) | 0) <= 0;
}

/** A call gives up waiting (its timeout, its abort): returns its `maybeExecuted`. A
 *  request still wholly in the send queue of `conn` (its ring was full) is taken back
 *  and never sent: false. One already published to the ring is the server's now, taken
 *  or not: it may run even after the caller gave up, so true. */
export function withdraw(conn: Connection | undefined, id: number): boolean {
  return conn === undefined || conn.closed || !conn.channel.withdraw(id);
}

/** The error of calls pending when the server ended this connection, by its reason. */
export function droppedError(name: string, reason: number): RpcError {
  if (reason === L.REASON_SLOW_CONSUMER) {
    return new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED, `server ${name} dropped this client: it left too many responses unread (the server's maxQueuedBytes)`);
  }
  if (reason === L.REASON_PROTOCOL) {
    return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${name} dropped this client for breaking the protocol`);
  }
  if (reason === L.REASON_CLOSED) {
    return new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `server ${name} closed the connection`);
  }
  return new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `the server of ${name} is gone`);
}
