// Deadlines of many pending calls on one timer, instead of a setTimeout each.
// Calls with the same timeout expire in the order they were made, so each
// distinct timeout gets a FIFO; one unref'd timer is armed for the earliest head.
// Settled entries leave from the head as new ones come (calls mostly settle in the
// order they were made), so a settled call is not kept alive until its deadline; the
// ones stuck behind an unsettled head are swept out when they pile up.

import { timerDelay } from "./timers.js";

export interface Timed {
  /** performance.now() at which the entry expires. */
  deadline: number;
  /** Set when the entry settled some other way: it is then skipped. */
  done: boolean;
}

class Fifo<T> {
  items: T[] = [];
  head = 0;
}

export class Deadlines<T extends Timed> {
  private readonly fifos = new Map<number, Fifo<T>>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private added = 0;
  /** The entries a firing expires, in deadline order (kept between firings). */
  private readonly due: T[] = [];

  constructor(
    private readonly expire: (entry: T) => void,
    /** How many entries are still pending, to decide when to sweep. */
    private readonly live: () => number,
  ) {}

  add(entry: T, timeoutMs: number): void {
    let fifo = this.fifos.get(timeoutMs);
    if (fifo === undefined) this.fifos.set(timeoutMs, (fifo = new Fifo<T>()));
    else dropSettledHead(fifo);
    fifo.items.push(entry);
    if (entry.deadline < this.armedFor) this.arm(entry.deadline);
    if (++this.added >= 4096) {
      this.added = 0;
      this.sweepIfBloated();
    }
  }

  /** Drops every entry (their owner settled them all). */
  clear(): void {
    this.fifos.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(this.fire, timerDelay(deadline - performance.now()));
    this.timer.unref?.(); // a number in browsers (shmrpc/threads)
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = performance.now();
    // Take every entry due from every FIFO first, then expire them in deadline order: a
    // timer that fires late (a busy loop, a loaded machine) finds several FIFOs due, and
    // their order in the map is not that of the deadlines.
    const due = this.due;
    for (const [timeoutMs, fifo] of this.fifos) {
      const items = fifo.items;
      let head = fifo.head;
      while (head < items.length) {
        const entry = items[head]!;
        if (!entry.done && entry.deadline > now) break;
        items[head++] = undefined as unknown as T;
        if (!entry.done) due.push(entry);
      }
      if (head === items.length) {
        this.fifos.delete(timeoutMs);
        continue;
      }
      if (head > 1024 && head * 2 > items.length) {
        fifo.items = items.slice(head);
        head = 0;
      }
      fifo.head = head;
    }
    // Each FIFO's entries are in order already; the sort is stable.
    if (due.length > 1) due.sort(byDeadline);
    for (let i = 0; i < due.length; i++) {
      const entry = due[i]!;
      due[i] = undefined as unknown as T;
      if (!entry.done) this.expire(entry); // an expiry may settle (or add) others
    }
    due.length = 0;
    let next = Infinity;
    for (const fifo of this.fifos.values()) {
      const head = fifo.items[fifo.head]; // none when a sweep emptied it: dropped next time
      if (head !== undefined && head.deadline < next) next = head.deadline;
    }
    if (next < this.armedFor) this.arm(next); // an expiry may have armed an earlier one
  };

  /** Settled entries stay queued until their deadline; sweep them when they dominate. */
  private sweepIfBloated(): void {
    let queued = 0;
    for (const fifo of this.fifos.values()) queued += fifo.items.length - fifo.head;
    if (queued <= 2 * this.live() + 4096) return;
    for (const fifo of this.fifos.values()) {
      const items = fifo.items;
      let kept = 0;
      for (let i = fifo.head; i < items.length; i++) if (!items[i]!.done) items[kept++] = items[i]!;
      items.length = kept; // in place: no new array
      fifo.head = 0;
    }
  }
}

function byDeadline(a: Timed, b: Timed): number {
  return a.deadline - b.deadline;
}

/** Drops the settled entries at the head of `fifo`, and the room they took once it is
 *  most of the array (in place: the array is not reallocated). */
function dropSettledHead<T extends Timed>(fifo: Fifo<T>): void {
  const items = fifo.items;
  let head = fifo.head;
  while (head < items.length && items[head]!.done) items[head++] = undefined as unknown as T;
  if (head >= 1024 && head * 2 >= items.length) {
    items.copyWithin(0, head);
    items.length -= head;
    head = 0;
  }
  fifo.head = head;
}
