// One client connection as the server serves it: its socket, its memory (and the lease
// that keeps it while view handlers look at it), the channel over its two rings, the
// doorbell that wakes it, and what the serving loop keeps on it.
// (The handshake that made it is src/connection/listener.ts's.)

import { L } from "../core/layout.js";
import type { Segment } from "../core/segment.js";
import type { Doorbell } from "../core/doorbell.js";
import type { Channel } from "../channel.js";
import type { Link } from "../connection/link.js";
import { DEFAULT_TIMEOUT_MS } from "../protocol.js";
import { NO_METADATA, type Caller, type Running } from "./context.js";
import type { Lease } from "./lease.js";
import { PrivateCopy } from "./private-copy.js";
import { WakeThrottle } from "./wake-throttle.js";
import type { StreamCredit } from "./stream.js";
import type { Inbound } from "./inbound.js";
import { CancelledIds } from "../core/cancel-box.js";

export class Connection {
  closed = false;
  /** Handlers of this connection that returned a promise not yet settled. */
  inflight = 0;
  /** A view handler's promise is pending: its request is still delivered (its views
   *  valid), so no further request is read until it settles. */
  viewHeld = false;
  /** When its socket was last seen open (performance.now()). */
  aliveAt = 0;
  /** Where the id of the last request taken goes (an i32 index in linear memory). */
  readonly takenIndex: number;
  /** Where a contract view handler's request is copied to be validated (private-copy.ts). */
  readonly copy = new PrivateCopy();
  /** Method ids this client has been told (a METHOD_ID record sent), by id. */
  readonly announced: boolean[] = [];
  /** Calls of `{ context: true }` handlers in progress, by id (made on first use). */
  running: Map<number, Running> | undefined;
  /** The deadline of calls sent without a CONTEXT: the client's default timeout. */
  defaultTimeoutMs = DEFAULT_TIMEOUT_MS;
  /** The CONTEXT just taken, for the request of id `contextId` (0: none). */
  contextId = 0;
  contextDeadline = 0;
  contextMetadata: Readonly<Record<string, string>> = NO_METADATA;
  /** Streams of this connection in progress, by call id (made on first use). */
  streams: Map<number, StreamCredit> | undefined;
  /** Stream pumps waiting for its send queue to empty (StreamCredit.room), if any. */
  roomWaiters: (() => void)[] | undefined;
  /** The STREAM_CREDIT just taken that opens the request of id `openId` (0: none). */
  openId = 0;
  openItems = 0;
  openBytes = 0;
  /** Calls of view handlers in progress whose request is not held (stream calls and
   *  streamed arguments' calls: their arguments were copies), by id (made on first use). */
  unheld: Set<number> | undefined;
  /** Streamed arguments of calls in progress, by call id (made on first use). */
  inbound: Map<number, Inbound> | undefined;
  /** The STREAM_ARG just taken: argument `argIndex` of the request of id `argId` (0: none). */
  argId = 0;
  argIndex = 0;
  private callerInfo: Caller | undefined;
  /** Requests the client took back after publishing them (src/core/cancel-box.ts). */
  readonly cancelled: CancelledIds;
  /** Its wake-ups that found nothing to do (wake-throttle.ts). */
  readonly wakes = new WakeThrottle();
  /** Records taken from its ring so far (the server's own count, for wakes). */
  recordsTaken = 0;
  constructor(
    readonly link: Link,
    readonly pid: number,
    readonly uid: number,
    readonly gid: number,
    readonly seg: Segment,
    readonly channel: Channel,
    readonly bell: Doorbell,
    /** Its memory (segment and channel) until it has ended and no view handler holds it. */
    readonly lease: Lease,
  ) {
    this.takenIndex = (seg.offset + L.CONN_TAKEN_ID) >>> 2;
    this.cancelled = new CancelledIds(seg);
  }

  /** Who calls on this connection, as a context shows it. */
  get caller(): Caller {
    return (this.callerInfo ??= Object.freeze({ transport: "shm", pid: this.pid, uid: this.uid, gid: this.gid }));
  }
}
