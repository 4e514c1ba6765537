// The one attempts loop of every call, over any Transport (src/calls/transport.ts):
// balance is the transport's (which instance an attempt goes to, avoiding the last), the
// decision to send again is Attempts' (src/calls/retry.ts: transparent re-sends of calls
// that never ran, backed-off retries of idempotent ones, all within the call's deadline).
// A call the transport can never re-send takes one attempt with no bookkeeping.

import { RpcError, ErrorCodes } from "../errors.js";
import { Attempts, type RetryPolicy } from "./retry.js";
import type { Call, Transport } from "./transport.js";
import { closedError } from "./closed.js";
import { streamedArg } from "./stream.js";

/** Told before a failed call is sent again: the attempt that failed, why, the backoff. */
export type RetryReport = (call: Call, failedAttempt: number, err: unknown, delayMs: number) => void;

let pause: Int32Array | undefined;

/** A synchronous call: attempts until one settles or Attempts gives up. */
export function callSync(t: Transport, call: Call, policy: Readonly<RetryPolicy>, report: RetryReport): unknown {
  const timeoutMs = call.settings.timeoutMs;
  if (t.closed) throw closedError(t.name); // at once, on every transport: never sent, never retried
  const start = performance.now();
  if (!t.mayRetry(call)) {
    try {
      return t.attemptSync(call, timeoutMs, false);
    } catch (e) {
      // A draining server refused it: re-sent, whatever the method (a server may start again).
      if (!isUnavailable(e) || t.closed) throw e;
      const attempts = new Attempts(policy, call.settings.idempotent, start + timeoutMs);
      attempts.count = 1;
      const wait = attempts.next(e, t.otherLive(call));
      if (wait < 0) throw e;
      report(call, 1, e, wait);
      if (wait > 0) Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, wait);
      return syncLoop(t, call, attempts, report);
    }
  }
  return syncLoop(t, call, new Attempts(policy, call.settings.idempotent, start + timeoutMs), report);
}

function syncLoop(t: Transport, call: Call, attempts: Attempts, report: RetryReport): unknown {
  const timeoutMs = call.settings.timeoutMs;
  for (;;) {
    attempts.count++;
    call.cut = false;
    try {
      return t.attemptSync(call, attempts.count === 1 ? timeoutMs : Math.max(1, attempts.deadline - performance.now()), attempts.retryLeft);
    } catch (e) {
      const wait = t.closed ? -1 : attempts.next(e, t.otherLive(call), call.cut && isTimeout(e));
      if (wait < 0) throw attempts.fail(e);
      report(call, attempts.count, e, wait);
      if (wait > 0) Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, wait);
    }
  }
}

/** An asynchronous call: never throws, failures reject. */
export function callAsync(t: Transport, call: Call, policy: Readonly<RetryPolicy>, report: RetryReport): Promise<unknown> {
  const { timeoutMs, signal } = call.settings;
  if (t.closed) return Promise.reject(closedError(t.name)); // at once: never sent, never retried
  if (signal?.aborted) {
    return Promise.reject(new RpcError(ErrorCodes.ERR_RPC_ABORTED, `call to "${call.method}" was aborted before it was sent`, { cause: signal.reason, maybeExecuted: false }));
  }
  const start = performance.now();
  if (!t.mayRetry(call)) {
    // One attempt; only a draining server's refusal sends it again (a server may start again).
    return t.attemptAsync(call, timeoutMs, false).catch((e: unknown) => {
      if (!isUnavailable(e) || signal?.aborted || t.closed || streamedArg(call.args) >= 0) throw e;
      const attempts = new Attempts(policy, call.settings.idempotent, start + timeoutMs);
      attempts.count = 1;
      const wait = attempts.next(e, t.otherLive(call));
      if (wait < 0) throw e;
      report(call, 1, e, wait);
      return new Promise<void>((r) => setTimeout(r, wait)).then(() => asyncLoop(t, call, attempts, report));
    });
  }
  return asyncLoop(t, call, new Attempts(policy, call.settings.idempotent, start + timeoutMs), report);
}

function asyncLoop(t: Transport, call: Call, attempts: Attempts, report: RetryReport): Promise<unknown> {
  const { timeoutMs, signal } = call.settings;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      attempts.count++;
      call.cut = false;
      t.attemptAsync(call, attempts.count === 1 ? timeoutMs : Math.max(1, attempts.deadline - performance.now()), attempts.retryLeft).then(resolve, (e: unknown) => {
        // A streamed argument's source is (partly) taken: never sent again.
        const wait = signal?.aborted || t.closed || streamedArg(call.args) >= 0 ? -1 : attempts.next(e, t.otherLive(call), call.cut && isTimeout(e));
        if (wait < 0) return reject(attempts.fail(e));
        report(call, attempts.count, e, wait);
        if (wait === 0) attempt();
        else setTimeout(attempt, wait);
      });
    };
    attempt();
  });
}

function isUnavailable(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_UNAVAILABLE;
}

function isTimeout(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_TIMEOUT;
}
