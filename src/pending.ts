// Calls in flight, by id. Ids are handed out in sequence, so a power-of-two table
// indexed by `id & mask` finds each with no hashing; it doubles when the calls in
// flight span more ids than it has slots.

export interface HasId {
  id: number;
}

export class PendingTable<T extends HasId> {
  private slots: (T | undefined)[] = new Array<T | undefined>(1024).fill(undefined);
  private mask = 1023;
  size = 0;

  get(id: number): T | undefined {
    const entry = this.slots[id & this.mask];
    return entry !== undefined && entry.id === id ? entry : undefined;
  }

  set(entry: T): void {
    if (this.get(entry.id) !== undefined) throw new Error(`call id ${entry.id} is already in flight`);
    while (this.slots[entry.id & this.mask] !== undefined) this.grow();
    this.slots[entry.id & this.mask] = entry;
    this.size++;
  }

  /** Removes the entry of `id`; false when there is none. */
  delete(id: number): boolean {
    const i = id & this.mask;
    const entry = this.slots[i];
    if (entry === undefined || entry.id !== id) return false;
    this.slots[i] = undefined;
    this.size--;
    return true;
  }

  /** Empties the table, returning what it held. */
  drain(): T[] {
    const all: T[] = [];
    for (const entry of this.slots) if (entry !== undefined) all.push(entry);
    this.slots.fill(undefined);
    this.size = 0;
    return all;
  }

  private grow(): void {
    const old = this.slots;
    for (;;) {
      this.mask = this.mask * 2 + 1;
      this.slots = new Array<T | undefined>(this.mask + 1).fill(undefined);
      let clash = false;
      for (const entry of old) {
        if (entry === undefined) continue;
        const i = entry.id & this.mask;
        if (this.slots[i] !== undefined) {
          clash = true;
          break;
        }
        this.slots[i] = entry;
      }
      if (!clash) return;
    }
  }
}
