/**
 * @module test/bench/memory-trend
 * Whether a process's memory still grows once its load is steady (`bench:ingest`'s
 * connections phase, run long with BENCH_CONN_SECONDS: a shift's worth of frames in a few
 * minutes). Pure: the caller samples.
 */

export interface MemorySample {
  /** When it was read (ms, any origin). */
  readonly t: number;
  readonly bytes: number;
}

export interface MemoryTrend {
  /** Samples used. */
  readonly n: number;
  /** Mean of the first and of the last (up to) `EDGE` samples, MB. */
  readonly startMB: number;
  readonly endMB: number;
  /** Least-squares slope over the samples, MB per hour. */
  readonly slopeMBPerHour: number;
}

/** Samples averaged at each end of the window (the collector's saw-tooth is wider than one). */
export const EDGE = 10;
const MB = 1024 * 1024;

/**
 * The trend of the samples read at or after `fromMs` (in time order), if they span at least
 * `minSpanMs` (over a shorter span the collector's saw-tooth is the slope).
 * @returns null with fewer than 2 * `EDGE` samples there, a shorter span, or all at one instant
 */
export function memoryTrend(
  samples: readonly MemorySample[],
  fromMs: number,
  minSpanMs = 0,
): MemoryTrend | null {
  const s = samples.filter((x) => x.t >= fromMs);
  if (s.length < 2 * EDGE || (s.at(-1) as MemorySample).t - (s[0] as MemorySample).t < minSpanMs) return null;
  const n = s.length;
  const mt = s.reduce((a, x) => a + x.t, 0) / n;
  const mb = s.reduce((a, x) => a + x.bytes, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of s) {
    num += (x.t - mt) * (x.bytes - mb);
    den += (x.t - mt) ** 2;
  }
  if (den === 0) return null;
  const mean = (xs: readonly MemorySample[]) => xs.reduce((a, x) => a + x.bytes, 0) / xs.length / MB;
  return {
    n,
    startMB: mean(s.slice(0, EDGE)),
    endMB: mean(s.slice(-EDGE)),
    slopeMBPerHour: (num / den / MB) * 3_600_000,
  };
}
