// NATS payloads in the shared-memory codec's format (src/codec/, one codec for both
// transports): values to bytes and back through this thread's WebAssembly memory, and
// the error replies described in src/nats/subjects.ts.

import { core } from "../core/wasm.js";
import { native } from "../native.js";
import { Encoder } from "../codec/encode.js";
import { Decoder } from "../codec/decode.js";
import { RpcError, ErrorCodes, type ErrorCode } from "../errors.js";
import { answeredError } from "../calls/remote-error.js";
import { HEADER_ERROR, HEADER_ERROR_STATUS, HEADER_SHMRPC_CODE } from "./subjects.js";

/** Incoming bytes are copied into a scratch region of this size first (grown on demand). */
const SCRATCH_BYTES = 64 * 1024;

export class PayloadCodec {
  private readonly encoder = new Encoder(core());
  private readonly decoder = new Decoder(core(), native.copyBytes);
  private scratch = 0;
  private scratchBytes = 0;

  /** `value` encoded, as a new Uint8Array (the library keeps it until written).
   *  Throws ERR_RPC_INVALID_ARGUMENT or ERR_RPC_MESSAGE_TOO_LARGE. */
  encode(value: unknown, maxBytes: number, what: string): Uint8Array {
    const length = this.encoder.encode(value, maxBytes, what);
    const start = this.encoder.start;
    const bytes = core().u8.slice(start, start + length);
    this.encoder.shrink(length);
    return bytes;
  }

  /** The one value `bytes` holds; throws ERR_RPC_PROTOCOL when they are not one well-formed value. */
  decode(bytes: Uint8Array): unknown {
    if (bytes.length > this.scratchBytes) {
      const c = core();
      if (this.scratchBytes > 0) c.release(this.scratch, this.scratchBytes);
      this.scratchBytes = Math.max(SCRATCH_BYTES, bytes.length);
      this.scratch = c.alloc(this.scratchBytes);
    }
    core().u8.set(bytes, this.scratch);
    return this.decoder.decode(this.scratch, this.scratch + bytes.length);
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
    if (this.scratchBytes > 0) core().release(this.scratch, this.scratchBytes);
    this.scratchBytes = 0;
  }
}

/** Reads a reply's header (undefined when absent). */
export type HeaderLookup = (name: string) => string | undefined;

/** What the caller gets from a reply: its value, or the RpcError it carries. */
export function replyValue(codec: PayloadCodec, data: Uint8Array, header: HeaderLookup | undefined, service: string): unknown {
  const status = header?.(HEADER_ERROR_STATUS);
  const text = header?.(HEADER_ERROR);
  if (status === undefined && text === undefined) {
    try {
      return codec.decode(data);
    } catch (e) {
      throw new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `${service} sent an undecodable reply: ${(e as Error).message}`, { maybeExecuted: true });
    }
  }
  const code = header?.(HEADER_SHMRPC_CODE) ?? codeOfStatus(status);
  let details: unknown;
  if (data.length > 0) {
    try {
      details = codec.decode(data);
    } catch {
      // A foreign responder's error body: the header's text is all there is.
    }
  }
  // A code no server sends (the caller's own, or none of ours) stays ERR_RPC_REMOTE.
  throw answeredError(code, details, text ?? `error ${status}`);
}

function codeOfStatus(status: string | undefined): ErrorCode {
  switch (status) {
    case "400": return ErrorCodes.ERR_RPC_INVALID_ARGUMENT;
    case "404": return ErrorCodes.ERR_RPC_METHOD_NOT_FOUND;
    case "413": return ErrorCodes.ERR_RPC_MESSAGE_TOO_LARGE;
    default: return ErrorCodes.ERR_RPC_REMOTE;
  }
}
