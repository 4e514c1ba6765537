// The one-timer deadline queue behind asyncCall's timeouts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Deadlines, type Timed } from "../src/deadlines.js";
import { until } from "./helpers.js";

interface Entry extends Timed {
  name: string;
}

function entry(name: string, timeoutMs: number): Entry {
  return { name, deadline: performance.now() + timeoutMs, done: false };
}

/** True once the queue holds nothing (every deadline passed and its timer fired). White
 *  box: waiting on this instead of a sleep keeps the tests right on a loaded machine,
 *  where a timer can fire long after its time. */
function drained(q: Deadlines<Entry>): boolean {
  return (q as unknown as { fifos: Map<number, unknown> }).fifos.size === 0;
}

test("entries of different timeouts expire in deadline order, each after its own deadline", async () => {
  const expired: string[] = [];
  const late: number[] = [];
  const q = new Deadlines<Entry>((e) => {
    expired.push(e.name);
    late.push(performance.now() - e.deadline);
  }, () => 10);
  q.add(entry("a60", 60), 60);
  q.add(entry("b20", 20), 20);
  q.add(entry("c40", 40), 40);
  q.add(entry("d20", 20), 20);
  await until(() => expired.length === 4, 10_000, "all four to expire");
  assert.equal(expired, ["b20", "d20", "c40", "a60"]);
  for (const l of late) assert.ok(l >= 0, "never early");
});

test("a timer that fires late expires what is due in deadline order, across timeouts", async () => {
  const expired: string[] = [];
  const q = new Deadlines<Entry>((e) => expired.push(e.name), () => 10);
  q.add(entry("a60", 60), 60);
  q.add(entry("b20", 20), 20);
  q.add(entry("c40", 40), 40);
  q.add(entry("d20", 20), 20);
  // The event loop is held past every deadline (as a busy process or a loaded machine
  // does): the timer's one firing finds all four due.
  const t0 = performance.now();
  while (performance.now() - t0 < 80) {
    // busy
  }
  await until(() => expired.length === 4, 10_000, "all four to expire");
  assert.equal(expired, ["b20", "d20", "c40", "a60"]);
});

test("settled entries never expire", async () => {
  const expired: string[] = [];
  const q = new Deadlines<Entry>((e) => expired.push(e.name), () => 1);
  const a = entry("a", 10);
  q.add(a, 10);
  q.add(entry("b", 10), 10);
  a.done = true;
  await until(() => drained(q), 10_000, "the queue to empty");
  assert.equal(expired, ["b"]);
});

test("settled entries are swept long before their deadline when they pile up", () => {
  const q = new Deadlines<Entry>(() => {}, () => 0);
  const all: Entry[] = [];
  for (let i = 0; i < 100_000; i++) {
    const e = entry(String(i), 60_000);
    e.done = true;
    all.push(e);
    q.add(e, 60_000);
  }
  const fifo = (q as unknown as { fifos: Map<number, { items: Entry[]; head: number }> }).fifos.get(60_000)!;
  assert.ok(fifo.items.length - fifo.head < 10_000, `${fifo.items.length - fifo.head} entries still queued`);
  q.clear();
});

test("calls that settle in the order they were made leave the queue at once, not at their deadline", () => {
  const q = new Deadlines<Entry>(() => {}, () => 1);
  let previous: Entry | undefined;
  for (let i = 0; i < 3000; i++) {
    if (previous) previous.done = true; // one call in flight at a time, as a window of 1
    previous = entry(String(i), 60_000);
    q.add(previous, 60_000);
  }
  const fifo = (q as unknown as { fifos: Map<number, { items: Entry[]; head: number }> }).fifos.get(60_000)!;
  assert.equal(fifo.items.length - fifo.head, 1, "only the unsettled call is queued");
  assert.ok(fifo.items.length <= 2048, `the array is compacted in place (length ${fifo.items.length})`);
  assert.is(fifo.items[fifo.head], previous);
  q.clear();
});

test("a settled call behind an unsettled one waits for it, and the unsettled one still expires", async () => {
  const expired: string[] = [];
  const q = new Deadlines<Entry>((e) => expired.push(e.name), () => 1);
  const slow = entry("slow", 30);
  q.add(slow, 30);
  for (let i = 0; i < 100; i++) {
    const e = entry(String(i), 30);
    q.add(e, 30);
    e.done = true;
  }
  await until(() => drained(q), 10_000, "the queue to empty");
  assert.equal(expired, ["slow"]);
});

test.run();
