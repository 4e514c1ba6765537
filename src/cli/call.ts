// shmrpc call <name> <method> [args…]: one call, its result printed as JSON (values JSON
// lacks in the tagged forms of src/cli/values.ts).

import { readFileSync } from "node:fs";
import type { Invocation } from "./commands.js";
import { Exit, UsageError } from "./exit.js";
import { jsonText } from "./output.js";
import { clientFor, nameArgument } from "./target.js";
import { fromJson, parseArgument, toJson } from "./values.js";
import { withMethodHint } from "./suggest.js";

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const method = inv.args[1]!;
  const args = callArguments(inv.args.slice(2));
  const client = await clientFor(inv, name);
  try {
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
