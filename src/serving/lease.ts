// How long a connection's memory lives: its shared segment (the rings) and the private
// regions its channel reassembles big messages in. A `{ view: true }` handler's arguments
// are views of that memory, so it must stay mapped and ours for as long as a handler may
// still look at them, even after the connection has ended: freed at once, the next
// client's rings (or reassembly region) would be placed there (first-fit reuse in
// src/core/wasm.ts), and the waiting handler's views would show, or its writes change,
// another client's requests.
//
// A Lease counts the holds on the memory (each view handler running or awaited holds it
// once); `end` says the connection is over; the memory is freed when both are true. The
// bytes stay counted in the server's mappedBytes budget until then.

export class Lease {
  private holds = 0;
  private ended = false;
  private freed = false;

  /** `free` gives the memory back (called once). */
  constructor(private readonly free: () => void) {}

  /** Something (a view handler) will look at the memory until `release`. */
  hold(): void {
    this.holds++;
  }

  release(): void {
    if (this.holds <= 0) throw new Error("shmrpc: a connection's memory released more often than held");
    this.holds--;
    if (this.holds === 0 && this.ended) this.freeOnce();
  }

  /** The connection is over: the memory goes as soon as nothing holds it (now, if nothing
   *  does). */
  end(): void {
    this.ended = true;
    if (this.holds === 0) this.freeOnce();
  }

  /** True once the memory is given back. */
  get isFreed(): boolean {
    return this.freed;
  }

  private freeOnce(): void {
    if (this.freed) return;
    this.freed = true;
    this.free();
  }
}
