// The codec's constants, read once from the WebAssembly core (assembly/codec.ts holds
// the tag table and is their only definition). They are properties of the module's
// code, identical in every instance, so the first instance's values serve all.

import { core } from "../core/wasm.js";
import { ErrorCodes, RpcError } from "../errors.js";

const x = core().exports;

export const TAG_FIXARRAY = x.TAG_FIXARRAY.value;
export const TAG_FIXOBJECT = x.TAG_FIXOBJECT.value;
export const TAG_FIXSTR = x.TAG_FIXSTR.value;
export const TAG_UNDEFINED = x.TAG_UNDEFINED.value;
export const TAG_NULL = x.TAG_NULL.value;
export const TAG_FALSE = x.TAG_FALSE.value;
export const TAG_TRUE = x.TAG_TRUE.value;
export const TAG_INT8 = x.TAG_INT8.value;
export const TAG_INT16 = x.TAG_INT16.value;
export const TAG_INT32 = x.TAG_INT32.value;
export const TAG_FLOAT32 = x.TAG_FLOAT32.value;
export const TAG_FLOAT64 = x.TAG_FLOAT64.value;
export const TAG_NEGFIXINT = x.TAG_NEGFIXINT.value;

export const FIXINT_MAX = x.CODEC_FIXINT_MAX.value;
export const NEGFIXINT_MIN = x.CODEC_NEGFIXINT_MIN.value;
export const FIXCOUNT_MAX = x.CODEC_FIXCOUNT_MAX.value;
export const FIXSTR_MAX = x.CODEC_FIXSTR_MAX.value;

export const KIND_UNDEFINED = x.KIND_UNDEFINED.value;
export const KIND_NULL = x.KIND_NULL.value;
export const KIND_FALSE = x.KIND_FALSE.value;
export const KIND_TRUE = x.KIND_TRUE.value;
export const KIND_NUMBER = x.KIND_NUMBER.value;
export const KIND_STRING = x.KIND_STRING.value;
export const KIND_BIGINT_POS = x.KIND_BIGINT_POS.value;
export const KIND_BIGINT_NEG = x.KIND_BIGINT_NEG.value;
export const KIND_DATE = x.KIND_DATE.value;
export const KIND_BINARY = x.KIND_BINARY.value;
export const KIND_CONTAINER = x.KIND_CONTAINER.value;
export const KIND_ARRAY = x.KIND_ARRAY.value;
export const KIND_OBJECT = x.KIND_OBJECT.value;
export const KIND_MAP = x.KIND_MAP.value;
export const KIND_SET = x.KIND_SET.value;
export const KIND_ERROR = x.KIND_ERROR.value;

export const BIN_ARRAYBUFFER = x.BIN_ARRAYBUFFER.value;
export const BIN_BUFFER = x.BIN_BUFFER.value;
export const BIN_UINT8 = x.BIN_UINT8.value;
export const BIN_INT8 = x.BIN_INT8.value;
export const BIN_UINT8CLAMPED = x.BIN_UINT8CLAMPED.value;
export const BIN_INT16 = x.BIN_INT16.value;
export const BIN_UINT16 = x.BIN_UINT16.value;
export const BIN_INT32 = x.BIN_INT32.value;
export const BIN_UINT32 = x.BIN_UINT32.value;
export const BIN_FLOAT32 = x.BIN_FLOAT32.value;
export const BIN_FLOAT64 = x.BIN_FLOAT64.value;
export const BIN_BIGINT64 = x.BIN_BIGINT64.value;
export const BIN_BIGUINT64 = x.BIN_BIGUINT64.value;
export const BIN_DATAVIEW = x.BIN_DATAVIEW.value;

export const MAX_DEPTH = x.CODEC_MAX_DEPTH.value;
export const MAX_BIGINT_BYTES = x.CODEC_MAX_BIGINT_BYTES.value;

const E_SHORT = x.E_SHORT.value;
const E_BAD_TAG = x.E_BAD_TAG.value;
const E_DEPTH = x.E_DEPTH.value;
const E_LENGTH = x.E_LENGTH.value;
const E_KEY = x.E_KEY.value;
export const E_TRAILING = x.E_TRAILING.value;

/** The scan block (see codecScan). */
export const SCAN_BYTES = x.SCAN_BYTES.value;
export const SCAN_TOKENS = x.SCAN_TOKENS.value;
export const SCAN_CAPACITY = x.SCAN_CAPACITY.value;

/** A token's fields as offsets from its u32 index (f64 index: (t >>> 1) + TOK_NUM_F64). */
export const TOKEN_U32 = x.TOKEN_BYTES.value >>> 2;
export const TOK_KIND_U32 = x.TOK_KIND.value >>> 2;
export const TOK_LEN_U32 = x.TOK_LEN.value >>> 2;
export const TOK_AT_U32 = x.TOK_AT.value >>> 2;
export const TOK_NUM_F64 = x.TOK_NUM.value >>> 3;
if ((x.TOKEN_BYTES.value & 7) !== 0 || (x.TOK_NUM.value & 7) !== 0 || (x.SCAN_TOKENS.value & 7) !== 0) {
  throw new Error("shmrpc: the core's token layout does not match src/codec (rebuild both)");
}

/** The ERR_RPC_PROTOCOL for a codec error code `code` found at `at` in [start, end). */
export function corrupt(code: number, at: number, start: number, end: number): RpcError {
  let what: string;
  switch (code) {
    case E_SHORT: what = "a value runs past the end of the message"; break;
    case E_BAD_TAG: what = "unknown tag byte"; break;
    case E_DEPTH: what = `values nested deeper than ${MAX_DEPTH} levels`; break;
    case E_LENGTH: what = "a length or count larger than the message allows"; break;
    case E_KEY: what = "an object key that is not a string"; break;
    case E_TRAILING: what = "bytes after the end of the value"; break;
    default: what = `codec error ${code}`;
  }
  return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, `corrupt message: ${what} (byte ${at - start} of ${end - start})`);
}
