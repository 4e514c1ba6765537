// server.implement(contract, handlers): the endpoints of a contract, each running its
// handler behind validation (validate.ts).

import { RpcError, ErrorCodes } from "../errors.js";
import { isContract } from "./define.js";
import { Endpoint } from "./endpoint.js";
import { contractHandler, contractGuard } from "./validate.js";
import { RESERVED_PREFIX } from "./stats.js";
import type { Contract, ContractSpec, Handlers, ContextHandlers } from "./types.js";

/** Throws ERR_RPC_INVALID_ARGUMENT for a name reserved to the server itself. */
export function refuseReserved(method: string): void {
  if (method.startsWith(RESERVED_PREFIX)) {
    throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `method names starting with "${RESERVED_PREFIX}" are reserved to shmrpc ("${method}")`);
  }
}

/** One endpoint per method of the contract; every handler must be there. With `context`,
 *  each gets the call's context after its (validated) arguments. */
export function contractEndpoints<S extends ContractSpec>(contract: Contract<S>, handlers: Handlers<S> | ContextHandlers<S>, context = false): Endpoint[] {
  if (!isContract(contract)) throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, "implement() takes a contract made by defineContract");
  const endpoints: Endpoint[] = [];
  for (const [method, spec] of Object.entries(contract.methods)) {
    const handler = (handlers as Record<string, unknown>)[method];
    if (typeof handler !== "function") {
      throw new RpcError(ErrorCodes.ERR_RPC_INVALID_ARGUMENT, `implement(): no handler for contract method "${method}"`);
    }
    refuseReserved(method);
    const ep = new Endpoint(method, contractHandler(method, spec, handler as (...args: any[]) => unknown, context), spec);
    // Middleware runs between the checks and the handler itself (src/serving/invoke.ts).
    ep.inner = handler as (...args: any[]) => unknown;
    ep.guard = contractGuard(method, spec);
    endpoints.push(ep);
  }
  return endpoints;
}
