// client.describe(): what a server serves, with JSON Schema (draft 2020-12) of each
// contract method's arguments and result when its schema library can produce it.

import type { StandardSchemaV1, StandardJSONSchemaV1 } from "@standard-schema/spec";
import type { Endpoint } from "./endpoint.js";
import { RESERVED_PREFIX } from "./stats.js";

export interface MethodDescription {
  name: string;
  /** JSON Schema of the argument tuple; null for bind() methods or a library without Standard JSON Schema. */
  args: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  idempotent: boolean;
  description: string;
}

export interface ServiceDescription {
  name: string;
  /** The shmrpc wire protocol version the server speaks. */
  version: number;
  pid: number;
  uid: number;
  started: string;
  methods: MethodDescription[];
}

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
      json = null; // a schema JSON Schema cannot express (a transform, a custom check)
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
      idempotent: ep.spec?.idempotent === true,
      description: ep.spec?.description ?? "",
    });
  }
  return { name, version, pid: process.pid, uid: process.getuid?.() ?? -1, started: started.toISOString(), methods };
}
