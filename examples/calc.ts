// The contract both sides import: one schema per method's arguments and result (zod here;
// valibot or arktype work the same: any Standard Schema library).
import { defineContract } from "shmrpc";
import { z } from "zod";

export const calc = defineContract({
  add: { args: z.tuple([z.number(), z.number()]), result: z.number(), description: "the sum of two numbers" },
  greet: { args: z.tuple([z.string().min(1)]), result: z.string(), idempotent: true },
  stats: { args: z.tuple([z.array(z.number())]), result: z.object({ mean: z.number(), n: z.number().int() }) },
});
