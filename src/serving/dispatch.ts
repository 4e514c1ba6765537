// The serving engine: the connections a server has accepted, the serving turn (the
// waiting loop of src/core/spin.ts, parking in the event loop), draining each client's
// requests, dispatching them to the endpoints, sending results and errors, backpressure,
// and dropping clients. `Server` (src/server.ts) owns one and delegates to it.

import { core } from "../core/wasm.js";
import { L } from "../core/layout.js";
import { Doorbell } from "../core/doorbell.js";
import { RingReader, RingWriter } from "../core/ring.js";
import type { Spin } from "../core/spin.js";
import { native } from "../native.js";
import { Channel, OVERSIZED } from "../channel.js";
import { Encoder } from "../codec/encode.js";
import { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { ErrorKind } from "../protocol.js";
import { P_ID, P_NAME, P_NAME_LENGTH, P_METHOD_ID, P_CALL_BODY, P_RESPONSE_BODY, bodyOffset, HEADROOM, errorExtra } from "../frames.js";
import type { Established } from "../connection/listener.js";
import { READABLE } from "../connection/link.js";
import type { PeerInfo } from "../server.js";
// contracts: an Endpoint (handler, contract entry, counters) per method, not a bare handler
import type { Endpoint } from "../contracts/endpoint.js";
import type { Methods } from "./methods.js";
import { invoke, errorShape, unsendableShape, type Wire } from "./invoke.js";
import { Running, NO_METADATA, CancelReason, cancelCode } from "./context.js";
import { receivedMetadata } from "../metadata.js";
import { Connection } from "./connection.js";
import { Lease } from "./lease.js";
import { Budgets } from "./budgets.js";
import { StreamCredit } from "./stream.js";
import { Inbound } from "./inbound.js";
import { NOT_EMPTY } from "./wake-throttle.js";

/** Longest a serving turn keeps the event loop before yielding to other I/O. */
const TURN_MS = 2;
/** Records taken from one client before looking at the others. */
const BATCH = 256;
/** SHMRPC_DEBUG_VIEWS=1: a view handler's request is overwritten once it is done with
 *  (see Channel.poisonDelivered), so that views kept too long show at once. */
const DEBUG_VIEWS = process.env.SHMRPC_DEBUG_VIEWS === "1";
/** How often a client that is sending has its socket checked for a hang-up while the
 *  server is too busy to return to the event loop. */
const ALIVE_CHECK_MS = 1;

/** What the engine tells its server. */
export interface ServingEvents {
  /** A connection-level problem (the server's onError). */
  error(err: RpcError): void;
  connect(peer: PeerInfo): void;
  disconnect(peer: PeerInfo): void;
  /** The server parks with nothing waiting, and the newest client has made its first
   *  call: the moment for work kept off the calls' path. */
  idle(): void;
}

export class Serving {
  /** The connections served, in the order they came. */
  readonly conns: Connection[] = [];
  /** Shared memory of all of them, in bytes (for the listener's budget). */
  mappedBytes = 0;
  /** Handlers that returned a promise not yet settled, over all connections. */
  inflight = 0;
  private running = false;
  /** The serving turn's last clock reading (performance.now()), which pollOnce was given:
   *  when a call without a CONTEXT record counts its default deadline from (at most a
   *  turn, TURN_MS, before it was read). */
  private clock = 0;
  private encoder: Encoder | undefined;
  private decoder: Decoder | undefined;
  private parked = false;
  /** Unparked since the last turn began: the next turn starts a new idle stretch. */
  private woken = true;
  private scheduled = false;
  /** The connection whose handler runs now (synchronously), for the reserved methods that
   *  answer each caller its own share (src/server.ts, `$shmrpc.stats`); else undefined. */
  caller: Connection | undefined;
  /** The connection accepted last, until its first request is taken (or it goes). */
  private newest: Connection | undefined;

  constructor(
    private readonly name: string,
    // contracts: Endpoints by method name and by method id (the server's, shared)
    private readonly methods: Methods,
    private readonly maxMessageBytes: number,
    private readonly maxQueuedBytes: number,
    private readonly spin: Spin,
    private readonly events: ServingEvents,
    /** What one client, or one user's clients, may hold (budgets.ts). */
    readonly budgets: Budgets,
    /** Send handlers' stacks to their callers (the server's exposeStacks option). */
    private readonly exposeStacks = false,
  ) {}

  /** Connection memory and connections of user `uid` (for the listener's per-user budgets). */
  usageOf(uid: number): { mappedBytes: number; connections: number } {
    let mappedBytes = 0;
    let connections = 0;
    for (const conn of this.conns) {
      if (conn.uid !== uid) continue;
      connections++;
      mappedBytes += conn.seg.size;
    }
    return { mappedBytes, connections };
  }

  /** Starts serving (the name is claimed). */
  start(): void {
    this.running = true;
    this.encoder = new Encoder(core());
    this.decoder = new Decoder(core(), native.copyBytes);
  }

  /** Draining (src/protocol.ts, DRAINING): new calls are refused ERR_RPC_UNAVAILABLE. */
  private draining = false;
  private drained: (() => void) | undefined;

  /** Takes no new call from now on and resolves once no call runs, or after `ms`, having
   *  then aborted the signals of the context handlers still running. Close after it. */
  drainCalls(ms: number): Promise<void> {
    this.draining = true;
    // Said in each client's memory first: a client of several replicas sends its new
    // calls to the others instead of having them refused here (src/calls/balance.ts).
    for (const conn of this.conns) conn.seg.store(L.CONN_SERVER_DRAINING, 1);
    if (this.inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.drained = undefined;
        for (const conn of this.conns) {
          for (const r of conn.running?.values() ?? []) r.abort(ErrorCodes.ERR_RPC_CLOSED, `the server closed: the call ran past its drainMs (${ms} ms)`);
        }
        resolve();
      }, ms);
      this.drained = () => {
        clearTimeout(timer);
        this.drained = undefined;
        resolve();
      };
    });
  }

  /** Stops: says goodbye to every client and frees everything. */
  close(): void {
    this.running = false;
    for (const conn of [...this.conns]) this.drop(conn, undefined, L.REASON_CLOSED, "the server closed");
    this.encoder?.dispose();
    this.decoder?.dispose();
  }

  accept(c: Established): void {
    const seg = c.seg;
    let channel: Channel;
    try {
      if (!this.running) throw new Error("closing");
      const reqRing = seg.offset + L.CONN_HEADER_BYTES;
      const resRing = reqRing + L.RING_HEADER_BYTES + c.requestRing;
      const writer = new RingWriter(resRing, c.responseRing);
      let reader: RingReader;
      try {
        reader = new RingReader(reqRing, c.requestRing);
      } catch (e) {
        writer.dispose();
        throw e;
      }
      channel = new Channel(writer, reader, this.maxMessageBytes, native.copyBytes, this.budgets.reassemblyOf(c.uid));
    } catch {
      seg.close();
      c.link.close();
      return;
    }
    // The memory goes when the connection has ended and no view handler holds it (lease.ts).
    const lease = new Lease(() => {
      channel.dispose();
      conn.copy.free();
      seg.close();
      this.mappedBytes -= seg.size;
    });
    const conn = new Connection(c.link, c.pid, c.uid, c.gid, seg, channel, new Doorbell(seg, L.CONN_CLIENT_DOORBELL, L.CONN_CLIENT_PARKED), lease);
    this.conns.push(conn);
    this.mappedBytes += seg.size;
    c.link.onEvent = (events) => this.onSocketEvent(conn, events);
    this.newest = conn;
    if (this.parked) seg.store(L.CONN_SERVER_PARKED, 1);
    if (this.draining) seg.store(L.CONN_SERVER_DRAINING, 1);
    this.events.connect({ pid: conn.pid, uid: conn.uid, gid: conn.gid });
    this.schedule();
  }

  /** The client's socket: wake-ups, or its hang-up (its death or close). */
  private onSocketEvent(conn: Connection, events: number): void {
    if (conn.closed) return;
    const got = (events & READABLE) !== 0 ? native.drainPackets(conn.link.fd) : -1;
    if (got < 0) {
      this.drop(conn, undefined, L.REASON_NONE, "the client closed or died");
      return;
    }
    if (got > 0 && conn.channel.reader.used() === 0 && this.forNothing(conn)) return;
    if (this.parked) {
      this.unpark();
      this.turn();
    }
  }

  /** A wake-up of `conn` that found its ring empty: true when it asked nothing of the
   *  server (src/serving/wake-throttle.ts), which then stays as it is (parked: a turn would
   *  spin for nothing, ~50 µs each, what a flood of them cost). Past the limit, its socket
   *  is not watched for a pause. A wake-up after records were taken is a caller's whose
   *  request a turn took first: served as before (the turn may take its next one). */
  private forNothing(conn: Connection): boolean {
    const pauseMs = conn.wakes.emptyWake(performance.now(), conn.recordsTaken);
    if (pauseMs === NOT_EMPTY) return false;
    if (pauseMs > 0) {
      conn.link.unwatch();
      setTimeout(() => {
        if (conn.closed) return;
        conn.link.watch(); // level-triggered: a wake byte sent meanwhile fires at once
        this.schedule(); // and whatever it published meanwhile is served
      }, pauseMs).unref();
      return true;
    }
    // Responses waiting for room in its ring: its wake-up may say it made some.
    if (!conn.channel.idle) return false;
    if (!this.parked) return true; // a turn comes anyway
    // The client cleared our "parked" word as it rang: set it again, then look once more,
    // as park() does (a request published in between is served now).
    conn.seg.store(L.CONN_SERVER_PARKED, 1);
    return conn.viewHeld || conn.channel.reader.empty();
  }

  /** Forgets a connection and frees its memory, at once or, while a view handler holds
   *  it, once the last one is done. `why` (reported) and `reason` (left in the client's
   *  memory) say why the server ends it, if it does. */
  drop(conn: Connection, why: RpcError | undefined, reason = L.REASON_NONE, text = why?.message ?? ""): void {
    if (conn.closed) return;
    conn.closed = true;
    if (why) this.events.error(why);
    if (reason !== L.REASON_NONE) {
      conn.seg.store(L.CONN_DROP_REASON, reason);
      // Tell the client in-band too, if its response ring has room, so its calls fail
      // at once even before it sees the socket close.
      try {
        conn.channel.clearQueue();
        conn.channel.sendEmpty(L.T_GOODBYE, true);
        conn.channel.writer.commit();
      } catch {
        // Its ring is broken: the reason in its memory tells it.
      }
      conn.bell.wake();
    }
    if (conn.running !== undefined) {
      // The caller went (or the server closes): its handlers' signals abort.
      const text2 = reason === L.REASON_CLOSED ? "the server closed" : "the caller closed or died";
      for (const r of conn.running.values()) r.abort(ErrorCodes.ERR_RPC_DISCONNECTED, text2);
      conn.running.clear();
    }
    // Its streams end: their iterators are closed (a generator's finally runs).
    if (conn.streams !== undefined) {
      for (const s of conn.streams.values()) s.cancel();
      conn.streams.clear();
    }
    if (conn.roomWaiters !== undefined) this.roomMade(conn); // (their sends fail: it went)
    if (conn.inbound !== undefined) {
      // (Left in the map: each call's end lets go of a view item its handler still has.)
      for (const a of conn.inbound.values()) a.fail(new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the caller closed or died"));
    }
    if (conn === this.newest) this.newest = undefined;
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    conn.link.close();
    conn.lease.end();
    this.events.disconnect({ pid: conn.pid, uid: conn.uid, gid: conn.gid, reason: text });
  }

  // ------------------------------------------------------------- serving

  private schedule(): void {
    if (this.scheduled || !this.running) return;
    if (this.parked) this.unpark();
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    if (!this.running) return;
    const spin = this.spin;
    // The idle stretch goes on across the turns that only yielded: a turn that yields
    // at each idle poll (handlers pending) would otherwise never be idle long enough to
    // park, and would spin a core until every handler settled (forever for one that
    // never does). A settled handler answers by itself (settleLater), without a turn.
    if (this.woken) {
      this.woken = false;
      spin.begin();
    }
    const start = performance.now();
    let now = start; // the last clock reading: pollOnce's liveness checks need no fresher one
    for (;;) {
      const did = this.pollOnce(now);
      if (!this.running) return;
      // While idle the clock is read only every few polls, so a request that arrives is
      // seen sooner; spin and turn overrun by a few polls at most.
      if (spin.due(did)) {
        now = performance.now();
        if (spin.tick(now)) {
          if (this.scheduled) return; // another turn is queued (see below): it parks if it finds nothing
          if (this.park()) return;
          spin.rest();
        }
        if (now - start >= TURN_MS) break;
      }
      // Yield: handlers' promises settle in microtasks, other I/O needs the loop.
      if (did === 0 && this.inflight > 0) break;
    }
    // One turn at a time: a result that did not fit its ring queued one already (schedule()).
    // Queuing another each time made the chains pile up in busy-poll mode, which never
    // parks: after a hundred big results the event loop went round once per 100+ turns,
    // and a new client waited 264 ms for its accept.
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.turn);
  };

  /** Parks in the event loop: tells every client that it must wake us through its
   *  socket, then looks once more; false when work turned up meanwhile. (A client
   *  publishes, then reads our word; we set our word, then read its ring: with
   *  sequentially consistent atomics on both sides one of us sees the other.) */
  private park(): boolean {
    for (const conn of this.conns) conn.seg.store(L.CONN_SERVER_PARKED, 1);
    if (this.hasWork()) {
      this.unpark();
      return false;
    }
    this.parked = true;
    if (this.newest === undefined) this.events.idle();
    return true;
  }

  private unpark(): void {
    this.parked = false;
    this.woken = true;
    for (const conn of this.conns) conn.seg.store(L.CONN_SERVER_PARKED, 0);
  }

  private hasWork(): boolean {
    for (const conn of this.conns) {
      // A client whose responses wait for room is not read from (see drain).
      if (conn.channel.idle ? !conn.viewHeld && !conn.channel.reader.empty() : conn.channel.canFlush()) return true;
    }
    return false;
  }

  /** One pass over everything; returns how many records it handled. */
  private pollOnce(now: number): number {
    this.clock = now;
    let did = 0;
    for (let i = 0; i < this.conns.length; i++) {
      const conn = this.conns[i]!;
      try {
        did += this.drain(conn, now);
      } catch (e) {
        // Whatever a client's data made go wrong costs that client its connection, never the server.
        this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client ${conn.pid} dropped: ${(e as Error).message}`, { cause: e }), L.REASON_PROTOCOL);
        did++;
      }
    }
    return did;
  }

  private drain(conn: Connection, now: number): number {
    const ch = conn.channel;
    if (ch.writeError !== undefined) {
      this.protocolError(conn, ch.writeError);
      return 1;
    }
    if (this.died(conn, now)) return 1;
    const wrote = !ch.idle && ch.flush();
    if (wrote && ch.idle && conn.roomWaiters !== undefined) this.roomMade(conn);
    let n = 0;
    // Backpressure: while responses wait for room in the client's ring, take no new
    // requests (its request ring fills and its own sends wait at its side).
    while (n < BATCH && ch.idle && !conn.viewHeld && ch.poll()) {
      n++;
      // The common record first; the others in a method of their own, so that the
      // compiled loop (inlined into the serving turn) stays small.
      if (ch.type === L.T_CALL) this.dispatchById(conn, ch.payload, ch.length);
      else if (!this.take(conn, ch.type)) return n;
      if (conn.closed) return n;
      if (!ch.idle && this.overQueued(conn)) return n;
      // A long handler may have outlived its client: look again every few requests.
      if ((n & 15) === 0 && this.died(conn, performance.now())) return n;
    }
    if (ch.protocolError !== undefined) {
      this.protocolError(conn, ch.protocolError);
      return n;
    }
    if (n > 0) {
      conn.recordsTaken += n;
      ch.release();
      ch.writer.commit();
      if (conn === this.newest) this.newest = undefined;
    }
    if (n > 0 || wrote || ch.freedRoom) {
      const progress = n + (wrote || ch.freedRoom ? 1 : 0);
      ch.freedRoom = false;
      conn.bell.ring();
      return progress;
    }
    return 0;
  }

  /** A record other than a CALL (drain's loop): false when the drain must stop (the
   *  connection ended or broke the protocol). */
  private take(conn: Connection, type: number): boolean {
    const ch = conn.channel;
    if (type === L.T_REQUEST) {
      this.dispatch(conn, ch.payload, ch.length);
    } else if (type === OVERSIZED) {
      if (ch.oversizedId >= 0 && ch.overBudget) {
        const l = this.budgets.limits;
        this.sendError(conn, ch.oversizedId, ErrorKind.RESOURCE_EXHAUSTED, "RpcError",
          `request of ${ch.length} bytes refused: unfinished requests would hold more than the server's maxReassemblyBytesPerUser (${l.maxReassemblyBytesPerUser}) or maxReassemblyBytes (${l.maxReassemblyBytes})`);
      } else if (ch.oversizedId >= 0) {
        this.sendError(conn, ch.oversizedId, ErrorKind.MESSAGE_TOO_LARGE, "Error",
          `request of ${ch.length} bytes is over the server's maxMessageBytes (${this.maxMessageBytes})`);
      }
    } else if (type === L.T_CONTEXT) {
      this.takeContext(conn, ch.payload, ch.length);
    } else if (type === L.T_CANCEL) {
      this.takeCancel(conn, ch.payload, ch.length);
    } else if (type === L.T_STREAM_CREDIT) {
      this.takeCredit(conn, ch.payload, ch.length);
    } else if (type === L.T_STREAM_ITEM) {
      this.takeItem(conn, ch.payload, ch.length);
    } else if (type === L.T_STREAM_ARG) {
      this.takeStreamArg(conn, ch.payload, ch.length);
    } else if (type === L.T_STREAM_END) {
      this.takeStreamEnd(conn, ch.payload, ch.length);
    } else if (type === L.T_GOODBYE) {
      ch.consumed();
      ch.release();
      this.drop(conn, undefined, L.REASON_NONE, "the client said goodbye");
      return false;
    } else {
      this.protocolError(conn, `a record of type ${type}`);
      return false;
    }
    return true;
  }

  /** A REQUEST: the method by name (a client's first call of it). The client is told
   *  the method's id first (METHOD_ID), once per connection, and sends CALLs after. */
  private dispatch(conn: Connection, at: number, length: number): void {
    const c = core();
    if (length < P_NAME) return this.protocolError(conn, "a request shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    // Before anything runs: the client learns from it whether a lost call may have run.
    c.u32[conn.takenIndex] = id;
    const nameLength = c.u8[at + P_NAME_LENGTH]!;
    if (P_NAME + nameLength > length) return this.protocolError(conn, "a method name longer than its request");
    // A fragmented request's tail (src/channel.ts) is not in memory: the header ends before it.
    const tail = conn.channel.tail;
    if (tail !== null && bodyOffset(P_NAME + nameLength) > length - tail.length) return this.protocolError(conn, "a request whose tail starts inside its header");
    const method = this.decoder!.name(at + P_NAME, at + P_NAME + nameLength);
    const ep = this.methods.get(method); // contracts: Endpoint
    if (ep === undefined) {
      this.sendError(conn, id, ErrorKind.METHOD_NOT_FOUND, "Error", `no method "${method}" on ${this.name}`);
      return;
    }
    const body = bodyOffset(P_NAME + nameLength);
    if (body > length) return this.protocolError(conn, "a request without arguments");
    const methodId = this.methods.idOf(method)!;
    if (conn.announced[methodId] !== true) {
      conn.announced[methodId] = true;
      // No body: the encoder's headroom is free between messages.
      conn.channel.send(L.T_METHOD_ID, methodId, this.methods.announcement(methodId, method), this.encoder!.start + HEADROOM, 0);
    }
    this.run(conn, id, ep, at + body, at + length);
  }

  /** A CALL: the method by the id this server gave it. The id is the client's word: one
   *  this server never gave, or of a method deleted since, is ERR_RPC_METHOD_NOT_FOUND. */
  private dispatchById(conn: Connection, at: number, length: number): void {
    const c = core();
    if (length < P_CALL_BODY) return this.protocolError(conn, "a call shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    c.u32[conn.takenIndex] = id; // as in dispatch
    const methodId = c.view.getUint32(at + P_METHOD_ID, true);
    const ep = this.methods.byId(methodId);
    // Only an id this connection was told (a METHOD_ID record): a guessed one reaches nothing.
    if (ep === undefined || conn.announced[methodId] !== true) {
      this.sendError(conn, id, ErrorKind.METHOD_NOT_FOUND, "Error", `no method with id ${methodId} on ${this.name}`);
      return;
    }
    this.run(conn, id, ep, at + P_CALL_BODY, at + length);
  }

  /** Decodes the arguments in [body, end) and runs the handler of `ep` for call `id`.
   *  A view handler (`ep.view`) gets views of the request's memory: the request stays
   *  delivered (not consumed) until its handler has returned and its result is encoded,
   *  and for a promise until it settles (`viewHeld`); until then it holds the
   *  connection's memory (`lease`), which outlives the connection if need be. */
  private run(conn: Connection, id: number, ep: Endpoint, body: number, end: number): void {
    // Its caller gave up on it before it was taken (src/core/cancel-box.ts): it never runs.
    if (conn.cancelled.dropped(id)) return;
    if (this.draining) {
      this.sendError(conn, id, ErrorKind.UNAVAILABLE, "RpcError", `call refused: ${this.name} is draining (closing); it did not run`);
      return;
    }
    if (conn.inflight >= this.budgets.limits.maxInflightPerConnection) {
      this.sendError(conn, id, ErrorKind.RESOURCE_EXHAUSTED, "RpcError",
        `call refused: this connection has ${conn.inflight} calls in flight, the server's maxInflightPerConnection`);
      return;
    }
    // A view handler called as a stream, or with a streamed argument, gets its request's
    // arguments as copies: its request cannot stay delivered while items come and go
    // (the items of a streamed argument are views, see takeItem).
    const streaming = ep.view && (conn.argId === id || conn.openId === id);
    const view = ep.view && !streaming;
    const tail = conn.channel.tail;
    let args: unknown;
    try {
      if (!view) args = this.decoder!.decode(body, end, tail);
      else {
        // contracts: a schema checks bytes the client can no longer change (private-copy.ts)
        if (ep.spec !== undefined && conn.channel.deliveredInRing) {
          const at = conn.copy.take(body, end);
          end = at + (end - body);
          body = at;
        }
        args = this.decoder!.decodeViews(body, end, tail);
      }
    } catch (e) {
      return this.protocolError(conn, `undecodable arguments (${(e as Error).message})`);
    }
    if (!Array.isArray(args)) return this.protocolError(conn, "arguments that are not an array");
    if (conn.openId !== 0 && conn.openId !== id) conn.openId = 0; // opened another call: dropped
    if (conn.argId !== 0 && !this.streamArg(conn, id, ep, args)) return;
    if (streaming) (conn.unheld ??= new Set()).add(id);
    let running: Running | undefined;
    if (ep.contextual) {
      running = this.started(conn, id, ep.name);
      running.context.requestBytes = end - body;
    } else if (conn.contextId !== 0) conn.contextId = 0;
    if (view) conn.lease.hold();
    let pending = false;
    try {
      // $shmrpc.stats answers each caller its own share (src/server.ts): who is calling.
      this.caller = conn;
      pending = invoke(ep, args, running?.context, this.wire, conn, id);
    } finally {
      this.caller = undefined;
      // Tracked (for a CANCEL or the connection's end to abort) only while it is pending:
      // nothing can reach a call that ended before invoke returned.
      if (pending && running !== undefined) {
        (conn.running ??= new Map()).set(id, running);
        // Its connection ended while the handler's synchronous part ran (the server closed in it).
        if (conn.closed) running.abort(ErrorCodes.ERR_RPC_DISCONNECTED, "the connection ended while the call started");
      }
      if (!pending) {
        if (streaming) conn.unheld!.delete(id);
        this.endInbound(conn, id);
        // Sent (a spliced view copied into the ring or the queue): the tail may take the
        // next one. A view handler's request stays delivered while its promise is pending.
        if (view) this.doneWithView(conn, tail, true);
      }
    }
  }

  /** The context of call `id` (of a `{ context: true }` handler, or for middleware);
   *  run() tracks it while its promise is pending. */
  private started(conn: Connection, id: number, method: string): Running {
    if (conn.contextId === id) {
      conn.contextId = 0;
      return new Running(method, conn.contextDeadline, conn.caller, conn.contextMetadata);
    }
    conn.contextId = 0;
    // No clock read per call: the deadline counts from the turn's last reading.
    const running = new Running(method, 0, conn.caller, NO_METADATA);
    running.context.deadlineAfter(this.clock, conn.defaultTimeoutMs);
    return running;
  }

  /** A CONTEXT: [id u32][remaining ms u32][metadata, or nothing]. */
  private takeContext(conn: Connection, at: number, length: number): void {
    const c = core();
    if (length < 8) return this.protocolError(conn, "a CONTEXT shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    const remaining = c.view.getUint32(at + 4, true);
    if (id === 0) {
      conn.defaultTimeoutMs = remaining;
      return;
    }
    let metadata = NO_METADATA;
    if (length > 8) {
      let value: unknown;
      try {
        value = this.decoder!.decode(at + 8, at + length, conn.channel.tail);
      } catch (e) {
        return this.protocolError(conn, `undecodable metadata (${(e as Error).message})`);
      }
      const checked = receivedMetadata(value);
      if (checked === undefined) return this.protocolError(conn, "metadata that is not an object of strings");
      metadata = checked;
    }
    conn.contextId = id;
    conn.contextDeadline = Date.now() + remaining;
    conn.contextMetadata = metadata;
  }

  /** A CANCEL: [id u32][reason u8]: the caller gave up on call `id`. */
  private takeCancel(conn: Connection, at: number, length: number): void {
    if (length < 5) return this.protocolError(conn, "a CANCEL shorter than its header");
    const c = core();
    const id = c.view.getUint32(at + P_ID, true);
    conn.streams?.get(id)?.cancel();
    conn.inbound?.get(id)?.fail(new RpcError(cancelCode(c.u8[at + 4]!), "the caller gave up on the call"));
    const running = conn.running?.get(id);
    if (running === undefined) return;
    const reason = c.u8[at + 4]!;
    running.abort(cancelCode(reason), reason === CancelReason.TIMEOUT ? "the caller's deadline passed" : "the caller aborted the call");
  }

  /** A STREAM_CREDIT: [id u32][items u32][bytes u32]: more credit for stream `id`, or,
   *  when no stream of that id runs, the opening credit of the request that follows. */
  private takeCredit(conn: Connection, at: number, length: number): void {
    if (length < 12) return this.protocolError(conn, "a STREAM_CREDIT shorter than its header");
    const v = core().view;
    const id = v.getUint32(at + P_ID, true);
    const items = v.getUint32(at + 4, true);
    const bytes = v.getUint32(at + 8, true);
    const stream = conn.streams?.get(id);
    if (stream !== undefined) return stream.grant(items, bytes);
    conn.openId = id;
    conn.openItems = items;
    conn.openBytes = bytes;
  }

  /** A STREAM_ARG: [id u32][argument index u32]: that argument of the request that follows is streamed. */
  private takeStreamArg(conn: Connection, at: number, length: number): void {
    if (length < 8) return this.protocolError(conn, "a STREAM_ARG shorter than its header");
    const v = core().view;
    conn.argId = v.getUint32(at + P_ID, true);
    conn.argIndex = v.getUint32(at + 4, true);
  }

  /** Request `id`'s streamed argument, if a STREAM_ARG announced one: an Inbound in its
   *  place (args[index], sent as null). False when the call is answered already. */
  private streamArg(conn: Connection, id: number, ep: Endpoint, args: unknown[]): boolean {
    const index = conn.argIndex;
    const mine = conn.argId === id;
    conn.argId = 0;
    if (!mine) return true; // announced for another request: dropped
    if (index >= args.length || args[index] !== null) {
      this.protocolError(conn, "a STREAM_ARG for an argument that is not there (or not null)");
      return false;
    }
    const inbound = new Inbound(ep, (items, bytes) => this.sendArgCredit(conn, id, items, bytes));
    if (conn.openId !== id) ep.streams++; // (a stream call too: counted by invoke)
    (conn.inbound ??= new Map()).set(id, inbound);
    args[index] = inbound.stream;
    return true;
  }

  /** A STREAM_ITEM from the caller: one item of call `id`'s streamed argument. A view
   *  handler's item that holds binaries gets views of them: its record stays delivered,
   *  holding the connection's memory (lease) and reading (viewHeld), until the handler
   *  asks for the next item or its call ends. A contract method's item is first copied
   *  out of the ring, which the caller can still write (private-copy.ts). */
  private takeItem(conn: Connection, at: number, length: number): void {
    if (length < P_RESPONSE_BODY) return this.protocolError(conn, "a STREAM_ITEM shorter than its header");
    const inbound = conn.inbound?.get(core().view.getUint32(at + P_ID, true));
    if (inbound === undefined) return; // its call ended: dropped
    const ch = conn.channel;
    const views = inbound.views;
    let value: unknown;
    try {
      let body = at + P_RESPONSE_BODY;
      let end = at + length;
      if (!views) value = this.decoder!.decode(body, end, ch.tail);
      else {
        if (inbound.checked && ch.deliveredInRing) {
          const copy = conn.copy.take(body, end);
          end = copy + (end - body);
          body = copy;
        }
        value = this.decoder!.decodeViews(body, end, ch.tail);
      }
    } catch (e) {
      return this.protocolError(conn, `an undecodable stream item (${(e as Error).message})`);
    }
    let release: (() => void) | undefined;
    if (views && typeof value === "object" && value !== null) {
      conn.viewHeld = true;
      conn.lease.hold();
      release = () => this.releaseView(conn);
    }
    if (!inbound.push(value, length - P_RESPONSE_BODY, release)) this.protocolError(conn, "stream items beyond the credit given");
  }

  /** Call `id` ended: its streamed argument, if any, is forgotten (a view item its
   *  handler still had lets go of its memory). */
  private endInbound(conn: Connection, id: number): void {
    const inbound = conn.inbound?.get(id);
    if (inbound === undefined) return;
    conn.inbound!.delete(id);
    inbound.close();
  }

  /** The send queue is empty again: streams that waited for room go on. */
  private roomMade(conn: Connection): void {
    const waiters = conn.roomWaiters!;
    conn.roomWaiters = undefined;
    for (const w of waiters) w();
  }

  /** Whether call `id` of view handler `ep` holds its request delivered (not a stream call
   *  or a streamed argument's, whose arguments were copies: see run). */
  private holdsRequest(conn: Connection, id: number, ep: Endpoint): boolean {
    return ep.view && conn.unheld?.has(id) !== true;
  }

  /** A STREAM_END: [id u32][reason u8]: call `id`'s streamed argument ended (0) or failed (1). */
  private takeStreamEnd(conn: Connection, at: number, length: number): void {
    if (length < 5) return this.protocolError(conn, "a STREAM_END shorter than its header");
    const c = core();
    const id = c.view.getUint32(at + P_ID, true);
    const inbound = conn.inbound?.get(id);
    if (inbound === undefined) return;
    conn.inbound!.delete(id); // later items are dropped
    if (c.u8[at + 4] === 0) inbound.end();
    else inbound.fail(new RpcError(ErrorCodes.ERR_RPC_ABORTED, "the caller's stream failed"));
  }

  /** A STREAM_CREDIT to the caller: more room for call `id`'s streamed argument. */
  private sendArgCredit(conn: Connection, id: number, items: number, bytes: number): void {
    if (conn.closed || conn.inbound?.get(id) === undefined) return;
    const v = this.creditView;
    v.setUint32(0, items, true);
    v.setUint32(4, bytes, true);
    conn.channel.send(L.T_STREAM_CREDIT, id, this.creditExtra, this.encoder!.start + HEADROOM, 0);
    this.answered(conn, false, true);
  }
  private readonly creditExtra = new Uint8Array(8);
  private readonly creditView = new DataView(this.creditExtra.buffer);

  /** Call `id` opened as a stream: its credit, tracked until it settles. */
  private opened(conn: Connection, id: number): StreamCredit {
    conn.openId = 0;
    const credit = new StreamCredit(conn.openItems, conn.openBytes);
    (conn.streams ??= new Map()).set(id, credit);
    credit.room = () => (conn.channel.idle || conn.closed ? undefined : new Promise<void>((resolve) => (conn.roomWaiters ??= []).push(resolve)));
    return credit;
  }

  /** Sends one item of stream `id`; returns its encoded size. */
  private sendItem(conn: Connection, id: number, value: unknown): number {
    if (conn.closed) throw new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, "the caller went");
    const length = this.encoder!.encode(value, this.maxMessageBytes, "item", HEADROOM);
    conn.channel.send(L.T_STREAM_ITEM, id, null, this.encoder!.start + HEADROOM, length, this.encoder!.splice);
    this.encoder!.shrink(length);
    this.answered(conn, false, true);
    return length;
  }

  /** The shared invoke's way to this wire. */
  private readonly wire: Wire<Connection> = {
    result: (conn, id, value) => this.sendResult(conn, id, value),
    thrown: (conn, id, thrown) => this.sendThrown(conn, id, thrown),
    pending: (conn, id, ep) => {
      conn.inflight++;
      this.inflight++;
      if (this.holdsRequest(conn, id, ep)) conn.viewHeld = true;
    },
    settling: (conn, id, ep) => {
      if (ep.contextual) conn.running?.delete(id);
      if (conn.streams !== undefined) conn.streams.delete(id);
      if (conn.inbound !== undefined) this.endInbound(conn, id);
      conn.inflight--;
      this.inflight--;
      if (this.inflight === 0) this.drained?.();
      if (!conn.closed && this.running) return true;
      // Its client is gone: the memory its views showed may go now.
      if (this.holdsRequest(conn, id, ep)) this.doneWithView(conn, null, true);
      return false;
    },
    answered: (conn, id, ep, sent) => {
      const held = this.holdsRequest(conn, id, ep);
      if (ep.view && !held) conn.unheld!.delete(id);
      this.answered(conn, held, sent);
    },
    stream: (conn, id) => (conn.openId === id ? this.opened(conn, id) : undefined),
    item: (conn, id, value) => this.sendItem(conn, id, value),
  };

  /** A view handler is done with its request, which is still delivered: its tail's
   *  memory is kept for the next one (and, debugging, its bytes overwritten). With
   *  `release`, it lets go of the connection's memory (the last use of it, if the
   *  connection has ended meanwhile). */
  private doneWithView(conn: Connection, tail: Buffer | null, release: boolean): void {
    if (DEBUG_VIEWS) {
      conn.channel.poisonDelivered();
      conn.copy.poison();
    }
    if (tail !== null) conn.channel.keepTail(tail);
    if (release) conn.lease.release();
  }

  /** A view handler's promise settled and its result is sent: its request is consumed
   *  (its ring space given back, its tail kept for the next one) and reading resumes. */
  private releaseView(conn: Connection): void {
    const ch = conn.channel;
    conn.viewHeld = false;
    try {
      this.doneWithView(conn, ch.tail, false);
      ch.consumed();
      ch.release();
    } finally {
      conn.lease.release();
    }
    this.schedule();
  }

  /** A handler's promise settled and its answer is written (`sent`): send it at once (outside a drain batch). */
  private answered(conn: Connection, view: boolean, sent: boolean): void {
    if (view) this.releaseView(conn);
    if (!sent) return;
    if (!conn.channel.idle && (this.overQueued(conn) || this.brokenRing(conn))) return;
    conn.channel.writer.commit();
    conn.bell.ring();
    if (!conn.channel.idle) this.schedule();
  }

  /** Sends a handler's value; returns undefined, or (contracts: for the counters) why it could not. */
  private sendResult(conn: Connection, id: number, value: unknown): number | string {
    let length: number;
    try {
      length = this.encoder!.encode(value, this.maxMessageBytes, "result", HEADROOM);
    } catch (e) {
      const shape = unsendableShape(e, e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, value);
      this.sendDetails(conn, id, shape.kind, shape.details);
      return shape.why;
    }
    conn.channel.send(L.T_RESPONSE, id, null, this.encoder!.start + HEADROOM, length, this.encoder!.splice);
    this.encoder!.shrink(length);
    if (!conn.channel.idle) this.schedule();
    return length;
  }

  private sendThrown(conn: Connection, id: number, thrown: unknown): void {
    const shape = errorShape(thrown, this.exposeStacks);
    this.sendDetails(conn, id, shape.kind, shape.details);
  }

  private sendError(conn: Connection, id: number, kind: number, name: string, message: string): void {
    this.sendDetails(conn, id, kind, { name, message, stack: "" });
  }

  /** Sends an ERROR of `kind` with `details` { name, message, stack, code?, issues? }. */
  private sendDetails(conn: Connection, id: number, kind: number, details: Record<string, unknown>): void {
    let length: number;
    try {
      length = this.encoder!.encode(details, this.maxMessageBytes, "error", HEADROOM);
    } catch {
      length = this.encoder!.encode({ name: "Error", message: String(details.message).slice(0, 4096), stack: "" }, this.maxMessageBytes, "error", HEADROOM);
    }
    conn.channel.send(L.T_ERROR, id, errorExtra(kind), this.encoder!.start + HEADROOM, length, this.encoder!.splice);
  }

  /** Requests of a client that died are not run. The event loop reports a hang-up, but
   *  a busy server may not return to it for a while: while a client sends, its socket
   *  is also polled (a system call) every millisecond. Drops the connection and
   *  returns true when the client is gone. */
  private died(conn: Connection, now: number): boolean {
    // The clock first: most passes end here, without a call into the core.
    if (now - conn.aliveAt < ALIVE_CHECK_MS || conn.channel.reader.empty()) return false;
    conn.aliveAt = now;
    if (!conn.link.peerGone()) return false;
    this.drop(conn, undefined, L.REASON_NONE, "the client closed or died");
    return true;
  }

  /** Drops a client that left more responses unread than allowed (true if it did). */
  private overQueued(conn: Connection): boolean {
    const ch = conn.channel;
    if (ch.queuedBytes <= this.maxQueuedBytes || ch.queuedMessages <= 1) return this.overQueuedInAll(conn);
    this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED,
      `client ${conn.pid} dropped: it left ${ch.queuedBytes} bytes of responses unread (maxQueuedBytes ${this.maxQueuedBytes})`), L.REASON_SLOW_CONSUMER);
    return true;
  }

  /** Over maxQueuedBytesTotal (budgets.ts), the client with the most unread responses is
   *  dropped (true if that is `conn`). Runs only when `conn` has some queued. */
  private overQueuedInAll(conn: Connection): boolean {
    const limit = this.budgets.limits.maxQueuedBytesTotal;
    let total = 0;
    let worst = conn;
    for (const c of this.conns) {
      total += c.channel.queuedBytes;
      if (c.channel.queuedBytes > worst.channel.queuedBytes) worst = c;
    }
    if (total <= limit) return false;
    this.drop(worst, new RpcError(ErrorCodes.ERR_RPC_RESOURCE_EXHAUSTED,
      `client ${worst.pid} dropped: it left ${worst.channel.queuedBytes} bytes of responses unread, the most while all clients' reached ${total} (maxQueuedBytesTotal ${limit})`), L.REASON_SLOW_CONSUMER);
    return worst === conn;
  }

  /** Drops a client that corrupted its response ring's counter (true if it did). */
  private brokenRing(conn: Connection): boolean {
    const why = conn.channel.writeError;
    if (why === undefined) return false;
    this.protocolError(conn, why);
    return true;
  }

  private protocolError(conn: Connection, why: string): void {
    this.drop(conn, new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client ${conn.pid} broke the protocol: ${why}`), L.REASON_PROTOCOL);
  }
}
