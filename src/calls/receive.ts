// The client's receiving side: takes responses from the ring, decodes them and hands
// each to the call waiting for it, the synchronous one (src/calls/sync.ts) or an
// asyncCall (src/calls/async.ts).

import { core } from "../core/wasm.js";
import { L } from "../core/layout.js";
import { OVERSIZED } from "../channel.js";
import type { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { P_ERROR_DETAILS, P_ERROR_KIND, P_ID, P_NAME, P_NAME_LENGTH, P_RESPONSE_BODY } from "../frames.js";
import { remoteError } from "./remote-error.js";
import { droppedError, type CallHost, type Connection } from "./connection.js";
import type { SyncCall } from "./sync.js";
import type { AsyncCalls } from "./async.js";
import type { MethodNames } from "./methods.js";
import type { StreamSink } from "./transport.js";

export class Receiver {
  private sync!: SyncCall;
  private async!: AsyncCalls;
  private streams!: ReadonlyMap<number, StreamSink>;
  private credit!: (id: number, items: number, bytes: number) => void;

  constructor(
    private readonly host: CallHost,
    private readonly decoder: Decoder,
    private readonly names: MethodNames,
    private readonly maxMessageBytes: number,
  ) {}

  /** The calls that responses go to. */
  deliverTo(sync: SyncCall, async: AsyncCalls, streams: ReadonlyMap<number, StreamSink>, credit: (id: number, items: number, bytes: number) => void): void {
    this.sync = sync;
    this.async = async;
    this.streams = streams;
    this.credit = credit;
  }

  /** Takes every complete response from the ring; returns how many. */
  receive(conn: Connection): number {
    this.receiving = true;
    try {
      return this.receiveUnguarded(conn);
    } catch (e) {
      // Whatever the server's data made go wrong ends this connection, not the process.
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `connection to ${this.host.name} dropped: ${(e as Error).message}`, { cause: e }));
      return 1;
    } finally {
      this.receiving = false;
    }
  }
  /** Inside `receive` (a view item released from there is not read on from there). */
  private receiving = false;

  private receiveUnguarded(conn: Connection): number {
    const ch = conn.channel;
    let n = 0;
    // A stream's view item stays delivered (its record unread) until its loop moves on.
    while (!conn.viewHeld && ch.poll()) {
      n++;
      this.handle(conn, ch.type, ch.payload, ch.length);
      if (conn.closed) return n;
    }
    const broken = ch.protocolError ?? ch.writeError;
    if (broken !== undefined) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.host.name} broke the protocol: ${broken}`));
      return n;
    }
    if (n > 0 || ch.freedRoom) {
      if (n > 0) ch.release();
      ch.freedRoom = false;
      conn.serverBell.ring(); // the server may be waiting for room
      return Math.max(n, 1);
    }
    return 0;
  }

  private handle(conn: Connection, type: number, at: number, length: number): void {
    const c = core();
    const name = this.host.name;
    if (type === L.T_GOODBYE) {
      this.host.disconnect(droppedError(name, conn.seg.load(L.CONN_DROP_REASON)));
      return;
    }
    if (type === OVERSIZED) {
      const id = conn.channel.oversizedId;
      this.deliver(id, undefined, new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `response of ${length} bytes is over maxMessageBytes (${this.maxMessageBytes})`));
      return;
    }
    if (type === L.T_METHOD_ID) {
      this.learn(conn, at, length);
      return;
    }
    if (type === L.T_STREAM_ITEM && length >= P_RESPONSE_BODY) {
      this.item(conn, at, length);
      return;
    }
    if (type === L.T_STREAM_CREDIT && length >= 12) {
      // More room for a streamed argument (a server that lies only floods its own ring: the
      // source waits while more than a window is queued beyond it, src/calls/route.ts).
      const v = c.view;
      this.credit(v.getUint32(at + P_ID, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true));
      return;
    }
    if ((type !== L.T_RESPONSE && type !== L.T_ERROR) || length < (type === L.T_ERROR ? P_ERROR_DETAILS : P_RESPONSE_BODY)) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${name} sent a malformed record (type ${type})`));
      return;
    }
    const id = c.view.getUint32(at + P_ID, true);
    if (id !== this.sync.id && this.async.pending.get(id) === undefined) return; // timed out or aborted: drop it
    try {
      if (type === L.T_RESPONSE) {
        this.deliver(id, this.decoder.decode(at + P_RESPONSE_BODY, at + length, conn.channel.tail), undefined, length - P_RESPONSE_BODY);
      } else {
        const kind = c.u8[at + P_ERROR_KIND]!;
        const details = this.decoder.decode(at + P_ERROR_DETAILS, at + length, conn.channel.tail);
        this.deliver(id, undefined, remoteError(kind, details), 0);
      }
    } catch (e) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${name} sent an undecodable response: ${(e as Error).message}`));
    }
  }

  /** STREAM_ITEM [id u32][pad][value]: one item of a stream call; one of a stream
   *  cancelled meanwhile is dropped. A view stream's (`withOptions({ view: true })`) item
   *  that holds binaries gets views of them (of the ring, or of the channel's memory for
   *  a fragmented one): its record stays delivered and nothing further is read until its
   *  loop calls next() (release). */
  private item(conn: Connection, at: number, length: number): void {
    const stream = this.streams.get(core().view.getUint32(at + P_ID, true));
    if (stream === undefined) return;
    const views = stream.views;
    let value: unknown;
    try {
      const tail = conn.channel.tail;
      value = views ? this.decoder.decodeViews(at + P_RESPONSE_BODY, at + length, tail) : this.decoder.decode(at + P_RESPONSE_BODY, at + length, tail);
    } catch (e) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.host.name} sent an undecodable stream item: ${(e as Error).message}`));
      return;
    }
    let release: (() => void) | undefined;
    if (views && typeof value === "object" && value !== null) {
      conn.viewHeld = true;
      conn.lease.hold();
      release = () => this.releaseView(conn);
    }
    if (!stream.push(value, length - P_RESPONSE_BODY, release)) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.host.name} sent a stream item beyond the credit given`));
    }
  }

  /** A stream's loop is done with its view item: its record is consumed (a fragmented
   *  one's tail memory kept for the next tail), the server told of the room, and reading
   *  goes on (now, and from the pump). */
  private releaseView(conn: Connection): void {
    conn.viewHeld = false;
    if (!conn.closed) {
      const ch = conn.channel;
      if (ch.tail !== null) ch.keepTail(ch.tail);
      ch.consumed();
      ch.release();
      conn.serverBell.ring(); // it may be waiting for room
    }
    conn.lease.release();
    if (conn.closed || this.receiving) return;
    this.receive(conn);
    if (!conn.closed) this.async.schedulePump();
  }

  /** METHOD_ID [method id u32][name length u8][name]: later calls of that name on this
   *  connection go by id. (A server that lies here only misroutes its own calls.) */
  private learn(conn: Connection, at: number, length: number): void {
    const c = core();
    const nameLength = length < P_NAME ? -1 : c.u8[at + P_NAME_LENGTH]!;
    if (nameLength < 0 || P_NAME + nameLength > length) {
      this.host.disconnect(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.host.name} sent a malformed method id`));
      return;
    }
    const index = this.names.indexOf(this.decoder.name(at + P_NAME, at + P_NAME + nameLength));
    conn.methodIds.set(index, c.view.getUint32(at + P_ID, true));
  }

  private deliver(id: number, value: unknown, err: RpcError | undefined, bytes = 0): void {
    if (id === this.sync.id) this.sync.settle(value, err, bytes);
    else this.async.deliver(id, value, err, bytes);
  }
}
