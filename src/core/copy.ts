// The byte copy the codec and the channel use for big copies, injected so that they run on
// any WebAssembly.Memory: the process transport passes the addon's memmove (V8 copies out
// of shared memory a word at a time), anything without the addon gets `copyWithSet`.

/** Copies `length` bytes from src's buffer at `srcOffset` to dst's buffer at `dstOffset`
 *  (offsets into the underlying ArrayBuffers, as `byteOffset` counts them). */
export type CopyBytes = (src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number) => void;

/** The copy without native code: TypedArray.set (correct when the ranges overlap). */
export const copyWithSet: CopyBytes = (src, srcOffset, dst, dstOffset, length) => {
  new Uint8Array(dst.buffer, dstOffset, length).set(new Uint8Array(src.buffer, srcOffset, length));
};
