import { RpcError, ErrorCodes } from "./errors.js";

/** Validates a numeric option: ERR_RPC_INVALID_ARGUMENT unless positive (or zero) and finite. */
export function positive(value: number | undefined, fallback: number, what: string, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(allowZero ? value >= 0 : value > 0) || !Number.isFinite(value)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `option ${what} must be a ${allowZero ? "non-negative" : "positive"} finite number`);
  }
  return value;
}
