/**
 * @module test/bench/percentile
 * The benchmarks' one percentile: the nearest-rank value of an ascending sample (NaN when
 * it is empty).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}
