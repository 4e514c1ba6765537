// The ceiling of a stream of small items in JS on this machine, nothing else: a `for await`
// over an in-process `async function*` of integers (what a stream handler and its caller's
// loop each are), and a `for await` over an already-resolved iterator (the caller's loop
// alone). node stream-ceiling.mjs [items] [rounds]
const n = Number(process.argv[2] ?? 2_000_000);
const rounds = Number(process.argv[3] ?? 5);
async function* count(k) {
  for (let i = 0; i < k; i++) yield i;
}
function plain(k) {
  let i = 0;
  return { [Symbol.asyncIterator]() { return this; }, next: () => Promise.resolve(i < k ? { value: i++, done: false } : { value: undefined, done: true }) };
}
const rate = async (make) => {
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    let sum = 0;
    for await (const x of make(n)) sum += x;
    best = Math.max(best, n / ((performance.now() - t0) / 1000));
    if (sum < 0) throw new Error("unreachable");
  }
  return best;
};
const gen = await rate(count);
const loop = await rate(plain);
console.log(`for await over an async function*: ${(gen / 1e6).toFixed(1)} M items/s; over a resolved-promise iterator: ${(loop / 1e6).toFixed(1)} M items/s`);
