// The serving side of one thread connection: its wire into the shared invoke
// (src/serving/invoke.ts). Takes REQUEST, CONTEXT, CANCEL and GOODBYE records from the
// client's ring, runs the handlers, sends RESPONSE and ERROR records; waits by the policy
// of src/core/spin.ts, parked with Atomics.waitAsync on the connection's server doorbell.
// Everything read from the memory is the client thread's word: a bad record, or anything
// that throws while reading it, drops this connection only.

import { L } from "../core/layout.js";
import { Spin, IDLE_POLLS_PER_CLOCK } from "../core/spin.js";
import { OVERSIZED } from "../channel.js";
import { Encoder } from "../codec/encode.js";
import { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { ErrorKind } from "../protocol.js";
import { P_ID, P_NAME, P_NAME_LENGTH, bodyOffset, HEADROOM, errorExtra } from "../frames.js";
import { invoke, errorShape, unsendableShape, type Wire, type ErrorShape } from "../serving/invoke.js";
import { Running, NO_METADATA, CancelReason, cancelCode, type ThreadCaller } from "../serving/context.js";
import { receivedMetadata } from "../metadata.js";
import type { Endpoint } from "../contracts/endpoint.js";
import type { Methods } from "../serving/methods.js";
import { OutOfLinearMemory } from "../core/out-of-memory.js";
import { nextTurn } from "./bell.js";
import { GONE_SERVER, webLocks, type ThreadLink, type ThreadPort } from "./connection.js";
import { offerLiveness } from "./watchdog.js";
import { ServedStreams } from "./serve-streams.js";
import { ThreadPrivateCopy } from "./private-copy.js";

/** Records taken before the event loop gets a turn. */
const BATCH = 256;
/** Turns run as microtasks before one goes through the event loop. */
const MICROTASK_TURNS = 16;

/** What every connection of one server shares. */
export interface ServeShared {
  readonly name: string;
  readonly methods: Methods;
  readonly maxMessageBytes: number;
  readonly exposeStacks: boolean;
  readonly spinMs: number;
  readonly busyPoll: boolean;
  /** A connection-level problem (the server's onError). */
  error(err: RpcError): void;
  /** The connection ended (its entry leaves the server's list). */
  ended(conn: ServedThread): void;
}

export class ServedThread {
  /** Handlers of this connection whose promise has not settled. */
  inflight = 0;
  closed = false;
  private readonly encoder: Encoder;
  private readonly decoder: Decoder;
  private readonly caller: ThreadCaller;
  private readonly spin: Spin;
  private running: Map<number, Running> | undefined;
  private contextId = 0;
  private contextDeadline = 0;
  private contextMetadata: Readonly<Record<string, string>> = NO_METADATA;
  /** A view handler's promise holds the request's memory: no record is taken meanwhile. */
  private viewHeld = false;
  private scheduled = false;
  private watching = false;
  private parked = false;
  private turns = 0;
  /** This end of the liveness channel (src/threads/watchdog.ts): it closes when this
   *  thread ends or the connection does. */
  private readonly live: ThreadPort | undefined;
  /** Stream calls and streamed arguments (made on the first stream record). */
  private streams: ServedStreams | undefined;
  /** Where a contract view handler's request is copied to be validated (private-copy.ts). */
  private copy: ThreadPrivateCopy | undefined;

  constructor(readonly link: ThreadLink, private readonly port: ThreadPort, readonly number: number, private readonly s: ServeShared, clientLock?: string) {
    this.encoder = new Encoder(link.core);
    this.decoder = new Decoder(link.core);
    this.caller = Object.freeze({ transport: "thread" as const, connection: number });
    this.spin = new Spin(s.spinMs, s.busyPoll, IDLE_POLLS_PER_CLOCK);
    this.live = offerLiveness(port);
    // The client's thread ended (terminated, threw out) or it closed: its port closes.
    port.addEventListener("close", () => this.drop("the client's thread is gone"));
    // Browsers close no port of a terminated worker: each side holds a Web Lock for its life,
    // and waits for the other's (requested once the client says it holds its own).
    const locks = webLocks();
    // Node: a port with a 'message' listener keeps its thread alive, as a running server should.
    port.addEventListener("message", () => {
      if (clientLock === undefined || locks === undefined || this.watching) return;
      this.watching = true;
      void locks.request(clientLock, () => this.drop("the client's thread is gone"));
    });
    (port as { ref?: () => void }).ref?.();
    port.start();
    this.schedule();
  }

  /** Runs a serving turn soon (a microtask, or an event-loop turn every few). */
  private schedule(): void {
    if (this.scheduled || this.parked || this.closed) return;
    this.scheduled = true;
    if (++this.turns < MICROTASK_TURNS) queueMicrotask(this.turn);
    else {
      this.turns = 0;
      nextTurn(this.turn);
    }
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    if (this.closed) return;
    const got = this.drain();
    if (this.closed) return;
    const spin = this.spin;
    if (!spin.due(got) || !spin.tick(performance.now())) return this.schedule();
    const bell = this.link.serverBell;
    const seq = bell.park();
    if (this.drain() > 0 || this.closed) {
      bell.unpark();
      spin.rest();
      return this.schedule();
    }
    this.parked = true;
    void bell.sleepAsync(seq, Infinity).then(() => {
      bell.unpark();
      this.parked = false;
      spin.rest();
      this.turns = 0;
      this.schedule();
    });
  };

  /** Browsers: tells the client that the server's thread holds its lock (ThreadConnection.lock). */
  tellLocked(): void {
    if (!this.closed) this.port.postMessage("locked");
  }

  /** Takes what the client sent; returns the progress made (0: none). */
  private drain(): number {
    const ch = this.link.channel;
    let n = 0;
    let wrote = false;
    try {
      if (ch.writeError !== undefined) return this.protocolError(ch.writeError);
      if (this.link.gone !== 0) {
        this.drop("the client left");
        return 1;
      }
      wrote = !ch.idle && ch.flush();
      while (n < BATCH && ch.idle && !this.viewHeld && ch.poll()) {
        n++;
        const type = ch.type;
        if (type === L.T_REQUEST) this.dispatch(ch.payload, ch.length);
        else if (type === L.T_CONTEXT) this.takeContext(ch.payload, ch.length);
        else if (type === L.T_CANCEL) this.takeCancel(ch.payload, ch.length);
        else if (type === L.T_STREAM_CREDIT) this.streamsOf().takeCredit(ch.payload, ch.length);
        else if (type === L.T_STREAM_ITEM) this.streamsOf().takeItem(ch.payload, ch.length);
        else if (type === L.T_STREAM_ARG) this.streamsOf().takeArg(ch.payload, ch.length);
        else if (type === L.T_STREAM_END) this.streamsOf().takeEnd(ch.payload, ch.length);
        else if (type === OVERSIZED) {
          if (ch.oversizedId >= 0) this.sendError(ch.oversizedId, { kind: ErrorKind.MESSAGE_TOO_LARGE, details: { name: "Error", message: `request of ${ch.length} bytes is over the server's maxMessageBytes (${this.s.maxMessageBytes})`, stack: "" } });
        } else if (type === L.T_GOODBYE) {
          this.drop("the client said goodbye");
          return n;
        } else return this.protocolError(`a record of type ${type}`);
        if (this.closed) return n;
      }
      if (ch.protocolError !== undefined) return this.protocolError(ch.protocolError);
      if (n > 0) ch.release();
      if (n > 0 || wrote || ch.freedRoom) {
        ch.freedRoom = false;
        ch.writer.commit();
        this.link.clientBell.ring();
        return n + 1;
      }
      return 0;
    } catch (e) {
      // Anything the client's bytes made throw (a counter out of range, an unaligned atomic
      // on an overwritten handle): its connection only.
      return this.protocolError(`unreadable input (${(e as Error).message})`);
    }
  }

  /** A REQUEST [id][name length][name][pad][arguments]. */
  private dispatch(at: number, length: number): void {
    const c = this.link.core;
    if (length < P_NAME) return void this.protocolError("a request shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    const nameLength = c.u8[at + P_NAME_LENGTH]!;
    const body = bodyOffset(P_NAME + nameLength);
    const tail = this.link.channel.tail;
    if (body > length - (tail === null ? 0 : tail.length)) return void this.protocolError("a request whose arguments start outside it");
    const method = this.decoder.name(at + P_NAME, at + P_NAME + nameLength);
    const ep = this.s.methods.get(method);
    if (ep === undefined) {
      this.contextId = 0;
      return this.sendError(id, { kind: ErrorKind.METHOD_NOT_FOUND, details: { name: "Error", message: `no method "${method}" on ${this.s.name}`, stack: "" } });
    }
    let args: unknown;
    try {
      if (!ep.view) args = this.decoder.decode(at + body, at + length, tail);
      // contracts: a schema checks bytes the client can no longer change (private-copy.ts)
      else if (ep.spec !== undefined) args = (this.copy ??= new ThreadPrivateCopy()).decodeViews(this.link, at + body, at + length, tail);
      else args = this.decoder.decodeViews(at + body, at + length, tail);
    } catch (e) {
      return void this.protocolError(`undecodable arguments (${(e as Error).message})`);
    }
    if (!Array.isArray(args)) return void this.protocolError("arguments that are not an array");
    if (this.streams !== undefined && !this.streams.prepare(id, ep, args)) {
      this.contextId = 0;
      return;
    }
    let running: Running | undefined;
    if (ep.contextual) {
      running = this.started(id, ep.name);
      running.context.requestBytes = length - body;
    }
    this.contextId = 0;
    const pending = invoke(ep, args, running?.context, this.wire, this, id);
    if (!pending && running !== undefined) this.running!.delete(id);
  }

  private started(id: number, method: string): Running {
    const own = this.contextId === id;
    const running = new Running(method, own ? this.contextDeadline : Date.now() + 30_000, this.caller, own ? this.contextMetadata : NO_METADATA);
    (this.running ??= new Map()).set(id, running);
    return running;
  }

  /** A CONTEXT [id][remaining ms][metadata]. */
  private takeContext(at: number, length: number): void {
    const c = this.link.core;
    if (length < 8) return void this.protocolError("a CONTEXT shorter than its header");
    const id = c.view.getUint32(at + P_ID, true);
    const remaining = c.view.getUint32(at + 4, true);
    let metadata = NO_METADATA;
    if (length > 8) {
      const checked = receivedMetadata(this.decoder.decode(at + 8, at + length, this.link.channel.tail));
      if (checked === undefined) return void this.protocolError("metadata that is not an object of strings");
      metadata = checked;
    }
    this.contextId = id;
    this.contextDeadline = Date.now() + remaining;
    this.contextMetadata = metadata;
  }

  /** A CANCEL [id][reason]: the caller gave up; the handler's signal aborts. */
  private takeCancel(at: number, length: number): void {
    if (length < 5) return void this.protocolError("a CANCEL shorter than its header");
    const c = this.link.core;
    const id = c.view.getUint32(at + P_ID, true);
    const reason = c.u8[at + 4]!;
    this.streams?.cancel(id, cancelCode(reason));
    const running = this.running?.get(id);
    if (running === undefined) return;
    running.abort(cancelCode(reason), reason === CancelReason.TIMEOUT ? "the caller's deadline passed" : "the caller aborted the call");
  }

  private readonly wire: Wire<ServedThread> = {
    stream: (_c, id) => this.streams?.opened(id),
    item: (_c, id, value) => this.streams!.item(id, value),
    result: (_c, id, value) => this.sendResult(id, value),
    thrown: (_c, id, thrown) => this.sendError(id, errorShape(thrown, this.s.exposeStacks)),
    pending: (_c, _id, ep) => {
      this.inflight++;
      if (ep.view) this.viewHeld = true;
    },
    settling: (_c, id, ep) => {
      this.streams?.settled(id);
      this.inflight--;
      if (this.closed && ep.view) this.copy?.free(); // its views' memory, kept until now
      return !this.closed;
    },
    answered: (_c, id, ep) => {
      this.running?.delete(id);
      if (ep.view) this.viewHeld = false;
      if (this.closed) return;
      try {
        this.link.channel.writer.commit();
        this.link.clientBell.ring();
      } catch (e) {
        this.protocolError(`unusable ring (${(e as Error).message})`);
        return;
      }
      if (ep.view) this.schedule();
    },
  };

  private sendResult(id: number, value: unknown): number | string {
    const encoder = this.encoder;
    let length: number;
    try {
      length = encoder.encode(value, this.s.maxMessageBytes, "result", HEADROOM);
    } catch (e) {
      const tooLarge = (e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE) || e instanceof OutOfLinearMemory;
      const shape = unsendableShape(e, tooLarge);
      this.sendError(id, shape);
      return shape.why;
    }
    this.guarded(() => this.link.channel.send(L.T_RESPONSE, id, null, encoder.start + HEADROOM, length, encoder.splice));
    encoder.shrink(length);
    return length;
  }

  /** Runs a write into the connection's memory: one that throws (the memory overwritten
   *  by the client) drops this connection, never reaches the handler's promise or the server. */
  private guarded(write: () => void): void {
    if (this.closed) return;
    try {
      write();
    } catch (e) {
      this.protocolError(`unusable ring (${(e as Error).message})`);
    }
  }

  private sendError(id: number, shape: ErrorShape): void {
    const encoder = this.encoder;
    let length = -1;
    try {
      length = encoder.encode(shape.details, this.s.maxMessageBytes, "error", HEADROOM);
    } catch {
      this.guarded(() => void (length = encoder.encode({ name: "Error", message: "the handler's error could not be sent", stack: "" }, this.s.maxMessageBytes, "error", HEADROOM)));
    }
    if (length < 0) return;
    this.guarded(() => this.link.channel.send(L.T_ERROR, id, errorExtra(shape.kind), encoder.start + HEADROOM, length));
  }

  private streamsOf(): ServedStreams {
    if (this.streams !== undefined) return this.streams;
    const served = this; // eslint-disable-line @typescript-eslint/no-this-alias
    return (this.streams = new ServedStreams({
      get closed(): boolean {
        return served.closed;
      },
      guarded: (write) => this.guarded(write),
      publish: () => {
        try {
          this.link.channel.writer.commit();
          this.link.clientBell.ring();
        } catch (e) {
          this.protocolError(`unusable ring (${(e as Error).message})`);
        }
      },
      protocolError: (why) => void this.protocolError(why),
      refuse: (id, why) => this.sendError(id, { kind: ErrorKind.INVALID_ARGUMENT, details: { name: "RpcError", message: why, stack: "" } }),
    }, this.link, this.encoder, this.decoder, this.s.maxMessageBytes));
  }

  private protocolError(why: string): number {
    this.s.error(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `client thread ${this.number} of ${this.s.name} broke the protocol: ${why}; dropped`));
    this.drop(why, true);
    return 1;
  }

  /** Ends this connection: running handlers' signals abort, the client is told. */
  drop(why: string, goodbye = false): void {
    if (this.closed) return;
    this.closed = true;
    if (goodbye) {
      this.link.channel.clearQueue();
      try {
        this.link.channel.sendEmpty(L.T_GOODBYE, true);
        this.link.channel.writer.commit();
      } catch {
        // The ring is unusable: the "gone" word and the port say it.
      }
    }
    this.link.leave(GONE_SERVER);
    this.port.close();
    this.live?.close();
    this.streams?.end();
    if (!this.viewHeld) this.copy?.free(); // else once its handler settles
    if (this.running !== undefined) {
      for (const r of this.running.values()) r.abort(ErrorCodes.ERR_RPC_DISCONNECTED, `the caller went (${why})`);
      this.running.clear();
    }
    this.s.ended(this);
  }
}
