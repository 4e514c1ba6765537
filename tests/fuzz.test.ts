// A short pass of the fuzzer (tests/fuzz/targets.ts): 20 000 inputs over the value
// decoder, round-trips and the frame layer. `npm run fuzz` runs a million.
// FUZZ_SEED replays a failure; the seed of each run is in its failure message.
import { test } from "uvu";
import fc from "fast-check";
import { targets } from "./fuzz/targets.js";

const TOTAL = Number(process.env.FUZZ_TEST_RUNS ?? 20_000);
const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (process.pid << 8);

for (const target of targets) {
  test(`fuzz ${target.name}: ${Math.round(TOTAL * target.share)} inputs hold the property`, () => {
    fc.assert(target.property(), { numRuns: Math.max(1, Math.round(TOTAL * target.share)), seed });
  });
}

test.run();
