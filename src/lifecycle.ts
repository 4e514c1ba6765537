// Process-wide bookkeeping shared by Server and Client.

import { RpcError, ErrorCodes } from "./errors.js";

/** Names served from this thread (counted: replicas of one name may share it): a
 *  synchronous call to one of them could never be answered. */
class CountedNames {
  private readonly counts = new Map<string, number>();
  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  delete(name: string): void {
    const n = this.counts.get(name) ?? 0;
    if (n <= 1) this.counts.delete(name);
    else this.counts.set(name, n - 1);
  }
  has(name: string): boolean {
    return this.counts.has(name);
  }
}
export const localServers = new CountedNames();

/** Run when the process exits without close(): each says goodbye and frees what it holds. */
export const onProcessExit = new Set<() => void>();

process.on("exit", () => {
  for (const hook of onProcessExit) hook();
});

/** Maps an addon error (with errno code) to an RpcError, prefixed with `context`. */
export function systemError(e: unknown, context: string): RpcError {
  if (e instanceof RpcError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const message = `${context}: ${(e as Error).message}`;
  const as = (c: keyof typeof ErrorCodes) => new RpcError(ErrorCodes[c], message, { cause: e });
  switch (code) {
    case "EACCES": case "EPERM": case "ELOOP":
      return as("ERR_RPC_ACCESS_DENIED");
    // No server, or one whose accept queue is full (the client tries that again).
    case "ENOENT": case "ENOTDIR": case "ECONNREFUSED": case "EAGAIN":
      return as("ERR_RPC_NOT_CONNECTED");
    case "EEXIST": case "EADDRINUSE":
      return as("ERR_RPC_ADDRESS_IN_USE");
    case "EMFILE": case "ENFILE": case "ENOMEM": case "ENOSPC":
      return as("ERR_RPC_RESOURCE_EXHAUSTED");
    default:
      return as("ERR_RPC_PROTOCOL");
  }
}
