// What a caller learns of a handler's failure: the one place that shapes it, for every
// transport (shared memory in dispatch.ts, NATS in src/nats/serve.ts). A handler's stack
// names the server's files and lines: it is sent only when the server opts in with
// `exposeStacks: true`; otherwise the caller gets the name, message and code alone.

import { inspect } from "node:util";

/** The details an ERR_RPC_REMOTE carries (the caller's `err.remote`). */
export interface ThrownDetails {
  name: string;
  message: string;
  /** The handler's stack with `exposeStacks`, else "". */
  stack: string;
  /** The thrown error's own `code`, when it had a string one. */
  code?: string;
}

/** `thrown` (anything a handler threw or rejected with) as its caller will see it. */
export function thrownDetails(thrown: unknown, exposeStacks: boolean): ThrownDetails {
  if (!(thrown instanceof Error)) {
    return { name: "Error", message: `the handler threw a non-Error value: ${inspect(thrown, { depth: 2, breakLength: Infinity })}`, stack: "" };
  }
  const details: ThrownDetails = { name: String(thrown.name), message: String(thrown.message), stack: exposeStacks ? String(thrown.stack ?? "") : "" };
  const code = (thrown as { code?: unknown }).code;
  if (typeof code === "string") details.code = code;
  return details;
}
