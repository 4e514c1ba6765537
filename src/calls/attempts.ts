// The one attempts loop of every call, over any Transport (src/calls/transport.ts):
// balance is the transport's (which instance an attempt goes to, avoiding the last), the
// decision to send again is Attempts' (src/calls/retry.ts: transparent re-sends of calls
// that never ran, backed-off retries of idempotent ones, all within the call's deadline).
// A call the transport can never re-send takes one attempt with no bookkeeping.

import { RpcError, ErrorCodes } from "../errors.js";
import { Attempts, type RetryPolicy } from "./retry.js";
import type { Call, Transport } from "./transport.js";
import { closedError } from "./closed.js";

/** Told before a failed call is sent again: the attempt that failed, why, the backoff. */
export type RetryReport = (call: Call, failedAttempt: number, err: unknown, delayMs: number) => void;

let pause: Int32Array | undefined;

/** A synchronous call: attempts until one settles or Attempts gives up. */
export function callSync(t: Transport, call: Call, policy: Readonly<RetryPolicy>, report: RetryReport): unknown {
  const timeoutMs = call.settings.timeoutMs;
  if (t.closed) throw closedError(t.name); // at once, on every transport: never sent, never retried
  if (!t.mayRetry(call)) return t.attemptSync(call, timeoutMs, false);
  const attempts = new Attempts(policy, call.settings.idempotent, performance.now() + timeoutMs);
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
  if (!t.mayRetry(call)) return t.attemptAsync(call, timeoutMs, false);
  const attempts = new Attempts(policy, call.settings.idempotent, performance.now() + timeoutMs);
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      attempts.count++;
      call.cut = false;
      t.attemptAsync(call, attempts.count === 1 ? timeoutMs : Math.max(1, attempts.deadline - performance.now()), attempts.retryLeft).then(resolve, (e: unknown) => {
        const wait = signal?.aborted || t.closed ? -1 : attempts.next(e, t.otherLive(call), call.cut && isTimeout(e));
        if (wait < 0) return reject(attempts.fail(e));
        report(call, attempts.count, e, wait);
        if (wait === 0) attempt();
        else setTimeout(attempt, wait);
      });
    };
    attempt();
  });
}

function isTimeout(e: unknown): boolean {
  return e instanceof RpcError && e.code === ErrorCodes.ERR_RPC_TIMEOUT;
}
