// Type tests (tsc --noEmit, not run): what TypeScript must accept and reject with zod 4.
import { z } from "zod";
import { Server, Client, defineContract } from "shmrpc";

const calc = defineContract({
  add: { args: z.tuple([z.number(), z.number()]), result: z.number() },
  greet: { args: z.tuple([z.string().min(1)]), result: z.string(), idempotent: true },
  stats: { args: z.tuple([z.array(z.number())]), result: z.object({ mean: z.number(), n: z.number().int() }) },
  free: { args: z.tuple([]) },
});

const server = new Server("/types");
server.implement(calc, {
  add: (a, b) => a + b,
  greet: async (name) => `hello ${name}`,
  stats: (xs) => ({ mean: xs.reduce((s, x) => s + x, 0) / xs.length, n: xs.length }),
  free: () => Symbol("anything goes without a result schema"),
});
server.bind("plain", (x: unknown) => x); // bind mixes with implement

server.implement(calc, {
  // @ts-expect-error a handler with a wrong parameter type
  add: (a: string, b: number) => b,
  greet: (name) => name,
  stats: () => ({ mean: 0, n: 0 }),
  free: () => 1,
});
server.implement(calc, {
  // @ts-expect-error a handler with a wrong return type
  add: (a, b) => `${a + b}`,
  greet: (name) => name,
  stats: () => ({ mean: 0, n: 0 }),
  free: () => 1,
});
server.implement(calc, {
  add: (a, b) => a + b,
  // @ts-expect-error a handler whose promise has the wrong type
  greet: async (name) => name.length,
  stats: () => ({ mean: 0, n: 0 }),
  free: () => 1,
});
// @ts-expect-error a handler missing
server.implement(calc, { add: (a: number, b: number) => a + b, greet: (name: string) => name, free: () => 1 });

const client = new Client("/types");
const api = client.proxy(calc);
const sum: Promise<number> = api.add(1, 2);
const st: Promise<{ mean: number; n: number }> = api.stats([1, 2]);
const now = client.proxy(calc, { sync: true, validate: true });
const n: number = now.add(1, 2);
const g: string = now.greet("x");
// @ts-expect-error a wrong argument type
api.add(1, "2");
// @ts-expect-error a wrong argument count
api.add(1);
// @ts-expect-error too many arguments
now.add(1, 2, 3);
// @ts-expect-error an unknown method
api.sub(1, 2);
// @ts-expect-error a sync proxy returns the value, not a Promise
const p: Promise<number> = now.add(1, 2);
// @ts-expect-error an async proxy returns a Promise
const v: number = api.add(1, 2);
// untyped calls work as before
const u: unknown = client.call("plain", 1);
void [sum, st, n, g, p, v, u, client.asyncCall<number>("plain", 1), client.describe(), client.stats(), server.stats()];

// Streaming methods (yields): the handler yields the schema's input, the proxy streams its output.
const feed = defineContract({
  ticks: { args: z.tuple([z.number()]), yields: z.object({ n: z.number() }) },
});
server.implement(feed, {
  ticks: async function* (count) {
    for (let n = 0; n < count; n++) yield { n };
  },
});
server.implement(feed, {
  // @ts-expect-error a streaming handler that yields the wrong item type
  ticks: async function* (count) {
    yield { n: String(count) };
  },
});
server.implement(feed, {
  // @ts-expect-error a streaming method's handler must return an async iterable
  ticks: (count: number) => ({ n: count }),
});
async function readFeed(client: Client): Promise<number> {
  let sum = 0;
  for await (const item of client.proxy(feed).ticks(3)) sum += item.n;
  // @ts-expect-error a streaming method returns a stream, not a Promise
  await client.proxy(feed).ticks(3).then(() => 0);
  return sum;
}
void readFeed;
