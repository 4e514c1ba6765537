// The one failure of the linear memory's allocator (src/core/wasm.ts, `alloc`), in a
// module of its own so that the codec and the channel can tell it apart by class
// without importing the core.

/** `alloc` found no room: the linear memory is at its 2 GiB, or the system would not
 *  grow it. Callers tell it from other failures by class, never by message text. */
export class OutOfLinearMemory extends RangeError {
  override name = "OutOfLinearMemory";
}
