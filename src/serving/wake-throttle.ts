// Wake-ups with nothing to do. A client wakes a parked server with a byte on its socket
// after publishing a request (src/protocol.ts, WAKING); a wake-up that finds the client's
// request ring empty did nothing for it. A few are normal (the server may have taken the
// request in a turn of its own meanwhile); a stream of them is a client keeping the server
// busy for nothing (an unthrottled one held it at 88 % of a core). Past EMPTY_WAKES_LIMIT in
// one WINDOW_MS, the server stops watching that client's socket for a pause (PAUSE_MIN_MS,
// doubling to PAUSE_MAX_MS while it goes on): only that client's own calls wait the pause
// out (and its hang-up is seen at the pause's end).
// A wake-up that finds the ring empty after records were taken since the previous one is
// not for nothing: its client published them and the server took them in a turn of its own
// before it read the byte. A caller with one call in flight runs into that race hundreds
// of times a second; counted, it was paused 10 ms at a time and fell from ~250,000 calls/s
// to 2,000–7,000 (npm run bench, "1 in flight"). The count of records is the server's own,
// nothing the client can write.

/** emptyWake's answer for a wake-up that was not for nothing (its client published what
 *  the server took meanwhile): the server serves as usual. */
export const NOT_EMPTY = -1;

const WINDOW_MS = 100;
const EMPTY_WAKES_LIMIT = 50;
const PAUSE_MIN_MS = 10;
const PAUSE_MAX_MS = 1000;

export class WakeThrottle {
  private windowStart = 0;
  private empty = 0;
  private pauseMs = 0;
  /** The connection's records taken at the last wake-up that found its ring empty. */
  private takenAtLast = 0;
  /** Pauses imposed so far (for tests and stats). */
  pauses = 0;

  /** One wake-up that found the ring empty at `now`, `taken` records having been taken
   *  from it so far: NOT_EMPTY, or, for a wake-up for nothing, how long to stop watching
   *  (0: not). */
  emptyWake(now: number, taken: number): number {
    if (taken !== this.takenAtLast) {
      this.takenAtLast = taken; // it published what the server took meanwhile
      return NOT_EMPTY;
    }
    if (now - this.windowStart > WINDOW_MS) {
      // A window under the limit forgives: the pause starts small again.
      if (this.empty <= EMPTY_WAKES_LIMIT) this.pauseMs = 0;
      this.windowStart = now;
      this.empty = 0;
    }
    if (++this.empty <= EMPTY_WAKES_LIMIT) return 0;
    this.pauseMs = Math.min(PAUSE_MAX_MS, this.pauseMs === 0 ? PAUSE_MIN_MS : this.pauseMs * 2);
    this.empty = 0;
    this.windowStart = now;
    this.pauses++;
    return this.pauseMs;
  }
}
