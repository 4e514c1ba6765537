// shmrpc call <name> <method> [args…]: one call, its result printed as JSON (values JSON
// lacks in the tagged forms of src/cli/values.ts); with --stream, each item of a stream
// call on a line of its own as it arrives, until the stream ends or Ctrl-C cancels it.

import { readFileSync } from "node:fs";
import type { Invocation } from "./commands.js";
import { Exit, UsageError } from "./exit.js";
import { jsonText } from "./output.js";
import { DEFAULT_TIMEOUT_MS, clientFor, nameArgument } from "./target.js";
import { durationOption } from "./parse.js";
import type { Client } from "../client.js";
import { fromJson, parseArgument, toJson } from "./values.js";
import { withMethodHint } from "./suggest.js";

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const method = inv.args[1]!;
  const args = callArguments(inv.args.slice(2));
  const client = await clientFor(inv, name);
  try {
    if (inv.options.stream === true) return await streamItems(inv, client, method, args);
    const result = await client.asyncCall(method, ...args).catch(async (e: unknown) => {
      throw await withMethodHint(client, method, e);
    });
    const json = toJson(result);
    inv.out.out(jsonText(json, inv.options.json === true ? undefined : 2) + "\n");
    return Exit.OK;
  } finally {
    client.close();
  }
}

/** Prints each item of stream call `method` as one JSON line, holding the stream while
 *  stdout is behind (its credit holds the server's producer). Without --timeout the stream
 *  has no deadline. Ctrl-C cancels it (the server closes its generator) and exits 0. */
async function streamItems(inv: Invocation, client: Client, method: string, args: unknown[]): Promise<number> {
  const ac = new AbortController();
  const interrupt = (): void => ac.abort();
  process.on("SIGINT", interrupt);
  const timeoutMs = inv.options.timeout === undefined ? Number.MAX_SAFE_INTEGER : durationOption(inv, "timeout", DEFAULT_TIMEOUT_MS);
  try {
    for await (const item of client.withOptions({ signal: ac.signal, timeoutMs }).stream(method, ...args)) {
      inv.out.out(jsonText(toJson(item)) + "\n");
      if (process.stdout.writableNeedDrain) await new Promise<void>((r) => process.stdout.once("drain", () => r()));
    }
    return Exit.OK;
  } catch (e) {
    if (ac.signal.aborted) return Exit.OK; // Ctrl-C: cancelled, as asked
    throw await withMethodHint(client, method, e);
  } finally {
    process.off("SIGINT", interrupt);
  }
}

/** Each argument parsed as JSON; a lone "-" reads them all, as a JSON array, from stdin. */
export function callArguments(texts: string[]): unknown[] {
  if (texts.includes("-")) {
    if (texts.length !== 1) throw new UsageError("'-' (the arguments from stdin) must be the only argument after the method");
    let text: string;
    try {
      text = readFileSync(0, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read the arguments from stdin: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`stdin is not JSON: ${(e as Error).message}`, "'-' reads one JSON array of the arguments, e.g. [1, 2]");
    }
    if (!Array.isArray(json)) throw new UsageError("stdin must hold a JSON array of the arguments, e.g. [1, 2]");
    return json.map((v, i) => fromJson(v, `args[${i}]`));
  }
  return texts.map((t, i) => parseArgument(t, `args[${i}]`));
}
