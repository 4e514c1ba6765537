// Delays as Node's timers take them. setTimeout holds at most 2^31 - 1 ms (about 24.8
// days): a longer delay fires after 1 ms with a TimeoutOverflowWarning, so a deadline
// of Number.MAX_SAFE_INTEGER ms ("forever") would become a 1 kHz loop. Every delay that
// comes from an option goes through `timerDelay`; a timer that fires before the
// deadline it serves (after 24.8 days) finds nothing due and is armed again.

/** The longest delay setTimeout takes, in ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as setTimeout takes it: from 0 to MAX_TIMER_MS (NaN: 0). */
export function timerDelay(ms: number): number {
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms > 0 ? ms : 0;
}
