// The waiting loop's policy, written once: a side that waits for its peer polls (spin),
// then parks (busy-poll: polls and yields the CPU between polls, never parks). What "park" means is
// the caller's (the server returns to its event loop, a synchronous call sleeps on its
// futex, the async pump arms its Waiter); this decides when, from the progress of each
// poll and from clock readings, which it asks for only every few idle polls (a reading
// costs about as much as a poll). One instance per loop, reused: no allocation per call
// and no closure per poll.
//
//   spin.begin(quickPolls)
//   for (;;) {
//     const got = poll();
//     if (!spin.due(got)) continue;      // busy-poll yields here once idle for YIELD_AFTER_MS
//     const now = performance.now();
//     ...deadlines, turn length...
//     if (spin.tick(now)) park();        // idle for spinMs (never with busyPoll)
//   }


/** A busy-polling side (it never parks) that has polled this long without progress
 *  yields the CPU on each poll (sched_yield): if its peer shares the core, pure spinning
 *  would hold the peer off for a whole time slice. A side that parks does not yield:
 *  its spin is bounded by spinMs anyway, and on a busy host (every core taken, EEVDF)
 *  a sched_yield sends it behind the other tasks for a whole slice: sync add p99 went
 *  from 44 µs to 4.1 ms with a CPU hog per core (bench/probes, 5000 calls). */
export const YIELD_AFTER_MS = 0.003;
/** Idle polls per reading of the clock in a serving turn or the async pump. */
export const IDLE_POLLS_PER_CLOCK = 8;
/** Polls for a synchronous call's response before the clock is first read. */
export const QUICK_POLLS = 64;

function noYield(): void {}

export class Spin {
  /** The first clock reading of the current idle stretch, or -1 (not idle, or not read yet). */
  private idleSince = -1;
  /** Idle polls since the last clock reading. */
  private quiet = 0;
  /** Polls left that go without the clock (see `begin`). */
  private quick = 0;
  private yielding = false;
  private progressed = false;

  /**
   * @param spinMs how long to stay idle before parking
   * @param busyPoll never park (still yield)
   * @param pollsPerClock idle polls per clock reading (1: every idle poll)
   * @param yieldCpu gives the CPU away for a moment (the addon's sched_yield in the
   *   process transport; none where there is no such call)
   */
  constructor(
    private readonly spinMs: number,
    private readonly busyPoll: boolean,
    private readonly pollsPerClock: number,
    private readonly yieldCpu: () => void = noYield,
  ) {}

  /** Parks at the first clock reading (the peer is parked: no answer can come before
   *  it is woken and scheduled, and spinning meanwhile takes a CPU it may need). */
  private parkAtOnce = false;

  /** Starts a wait; its first `quickPolls` polls go without the clock whatever they
   *  bring. `peerParked`: the peer said it is parked, so this wait parks at once. */
  begin(quickPolls = 0, peerParked = false): void {
    this.parkAtOnce = peerParked;
    this.idleSince = -1;
    this.quiet = 0;
    this.quick = quickPolls;
    this.yielding = false;
    this.progressed = false;
  }

  /** After each poll, with what it did (records handled; 0: nothing). Yields the CPU
   *  when idle long enough. True: read the clock now and give it to `tick`. */
  due(progress: number): boolean {
    if (this.quick > 0) {
      this.quick--;
      return false;
    }
    if (progress > 0) {
      this.progressed = true;
      this.idleSince = -1;
      this.yielding = false;
      this.quiet = 0;
      return true;
    }
    this.progressed = false;
    if (this.yielding) this.yieldCpu();
    // The first idle poll of a stretch reads the clock, then only every few.
    if (this.idleSince >= 0 && ++this.quiet < this.pollsPerClock) return false;
    this.quiet = 0;
    return true;
  }

  /** The clock reading `due` asked for: true when the wait should park now (idle for
   *  spinMs, and not busyPoll). */
  tick(now: number): boolean {
    if (this.progressed) return false;
    if (this.idleSince < 0) this.idleSince = now;
    const idle = now - this.idleSince;
    this.yielding = this.busyPoll && idle >= YIELD_AFTER_MS;
    return !this.busyPoll && (this.parkAtOnce || idle >= this.spinMs);
  }

  /** A park found work after all (or ended): the idle stretch starts again. */
  rest(): void {
    this.idleSince = -1;
  }
}
