/**
 * @module core/trend
 * Downsampled trends for hours-to-days views (issue 4): per observation (PROTOCOL.md §1
 * keys, integer units) and per fixed bucket `[from + k·bucketMs, from + (k+1)·bucketMs)`,
 * the minimum, maximum, mean and count of the readings in it. Empty buckets are omitted.
 * Pure: no I/O, no clock.
 */
import { OBSERVATIONS, type ObservationKey, type Observations } from '../protocol/frame.js';

export interface TrendPoint {
  /** Bucket start, ms since epoch. */
  t: number;
  min: number;
  max: number;
  mean: number;
  n: number;
}

export type TrendSeries = Record<ObservationKey, TrendPoint[]>;

export const OBSERVATION_KEYS = Object.keys(OBSERVATIONS) as ObservationKey[];

/**
 * @throws {RangeError} when bucketMs is not a positive integer or to < from.
 * @example
 * downsample([{ ts: 1000, obs: { hr: 70 } }], 0, 60_000, 60_000).hr; // [{ t: 0, min: 70, max: 70, mean: 70, n: 1 }]
 */
export function downsample(
  readings: Iterable<{ ts: number; obs: Observations }>,
  from: number,
  to: number,
  bucketMs: number,
): TrendSeries {
  if (!Number.isInteger(bucketMs) || bucketMs <= 0)
    throw new RangeError('downsample: bucketMs must be a positive integer');
  if (to < from) throw new RangeError('downsample: to must not be before from');
  const acc = new Map<ObservationKey, Map<number, TrendPoint & { sum: number }>>();
  for (const k of OBSERVATION_KEYS) acc.set(k, new Map());
  for (const r of readings) {
    if (r.ts < from || r.ts > to) continue;
    const t = from + Math.floor((r.ts - from) / bucketMs) * bucketMs;
    for (const k of OBSERVATION_KEYS) {
      const v = r.obs[k];
      if (typeof v !== 'number') continue;
      const m = acc.get(k) as Map<number, TrendPoint & { sum: number }>;
      const p = m.get(t);
      if (!p) m.set(t, { t, min: v, max: v, mean: v, n: 1, sum: v });
      else {
        p.min = Math.min(p.min, v);
        p.max = Math.max(p.max, v);
        p.n += 1;
        p.sum += v;
      }
    }
  }
  const out = {} as TrendSeries;
  for (const k of OBSERVATION_KEYS) {
    out[k] = [...(acc.get(k) as Map<number, TrendPoint & { sum: number }>).values()]
      .sort((a, b) => a.t - b.t)
      .map((p) => ({ t: p.t, min: p.min, max: p.max, mean: p.sum / p.n, n: p.n }));
  }
  return out;
}
