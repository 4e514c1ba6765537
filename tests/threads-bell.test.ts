// The doorbell between threads (src/threads/bell.ts): ring() wakes only an owner that said
// it parked, and says whether it did (a synchronous call then parks at once instead of
// spinning while the woken server's thread is scheduled).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../src/core/wasm.js";
import { AtomicsBell } from "../src/threads/bell.js";
import { newCoreMemory } from "../src/core/wasm.js";
import "../src/threads/index.js";

const t = suite("threads-bell");

t("ring() says whether it found the owner parked and woke it", () => {
  const c = new Core(newCoreMemory(64), true);
  const at = c.alloc(8);
  const bell = new AtomicsBell(c, at, at + 4);
  const seq = Atomics.load(c.i32, at >>> 2);
  bell.ring();
  assert.is(bell.woke, false, "nobody parked: nothing to wake");
  assert.is(Atomics.load(c.i32, at >>> 2), seq, "the bell's sequence is untouched");
  const parkedSeq = bell.park();
  bell.ring();
  assert.is(bell.woke, true, "the owner parked: woken");
  assert.not.equal(Atomics.load(c.i32, at >>> 2), parkedSeq, "its sleep on the old sequence ends at once");
  assert.is(Atomics.wait(c.i32, at >>> 2, parkedSeq, 0), "not-equal");
  bell.ring();
  assert.is(bell.woke, false, "woken once: the next ring finds nobody parked");
});

t.run();
