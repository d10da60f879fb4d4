/**
 * @module core/rollup
 * Per-window aggregates of observations (issue 14, "trends that answer at once"): for each
 * vital of PROTOCOL.md §1 (integer units), the count, minimum, maximum and exact sum of the
 * readings in a window of device time `[start, start + res)`, with `res` one of
 * `ROLLUP_RESOLUTIONS` (15 minutes and 1 minute, aligned to the Unix epoch). Aggregates
 * merge exactly (min of mins, max of maxes, sum of sums, count of counts), so a window
 * stored as several partial rows, or a trend bucket made of whole windows plus single
 * readings, has exactly the aggregate of its readings (`core/trend` computes the mean of
 * both ways with one function).
 *
 * Sums are exact: a JS number while it is a safe integer, a bigint beyond (an `obs` value
 * may be any unsigned integer up to 2^64-1, PROTOCOL.md §6), so the order in which
 * readings and partial windows are added never changes a sum.
 *
 * Also here: the plaintext of a sealed rollup (`encodeRollup`/`decodeRollup`, a small JSON
 * array; it is only ever stored encrypted, io/store/rollups) and `planTrend`, which splits
 * the buckets of a trend query into whole windows and the pieces that must be read from
 * raw frames. Pure: no I/O, no clock.
 */
import { OBSERVATIONS, type ObservationKey, type Observations } from '../protocol/frame.js';

/** Rollup window lengths in ms, largest first: 15 minutes and 1 minute. */
export const ROLLUP_RESOLUTIONS = [900_000, 60_000] as const;
export type RollupResolution = (typeof ROLLUP_RESOLUTIONS)[number];
/** The finest resolution: the grain of frame counts and of the raw fall-back. */
export const MINUTE_MS = 60_000;

const KEYS = Object.keys(OBSERVATIONS) as ObservationKey[];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The aggregate of one vital's readings. */
export interface Agg {
  n: number;
  min: number;
  max: number;
  /** Exact: a safe integer as a number, a bigint beyond 2^53-1. */
  sum: number | bigint;
}

/** The aggregate of the frames of one window (or part of one): frames counted, then per vital. */
export interface WindowAgg {
  /** Frames folded in (each frame counts once, whatever vitals it carries). */
  frames: number;
  vitals: Partial<Record<ObservationKey, Agg>>;
}

/** An empty aggregate. */
export function emptyWindow(): WindowAgg {
  return { frames: 0, vitals: {} };
}

/** a + b exactly (unsigned integers), as a number when the result is a safe integer. */
export function addSum(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(a) + BigInt(b);
  return r <= MAX_SAFE ? Number(r) : r;
}

/** The mean of an aggregate: the exact sum rounded to a number, divided by the count. */
export function meanOf(a: Agg): number {
  return Number(a.sum) / a.n;
}

/** Folds one value into `a` (mutated), or starts an aggregate. */
export function addValue(a: Agg | undefined, v: number): Agg {
  if (!a) return { n: 1, min: v, max: v, sum: Number.isSafeInteger(v) ? v : BigInt(v) };
  a.n += 1;
  if (v < a.min) a.min = v;
  if (v > a.max) a.max = v;
  a.sum = addSum(a.sum, v);
  return a;
}

/** Folds aggregate `b` into `a` (mutated), or copies `b`. */
export function mergeAgg(a: Agg | undefined, b: Agg): Agg {
  if (!a) return { n: b.n, min: b.min, max: b.max, sum: b.sum };
  a.n += b.n;
  if (b.min < a.min) a.min = b.min;
  if (b.max > a.max) a.max = b.max;
  a.sum = addSum(a.sum, b.sum);
  return a;
}

/** Folds one frame's observations into `w` (mutated). */
export function addReading(w: WindowAgg, obs: Observations): void {
  w.frames += 1;
  for (const k of KEYS) {
    const v = obs[k];
    if (typeof v === 'number') w.vitals[k] = addValue(w.vitals[k], v);
  }
}

/** Folds window aggregate `b` into `a` (mutated). */
export function mergeWindow(a: WindowAgg, b: WindowAgg): void {
  a.frames += b.frames;
  for (const k of KEYS) {
    const v = b.vitals[k];
    if (v) a.vitals[k] = mergeAgg(a.vitals[k], v);
  }
}

/** A deep copy (cached aggregates are copied before they are changed). */
export function copyWindow(w: WindowAgg): WindowAgg {
  const out = emptyWindow();
  mergeWindow(out, w);
  return out;
}

/** Start of the window of length `res` holding device time `ts` (ts >= 0). */
export function windowOf(ts: number, res: number): number {
  return ts - (ts % res);
}

// --- the sealed plaintext --------------------------------------------------------------

/** Format tag of the plaintext: `[1, frames, [k, n, min, max, sum], …]`, k = vital index. */
const PLAINTEXT_VERSION = 1;

/**
 * The plaintext of a rollup: a JSON array `[1, frames, [k, n, min, max, sum], …]` with k the
 * vital's index in PROTOCOL.md §1 order and the sum as a number, or as decimal text beyond
 * 2^53-1. Only ever stored sealed (io/store/rollups).
 * @example
 * encodeRollup({ frames: 1, vitals: { hr: { n: 1, min: 70, max: 70, sum: 70 } } }); // '[1,1,[0,1,70,70,70]]'
 */
export function encodeRollup(w: WindowAgg): Uint8Array {
  const parts: unknown[] = [PLAINTEXT_VERSION, w.frames];
  KEYS.forEach((k, i) => {
    const a = w.vitals[k];
    if (a) parts.push([i, a.n, a.min, a.max, typeof a.sum === 'bigint' ? a.sum.toString() : a.sum]);
  });
  return Buffer.from(JSON.stringify(parts));
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 1;
const isValue = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/**
 * Parses a plaintext written by `encodeRollup`, strictly.
 * @throws {TypeError} when it is not one (the caller reports `integrity_error`).
 */
export function decodeRollup(bytes: Uint8Array): WindowAgg {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new TypeError('rollup plaintext is not JSON');
  }
  if (!Array.isArray(parts) || parts[0] !== PLAINTEXT_VERSION || !isCount(parts[1]))
    throw new TypeError('rollup plaintext has the wrong header');
  const w: WindowAgg = { frames: parts[1], vitals: {} };
  let last = -1;
  for (const p of parts.slice(2)) {
    if (!Array.isArray(p) || p.length !== 5) throw new TypeError('rollup vital has the wrong shape');
    const [i, n, min, max, sum] = p as unknown[];
    if (!Number.isInteger(i) || (i as number) <= last || (i as number) >= KEYS.length)
      throw new TypeError('rollup vital index out of order');
    last = i as number;
    if (!isCount(n) || n > w.frames || !isValue(min) || !isValue(max) || min > max)
      throw new TypeError('rollup vital has a bad count or bounds');
    let s: number | bigint;
    if (typeof sum === 'number' && Number.isSafeInteger(sum) && sum >= 0) s = sum;
    else if (typeof sum === 'string' && /^[1-9][0-9]{15,}$/.test(sum) && BigInt(sum) > MAX_SAFE)
      s = BigInt(sum);
    else throw new TypeError('rollup vital has a bad sum');
    w.vitals[KEYS[i as number] as ObservationKey] = { n, min, max, sum: s };
  }
  return w;
}

// --- planning a trend ------------------------------------------------------------------

/** A whole rollup window inside one trend bucket. */
export interface PlannedWindow {
  res: RollupResolution;
  start: number;
  /** Start of the trend bucket holding it. */
  bucket: number;
}

/** Device-time range, both ends inclusive. */
export interface TsRange {
  from: number;
  to: number;
}

export interface TrendPlan {
  /** Whole windows, each inside one bucket, in time order. */
  windows: PlannedWindow[];
  /** What no whole window covers (bucket edges not on a minute), merged, in time order. */
  raw: TsRange[];
}

/** Above this many buckets a plan is not worth making: everything is read raw. */
const MAX_PLANNED_BUCKETS = 100_000;

/**
 * Splits the buckets `[from + k·bucketMs, from + (k+1)·bucketMs)` of `[from, to]` (core/trend)
 * into whole rollup windows, largest first, and the pieces left over, which are read from raw
 * frames. A bucket on the minute grid is all windows; a bucket edge off it leaves a piece
 * shorter than a minute on each side of the edge.
 * @throws {RangeError} as `downsample`.
 * @example
 * planTrend(0, 3_599_999, 3_600_000).windows.length; // 4 windows of 15 minutes
 */
export function planTrend(
  from: number,
  to: number,
  bucketMs: number,
  resolutions: readonly RollupResolution[] = ROLLUP_RESOLUTIONS,
): TrendPlan {
  if (!Number.isInteger(bucketMs) || bucketMs <= 0)
    throw new RangeError('planTrend: bucketMs must be a positive integer');
  if (to < from) throw new RangeError('planTrend: to must not be before from');
  const end = to + 1;
  const windows: PlannedWindow[] = [];
  const raw: TsRange[] = [];
  if ((end - from) / bucketMs > MAX_PLANNED_BUCKETS) return { windows, raw: [{ from, to }] };
  const pushRaw = (a: number, c: number): void => {
    const last = raw[raw.length - 1];
    if (last && last.to + 1 === a) last.to = c - 1;
    else raw.push({ from: a, to: c - 1 });
  };
  const cover = (a: number, c: number, level: number, bucket: number): void => {
    if (a >= c) return;
    const res = resolutions[level];
    if (res === undefined) {
      pushRaw(a, c);
      return;
    }
    const s = Math.ceil(a / res) * res;
    const e = Math.floor(c / res) * res;
    if (s >= e) {
      cover(a, c, level + 1, bucket);
      return;
    }
    cover(a, s, level + 1, bucket);
    for (let w = s; w < e; w += res) windows.push({ res, start: w, bucket });
    cover(e, c, level + 1, bucket);
  };
  for (let t = from; t < end; t += bucketMs) cover(t, Math.min(end, t + bucketMs), 0, t);
  return { windows, raw };
}
