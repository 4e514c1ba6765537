// describe(): each argument keeps its type when another one cannot be expressed in JSON
// Schema (a binary argument, z.instanceof(Uint8Array)): the whole list used to become (any…).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import * as v from "valibot";
import { toStandardJsonSchema } from "@valibot/to-json-schema";
import { Server, defineContract } from "../src/index.js";
import { typeOf } from "../src/cli/describe.js";
import { uniqueName } from "./helpers.js";

test("a binary argument (zod instanceof, valibot instance) leaves the other arguments' types in describe(), and the command line names it", async () => {
  const server = new Server(uniqueName("describe"));
  server.implement(defineContract({
    put: { args: z.tuple([z.string(), z.instanceof(Uint8Array), z.number().int()]), result: z.number() },
    vput: { args: toStandardJsonSchema(v.tuple([v.string(), v.instance(Uint8Array)])), result: toStandardJsonSchema(v.number()) },
    plain: { args: z.tuple([z.string()]), result: z.string() },
  }), { put: (_k, b) => b.length, vput: (_k, b) => b.length, plain: (s) => s });
  const d = server.describe();
  const put = d.methods.find((m) => m.name === "put")!;
  const items = (put.args as { prefixItems: Array<Record<string, unknown>> }).prefixItems;
  assert.is(items.length, 3);
  assert.is(items[0]!.type, "string");
  assert.is(items[1]!["x-instanceof"], "Uint8Array");
  assert.is(items[2]!.type, "integer");
  assert.is(typeOf(put.args), "[string, Uint8Array, integer]");
  assert.is(typeOf(put.result), "number");
  const vput = d.methods.find((m) => m.name === "vput")!;
  const vitems = (vput.args as { prefixItems: Array<Record<string, unknown>> }).prefixItems;
  assert.is(vitems[0]!.type, "string", "valibot's other argument keeps its type");
  assert.is(vitems.length, 2);
  assert.is(typeOf(d.methods.find((m) => m.name === "plain")!.args), "[string]", "an expressible schema is unchanged");
});

test.run();
