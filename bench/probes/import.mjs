// node bench/probes/import.mjs [times] [module ...]: process start to `await import(module)`
// done, in ms (performance.now() at the end, as the bench's import row measures it), and the
// import alone (the same minus performance.now() before it), the median of `times` fresh
// processes per module, run interleaved (module 1, module 2, ..., then again), beside a bare
// node that imports nothing in the same rounds.
// Default module: this checkout's package entry ("shmrpc" as a user imports it).
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const times = Number(process.argv[2] ?? 15);
const given = process.argv.slice(3);
const modules = given.length > 0 ? given.map((m) => (m.startsWith(".") || m.startsWith("/") ? pathToFileURL(resolve(m)).href : m)) : [import.meta.resolve("../../package.json").replace(/package\.json$/, "")];
const rows = [{ label: "bare node", code: "console.log(performance.now(), 0)" }, ...modules.map((m) => ({ label: m, code: `const t0 = performance.now(); await import(${JSON.stringify(m)}); const t1 = performance.now(); console.log(t1, t1 - t0)` }))];
const total = rows.map(() => []);
const alone = rows.map(() => []);
for (let i = 0; i < times; i++) {
  rows.forEach((row, r) => {
    const [t, a] = execFileSync(process.execPath, ["--input-type=module", "-e", row.code], { encoding: "utf8" }).trim().split(" ").map(Number);
    total[r].push(t);
    alone[r].push(a);
  });
}
const q = (samples, p) => samples.sort((a, b) => a - b)[Math.floor(p * (samples.length - 1))].toFixed(1);
rows.forEach((row, r) => {
  console.log(`${row.label}: start to done median ${q(total[r], 0.5)} ms (min ${q(total[r], 0)}, max ${q(total[r], 1)}); import alone median ${q(alone[r], 0.5)} ms (min ${q(alone[r], 0)}) (${times} processes)`);
});
