// Type tests (tsc --noEmit, not run): what TypeScript must accept and reject with arktype 2.
import { type } from "arktype";
import { Server, Client, defineContract } from "shmrpc";

const calc = defineContract({
  add: { args: type(["number", "number"]), result: type("number") },
  greet: { args: type(["string > 0"]), result: type("string"), idempotent: true },
  stats: { args: type(["number[]"]), result: type({ mean: "number", n: "number.integer" }) },
});

const server = new Server("/types");
server.implement(calc, {
  add: (a, b) => a + b,
  greet: async (name) => `hello ${name}`,
  stats: (xs) => ({ mean: xs.reduce((s, x) => s + x, 0) / xs.length, n: xs.length }),
});
server.implement(calc, {
  // @ts-expect-error a handler with a wrong parameter type
  add: (a: boolean, b: number) => b,
  greet: (name) => name,
  stats: () => ({ mean: 0, n: 0 }),
});
server.implement(calc, {
  add: (a, b) => a + b,
  greet: (name) => name,
  // @ts-expect-error a handler with a wrong return type
  stats: () => ({ mean: "0", n: 0 }),
});

const client = new Client("/types");
const api = client.proxy(calc);
const st: Promise<{ mean: number; n: number }> = api.stats([1]);
// @ts-expect-error a wrong argument type
api.add(1, "2");
// @ts-expect-error a wrong argument count
api.add(1, 2, 3);
// @ts-expect-error an unknown method
api.mul(1, 2);
void st;
