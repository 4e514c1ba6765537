// The value codec: JS values <-> the byte format of assembly/codec.ts.
export { Encoder } from "./encode.js";
export { Decoder } from "./decode.js";
