// defineContract: checks the shape of a contract once, at definition time, and brands it.

import { RpcError, ErrorCodes } from "../errors.js";
import type { Contract, ContractSpec } from "./types.js";

/** Defines the typed methods of a service; see the README's "Contracts". */
export function defineContract<const S extends ContractSpec>(methods: S): Contract<S> {
  if (methods === null || typeof methods !== "object") {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "defineContract takes an object of methods");
  }
  for (const [name, spec] of Object.entries(methods)) {
    if (!isSchema(spec?.args)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `contract method "${name}": args must be a Standard Schema (a tuple schema)`);
    }
    if (spec.idempotent !== undefined && typeof spec.idempotent !== "boolean") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `contract method "${name}": idempotent must be a boolean`);
    }
    if (spec.yields !== undefined && !isSchema(spec.yields)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `contract method "${name}": yields must be a Standard Schema`);
    }
    if (spec.result !== undefined && !isSchema(spec.result)) {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `contract method "${name}": result must be a Standard Schema`);
    }
  }
  return Object.freeze({ methods: Object.freeze({ ...methods }) }) as unknown as Contract<S>;
}

/** True for `contract` made by defineContract (or of the same shape). */
export function isContract(contract: unknown): contract is Contract {
  return contract !== null && typeof contract === "object" && typeof (contract as Contract).methods === "object";
}

function isSchema(s: unknown): boolean {
  const std = (s as { "~standard"?: { version?: unknown; validate?: unknown } } | undefined)?.["~standard"];
  return std !== undefined && std.version === 1 && typeof std.validate === "function";
}
