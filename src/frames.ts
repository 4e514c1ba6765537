// Frame headers: where the fields of each record's payload are, and the code that
// writes them. The records themselves are described in src/protocol.ts (RECORDS); the
// ring's own [length][type] header is assembly/ring.ts's.
//
//   REQUEST        [id u32][name length u8][method name, UTF-8][pad][arguments]
//   CALL           [id u32][method id u32][arguments]
//   METHOD_ID      [method id u32][name length u8][method name, UTF-8][pad]
//   RESPONSE       [id u32][pad][result]
//   ERROR          [id u32][kind u8][pad][details]
//   FRAGMENT_FIRST [total u32][inner type u32][tail u32][0 u32][first bytes of the inner payload]
//                  tail: how many of the last bytes of the payload are the bytes of one
//                  binary that ends its value (0: none); the receiver puts them straight
//                  into a Buffer of their own instead of reassembling them.
//   FRAGMENT_MORE  [next bytes]
//   CONTEXT        [id u32][remaining ms u32][metadata]   (since version 6)
//   CANCEL         [id u32][reason u8][pad]
//   STREAM_ITEM    [id u32][pad][item]                    (since version 7)
//   STREAM_CREDIT  [id u32][items u32][bytes u32][pad]
//   STREAM_ARG     [id u32][argument index u32]
//   STREAM_END     [id u32][reason u8][pad]
// The encoded value starts 8-byte aligned in the payload (pad = 0..7 bytes).

import type { Core } from "./core/wasm.js";

/** The longest method name, in UTF-8 bytes (a REQUEST's name length is one byte). */
export const METHOD_NAME_MAX_BYTES = 255;

// Byte offsets inside payloads.
export const P_ID = 0;
export const P_NAME_LENGTH = 4;
export const P_NAME = 5;
export const P_ERROR_KIND = 4;
export const P_METHOD_ID = 4;
export const P_CALL_BODY = 8;
/** Where the encoded value starts after a header of `bytes`. */
export function bodyOffset(headerBytes: number): number {
  return (headerBytes + 7) & ~7;
}
export const P_RESPONSE_BODY = 8;
/** Room the encoder leaves in front of a value for the longest header (a request's). */
export const HEADROOM = bodyOffset(P_NAME + METHOD_NAME_MAX_BYTES);
export const P_ERROR_DETAILS = 8;
export const P_FRAGMENT_TOTAL = 0;
export const P_FRAGMENT_TYPE = 4;
export const P_FRAGMENT_TAIL = 8;
export const P_FRAGMENT_DATA = 16;

/** What follows the id in a REQUEST's header: [name length u8][name], for a method name
 *  already encoded as UTF-8 (at most METHOD_NAME_MAX_BYTES). */
export function requestExtra(utf8: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(1 + utf8.length);
  bytes[0] = utf8.length;
  bytes.set(utf8, 1);
  return bytes;
}

const KIND_BYTES: Uint8Array[] = [];

/** What follows the id in an ERROR's header: [kind u8] (one shared array per kind). */
export function errorExtra(kind: number): Uint8Array {
  return (KIND_BYTES[kind] ??= Uint8Array.of(kind));
}

/** Writes the header [id u32][extra][pad to 8] just before a body at `body` in linear
 *  memory (the caller left HEADROOM bytes free there); returns where the payload
 *  starts. `extra`: null (RESPONSE), requestExtra (REQUEST) or errorExtra (ERROR). */
export function writeHeader(c: Core, body: number, id: number, extra: Uint8Array | null): number {
  const extraLength = extra === null ? 0 : extra.length;
  const at = body - bodyOffset(4 + extraLength);
  c.view.setUint32(at + P_ID, id, true);
  if (extra !== null) c.u8.set(extra, at + 4);
  c.u8.fill(0, at + 4 + extraLength, body);
  return at;
}

/** Writes a CALL's header [id u32][method id u32] just before a body at `body` (8-byte
 *  aligned, as the encoder leaves it); returns where the payload starts. */
export function writeCallHeader(c: Core, body: number, id: number, methodId: number): number {
  const at = body - P_CALL_BODY;
  c.view.setUint32(at + P_ID, id, true);
  c.view.setUint32(at + P_METHOD_ID, methodId, true);
  return at;
}

/** Writes a FRAGMENT_FIRST header at `at`: the inner message's total size and type,
 *  and the size of its trailing binary (or 0). */
export function writeFragmentHeader(c: Core, at: number, total: number, innerType: number, tail: number): void {
  c.view.setUint32(at + P_FRAGMENT_TOTAL, total, true);
  c.view.setUint32(at + P_FRAGMENT_TYPE, innerType, true);
  c.view.setUint32(at + P_FRAGMENT_TAIL, tail, true);
  c.view.setUint32(at + P_FRAGMENT_TAIL + 4, 0, true);
}
