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

test.run();
