// Process-wide bookkeeping shared by Server and Client.

import { RpcError, ErrorCodes } from "./errors.js";

/** Names served from this thread: a synchronous call to one of them could never be answered. */
export const localServers = new Set<string>();

/** Run when the process exits without close(): each says goodbye and frees what it holds. */
export const onProcessExit = new Set<() => void>();

process.on("exit", () => {
  for (const hook of onProcessExit) hook();
});

/** Maps an addon error (with errno code) to an RpcError. */
export function systemError(e: unknown, context: string): RpcError {
  if (e instanceof RpcError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const message = `${context}: ${(e as Error).message}`;
  if (code === "EACCES" || code === "EPERM") return new RpcError(ErrorCodes.ERR_RPC_ACCESS_DENIED, message, { cause: e });
  if (code === "ENOENT") return new RpcError(ErrorCodes.ERR_RPC_NOT_CONNECTED, message, { cause: e });
  if (code === "EEXIST") return new RpcError(ErrorCodes.ERR_RPC_ADDRESS_IN_USE, message, { cause: e });
  return new RpcError(ErrorCodes.ERR_RPC_PROTOCOL, message, { cause: e });
}
