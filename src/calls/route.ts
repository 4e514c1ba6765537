// One server instance as a Client sees it: connecting to one socket path
// (src/connection/connector.ts), the connection's life (liveness, drop, goodbye),
// sending requests and the call paths' machinery (its own receiver, synchronous call and
// asyncCalls with their pump). A Client of a name served alone has one Route; of a
// replicated name, one per live replica, and picks one per call (src/calls/balance.ts).

import { closedError, closingError } from "./closed.js";
import { native } from "../native.js";
import { L } from "../core/layout.js";
import { Doorbell, SocketBell } from "../core/doorbell.js";
import { RingReader, RingWriter } from "../core/ring.js";
import { Channel } from "../channel.js";
import type { Encoder } from "../codec/encode.js";
import type { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { HEADROOM, errorExtra } from "../frames.js";
import { CancelReason } from "../serving/context.js";
import { METADATA_MAX_BYTES } from "../metadata.js";
import { postCancel } from "../core/cancel-box.js";

type Metadata = Readonly<Record<string, string>>;
import { onProcessExit } from "../lifecycle.js";
import { Handshaking, connectSync, type Connected, type ConnectorOptions } from "../connection/connector.js";
import { READABLE } from "../connection/link.js";
import { Connection, LIVENESS_MS, droppedError, wasTaken, type CallHost } from "./connection.js";
import { Receiver } from "./receive.js";
import { SyncCall } from "./sync.js";
import { AsyncCalls } from "./async.js";
import type { MethodName, MethodNames } from "./methods.js";
import type { CallSettings, MessageSizes, Refused, StreamSink } from "./transport.js";
import { streamedArg } from "./stream.js";
import { StreamCredit, pumpStream } from "../serving/stream.js";
import { ARG_WINDOW_BYTES, ARG_WINDOW_ITEMS } from "../protocol.js";

export interface RouteOptions {
  name: string;
  /** The client's default timeout: calls with it need no CONTEXT record. */
  timeoutMs: number;
  path: string;
  serverUid: number;
  ringBytes: number;
  tokenKey: Buffer | undefined;
  maxMessageBytes: number;
  spinMs: number;
  busyPoll: boolean;
}

/** What a Route tells its Client: a connection made or ended (with the server's pid). */
export interface RouteEvents {
  connect(route: Route, pid: number): void;
  disconnect(route: Route, pid: number, reason: string): void;
}

export class Route {
  // The call paths (src/calls/): responses in, the synchronous call, the asyncCalls.
  readonly receiver: Receiver;
  readonly sync: SyncCall;
  readonly async: AsyncCalls;
  private conn: Connection | undefined;
  /** The handshake in progress from the event loop, if any, and its outcome. */
  private handshake: Handshaking | undefined;
  private connecting: Promise<Connection> | undefined;
  private closed = false;
  private nextId = 1;
  /** The encoded arguments of the request sent last, in bytes (CallSettings.sizes). */
  private sentBytes = 0;
  private lastLivenessCheck = 0;
  /** Whether the next call should first look at the server (see `connection`). */
  private checkDue = false;
  private dueTimer: NodeJS.Timeout | undefined;
  private readonly markCheckDue = (): void => {
    this.checkDue = true;
  };
  private armCheck(): void {
    this.checkDue = false;
    clearTimeout(this.dueTimer);
    this.dueTimer = setTimeout(this.markCheckDue, LIVENESS_MS).unref();
  }

  /** A CONTEXT's [remaining ms u32]. */
  private readonly contextExtra = new Uint8Array(4);
  private readonly contextView = new DataView(this.contextExtra.buffer);
  /** A STREAM_CREDIT's [items u32][bytes u32]. */
  private readonly creditExtra = new Uint8Array(8);
  private readonly creditView = new DataView(this.creditExtra.buffer);
  /** Stream calls in progress, by id (src/calls/stream.ts). */
  private readonly streams = new Map<number, StreamSink>();
  /** Calls whose argument is streamed, by id: the credit the server gave. */
  private readonly argStreams = new Map<number, StreamCredit>();
  /** A STREAM_ARG's [argument index u32] (a STREAM_END's [reason u8] is errorExtra's). */
  private readonly argExtra = new Uint8Array(4);

  constructor(
    readonly o: RouteOptions,
    private readonly encoder: Encoder,
    /** The encoder of metadata (its own scratch: a request's arguments are in the other's). */
    private readonly contextEncoder: () => Encoder,
    decoder: Decoder,
    names: MethodNames,
    private readonly events: RouteEvents,
  ) {
    const host: CallHost = {
      name: o.name,
      current: () => this.conn,
      checkServer: (conn, now, force) => {
        if (force) this.lastLivenessCheck = 0;
        this.checkServer(conn, now);
      },
      disconnect: (err) => this.disconnect(err),
      cancel: (id, reason) => this.cancel(id, reason),
    };
    this.receiver = new Receiver(host, decoder, names, o.maxMessageBytes);
    this.sync = new SyncCall(host, this.receiver, o.spinMs, o.busyPoll);
    this.async = new AsyncCalls(host, this.receiver, o.spinMs, o.busyPoll, this);
    this.receiver.deliverTo(this.sync, this.async, this.streams, (id, items, bytes) => this.argStreams.get(id)?.grant(items, bytes));
  }

  get path(): string {
    return this.o.path;
  }

  /** True while connected to a live server. */
  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  /** Calls in flight on this route (what least_outstanding compares). */
  get outstanding(): number {
    return this.async.pending.size + (this.sync.busy ? 1 : 0);
  }

  /** The connection as it is, without looking at the server. */
  get current(): Connection | undefined {
    return this.conn;
  }

  /** True while connected to a server that said it drains (it refuses new calls). */
  get draining(): boolean {
    const conn = this.conn;
    return conn !== undefined && !conn.closed && conn.seg.load(L.CONN_SERVER_DRAINING) !== 0;
  }

  /** Whether a call sent now would be refused: connected to a server that drains and has
   *  not gone yet (looked at now, a system call: for re-sent calls only, whose attempt
   *  would otherwise be refused again; a synchronous caller blocks the event loop that
   *  would see the server's close). */
  refusesNewCalls(): boolean {
    return this.draining && this.alive() && this.draining;
  }

  /** The server's pid, while connected. */
  get serverPid(): number {
    return this.conn?.serverPid ?? 0;
  }

  /** The current connection, or undefined when there is none. An idle client may hold
   *  the connection of a server that died or closed since: it looks before its next
   *  call, so that the call goes to a new one. "Idle" is known without a clock read per
   *  call: a timer that only runs when the event loop is free marks the check due. */
  connection(): Connection | undefined {
    if (this.closed) throw this.closedError();
    const conn = this.conn;
    if (conn === undefined || conn.closed) return undefined;
    if (this.checkDue) {
      this.armCheck();
      this.lastLivenessCheck = 0;
      try {
        this.checkServer(conn, performance.now());
      } catch (e) {
        if ((e as RpcError).code !== ErrorCodes.ERR_RPC_DISCONNECTED) throw e;
      }
      if (conn.closed) return undefined;
    }
    return conn;
  }

  private connectorOptions(): ConnectorOptions {
    return { name: this.o.name, path: this.o.path, serverUid: this.o.serverUid, ringBytes: this.o.ringBytes, tokenKey: this.o.tokenKey };
  }

  /** Connects now, blocking this thread for at most `timeoutMs` (a synchronous call's
   *  first use). */
  private connectNow(timeoutMs: number): Connection {
    // A handshake begun from the event loop is finished here, not begun again: the
    // asyncCalls waiting on it then go out on this connection.
    const h = this.handshake;
    this.handshake = undefined;
    try {
      return this.adopt(h ? h.completeSync(timeoutMs) : connectSync(this.connectorOptions(), timeoutMs));
    } catch (e) {
      return notSent(e);
    }
  }

  /** Connects from the event loop (one handshake at a time, shared by every caller). */
  connectFromLoop(timeoutMs: number): Promise<Connection> {
    if (this.closed) return Promise.reject(this.closedError());
    const conn = this.connection();
    if (conn) return Promise.resolve(conn);
    if (this.connecting) return this.connecting;
    let h: Handshaking;
    try {
      h = new Handshaking(this.connectorOptions(), timeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
    this.handshake = h;
    const connecting = h.promise.then(
      (made) => {
        if (this.connecting === connecting) this.connecting = undefined;
        if (this.handshake === h) this.handshake = undefined;
        // A synchronous call may have finished and adopted it already.
        return this.conn !== undefined && this.conn.link === made.link ? this.conn : this.adopt(made);
      },
      (e: unknown) => {
        if (this.connecting === connecting) this.connecting = undefined;
        if (this.handshake === h) this.handshake = undefined;
        throw e;
      },
    );
    connecting.catch(() => {}); // each caller handles the failure on its own chain
    this.connecting = connecting;
    return connecting;
  }

  /** Takes a connection the handshake made. */
  private adopt(made: Connected): Connection {
    if (this.closed) {
      made.seg.close();
      made.link.close();
      throw this.closedError();
    }
    const seg = made.seg;
    const reqRing = seg.offset + L.CONN_HEADER_BYTES;
    const resRing = reqRing + L.RING_HEADER_BYTES + made.requestRing;
    let channel: Channel;
    try {
      channel = new Channel(new RingWriter(reqRing, made.requestRing), new RingReader(resRing, made.responseRing), this.o.maxMessageBytes, native.copyBytes);
    } catch (e) {
      seg.close();
      made.link.close();
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.o.name} handed over unusable rings: ${(e as Error).message}`);
    }
    const conn = new Connection(
      made.link, seg, channel,
      new SocketBell(seg, L.CONN_SERVER_PARKED, made.link.fd),
      new Doorbell(seg, L.CONN_CLIENT_DOORBELL, L.CONN_CLIENT_PARKED),
      made.serverPid,
    );
    made.link.onEvent = (events) => this.onSocketEvent(conn, events);
    made.link.watch();
    onProcessExit.add(this.exitHook);
    this.conn = conn;
    // The first record: the deadline of calls sent without a CONTEXT.
    this.sendContext(conn, 0, this.o.timeoutMs, undefined);
    this.armCheck();
    this.events.connect(this, made.serverPid);
    return conn;
  }

  /** The server's socket: it sends nothing after the handshake, so this is its hang-up
   *  (death or close). */
  private onSocketEvent(conn: Connection, events: number): void {
    if (conn.closed) return;
    if ((events & READABLE) !== 0 && native.drainPackets(conn.link.fd) >= 0) return;
    this.receiver.receive(conn); // responses it did send still count
    if (conn.closed) return;
    this.disconnect(droppedError(this.o.name, conn.seg.load(L.CONN_DROP_REASON)));
  }

  /** The process (or worker thread) is exiting without close(): say goodbye and
   *  free everything, so the server drops us at once and nothing is left behind. */
  private readonly exitHook = (): void => {
    try {
      this.close();
    } catch {
      // Exiting anyway.
    }
  };

  /** Throws (after failing everything pending) when the server dropped this
   *  connection without a goodbye getting through (its ring was full). The reason
   *  is in our own connection's memory. */
  private checkStillAccepted(conn: Connection): void {
    const reason = conn.seg.load(L.CONN_DROP_REASON);
    if (reason === L.REASON_NONE) return;
    this.receiver.receive(conn); // responses it did send still count
    if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.o.name} ended`);
    const err = droppedError(this.o.name, reason);
    this.disconnect(err);
    throw err;
  }

  /** Throws (after failing everything pending) when the server died or left: its
   *  socket hung up. At most once per LIVENESS_MS. */
  private checkServer(conn: Connection, now: number): void {
    if (now - this.lastLivenessCheck < LIVENESS_MS) return;
    this.lastLivenessCheck = now;
    if (conn.link.peerGone()) {
      this.receiver.receive(conn);
      if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.o.name} ended`);
      const err = droppedError(this.o.name, conn.seg.load(L.CONN_DROP_REASON));
      this.disconnect(err);
      throw err;
    }
    this.checkStillAccepted(conn);
  }

  /** Looks at the server now (not only when a check is due): false when it is gone. */
  alive(): boolean {
    const conn = this.conn;
    if (conn === undefined || conn.closed) return false;
    this.lastLivenessCheck = 0;
    try {
      this.checkServer(conn, performance.now());
    } catch {
      // disconnect() has failed what was pending.
    }
    return !conn.closed;
  }

  /** Ends the connection: every pending call fails with `err`; memory is freed.
   *  `exact`: each call's `maybeExecuted` says whether the server took it, from the
   *  id of the last request it took (requests are taken in id order); otherwise true. */
  private disconnect(err: RpcError, exact = true): void {
    const conn = this.conn;
    this.conn = undefined;
    const taken = conn && !conn.closed && exact ? conn.seg.load(L.CONN_TAKEN_ID) : -1;
    const failure = (id: number): RpcError => new RpcError(err.code, err.message, {
      cause: err.cause, maybeExecuted: taken < 0 || wasTaken(id, taken),
    });
    this.async.stopPump(); // before unmapping: the waiter may sleep on our doorbell
    if (conn && !conn.closed) {
      conn.closed = true;
      onProcessExit.delete(this.exitHook);
      conn.link.close();
      conn.lease.end(); // now, or once a stream's view item is released
      this.events.disconnect(this, conn.serverPid, err.message);
    }
    this.sync.fail(failure);
    this.async.failAll(failure);
  }

  /** Says goodbye, settles every pending call with ERR_RPC_CLOSED and frees all shared memory; later calls fail at once with ERR_RPC_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.dueTimer);
    // A handshake in progress ends now, not at its timeout (its timer keeps the process alive).
    this.handshake?.cancel(this.closedError());
    this.handshake = undefined;
    // Stop the waiter first: it may sleep on a word of the memory unmapped below.
    this.async.close();
    const conn = this.conn;
    if (conn) {
      if (!conn.closed) {
        // Say goodbye in-band after our requests (closing the socket says it too).
        conn.channel.sendEmpty(L.T_GOODBYE);
        conn.channel.writer.commit();
        conn.serverBell.wake();
      }
      // The server still takes what we sent before the goodbye: any of it may run.
      this.disconnect(closingError(this.o.name), false);
    }
  }

  private closedError(): RpcError {
    return closedError(this.o.name);
  }

  /** Encodes and sends a request on the current connection (made now, blocking, when
   *  `connectWithin` is given and there is none); returns its id. Throws before sending
   *  anything on bad input. */
  send(name: MethodName, args: unknown[], timeoutMs: number, metadata: Metadata | undefined, connectWithin?: number, open?: StreamSink, streamed = -1): number {
    if (this.closed) throw this.closedError();
    const encoder = this.encoder;
    const length = encoder.encode(args, this.o.maxMessageBytes, "args", HEADROOM);
    this.sentBytes = length;
    const conn = this.connection() ?? (connectWithin === undefined ? undefined : this.connectNow(connectWithin));
    if (conn === undefined) throw new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, `client of ${this.o.name} is not connected`, { maybeExecuted: false });
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    if (metadata !== undefined || timeoutMs !== this.o.timeoutMs) this.sendContext(conn, id, timeoutMs, metadata);
    if (open !== undefined) this.sendCredit(conn, id, open.windowItems, open.windowBytes);
    if (streamed >= 0) {
      new DataView(this.argExtra.buffer).setUint32(0, streamed, true);
      conn.channel.send(L.T_STREAM_ARG, id, this.argExtra, this.encoder.start + HEADROOM, 0);
    }
    // By id once this connection's server has said it (METHOD_ID), else by name.
    const methodId = conn.methodIds.get(name.index);
    if (methodId >= 0) conn.channel.sendCall(id, methodId, encoder.start + HEADROOM, length, encoder.splice);
    else conn.channel.send(L.T_REQUEST, id, name.extra, encoder.start + HEADROOM, length, encoder.splice);
    encoder.shrink(length);
    conn.channel.writer.commit();
    conn.serverBell.ring();
    return id;
  }

  /** A CONTEXT for call `id` (0: the connection's default timeout): its time left and metadata. */
  private sendContext(conn: Connection, id: number, timeoutMs: number, metadata: Metadata | undefined): void {
    this.contextView.setUint32(0, Math.min(Math.max(0, Math.ceil(timeoutMs)), 0xffffffff), true);
    const encoder = this.contextEncoder();
    const length = metadata === undefined ? 0 : encoder.encode(metadata, METADATA_MAX_BYTES * 2, "metadata", HEADROOM);
    conn.channel.send(L.T_CONTEXT, id, this.contextExtra, encoder.start + HEADROOM, length);
  }

  /** A STREAM_CREDIT for stream `id` (just before its request: the credit it opens with).
   *  Its header goes in the encoder's headroom (a request's arguments may be after it). */
  private sendCredit(conn: Connection, id: number, items: number, bytes: number): void {
    this.creditView.setUint32(0, items, true);
    this.creditView.setUint32(4, bytes, true);
    conn.channel.send(L.T_STREAM_CREDIT, id, this.creditExtra, this.encoder.start + HEADROOM, 0);
  }

  /** Sends the items of call `id`'s streamed argument `source` within the server's credit,
   *  then STREAM_END (reason 1: `source` threw); stops (closing `source`) when the call ends. */
  private sendArg(id: number, source: unknown, end: Promise<unknown>): void {
    const conn = this.conn!;
    const credit = new StreamCredit(ARG_WINDOW_ITEMS, ARG_WINDOW_BYTES);
    this.argStreams.set(id, credit);
    const stop = (): void => {
      this.argStreams.delete(id);
      credit.cancel();
    };
    end.then(stop, stop);
    const ended = (reason: number): void => {
      if (credit.cancelled || conn.closed) return;
      this.argStreams.delete(id);
      conn.channel.send(L.T_STREAM_END, id, errorExtra(reason), this.encoder.start + HEADROOM, 0);
      conn.channel.writer.commit();
      conn.serverBell.ring();
    };
    pumpStream(source, credit, (value) => {
      if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, `connection to ${this.o.name} ended`);
      const length = this.encoder.encode(value, this.o.maxMessageBytes, "item", HEADROOM);
      conn.channel.send(L.T_STREAM_ITEM, id, null, this.encoder.start + HEADROOM, length, this.encoder.splice);
      this.encoder.shrink(length);
      conn.channel.writer.commit();
      conn.serverBell.ring();
      if (!conn.channel.idle) this.async.schedulePump(); // the rest goes as the server reads
      return length;
      // A server that grants more credit than it reads holds the source once an argument
      // window waits beyond the ring: this client's memory stays bounded (hostile-streams.test).
    }, () => conn.closed || conn.channel.queuedBytes <= ARG_WINDOW_BYTES).then(() => ended(0), () => ended(1));
  }

  /** Stream call `id` is sent: its sink learns how to grant credit and cancel. */
  private opened(id: number, sink: StreamSink, end: Promise<unknown>): void {
    this.streams.set(id, sink);
    const conn = this.conn!;
    sink.link({
      credit: (items, bytes) => {
        if (conn.closed || this.streams.get(id) !== sink) return;
        this.sendCredit(conn, id, items, bytes);
        conn.channel.writer.commit();
        conn.serverBell.ring();
      },
      cancel: () => {
        if (this.streams.get(id) !== sink) return;
        this.streams.delete(id);
        if (!conn.closed) this.cancel(id, CancelReason.ABORTED);
        this.async.forget(id);
      },
    });
    const forget = (): void => {
      if (this.streams.get(id) === sink) this.streams.delete(id);
    };
    end.then(forget, forget);
  }

  /** Tells the server that the caller gave up on call `id`, published to the ring: a
   *  request it has not taken yet is dropped (the cancel slots, src/core/cancel-box.ts),
   *  a running handler's signal aborts (the CANCEL record). Best effort: the server may
   *  take it first, or the connection may be gone. */
  private cancel(id: number, reason: number): void {
    const conn = this.conn;
    if (conn === undefined || conn.closed) return;
    postCancel(conn.seg, id);
    conn.channel.send(L.T_CANCEL, id, errorExtra(reason), this.encoder.start + HEADROOM, 0);
    conn.channel.writer.commit();
    conn.serverBell.ring();
  }

  /** A synchronous call on this route: connects first (blocking) if need be. */
  callSync(name: MethodName, method: string, args: unknown[], timeoutMs: number, metadata: Metadata | undefined, sizes?: MessageSizes): unknown {
    if (this.sync.busy) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a synchronous call is already in progress on this client");
    }
    // Its answer could not be read before the loop's next(): it would only wait out its deadline.
    if (this.conn?.viewHeld === true) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a stream's view item is held (withOptions({ view: true })): call the stream's next() before a synchronous call", { maybeExecuted: false });
    }
    const id = this.send(name, args, timeoutMs, metadata, timeoutMs);
    if (sizes !== undefined) {
      sizes.request = this.sentBytes;
      this.sync.sizes = sizes;
    }
    try {
      return this.sync.wait(this.conn!, id, method, timeoutMs);
    } catch (e) {
      // Taken back from the send queue (maybeExecuted false): the server never sees it.
      if (e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_TIMEOUT && e.maybeExecuted !== false) this.cancel(id, CancelReason.TIMEOUT);
      throw e;
    } finally {
      if (this.async.pending.size > 0) this.async.schedulePump();
    }
  }

  /** An asyncCall on this route's connection, which must be there (`connection()`).
   *  With `refused` (Transport.attemptOnce), a draining server's refusal goes there
   *  instead of rejecting (not for a call with a streamed argument: its source is taken,
   *  it is never sent again). */
  callAsync(name: MethodName, method: string, args: unknown[], timeoutMs: number, settings: CallSettings, stream?: StreamSink, refused?: Refused): Promise<unknown> {
    let id: number;
    let streamed: number;
    let source: unknown;
    try {
      streamed = streamedArg(args);
      if (streamed >= 0) {
        source = args[streamed];
        args = args.slice();
        args[streamed] = null; // its items follow the request
      }
      id = this.send(name, args, timeoutMs, settings.metadata, undefined, stream, streamed);
    } catch (e) {
      return Promise.reject(e);
    }
    if (settings.sizes !== undefined) settings.sizes.request = this.sentBytes;
    const end = this.async.start(id, method, args, settings, timeoutMs, streamed < 0 ? refused : undefined);
    if (stream !== undefined) this.opened(id, stream, end);
    if (streamed >= 0) this.sendArg(id, source, end);
    return end;
  }
}

/** A failure to connect: the call was never sent, so it never ran. */
export function notSent(e: unknown): never {
  if (e instanceof RpcError && e.maybeExecuted === undefined) {
    throw new RpcError(e.code, e.message, { cause: e.cause, maybeExecuted: false });
  }
  throw e;
}
