// The client side of a thread connection as a Transport (src/calls/transport.ts): the one
// attempts loop of every Client drives it. Sends REQUEST records (with a CONTEXT when the
// call has a deadline of its own or metadata, a CANCEL when it gives up), takes RESPONSE
// and ERROR records, waits by the policy of src/core/spin.ts: poll, then park with
// Atomics.wait (a synchronous call) or Atomics.waitAsync (the async pump).

import { L } from "../core/layout.js";
import { Spin, QUICK_POLLS, IDLE_POLLS_PER_CLOCK } from "../core/spin.js";
import { OVERSIZED } from "../channel.js";
import { Encoder } from "../codec/encode.js";
import { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { HEADROOM, P_ERROR_DETAILS, P_ERROR_KIND, P_ID, P_RESPONSE_BODY, requestExtra, errorExtra, METHOD_NAME_MAX_BYTES } from "../frames.js";
import { METADATA_MAX_BYTES } from "../metadata.js";
import { CancelReason } from "../serving/context.js";
import { remoteError } from "../calls/remote-error.js";
import { closedError } from "../calls/closed.js";
import { newCall, type Call, type CallSettings, type MessageSizes, type Refused, type StreamSink, type Transport } from "../calls/transport.js";
import { PendingTable } from "../pending.js";
import { Deadlines } from "../deadlines.js";
import { canBlock, nextTurn } from "./bell.js";
import { takeLiveness, watchLiveness } from "./watchdog.js";
import { ThreadStreams } from "./client-streams.js";
import { streamedArg } from "../calls/stream.js";
import { GONE_CLIENT, GONE_SERVER, holdLock, webLocks, type ThreadLink, type ThreadPort } from "./connection.js";

/** Longest single sleep of a synchronous call: it looks at the connection's "gone" word
 *  at least this often. */
const SLEEP_SLICE_MS = 50;
/** Pump turns run as microtasks before one goes through the event loop (timers, messages). */
const MICROTASK_TURNS = 32;

type Metadata = Readonly<Record<string, string>>;

interface Pending {
  id: number;
  method: string;
  args: unknown[];
  settings: CallSettings;
  /** Sent by attemptOnce: a refusal (ERR_RPC_UNAVAILABLE) goes there. */
  refused: Refused | undefined;
  resolve: (value: unknown) => void;
  reject: (err: RpcError) => void;
  /** performance.now() when it times out (Deadlines). */
  deadline: number;
  timeoutMs: number;
  /** Settled (Deadlines skips it). */
  done: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface ThreadCallOptions {
  readonly name: string;
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  readonly spinMs: number;
  readonly busyPoll: boolean;
}

export class ThreadCalls implements Transport {
  readonly name: string;
  closed = false;
  /** Why the connection ended (set once), or undefined while it is up. */
  private lost: RpcError | undefined;
  private readonly encoder: Encoder;
  private readonly decoder: Decoder;
  private contextEncoder: Encoder | undefined;
  private readonly contextExtra = new Uint8Array(4);
  private readonly contextView = new DataView(this.contextExtra.buffer);
  private readonly names = new Map<string, Uint8Array>();
  private readonly pending = new PendingTable<Pending>();
  /** The pending calls' deadlines, on one timer. */
  private readonly deadlines = new Deadlines<Pending>((p) => this.expire(p), () => this.pending.size);
  private nextId = 1;
  /** The synchronous call waiting now (its id, 0: none) and what it got. */
  private syncId = 0;
  private syncDone = false;
  /** Where the synchronous call in progress wants its sizes (CallSettings.sizes), if it does. */
  private syncSizes: MessageSizes | undefined = undefined;
  /** The encoded arguments of the request sent last, in bytes (CallSettings.sizes). */
  private sentBytes = 0;
  private syncValue: unknown;
  private syncError: RpcError | undefined;
  private readonly syncSpin: Spin;
  private readonly pumpSpin: Spin;
  private pumpScheduled = false;
  private pumpParked = false;
  private microTurns = 0;

  /** The liveness end the server sent (Node), until the first synchronous call gives it
   *  to the watchdog (src/threads/watchdog.ts); then the function that stops watching. */
  private live: ThreadPort | undefined;
  private unwatch: (() => void) | undefined;
  /** Stream calls and streamed arguments (made on the first). */
  private streams: ThreadStreams | undefined;

  /** Gives up this side's lock (browsers: tells the server this side is gone). */
  private releaseLock: (() => void) | undefined;

  constructor(private readonly link: ThreadLink, private readonly port: ThreadPort, private readonly o: ThreadCallOptions, lock?: string, clientLock?: string) {
    this.name = o.name;
    this.encoder = new Encoder(link.core);
    this.decoder = new Decoder(link.core);
    this.syncSpin = new Spin(o.spinMs, o.busyPoll, 1);
    this.pumpSpin = new Spin(o.spinMs, o.busyPoll, IDLE_POLLS_PER_CLOCK);
    this.live = takeLiveness(port);
    // The server's thread ended (terminated, threw out) or it dropped us: the port closes.
    port.addEventListener("close", () => this.lose(this.goneError()));
    // Browsers close no port of a terminated worker: the server holds a Web Lock for its life
    // (taken before it handed the connection over), which this side is granted once it ends.
    const locks = webLocks();
    // Each side asks for the other's lock once told (over the port) that the other holds it:
    // lock requests of two threads reach the browser in no set order.
    if (lock !== undefined && clientLock !== undefined && locks !== undefined) {
      this.releaseLock = holdLock(locks, clientLock, () => port.postMessage("locked"));
      let watching = false;
      port.addEventListener("message", () => {
        if (watching) return;
        watching = true;
        void locks.request(lock, () => this.lose(this.goneError()));
      });
    }
    this.unref(); // an idle client keeps no thread alive
    port.start();
  }

  // Node: the port keeps the thread alive while calls are pending (a parked pump's
  // Atomics.waitAsync does not); browsers keep pages and workers alive anyway.
  private unref(): void {
    (this.port as { unref?: () => void }).unref?.();
  }

  private ref(): void {
    (this.port as { ref?: () => void }).ref?.();
  }

  get connected(): boolean {
    return !this.closed && this.lost === undefined;
  }

  mayRetry(): boolean {
    return false; // one server: nothing to re-send to (a draining refusal is the loop's)
  }

  otherLive(): boolean {
    return false;
  }

  waitForConnection(): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.name));
    return this.lost === undefined ? Promise.resolve() : Promise.reject(this.lost);
  }

  // ----------------------------------------------------------------- sending

  private send(method: string, args: unknown[], metadata: Metadata | undefined, stream: StreamSink | undefined, timeoutMs: number, streamed: number): number {
    try {
      return this.sendNow(method, args, metadata, stream, timeoutMs, streamed);
    } catch (e) {
      if (e instanceof RpcError) throw e;
      // The memory said something impossible (the ring's handle or counters overwritten):
      // this connection is lost, and this call was never sent.
      this.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the connection to ${this.name} is corrupt: ${(e as Error).message}`));
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the connection to ${this.name} is corrupt: ${(e as Error).message}`, { maybeExecuted: false });
    }
  }

  private sendNow(method: string, args: unknown[], metadata: Metadata | undefined, stream: StreamSink | undefined, timeoutMs: number, streamed: number): number {
    if (this.closed) throw closedError(this.name);
    if (this.lost !== undefined) throw new RpcError(this.lost.code, this.lost.message, { maybeExecuted: false });
    const extra = this.nameExtra(method);
    const encoder = this.encoder;
    const length = encoder.encode(args, this.o.maxMessageBytes, "args", HEADROOM);
    this.sentBytes = length;
    const ch = this.link.channel;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    if (metadata !== undefined || timeoutMs !== this.o.timeoutMs) this.sendContext(id, timeoutMs, metadata);
    if (stream !== undefined || streamed >= 0) this.streamsOf().announce(id, stream, streamed);
    ch.send(L.T_REQUEST, id, extra, encoder.start + HEADROOM, length, encoder.splice);
    encoder.shrink(length);
    ch.writer.commit();
    this.link.serverBell.ring();
    return id;
  }

  private nameExtra(method: string): Uint8Array {
    let extra = this.names.get(method);
    if (extra !== undefined) return extra;
    const utf8 = new TextEncoder().encode(method);
    if (typeof method !== "string" || utf8.length === 0 || utf8.length > METHOD_NAME_MAX_BYTES) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method name must be a non-empty string of at most ${METHOD_NAME_MAX_BYTES} UTF-8 bytes`, { maybeExecuted: false });
    }
    extra = requestExtra(utf8);
    if (this.names.size < 4096) this.names.set(method, extra);
    return extra;
  }

  /** A CONTEXT for call `id`: its time left and metadata (src/frames.ts). */
  private sendContext(id: number, timeoutMs: number, metadata: Readonly<Record<string, string>> | undefined): void {
    this.contextView.setUint32(0, Math.min(Math.max(0, Math.ceil(timeoutMs)), 0xffffffff), true);
    const encoder = (this.contextEncoder ??= new Encoder(this.link.core));
    const length = metadata === undefined ? 0 : encoder.encode(metadata, METADATA_MAX_BYTES * 2, "metadata", HEADROOM);
    this.link.channel.send(L.T_CONTEXT, id, this.contextExtra, encoder.start + HEADROOM, length);
  }

  /** Tells the server the caller gave up on call `id` (its handler's signal aborts). */
  private cancel(id: number, reason: number): void {
    if (this.lost !== undefined || this.closed) return;
    try {
      this.link.channel.send(L.T_CANCEL, id, errorExtra(reason), this.encoder.start + HEADROOM, 0);
      this.link.channel.writer.commit();
      this.link.serverBell.ring();
    } catch (e) {
      this.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `the connection to ${this.name} is corrupt: ${(e as Error).message}`));
    }
  }

  // --------------------------------------------------------------- receiving

  /** Takes every response there is; returns how many records it handled. */
  private receive(): number {
    const ch = this.link.channel;
    let n = 0;
    try {
      while (ch.poll()) {
        n++;
        this.handle(ch.type, ch.payload, ch.length);
        if (this.lost !== undefined) return n;
      }
      if (ch.protocolError !== undefined) {
        this.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} broke the protocol: ${ch.protocolError}`));
        return n + 1;
      }
      if (n > 0 || ch.freedRoom) {
        if (n > 0) ch.release();
        ch.freedRoom = false;
        this.link.serverBell.ring(); // the server may wait for room
      }
      if (!ch.idle && ch.flush()) this.link.serverBell.ring();
    } catch (e) {
      // What the server's thread wrote made the core or the decoder throw: the connection is lost.
      this.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} sent what cannot be read: ${(e as Error).message}`));
      return n + 1;
    }
    if (n === 0 && this.link.gone !== 0 && this.lost === undefined) this.lose(this.goneError());
    return n;
  }

  private handle(type: number, at: number, length: number): void {
    const c = this.link.core;
    if (type === L.T_GOODBYE) return this.lose(this.goneError());
    if (type === L.T_STREAM_ITEM || type === L.T_STREAM_CREDIT) return this.streamsOf().take(type, at, length);
    if (type === OVERSIZED) {
      return this.deliver(this.link.channel.oversizedId, undefined, new RpcError(ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE, `response of ${length} bytes is over maxMessageBytes (${this.o.maxMessageBytes})`));
    }
    if ((type !== L.T_RESPONSE && type !== L.T_ERROR) || length < (type === L.T_ERROR ? P_ERROR_DETAILS : P_RESPONSE_BODY)) {
      return this.lose(new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `server ${this.name} sent a malformed record (type ${type})`));
    }
    const id = c.view.getUint32(at + P_ID, true);
    if (id !== this.syncId && this.pending.get(id) === undefined) return; // timed out or aborted: dropped
    const tail = this.link.channel.tail;
    if (type === L.T_RESPONSE) this.deliver(id, this.decoder.decode(at + P_RESPONSE_BODY, at + length, tail), undefined, length - P_RESPONSE_BODY);
    else {
      const kind = c.u8[at + P_ERROR_KIND]!;
      this.deliver(id, undefined, remoteError(kind, this.decoder.decode(at + P_ERROR_DETAILS, at + length, tail)));
    }
  }

  /** `bytes`: the encoded result's size (CallSettings.sizes). */
  private deliver(id: number, value: unknown, err: RpcError | undefined, bytes = 0): void {
    if (id === this.syncId && id !== 0) {
      if (this.syncSizes !== undefined && err === undefined) this.syncSizes.response = bytes;
      this.syncDone = true;
      this.syncValue = value;
      this.syncError = err;
      return;
    }
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.settle(p);
    if (p.settings.sizes !== undefined && err === undefined) p.settings.sizes.response = bytes;
    if (err === undefined) p.resolve(value);
    else if (p.refused !== undefined && err.code === ErrorCodes.ERR_RPC_UNAVAILABLE) {
      // Refused (it did not run): the attempts loop sends it again and settles its promise.
      const call = newCall(p.method, p.args, p.settings);
      call.startedAt = p.deadline - p.timeoutMs;
      p.refused.refused(call, err, p.resolve, p.reject as (err: unknown) => void);
    } else p.reject(err);
  }

  private settle(p: Pending): void {
    p.done = true;
    this.pending.delete(p.id);
    if (this.pending.size === 0) this.unref();
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
  }

  private expire(p: Pending): void {
    this.settle(p);
    this.cancel(p.id, CancelReason.TIMEOUT);
    p.reject(new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${p.method}" timed out after ${p.timeoutMs} ms`, { maybeExecuted: true }));
  }

  // ------------------------------------------------------------- synchronous

  attemptSync(call: Call, timeoutMs: number): unknown {
    if (!canBlock) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "call() blocks its thread (Atomics.wait), which this thread may not do (a browser's main thread): use asyncCall()", { maybeExecuted: false });
    }
    if (this.link.sameThread) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `call() would block forever: server ${this.name} runs on this thread (use asyncCall())`, { maybeExecuted: false });
    }
    if (this.syncId !== 0) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "a synchronous call is already in progress on this client", { maybeExecuted: false });
    if (this.live !== undefined) this.watch();
    const id = this.send(call.method, call.args, call.settings.metadata, undefined, timeoutMs, -1);
    const sizes = call.settings.sizes;
    if (sizes !== undefined) sizes.request = this.sentBytes;
    this.syncSizes = sizes;
    const deadline = performance.now() + timeoutMs;
    const bell = this.link.clientBell;
    const spin = this.syncSpin;
    this.syncId = id;
    this.syncDone = false;
    try {
      // A server that was parked (the send woke it) cannot answer before its thread is
      // scheduled: this call parks at once instead of spinning (as src/calls/sync.ts).
      const serverParked = this.link.serverBell.woke;
      spin.begin(serverParked ? 0 : QUICK_POLLS, serverParked);
      for (;;) {
        const got = this.receive();
        if (this.syncDone) break;
        if (this.lost !== undefined) throw this.lostError(this.lost);
        if (!spin.due(got)) continue;
        const now = performance.now();
        if (now >= deadline) {
          this.cancel(id, CancelReason.TIMEOUT);
          throw new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${call.method}" timed out after ${timeoutMs} ms`, { maybeExecuted: true });
        }
        if (!spin.tick(now)) continue;
        const seq = bell.park();
        if (this.receive() > 0 || this.syncDone || this.lost !== undefined) {
          bell.unpark();
          spin.rest();
          continue;
        }
        bell.sleep(seq, Math.min(SLEEP_SLICE_MS, deadline - now));
        bell.unpark();
        spin.rest();
      }
      const err = this.syncError;
      const value = this.syncValue;
      this.syncValue = undefined;
      this.syncError = undefined;
      if (err !== undefined) throw err;
      return value;
    } finally {
      this.syncId = 0;
      this.syncSizes = undefined;
      if (this.pending.size > 0) this.schedulePump();
    }
  }

  /** From now on a watchdog tells a blocked call when the server's thread ends. */
  private watch(): void {
    const live = this.live!;
    this.live = undefined;
    if (this.lost === undefined && !this.closed) this.unwatch = watchLiveness(live, this.link.core.memory, this.link.offset);
    else live.close();
  }

  // ------------------------------------------------------------ asynchronous

  attemptAsync(call: Call, timeoutMs: number): Promise<unknown> {
    return this.start(call.method, call.args, call.settings, call.stream, timeoutMs, undefined);
  }

  /** The hot path of a call the loop never re-sends (Transport.attemptOnce): its one
   *  attempt, whose promise is the call's own; a refusal (ERR_RPC_UNAVAILABLE) goes to
   *  `refused`, which sends it again. */
  attemptOnce(method: string, args: unknown[], settings: CallSettings, refused: Refused): Promise<unknown> {
    return this.start(method, args, settings, undefined, settings.timeoutMs, refused);
  }

  private start(method: string, givenArgs: unknown[], settings: CallSettings, stream: StreamSink | undefined, timeoutMs: number, refused: Refused | undefined): Promise<unknown> {
    let id: number;
    let args = givenArgs;
    let streamed: number;
    let source: unknown;
    try {
      streamed = streamedArg(args);
      if (streamed >= 0) {
        source = args[streamed];
        args = args.slice();
        args[streamed] = null; // its items follow the request
      }
      id = this.send(method, args, settings.metadata, stream, timeoutMs, streamed);
      if (settings.sizes !== undefined) settings.sizes.request = this.sentBytes;
    } catch (e) {
      return Promise.reject(e);
    }
    const p: Pending = {
      id, method, args: givenArgs, settings, refused: streamed < 0 ? refused : undefined, resolve: undefined!, reject: undefined!,
      deadline: performance.now() + timeoutMs, timeoutMs, done: false, signal: settings.signal, onAbort: undefined,
    };
    const promise = new Promise<unknown>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    if (p.signal !== undefined) {
      p.onAbort = () => {
        this.settle(p);
        this.cancel(id, CancelReason.ABORTED);
        p.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted`, { cause: p.signal!.reason, maybeExecuted: true }));
      };
      p.signal.addEventListener("abort", p.onAbort, { once: true });
    }
    if (this.pending.size === 0) this.ref();
    this.pending.set(p);
    this.deadlines.add(p, timeoutMs);
    this.schedulePump();
    if (stream !== undefined) this.streamsOf().opened(id, stream, promise);
    if (streamed >= 0) this.streamsOf().sendArg(id, source, promise);
    return promise;
  }

  private streamsOf(): ThreadStreams {
    if (this.streams !== undefined) return this.streams;
    const host = this; // eslint-disable-line @typescript-eslint/no-this-alias
    return (this.streams = new ThreadStreams({
      name: this.name,
      get connected(): boolean {
        return host.connected;
      },
      cancel: (id, reason) => this.cancel(id, reason),
      forget: (id) => this.forget(id),
      lose: (why) => this.lose(why),
      flushSoon: () => this.schedulePump(),
    }, this.link, this.encoder, this.decoder, this.o.maxMessageBytes));
  }

  /** The caller cancelled stream call `id`: it settles now (ERR_RPC_ABORTED, which nobody
   *  reads), and its answer, if one comes, is dropped. */
  private forget(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.settle(p);
    p.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `stream "${p.method}" was cancelled`));
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.pumpParked) return;
    this.pumpScheduled = true;
    this.pumpSpin.begin();
    queueMicrotask(this.pump);
  }

  /** Takes responses while calls are pending: a few turns as microtasks (the resolved
   *  calls' continuations run in between and send more), then through the event loop,
   *  then parked on the doorbell with Atomics.waitAsync once idle for spinMs. */
  private readonly pump = (): void => {
    this.pumpScheduled = false;
    if (this.pending.size === 0 || this.syncId !== 0) return;
    const got = this.receive();
    if (this.pending.size === 0) return;
    const spin = this.pumpSpin;
    const again = (): void => {
      this.pumpScheduled = true;
      if (++this.microTurns < MICROTASK_TURNS) queueMicrotask(this.pump);
      else {
        this.microTurns = 0;
        nextTurn(this.pump);
      }
    };
    if (!spin.due(got) || !spin.tick(performance.now())) return again();
    const bell = this.link.clientBell;
    const seq = bell.park();
    if (this.receive() > 0 || this.lost !== undefined) {
      bell.unpark();
      spin.rest();
      return again();
    }
    this.pumpParked = true;
    void bell.sleepAsync(seq, Infinity).then(() => {
      bell.unpark();
      this.pumpParked = false;
      spin.rest();
      this.microTurns = 0;
      this.pumpScheduled = true;
      this.pump();
    });
  };

  // ----------------------------------------------------------------- endings

  private goneError(): RpcError {
    const gone = this.link.gone;
    if (gone === GONE_CLIENT) return closedError(this.name);
    return new RpcError(ErrorCodes.ERR_RPC_DISCONNECTED, gone === GONE_SERVER ? `server ${this.name} closed the connection` : `server ${this.name}'s thread is gone`);
  }

  private lostError(lost: RpcError): RpcError {
    return new RpcError(lost.code, lost.message, { maybeExecuted: true });
  }

  /** The connection is over: every pending call fails with `why`. */
  private lose(why: RpcError): void {
    if (this.lost !== undefined) return;
    this.lost = why;
    if (this.link.gone === 0) this.link.leave(GONE_CLIENT); // wakes a parked pump (and tells the server)
    this.port.close();
    this.live?.close();
    this.unwatch?.();
    this.releaseLock?.();
    const all = this.pending.drain();
    this.deadlines.clear();
    this.unref();
    for (const p of all) {
      p.done = true;
      if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
      p.reject(this.lostError(why));
    }
    this.link.channel.clearQueue();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lost === undefined) {
      try {
        this.link.channel.sendEmpty(L.T_GOODBYE, true);
        this.link.channel.writer.commit();
      } catch {
        // An unusable ring: the "gone" word and the port tell the server.
      }
      this.lose(closedError(this.name));
    }
  }
}
