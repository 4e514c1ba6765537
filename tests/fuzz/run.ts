// `npm run fuzz`: runs every target of tests/fuzz/targets.ts for FUZZ_RUNS inputs in all
// (default 1 000 000), split by each target's share. FUZZ_SEED replays a run,
// FUZZ_TARGET=name runs one target. A failure prints fast-check's counterexample and
// the seed and path to replay it, and exits 1.
import fc from "fast-check";
import { targets } from "./targets.js";

const total = Number(process.env.FUZZ_RUNS ?? 1_000_000);
const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (process.pid << 8);
const only = process.env.FUZZ_TARGET;

console.log(`fuzz: ${total} inputs in all, seed ${seed}`);
const started = performance.now();
let ran = 0;
let failed = false;
for (const target of targets) {
  if (only !== undefined && target.name !== only) continue;
  const numRuns = Math.max(1, Math.round(total * (only !== undefined ? 1 : target.share)));
  const t0 = performance.now();
  try {
    fc.assert(target.property(), { numRuns, seed, endOnFailure: false });
  } catch (e) {
    failed = true;
    console.error(`fuzz: ${target.name} FAILED\n${(e as Error).message}`);
    continue;
  }
  const s = (performance.now() - t0) / 1000;
  ran += numRuns;
  console.log(`fuzz: ${target.name.padEnd(15)} ${String(numRuns).padStart(9)} inputs in ${s.toFixed(1).padStart(6)} s (${Math.round(numRuns / s)}/s)`);
}
const s = (performance.now() - started) / 1000;
console.log(`fuzz: ${failed ? "FAILED" : "ok"}, ${ran} inputs passed in ${s.toFixed(1)} s (${Math.round(ran / s)}/s)`);
process.exit(failed ? 1 : 0);
