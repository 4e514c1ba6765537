// The throttle of wake-ups with nothing to do (src/serving/wake-throttle.ts): a client that
// wakes the server without publishing is paused; one whose requests the server took in a
// turn of its own before it read the wake byte (a fast caller, every few hundred calls) is not.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { WakeThrottle, NOT_EMPTY } from "../src/serving/wake-throttle.js";

const throttle = suite("wake-throttle");

throttle("wake-ups after records were taken are never paused, however many and however fast", () => {
  const t = new WakeThrottle();
  let taken = 0;
  // 100,000 wake-ups in 100 ms, each after a record it published was taken.
  for (let i = 0; i < 100_000; i++) {
    taken += 1 + (i % 3);
    assert.is(t.emptyWake(i / 1000, taken), NOT_EMPTY, `wake-up ${i}`);
  }
  assert.is(t.pauses, 0);
});

throttle("wake-ups with nothing published are paused past the limit, 10 ms doubling to 1 s", () => {
  const t = new WakeThrottle();
  const pauses: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const p = t.emptyWake(i / 100, 7); // 100 a ms, no record taken in between
    if (p > 0) pauses.push(p);
  }
  assert.ok(pauses.length >= 8, `${pauses.length} pauses`);
  assert.equal(pauses.slice(0, 8), [10, 20, 40, 80, 160, 320, 640, 1000]);
  assert.is(t.pauses, pauses.length);
});

throttle("a flood between two records taken is still counted: one record does not buy a free run", () => {
  const t = new WakeThrottle();
  let paused = 0;
  for (let i = 0; i < 1_000; i++) {
    // One record every 100 wake-ups.
    if (t.emptyWake(i / 100, Math.floor(i / 100)) > 0) paused++;
  }
  assert.ok(paused > 0, "paused");
});

throttle.run();
