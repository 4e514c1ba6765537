// client.proxy(contract): one typed function per method of the contract.

import { RpcError, ErrorCodes } from "../errors.js";
import { isContract } from "./define.js";
import { validateAsync, validateSync } from "./validate.js";
import type { Contract, ContractSpec, Proxy, ProxyOptions } from "./types.js";

/** How a proxy reaches the server (the Client's call paths, with its default options). */
export interface Calls {
  sync(method: string, args: unknown[], idempotent: boolean): unknown;
  async(method: string, args: unknown[], idempotent: boolean): Promise<unknown>;
  stream(method: string, args: unknown[]): unknown;
}

export function makeProxy<S extends ContractSpec>(contract: Contract<S>, calls: Calls, options: ProxyOptions = {}): Proxy<S, boolean> {
  if (!isContract(contract)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "proxy() takes a contract made by defineContract");
  const proxy: Record<string, (...args: unknown[]) => unknown> = Object.create(null);
  for (const [method, spec] of Object.entries(contract.methods)) {
    const result = spec.result;
    const idempotent = spec.idempotent === true;
    if (spec.yields !== undefined) {
      // A stream (the server checks each item; `validate` checks the arguments here too).
      proxy[method] = !options.validate ? (...args) => calls.stream(method, args) : (...args) => {
        validateSync(spec.args, args, method, "arguments");
        return calls.stream(method, args);
      };
    } else if (!options.validate) {
      proxy[method] = options.sync ? (...args) => calls.sync(method, args, idempotent) : (...args) => calls.async(method, args, idempotent);
    } else if (options.sync) {
      proxy[method] = (...args) => {
        validateSync(spec.args, args, method, "arguments");
        const value = calls.sync(method, args, idempotent);
        return result === undefined ? value : validateSync(result, value, method, "result");
      };
    } else {
      proxy[method] = async (...args) => {
        await validateAsync(spec.args, args, method, "arguments");
        const value = await calls.async(method, args, idempotent);
        return result === undefined ? value : validateAsync(result, value, method, "result");
      };
    }
  }
  return Object.freeze(proxy) as Proxy<S, boolean>;
}
