// The one attempts loop of every call, over any Transport (src/calls/transport.ts):
// balance is the transport's (which instance an attempt goes to, avoiding the last), the
// decision to send again is Attempts' (src/calls/retry.ts: transparent re-sends of calls
// that never ran, backed-off retries of idempotent ones, all within the call's deadline).
//
// A call the transport can never re-send (a name served alone, a call not idempotent: the
// hot path) takes one attempt with no bookkeeping: no clock reading (one costs about a
// tenth of a synchronous call here), no Attempts, no Call record (a synchronous call
// reuses one; an asyncCall gets one only if it is refused), and for an asyncCall no
// promise but the transport's own (`attemptOnce`). Only a draining server's refusal
// sends it again.

import { RpcError, ErrorCodes } from "../errors.js";
import { Attempts, type RetryPolicy } from "./retry.js";
import { newCall, type Call, type CallSettings, type Refused, type Transport } from "./transport.js";
import { closedError } from "./closed.js";
import { streamedArg } from "./stream.js";

/** Told before a failed call is sent again: the attempt that failed, why, the backoff. */
export type RetryReport = (call: Call, failedAttempt: number, err: unknown, delayMs: number) => void;

let pause: Int32Array | undefined;
/** What a reused record holds between calls instead of their arguments. */
const NO_ARGS: unknown[] = [];

/** The calls of one Client: its transport, retry policy and `retry` reporting. */
export class CallLoop implements Refused {
  constructor(
    private readonly t: Transport,
    private readonly policy: Readonly<RetryPolicy>,
    private readonly report: RetryReport,
  ) {}

  /** The record of synchronous calls, reused: they cannot overlap on this thread (one
   *  made meanwhile, from a `retry` listener say, gets a record of its own). */
  private spare: Call | undefined;

  /** A synchronous call: attempts until one settles or Attempts gives up. */
  sync(method: string, args: unknown[], settings: CallSettings): unknown {
    const t = this.t;
    if (t.closed) throw closedError(t.name); // at once, on every transport: never sent, never retried
    let call = this.spare;
    if (call === undefined) call = newCall(method, args, settings);
    else {
      this.spare = undefined;
      call.method = method;
      call.args = args;
      call.settings = settings;
    }
    try {
      return this.syncCall(call);
    } finally {
      call.args = NO_ARGS;
      call.used = undefined;
      call.cut = false;
      call.startedAt = -1;
      this.spare = call;
    }
  }

  private syncCall(call: Call): unknown {
    const t = this.t;
    const timeoutMs = call.settings.timeoutMs;
    if (!t.mayRetry(call.settings)) {
      try {
        return t.attemptSync(call, timeoutMs, false);
      } catch (e) {
        // A draining server refused it: re-sent, whatever the method (a server may start again).
        if (!isUnavailable(e) || t.closed) throw e;
        const attempts = this.refusedAttempts(call);
        const wait = attempts.next(e, t.otherLive(call));
        if (wait < 0) throw e;
        this.report(call, 1, e, wait);
        if (wait > 0) Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, wait);
        return this.syncLoop(call, attempts);
      }
    }
    return this.syncLoop(call, new Attempts(this.policy, call.settings.idempotent, performance.now() + timeoutMs));
  }

  private syncLoop(call: Call, attempts: Attempts): unknown {
    const t = this.t;
    const timeoutMs = call.settings.timeoutMs;
    for (;;) {
      attempts.count++;
      call.cut = false;
      try {
        return t.attemptSync(call, attempts.count === 1 ? timeoutMs : Math.max(1, attempts.deadline - performance.now()), attempts.retryLeft);
      } catch (e) {
        const wait = t.closed ? -1 : attempts.next(e, t.otherLive(call), call.cut && isTimeout(e));
        if (wait < 0) throw attempts.fail(e);
        this.report(call, attempts.count, e, wait);
        if (wait > 0) Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, wait);
      }
    }
  }

  /** An asynchronous call: never throws, failures reject. */
  async(method: string, args: unknown[], settings: CallSettings): Promise<unknown> {
    const t = this.t;
    const { timeoutMs, signal } = settings;
    if (t.closed) return Promise.reject(closedError(t.name)); // at once: never sent, never retried
    if (signal?.aborted) {
      return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${method}" was aborted before it was sent`, { cause: signal.reason, maybeExecuted: false }));
    }
    if (!t.mayRetry(settings)) {
      // The hot path: the transport's promise is the call's; a refusal comes to `refused`.
      const once = t.attemptOnce?.(method, args, settings, this);
      if (once !== undefined) return once;
      // Not sent at once (connecting first, say): one attempt, and a refusal caught here.
      const call = newCall(method, args, settings);
      call.startedAt = performance.now();
      return t.attemptAsync(call, timeoutMs, false).catch((e: unknown) => new Promise((resolve, reject) => this.refusedNow(call, e, resolve, reject)));
    }
    const call = newCall(method, args, settings);
    return new Promise((resolve, reject) => {
      this.asyncLoop(call, new Attempts(this.policy, settings.idempotent, performance.now() + timeoutMs), resolve, reject);
    });
  }

  /** Refused: a draining server refused the one attempt of a call `attemptOnce` sent. */
  refused(call: Call, err: unknown, resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
    // Not from inside the transport's receive loop: `retry` listeners may make calls.
    queueMicrotask(() => this.refusedNow(call, err, resolve, reject));
  }

  /** After the one attempt of a call that is never re-sent failed with `e`: sent again
   *  if a draining server refused it, else `e` rejects it. */
  private refusedNow(call: Call, e: unknown, resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
    const t = this.t;
    // A streamed argument's source is (partly) taken: never sent again.
    if (!isUnavailable(e) || call.settings.signal?.aborted || t.closed || streamedArg(call.args) >= 0) return reject(e);
    const attempts = this.refusedAttempts(call);
    const wait = attempts.next(e, t.otherLive(call));
    if (wait < 0) return reject(e);
    this.report(call, 1, e, wait);
    setTimeout(() => this.asyncLoop(call, attempts, resolve, reject), wait);
  }

  /** The Attempts of a call whose first attempt a draining server refused: its deadline
   *  from when that attempt was sent, as the transport's clock readings know it (none:
   *  the refusal came before any, so now is as good). */
  private refusedAttempts(call: Call): Attempts {
    const start = call.startedAt >= 0 ? call.startedAt : performance.now();
    const attempts = new Attempts(this.policy, call.settings.idempotent, start + call.settings.timeoutMs);
    attempts.count = 1;
    return attempts;
  }

  private asyncLoop(call: Call, attempts: Attempts, resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
    const t = this.t;
    const { timeoutMs, signal } = call.settings;
    const attempt = (): void => {
      attempts.count++;
      call.cut = false;
      t.attemptAsync(call, attempts.count === 1 ? timeoutMs : Math.max(1, attempts.deadline - performance.now()), attempts.retryLeft).then(resolve, (e: unknown) => {
        // A streamed argument's source is (partly) taken: never sent again.
        const wait = signal?.aborted || t.closed || streamedArg(call.args) >= 0 ? -1 : attempts.next(e, t.otherLive(call), call.cut && isTimeout(e));
        if (wait < 0) return reject(attempts.fail(e));
        this.report(call, attempts.count, e, wait);
        if (wait === 0) attempt();
        else setTimeout(attempt, wait);
      });
    };
    attempt();
  }
}

function isUnavailable(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_UNAVAILABLE;
}

function isTimeout(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_TIMEOUT;
}
