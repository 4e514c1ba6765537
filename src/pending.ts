// Calls in flight, by id. Ids are handed out in sequence, so a power-of-two table
// indexed by `id & mask` finds each with no hashing. The table is sized by how many
// calls are in flight, not by the span of their ids: an id whose slot is held by an
// older call still in flight (one long call among many short ones) goes to a small
// overflow map instead of doubling the table. The table doubles when it is half full
// and halves when it is down to an eighth, so its memory follows the calls in flight.

export interface HasId {
  id: number;
}

/** The smallest table (and the size it never shrinks below). */
const MIN_SLOTS = 1024;

export class PendingTable<T extends HasId> {
  private slots: (T | undefined)[] = new Array<T | undefined>(MIN_SLOTS).fill(undefined);
  private mask = MIN_SLOTS - 1;
  /** Entries whose slot an older entry holds (rare: their ids span more than the table). */
  private overflow = new Map<number, T>();
  size = 0;

  get(id: number): T | undefined {
    const entry = this.slots[id & this.mask];
    if (entry !== undefined && entry.id === id) return entry;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  set(entry: T): void {
    if (this.get(entry.id) !== undefined) throw new Error(`call id ${entry.id} is already in flight`);
    this.place(entry);
    if (++this.size > (this.mask + 1) >>> 1) this.resize((this.mask + 1) * 2);
  }

  /** Removes the entry of `id`; false when there is none. */
  delete(id: number): boolean {
    const i = id & this.mask;
    const entry = this.slots[i];
    if (entry !== undefined && entry.id === id) this.slots[i] = undefined;
    else if (this.overflow.size === 0 || !this.overflow.delete(id)) return false;
    if (--this.size < (this.mask + 1) >>> 3 && this.mask >= MIN_SLOTS) this.resize((this.mask + 1) >>> 1);
    return true;
  }

  /** Empties the table, returning what it held. */
  drain(): T[] {
    const all: T[] = [];
    for (const entry of this.slots) if (entry !== undefined) all.push(entry);
    for (const entry of this.overflow.values()) all.push(entry);
    this.slots = new Array<T | undefined>(MIN_SLOTS).fill(undefined);
    this.mask = MIN_SLOTS - 1;
    this.overflow = new Map();
    this.size = 0;
    return all;
  }

  private place(entry: T): void {
    const i = entry.id & this.mask;
    if (this.slots[i] === undefined) this.slots[i] = entry;
    else this.overflow.set(entry.id, entry);
  }

  private resize(capacity: number): void {
    const old = this.slots;
    const overflowed = this.overflow;
    this.slots = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.overflow = new Map();
    for (const entry of old) if (entry !== undefined) this.place(entry);
    for (const entry of overflowed.values()) this.place(entry);
  }
}
