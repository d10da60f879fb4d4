/**
 * @module core/trend
 * Downsampled trends for hours-to-days views (issue 4): per observation (PROTOCOL.md §1
 * keys, integer units) and per fixed bucket `[from + k·bucketMs, from + (k+1)·bucketMs)`,
 * the minimum, maximum, mean and count of the readings in it. Empty buckets are omitted.
 *
 * One accumulator (`TrendAccumulator`) takes single readings and whole-window aggregates
 * (core/rollup, issue 14) alike: sums are exact (core/rollup `addSum`) and the mean is
 * computed once, at the end, by `meanOf`, so a bucket answered from sealed rollups has the
 * very same numbers as one answered from the raw readings. Pure: no I/O, no clock.
 */
import { OBSERVATIONS, type ObservationKey, type Observations } from '../protocol/frame.js';
import { type Agg, addValue, meanOf, mergeAgg, type WindowAgg } from './rollup.js';

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
 * The buckets of one trend query, filled reading by reading or window by window.
 * @example
 * const acc = new TrendAccumulator(0, 60_000, 60_000);
 * acc.addReading(1000, { hr: 70 });
 * acc.series().hr; // [{ t: 0, min: 70, max: 70, mean: 70, n: 1 }]
 */
export class TrendAccumulator {
  readonly #from: number;
  readonly #to: number;
  readonly #bucketMs: number;
  readonly #acc = new Map<ObservationKey, Map<number, Agg>>();

  /** @throws {RangeError} when bucketMs is not a positive integer or to < from. */
  constructor(from: number, to: number, bucketMs: number) {
    if (!Number.isInteger(bucketMs) || bucketMs <= 0)
      throw new RangeError('downsample: bucketMs must be a positive integer');
    if (to < from) throw new RangeError('downsample: to must not be before from');
    this.#from = from;
    this.#to = to;
    this.#bucketMs = bucketMs;
    for (const k of OBSERVATION_KEYS) this.#acc.set(k, new Map());
  }

  /** Start of the bucket holding device time `ts` (from <= ts <= to). */
  bucketOf(ts: number): number {
    return this.#from + Math.floor((ts - this.#from) / this.#bucketMs) * this.#bucketMs;
  }

  /** Adds one reading; readings outside [from, to] are ignored. */
  addReading(ts: number, obs: Observations): void {
    if (ts < this.#from || ts > this.#to) return;
    const t = this.bucketOf(ts);
    for (const k of OBSERVATION_KEYS) {
      const v = obs[k];
      if (typeof v !== 'number') continue;
      const m = this.#acc.get(k) as Map<number, Agg>;
      const p = m.get(t);
      if (p) addValue(p, v);
      else m.set(t, addValue(undefined, v));
    }
  }

  /** Adds the aggregate of readings that all lie in the bucket starting at `bucket`. */
  addWindow(bucket: number, w: WindowAgg): void {
    for (const k of OBSERVATION_KEYS) {
      const a = w.vitals[k];
      if (!a) continue;
      const m = this.#acc.get(k) as Map<number, Agg>;
      const p = m.get(bucket);
      if (p) mergeAgg(p, a);
      else m.set(bucket, mergeAgg(undefined, a));
    }
  }

  series(): TrendSeries {
    const out = {} as TrendSeries;
    for (const k of OBSERVATION_KEYS) {
      out[k] = [...(this.#acc.get(k) as Map<number, Agg>).entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([t, p]) => ({ t, min: p.min, max: p.max, mean: meanOf(p), n: p.n }));
    }
    return out;
  }
}

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
  const acc = new TrendAccumulator(from, to, bucketMs);
  for (const r of readings) acc.addReading(r.ts, r.obs);
  return acc.series();
}

/**
 * The trends of disjoint sets of readings (each gateway of a group answers for the readings
 * it stored, issue 16) as one: per bucket the counts add up, min and max are taken, and the
 * mean is the count-weighted mean of the means (to the float's precision: the exact sums
 * stay on each gateway).
 * @example
 * mergeSeries([a, b]).hr; // buckets of both, one per start time
 */
export function mergeSeries(parts: readonly TrendSeries[]): TrendSeries {
  const out = {} as TrendSeries;
  for (const k of OBSERVATION_KEYS) {
    const byT = new Map<number, TrendPoint>();
    for (const part of parts) {
      for (const p of part[k] ?? []) {
        const q = byT.get(p.t);
        if (!q) {
          byT.set(p.t, { ...p });
          continue;
        }
        const n = q.n + p.n;
        byT.set(p.t, {
          t: p.t,
          min: Math.min(q.min, p.min),
          max: Math.max(q.max, p.max),
          mean: (q.mean * q.n + p.mean * p.n) / n,
          n,
        });
      }
    }
    out[k] = [...byT.values()].sort((a, b) => a.t - b.t);
  }
  return out;
}

/** A reading's observations as the API answers them: the known vitals only, numbers only. */
export function vitalsOf(o: Observations): Observations {
  const out: Observations = {};
  for (const k of OBSERVATION_KEYS) if (typeof o[k] === 'number') out[k] = o[k];
  return out;
}
