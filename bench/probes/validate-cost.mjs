// What a contract's validation adds per call, in one process (no rings): the handler the
// server runs for add(i, 1), plain vs. behind zod / valibot / arktype validation of the
// arguments and the result. node validate-cost.mjs [N]   (after npm run build)
const dist = process.env.SHMRPC_DIST ?? "../../dist/src/index.js";
const { defineContract } = await import(dist);
const { contractHandler } = await import(new URL("./contracts/validate.js", new URL(dist, import.meta.url)).href);
const { z } = await import("zod");
const v = await import("valibot");
const { type } = await import("arktype");
const N = Number(process.argv[2] ?? 2_000_000);
const add = (a, b) => a + b;
const specs = {
  zod: defineContract({ add: { args: z.tuple([z.number(), z.number()]), result: z.number() } }).methods.add,
  valibot: defineContract({ add: { args: v.tuple([v.number(), v.number()]), result: v.number() } }).methods.add,
  arktype: defineContract({ add: { args: type(["number", "number"]), result: type("number") } }).methods.add,
};
const handlers = { plain: add, ...Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, contractHandler("add", s, add)])) };
for (let round = 0; round < 3; round++) {
  const row = [];
  for (const [name, h] of Object.entries(handlers)) {
    let x = 0;
    for (let i = 0; i < 100_000; i++) x += h(i, 1);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) x += h(i, 1);
    const ns = Number(process.hrtime.bigint() - t0) / N;
    if (x === 0) console.log(x);
    row.push(`${name} ${ns.toFixed(0)} ns`);
  }
  console.log(`handler per call: ${row.join("  ")}`);
}
