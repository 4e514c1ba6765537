// "Did you mean": a method name the server does not serve, checked against the ones it
// does (asked with describe() only after the call failed: no cost when the name is right).

import type { Client } from "../client.js";
import { closest } from "./parse.js";

/** `err`, with a hint naming the closest method the server serves, when it is
 *  ERR_RPC_METHOD_NOT_FOUND and one is close (edit distance at most 2). */
export async function withMethodHint(client: Client, method: string, err: unknown): Promise<unknown> {
  if ((err as { code?: unknown } | null)?.code !== "ERR_RPC_METHOD_NOT_FOUND") return err;
  try {
    const names = (await client.describe()).methods.map((m) => m.name);
    const near = closest(method, names);
    const hint = near ? `did you mean '${near}'? 'shmrpc describe' lists the methods` : "'shmrpc describe' lists the methods";
    Object.defineProperty(err, "hint", { value: hint, enumerable: false, configurable: true });
  } catch {
    // The server went, or does not describe itself: the error as it was.
  }
  return err;
}
