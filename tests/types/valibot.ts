// Type tests (tsc --noEmit, not run): what TypeScript must accept and reject with valibot 1.
import * as v from "valibot";
import { Server, Client, defineContract } from "shmrpc";

const calc = defineContract({
  add: { args: v.tuple([v.number(), v.number()]), result: v.number() },
  greet: { args: v.tuple([v.pipe(v.string(), v.minLength(1))]), result: v.string(), idempotent: true },
  len: { args: v.tuple([v.pipe(v.string(), v.transform((s) => s.length))]), result: v.number() },
});

const server = new Server("/types");
server.implement(calc, {
  add: (a, b) => a + b,
  greet: async (name) => `hello ${name}`,
  len: (n) => n * 2, // the handler receives the schema's output: a number
});
server.implement(calc, {
  // @ts-expect-error a handler with a wrong parameter type
  add: (a: string, b: number) => b,
  greet: (name) => name,
  len: (n) => n,
});
server.implement(calc, {
  // @ts-expect-error a handler with a wrong return type
  add: (a, b) => String(a + b),
  greet: (name) => name,
  len: (n) => n,
});

const client = new Client("/types");
const api = client.proxy(calc);
const sum: Promise<number> = api.add(1, 2);
const len: Promise<number> = api.len("abc"); // the caller passes the schema's input: a string
const now = client.proxy(calc, { sync: true });
const n: number = now.add(1, 2);
// @ts-expect-error a wrong argument type
api.add(1, "2");
// @ts-expect-error a wrong argument type (the schema's input is a string)
api.len(3);
// @ts-expect-error a wrong argument count
now.greet();
// @ts-expect-error an unknown method
now.sub(1, 2);
void [sum, len, n];
