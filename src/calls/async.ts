// asyncCalls in flight: their promises, deadlines and abort signals, and the pump that
// reads their responses from the event loop: it spins briefly, then parks on the
// doorbell through the addon's waiter thread, which wakes the event loop (the policy
// is src/core/spin.ts's).

import { native, type Waiter } from "../native.js";
import { core } from "../core/wasm.js";
import { Spin, IDLE_POLLS_PER_CLOCK } from "../core/spin.js";
import { RpcError, ErrorCodes } from "../errors.js";
import { Deadlines, type Timed } from "../deadlines.js";
import { PendingTable } from "../pending.js";
import { LIVENESS_MS, withdraw, type CallHost } from "./connection.js";
import type { Receiver } from "./receive.js";
import { CancelReason } from "../serving/context.js";
import { newCall, type CallSettings, type Refused } from "./transport.js";

/** Longest a pump turn keeps the event loop. */
const TURN_MS = 2;

/** An asyncCall in flight (a class: one shape for every call, and no closure in it).
 *  Its method, arguments and settings are what the attempts loop needs to send it again
 *  after a draining server's refusal (Transport.attemptOnce, the hot path: no Call record
 *  is made for a call unless that happens). */
class Pending implements Timed {
  done = false;
  onAbort: (() => void) | undefined = undefined;
  /** Set when the call's deadline is started (see `AsyncCalls.startDeadlines`). */
  deadline = 0;
  constructor(
    readonly id: number,
    readonly method: string,
    /** Its arguments (to send it again after a refusal); let go of once it is settled. */
    public args: unknown[],
    readonly settings: CallSettings,
    readonly timeoutMs: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: RpcError) => void,
    /** Sent by Transport.attemptOnce: a draining server's refusal goes to `refused`. */
    readonly refused: Refused | undefined,
  ) {}
}

/** What a settled call holds instead of its arguments. */
const NO_ARGS: unknown[] = [];

// The resolving functions of the Promise being made, taken by one shared executor
// (Node 20 has no Promise.withResolvers): no closure per call.
let takenResolve: (value: unknown) => void = () => {};
let takenReject: (err: RpcError) => void = () => {};
function takeResolvers(resolve: (value: unknown) => void, reject: (err: RpcError) => void): void {
  takenResolve = resolve;
  takenReject = reject;
}

export class AsyncCalls {
  readonly pending = new PendingTable<Pending>();
  private readonly deadlines = new Deadlines<Pending>((p) => this.expire(p), () => this.pending.size);
  /** Calls made since their deadlines were last started (in order), and how many. */
  private undated: (Pending | undefined)[] = [];
  private undatedCount = 0;
  private readonly spin: Spin;
  private waiter: Waiter | undefined;
  private parked = false;
  private scheduled = false;
  private closed = false;
  private liveness: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: CallHost,
    private readonly receiver: Receiver,
    spinMs: number,
    busyPoll: boolean,
    /** What a refused call's `used` names (its Route: the loop's next attempt avoids it). */
    private readonly instance: unknown,
  ) {
    this.spin = new Spin(spinMs, busyPoll, IDLE_POLLS_PER_CLOCK, native.yieldCpu);
  }

  /** Tracks request `id`, just sent: returns the promise of its result. */
  start(id: number, method: string, args: unknown[], settings: CallSettings, timeoutMs: number, refused: Refused | undefined): Promise<unknown> {
    const promise = new Promise<unknown>(takeResolvers);
    const p = new Pending(id, method, args, settings, timeoutMs, takenResolve, takenReject, refused);
    const signal = settings.signal;
    try {
      if (this.undatedCount === 0) queueMicrotask(this.startDeadlines);
      this.undated[this.undatedCount++] = p;
      if (signal) this.watchAbort(p, signal);
      this.pending.set(p);
      this.schedulePump();
    } catch (e) {
      p.reject(e as RpcError); // as the executor did: asyncCall never throws
    }
    return promise;
  }

  /** A response arrived (from the Receiver); one nobody waits for any more is dropped. */
  deliver(id: number, value: unknown, err: RpcError | undefined, bytes = 0): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    if (p.settings.sizes !== undefined && err === undefined) p.settings.sizes.response = bytes;
    this.pending.delete(id);
    if (err !== undefined && p.refused !== undefined && err.code === ErrorCodes.ERR_RPC_UNAVAILABLE) return this.refuse(p, err);
    this.settle(p, value, err);
  }

  /** A draining server refused call `p` (it did not run): the attempts loop sends it
   *  again and settles its promise (Transport.attemptOnce). */
  private refuse(p: Pending, err: RpcError): void {
    p.done = true;
    if (p.onAbort) p.settings.signal!.removeEventListener("abort", p.onAbort);
    const call = newCall(p.method, p.args, p.settings);
    // Its deadline counts from the first clock reading after it was sent (startDeadlines).
    call.startedAt = p.deadline > 0 ? p.deadline - p.timeoutMs : -1;
    call.used = this.instance;
    p.args = NO_ARGS;
    p.refused!.refused(call, err, p.resolve, p.reject as (err: unknown) => void);
  }

  /** The caller cancelled stream call `id`: it settles now (ERR_RPC_ABORTED, which
   *  nobody reads), and its answer, if one comes, is dropped. */
  forget(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.settle(p, undefined, new RpcError(ErrorCodes.ERR_RPC_ABORTED, `stream "${p.method}" was cancelled`));
    this.letGo();
  }

  /** The connection ended: every call in flight fails with `failure(id)`. */
  failAll(failure: (id: number) => RpcError): void {
    const pending = this.pending.drain();
    this.deadlines.clear();
    this.forgetUndated();
    for (const p of pending) this.settle(p, undefined, failure(p.id));
  }

  /** The client closes: the waiter stops first (it may sleep on a word of the memory
   *  about to be unmapped). */
  close(): void {
    this.closed = true;
    this.waiter?.close();
    this.waiter = undefined;
  }

  /** Starts the deadlines of the calls made since the last time, from one clock reading
   *  when the code that made them has run (a microtask): the clock costs about as much
   *  as a tenth of a call, and read after the calls were made, it can only make a
   *  deadline a little late, never early. */
  private readonly startDeadlines = (): void => {
    const count = this.undatedCount;
    if (count === 0) return; // failAll came first
    const now = performance.now();
    const undated = this.undated;
    for (let i = 0; i < count; i++) {
      const p = undated[i]!;
      undated[i] = undefined;
      if (p.done) continue;
      p.deadline = now + p.timeoutMs;
      this.deadlines.add(p, p.timeoutMs);
    }
    this.undatedCount = 0;
    if (undated.length > 4096) undated.length = 0; // a burst's array is not kept
  };

  private forgetUndated(): void {
    this.undated.fill(undefined, 0, this.undatedCount);
    this.undatedCount = 0;
  }

  private watchAbort(p: Pending, signal: AbortSignal): void {
    p.onAbort = () => {
      if (this.pending.delete(p.id)) {
        const maybeExecuted = this.giveUp(p.id, CancelReason.ABORTED);
        this.settle(p, undefined, new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${p.method}" was aborted`, { cause: signal.reason, maybeExecuted }));
        this.letGo();
      }
    };
    signal.addEventListener("abort", p.onAbort, { once: true });
  }

  private expire(p: Pending): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    const maybeExecuted = this.giveUp(p.id, CancelReason.TIMEOUT);
    this.settle(p, undefined, new RpcError(ErrorCodes.ERR_RPC_TIMEOUT, `call to "${p.method}" on ${this.host.name} timed out after ${Math.round(p.timeoutMs)} ms`, { maybeExecuted }));
    this.letGo();
  }

  /** The caller gave up on call `id`: takes it back if it is still in the send queue
   *  (false: it never runs), else tells the server (true: it may have run). */
  private giveUp(id: number, reason: number): boolean {
    const published = withdraw(this.host.current(), id);
    if (published) this.host.cancel(id, reason);
    return published;
  }

  /** A call gave up waiting (timeout, abort): if it was the last one in flight, nothing
   *  waits for a response any more, and the pump must not keep the process alive (a
   *  script whose only call timed out would never exit). What is left in the send
   *  queue still goes out while the process lives, from the pump or the next call. */
  private letGo(): void {
    if (this.pending.size !== 0) return;
    const conn = this.host.current();
    if (conn === undefined || conn.closed || conn.channel.idle) this.stopPump();
    else this.waiter?.unref();
  }

  private settle(p: Pending, value: unknown, err: RpcError | undefined): void {
    p.done = true;
    p.args = NO_ARGS; // it may stay in its deadline's queue a while
    if (p.onAbort) p.settings.signal!.removeEventListener("abort", p.onAbort);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  // ------------------------------------------------------------ the pump

  /** Pumps responses from the next turn of the event loop (calls are in flight). */
  schedulePump(): void {
    if (this.scheduled || this.closed) return;
    if (this.parked) {
      this.parked = false;
      this.waiter!.disarm();
      this.host.current()?.bell.unpark();
    }
    this.scheduled = true;
    this.waiter ??= new native.Waiter(this.onWake);
    this.waiter.ref(); // pending calls keep the process alive
    if (!this.liveness) {
      this.liveness = setInterval(this.livenessTick, LIVENESS_MS * 2);
      this.liveness.unref();
    }
    setImmediate(this.pumpTurn);
  }

  /** Stops pumping (nothing in flight, or the connection ends). */
  stopPump(): void {
    if (this.parked) {
      this.parked = false;
      this.waiter?.disarm();
      this.host.current()?.bell.unpark();
    }
    this.waiter?.unref();
    if (this.liveness) {
      clearInterval(this.liveness);
      this.liveness = undefined;
    }
  }

  private readonly livenessTick = (): void => {
    const conn = this.host.current();
    if (!conn || conn.closed) return;
    try {
      this.host.checkServer(conn, performance.now(), true);
    } catch {
      // disconnect() has already failed the pending calls.
    }
  };

  private readonly onWake = (): void => {
    if (!this.parked) return;
    this.parked = false;
    this.host.current()?.bell.unpark();
    this.pumpTurn();
  };

  private readonly pumpTurn = (): void => {
    this.scheduled = false;
    const conn = this.host.current();
    if (!conn || conn.closed) return this.stopPump();
    const spin = this.spin;
    spin.begin();
    let start = -1;
    for (;;) {
      if (!conn.channel.idle && conn.channel.flush()) conn.serverBell.ring();
      const got = this.receiver.receive(conn);
      if (conn.closed) return;
      // A stream's view item holds the ring: its loop's next() reads on (and pumps again).
      if (conn.viewHeld) return;
      if (this.pending.size === 0 && conn.channel.idle) return this.stopPump();
      if (got > 0) break; // let the resolved promises run
      if (!spin.due(0)) continue;
      const now = performance.now();
      if (start < 0) start = now;
      if (now - start >= TURN_MS) break;
      if (spin.tick(now)) {
        const seq = conn.bell.park();
        if (conn.channel.reader.empty() && !conn.channel.canFlush()) {
          this.parked = true;
          this.waiter!.arm(core().u8, conn.bell.address, seq, Infinity);
          return;
        }
        conn.bell.unpark();
        spin.rest();
      }
    }
    this.scheduled = true;
    setImmediate(this.pumpTurn);
  };
}
