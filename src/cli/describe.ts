// shmrpc describe <name>: the methods a server serves, with their argument and result
// types. A table shows each JSON Schema as a short type (`[number, number]`,
// `{ mean: number, n: integer }`); --json gives the description as the server sent it.

import type { Invocation } from "./commands.js";
import { Exit } from "./exit.js";
import { printable, table, uptime } from "./output.js";
import { clientFor, nameArgument } from "./target.js";

export async function run(inv: Invocation): Promise<number> {
  const name = nameArgument(inv);
  const client = await clientFor(inv, name);
  try {
    const d = await client.describe();
    if (inv.options.json === true) {
      inv.out.json(d);
      return Exit.OK;
    }
    inv.out.out(printable(`${d.name}: pid ${d.pid}, uid ${d.uid}, protocol ${d.version}, up ${uptime(Date.parse(d.started))} (since ${d.started})`) + "\n\n");
    if (d.methods.length === 0) {
      inv.out.out("no methods\n");
      return Exit.OK;
    }
    const rows = d.methods.map((m) => [
      m.name, m.args ? argsType(m.args) : "(any…)", m.result ? typeOf(m.result) : "any", m.idempotent ? "yes" : "", m.description,
    ]);
    inv.out.out(table(["METHOD", "ARGS", "RESULT", "IDEMPOTENT", "DESCRIPTION"], rows));
    return Exit.OK;
  } finally {
    client.close();
  }
}

type Schema = Record<string, unknown>;

/** An argument tuple's schema as `(a, b)` types. */
function argsType(s: Schema): string {
  const t = typeOf(s);
  return t.startsWith("[") && t.endsWith("]") ? `(${t.slice(1, -1)})` : t;
}

/** A JSON Schema as a short TypeScript-like type; what it cannot shorten shows as `…`. */
export function typeOf(s: unknown, depth = 0): string {
  if (s === true || s === undefined) return "any";
  if (s === false) return "never";
  if (s === null || typeof s !== "object") return "…";
  const o = s as Schema;
  if (depth > 4) return "…";
  const sub = (x: unknown) => typeOf(x, depth + 1);
  if (typeof o["x-instanceof"] === "string") return o["x-instanceof"]; // z.instanceof(Uint8Array): "Uint8Array"
  if ("const" in o) return JSON.stringify(o.const);
  if (Array.isArray(o.enum)) return o.enum.map((v) => JSON.stringify(v)).join(" | ");
  for (const k of ["anyOf", "oneOf"]) if (Array.isArray(o[k])) return (o[k] as unknown[]).map(sub).join(" | ");
  if (Array.isArray(o.allOf)) return (o.allOf as unknown[]).map(sub).join(" & ");
  const type = o.type;
  if (Array.isArray(type)) return type.map((t) => sub({ ...o, type: t })).join(" | ");
  switch (type) {
    case "string": case "number": case "integer": case "boolean": case "null": return type;
    case "array": {
      if (Array.isArray(o.prefixItems)) {
        const items = (o.prefixItems as unknown[]).map(sub);
        if (o.items && o.items !== false) items.push(`...${sub(o.items)}[]`);
        return `[${items.join(", ")}]`;
      }
      return `${wrapUnion(sub(o.items))}[]`;
    }
    case "object": {
      const props = (o.properties ?? {}) as Record<string, unknown>;
      const required = new Set(Array.isArray(o.required) ? (o.required as string[]) : []);
      const members = Object.entries(props).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}${required.has(k) ? "" : "?"}: ${sub(v)}`);
      if (o.additionalProperties && typeof o.additionalProperties === "object") members.push(`[key: string]: ${sub(o.additionalProperties)}`);
      return members.length ? `{ ${members.join(", ")} }` : "{}";
    }
  }
  return Object.keys(o).filter((k) => k !== "$schema" && k !== "description").length === 0 ? "any" : "…";
}

function wrapUnion(t: string): string {
  return t.includes(" | ") || t.includes(" & ") ? `(${t})` : t;
}
