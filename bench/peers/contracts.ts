// The contract of the bench's typed rows: add (and echo) in zod and in valibot.
import { z } from "zod";
import * as v from "valibot";
import { defineContract } from "../../src/index.js";

export const zodCalc = defineContract({
  add: { args: z.tuple([z.number(), z.number()]), result: z.number() },
  echo: { args: z.tuple([z.union([z.string(), z.instanceof(Uint8Array)])]), result: z.union([z.string(), z.instanceof(Uint8Array)]) },
});

export const valibotCalc = defineContract({
  add: { args: v.tuple([v.number(), v.number()]), result: v.number() },
  echo: { args: v.tuple([v.union([v.string(), v.instance(Uint8Array)])]), result: v.union([v.string(), v.instance(Uint8Array)]) },
});

export const contracts = { zod: zodCalc, valibot: valibotCalc };
export type Library = keyof typeof contracts;
