// When a failed call is sent again, after gRPC's retry design (gRFC A6), transport-free
// so that another transport can reuse it. Two kinds of re-sending:
//  - transparent: the call provably never ran (`maybeExecuted === false`: its request was
//    never taken from the ring, or never sent). Re-sent at once to another live replica,
//    whatever the method; a few times at most (TRANSPARENT_MAX), not counted in maxAttempts.
//  - retry: the call may have run, but its method is idempotent. Re-sent after an
//    exponential backoff with full jitter, up to maxAttempts attempts in all.
// Only losses of the server or of the connection are re-sent; never a handler's error, a
// timeout, an abort or bad input. Everything happens within the call's one deadline.

import { RpcError, ErrorCodes } from "../errors.js";
import { timerDelay } from "../timers.js";

/** When and how often a lost call is sent again (`ClientOptions.retry`). */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 3, at most 5). */
  maxAttempts: number;
  /** The first backoff's upper bound, in ms (default 20). */
  initialBackoffMs: number;
  /** No backoff's upper bound above this, in ms (default 1000). */
  maxBackoffMs: number;
  /** Each backoff's bound is the previous one times this (default 2). */
  backoffMultiplier: number;
  /** Over NATS only: an attempt of an idempotent call unanswered for this long, with
   *  attempts and time left, is given up and sent again to the queue group (a replica
   *  killed mid-call is only silence there). Default 1000; 0: never, the deadline only. */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ maxAttempts: 3, initialBackoffMs: 20, maxBackoffMs: 1000, backoffMultiplier: 2, attemptTimeoutMs: 1000 });
export const MAX_ATTEMPTS_LIMIT = 5;
/** Transparent re-sends of one call, beyond its policy's attempts: a few replicas dying at once. */
export const TRANSPARENT_MAX = 4;

/** Checks `retry` options: an RpcError ERR_RPC_INVALID_ARGUMENT says which one is wrong. */
export function retryPolicy(retry: unknown, base: Readonly<RetryPolicy> = DEFAULT_RETRY): Readonly<RetryPolicy> {
  if (retry === undefined) return base;
  if (retry === null || typeof retry !== "object") throw invalid("option retry must be an object");
  const r = retry as Partial<Record<keyof RetryPolicy, unknown>>;
  for (const key of Object.keys(r)) {
    if (!(key in DEFAULT_RETRY)) throw invalid(`option retry.${key} is not known (maxAttempts, initialBackoffMs, maxBackoffMs, backoffMultiplier, attemptTimeoutMs)`);
  }
  const number = (key: keyof RetryPolicy, ok: (v: number) => boolean, rule: string): number => {
    const v = r[key];
    if (v === undefined) return base[key];
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw invalid(`option retry.${key} must be ${rule}`);
    return v;
  };
  const policy = {
    maxAttempts: number("maxAttempts", (v) => Number.isInteger(v) && v >= 1 && v <= MAX_ATTEMPTS_LIMIT, `an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`),
    initialBackoffMs: number("initialBackoffMs", (v) => v >= 0, "a non-negative number"),
    maxBackoffMs: number("maxBackoffMs", (v) => v >= 0, "a non-negative number"),
    backoffMultiplier: number("backoffMultiplier", (v) => v >= 1, "a number of at least 1"),
    attemptTimeoutMs: number("attemptTimeoutMs", (v) => v >= 0 && v <= 2 ** 31 - 1, "a number of ms from 0 (never) to 2^31 - 1"),
  };
  if (policy.maxBackoffMs < policy.initialBackoffMs) throw invalid("option retry.maxBackoffMs must not be below retry.initialBackoffMs");
  return Object.freeze(policy);
}

function invalid(message: string): RpcError {
  return new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, message);
}

/** The state of one call's attempts. */
export class Attempts {
  /** Attempts made so far (sent or tried to send). */
  count = 0;
  private transparent = 0;
  private retries = 0;
  /** A draining server refused the call (ERR_RPC_UNAVAILABLE): calls that never ran are
   *  re-sent until the deadline, not maxAttempts times (the name's next server may take
   *  a while to start). */
  private refused = false;

  constructor(
    readonly policy: Readonly<RetryPolicy>,
    readonly idempotent: boolean,
    /** performance.now() by which the call must be over. */
    readonly deadline: number,
  ) {}

  /** After attempt `count` failed with `err`: how long to wait before the next one (0: at
   *  once), or -1 to give up and report `err`. `otherLive`: another connection is up now.
   *  `unanswered`: `err` is the timeout of one attempt (attemptTimeoutMs), not of the call:
   *  a loss that may have run, as when the server died. */
  next(err: unknown, otherLive: boolean, unanswered = false): number {
    if (!(err instanceof RpcError) || !(LOST.has(err.code) || unanswered)) return -1;
    const left = this.deadline - performance.now();
    if (left <= 0) return -1;
    if (err.code === ErrorCodes.ERR_RPC_UNAVAILABLE) this.refused = true;
    if (err.maybeExecuted === false && otherLive && this.transparent < TRANSPARENT_MAX) {
      this.transparent++;
      return 0;
    }
    // Nobody to send it to at once, or it may have run: a retry, counted and backed off.
    if (err.maybeExecuted !== false && !this.idempotent) return -1;
    if (this.retries + 1 >= this.policy.maxAttempts && !(this.refused && err.maybeExecuted === false)) return -1;
    const bound = Math.min(this.policy.initialBackoffMs * this.policy.backoffMultiplier ** Math.min(this.retries, 30), this.policy.maxBackoffMs);
    this.retries++;
    const wait = Math.random() * bound;
    // No attempt that would start with the deadline already past.
    if (wait >= left) return -1;
    return timerDelay(wait);
  }

  /** Whether another retry is left after the attempt in course (attempt `count`). */
  get retryLeft(): boolean {
    return this.retries + 1 < this.policy.maxAttempts;
  }

  /** `err`, marked with the attempts made (every failed call carries `attempts`). */
  fail(err: unknown): unknown {
    return withAttempts(err, this.count);
  }
}

/** Losses of the server or the connection: the only failures worth sending again. */
const LOST: ReadonlySet<string> = new Set([ErrorCodes.ERR_RPC_DISCONNECTED, ErrorCodes.ERR_RPC_NOT_CONNECTED, ErrorCodes.ERR_RPC_SERVER_FULL, ErrorCodes.ERR_RPC_UNAVAILABLE]);

/** Sets `attempts` on an RpcError (it defaults to 1 on the prototype). */
export function withAttempts(err: unknown, attempts: number): unknown {
  if (err instanceof RpcError && attempts !== 1) Object.defineProperty(err, "attempts", { value: attempts, enumerable: true, configurable: true });
  return err;
}
