// client.describe(): what a server serves, with JSON Schema (draft 2020-12) of each
// contract method's arguments and result when its schema library can produce it.

import type { StandardSchemaV1, StandardJSONSchemaV1 } from "@standard-schema/spec";
import type { Endpoint } from "./endpoint.js";
import { RESERVED_PREFIX } from "./stats.js";

/** One method a server serves, in {@link ServiceDescription.methods}. */
export interface MethodDescription {
  /** The method's name, as callers call it. */
  name: string;
  /** JSON Schema of the argument tuple (the schema's input side); null for bind() methods, a library without
   *  Standard JSON Schema, or a schema JSON Schema cannot express (a transform, a custom check). */
  args: Record<string, unknown> | null;
  /** JSON Schema of the result (the schema's output side, what callers receive); null as for `args`, and
   *  for a method without a result schema. */
  result: Record<string, unknown> | null;
  /** JSON Schema of each item of a streaming method (its `yields`, output side); null for
   *  other methods and as for `args`. */
  yields: Record<string, unknown> | null;
  /** The contract's `idempotent` flag; false when unset and for bind() methods. */
  idempotent: boolean;
  /** The contract's `description`; "" when unset and for bind() methods. */
  description: string;
}

/** What a server serves: what `server.describe()` returns and `client.describe()` receives. */
export interface ServiceDescription {
  /** The server's name, as given ("/calc"). */
  name: string;
  /** The shmrpc wire protocol version the server speaks. */
  version: number;
  /** The server's process id. */
  pid: number;
  /** The user id the server runs as; -1 where the platform has none (no `process.getuid`). */
  uid: number;
  /** When the Server object was made, ISO 8601 (RFC 3339) in UTC. */
  started: string;
  /** The methods served, in the order they were registered; the server's own (`$`-prefixed) ones are left out. */
  methods: MethodDescription[];
}

/** Each library's way of saying "what you cannot express, make it {}" (unknown keys are
 *  ignored by the others): zod's `unrepresentable` (and its override, which sees the class
 *  of z.instanceof), @valibot/to-json-schema's `errorMode`. */
const LENIENT: Record<string, unknown> = {
  unrepresentable: "any",
  errorMode: "ignore",
  override: (ctx: { zodSchema?: { _zod?: { bag?: { Class?: unknown } } }; jsonSchema: Record<string, unknown> }) => {
    const cls = ctx.zodSchema?._zod?.bag?.Class;
    if (typeof cls === "function" && cls.name) ctx.jsonSchema["x-instanceof"] = cls.name;
  },
};

const caches = { input: new WeakMap<object, Record<string, unknown> | null>(), output: new WeakMap<object, Record<string, unknown> | null>() };

/** The schema's JSON Schema through Standard JSON Schema (`~standard.jsonSchema`), or null. */
export function jsonSchemaOf(schema: StandardSchemaV1 | undefined, side: "input" | "output"): Record<string, unknown> | null {
  if (schema === undefined) return null;
  const cache = caches[side];
  const known = cache.get(schema);
  if (known !== undefined) return known;
  let json: Record<string, unknown> | null = null;
  const converter = (schema as unknown as Partial<StandardJSONSchemaV1>)["~standard"]?.jsonSchema;
  if (converter && typeof converter[side] === "function") {
    try {
      json = converter[side]({ target: "draft-2020-12" });
    } catch {
      // A part JSON Schema cannot express (a transform, a custom check such as
      // z.instanceof(Uint8Array)): that part alone becomes {} (any), so that the other
      // arguments keep their types; an instanceof check is named in "x-instanceof".
      try {
        json = converter[side]({ target: "draft-2020-12", libraryOptions: LENIENT });
      } catch {
        json = null;
      }
    }
  }
  cache.set(schema, json);
  return json;
}

export function describeService(name: string, version: number, started: Date, endpoints: Iterable<Endpoint>): ServiceDescription {
  const methods: MethodDescription[] = [];
  for (const ep of endpoints) {
    if (ep.name.startsWith(RESERVED_PREFIX)) continue;
    methods.push({
      name: ep.name,
      args: jsonSchemaOf(ep.spec?.args, "input"),
      result: jsonSchemaOf(ep.spec?.result, "output"),
      yields: jsonSchemaOf(ep.spec?.yields, "output"),
      idempotent: ep.spec?.idempotent === true,
      description: ep.spec?.description ?? "",
    });
  }
  return { name, version, pid: globalThis.process?.pid ?? -1, uid: globalThis.process?.getuid?.() ?? -1, started: started.toISOString(), methods };
}
