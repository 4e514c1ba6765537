// The table of calls in flight.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PendingTable } from "../src/pending.js";

test("entries are found by id, and only by their own id", () => {
  const t = new PendingTable<{ id: number }>();
  const a = { id: 5 };
  t.set(a);
  assert.is(t.get(5), a);
  assert.is(t.get(5 + 1024), undefined, "same slot, other id");
  assert.is(t.delete(5 + 1024), false);
  assert.is(t.delete(5), true);
  assert.is(t.get(5), undefined);
  assert.is(t.size, 0);
});

test("many entries in flight grow the table and all stay reachable, across the id wrap", () => {
  const t = new PendingTable<{ id: number }>();
  const ids: number[] = [];
  // Handed out like Client's ids: 0 is skipped when the u32 wraps.
  for (let i = 0, id = 0xffffffff - 20_000; i < 50_000; i++, id = (id + 1) >>> 0 || 1) ids.push(id);
  for (const id of ids) t.set({ id });
  assert.is(t.size, ids.length);
  for (const id of ids) assert.is(t.get(id)?.id, id);
  for (let i = 0; i < ids.length; i += 2) assert.ok(t.delete(ids[i]!));
  assert.is(t.size, ids.length / 2);
  const rest = t.drain().map((e) => e.id).sort((x, y) => x - y);
  assert.equal(rest, ids.filter((_, i) => i % 2 === 1).sort((x, y) => x - y));
  assert.is(t.size, 0);
});

test("an id already in flight is refused rather than growing the table forever", () => {
  const t = new PendingTable<{ id: number }>();
  t.set({ id: 7 });
  assert.throws(() => t.set({ id: 7 }), /already/);
});

/** The table's slots (white box: what its memory follows). */
const slotsOf = (t: PendingTable<{ id: number }>): number => (t as unknown as { slots: unknown[] }).slots.length;

test("the table is sized by the calls in flight, not by the span of their ids", () => {
  const t = new PendingTable<{ id: number }>();
  const long = { id: 1 };
  t.set(long);
  // 200,000 calls one after another while the long one stays in flight: its slot is
  // met again every 1024 ids.
  for (let id = 2; id < 200_002; id++) {
    t.set({ id });
    assert.is(t.get(id)?.id, id);
    assert.ok(t.delete(id));
  }
  assert.is(t.get(1), long);
  assert.is(t.size, 1);
  assert.is(slotsOf(t), 1024, "one call in flight after 200,000 others");
  // A burst grows it; once the burst is over it is given back.
  const burst = Array.from({ length: 50_000 }, (_, i) => ({ id: 300_000 + i }));
  for (const e of burst) t.set(e);
  assert.ok(slotsOf(t) >= 65_536 && slotsOf(t) <= 131_072, `capacity ${slotsOf(t)} for 50,001 in flight`);
  for (const e of burst) assert.is(t.get(e.id), e);
  for (const e of burst) assert.ok(t.delete(e.id));
  assert.is(t.get(1), long, "the long call is still found");
  assert.ok(slotsOf(t) <= 2048, `capacity ${slotsOf(t)} with one call in flight after a burst`);
  assert.equal(t.drain(), [long]);
});

test("ids that share a slot are all found and removed, whichever leaves first", () => {
  const t = new PendingTable<{ id: number }>();
  const ids = [7, 7 + 1024, 7 + 2048, 7 + 4096];
  for (const id of ids) t.set({ id });
  for (const id of ids) assert.is(t.get(id)?.id, id);
  assert.ok(t.delete(7)); // the one in the slot leaves first
  for (const id of ids.slice(1)) assert.is(t.get(id)?.id, id);
  assert.throws(() => t.set({ id: 7 + 2048 }), /already/);
  assert.ok(t.delete(7 + 4096));
  assert.is(t.get(7 + 4096), undefined);
  assert.equal(t.drain().map((e) => e.id).sort((a, b) => a - b), [7 + 1024, 7 + 2048]);
  assert.is(t.size, 0);
});

test.run();
