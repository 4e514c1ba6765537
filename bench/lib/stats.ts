// Percentiles of a latency sample, and the curve the chart draws.

export interface Distribution {
  calls: number;
  /** µs */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** [percentile 0..100, µs] at points evenly spaced in "nines" (0, 90, 99, 99.9, …). */
  curve: Array<[number, number]>;
}

/** Sorts `us` in place and summarises it. */
export function distribution(us: Float64Array): Distribution {
  us.sort();
  const n = us.length;
  const at = (q: number): number => us[Math.min(n - 1, Math.floor(q * n))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += us[i]!;
  const curve: Array<[number, number]> = [];
  // Up to the last percentile the sample can resolve (at least 10 calls beyond it).
  const maxNines = Math.min(5, Math.log10(n / 10));
  for (let x = 0; x <= maxNines + 1e-9; x += 0.05) {
    const q = 1 - Math.pow(10, -x);
    curve.push([round(q * 100, 6), round(at(q), 4)]);
  }
  return {
    calls: n,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: us[n - 1]!,
    mean: sum / n,
    curve,
  };
}

export function round(x: number, digits: number): number {
  const f = Math.pow(10, digits);
  return Math.round(x * f) / f;
}
