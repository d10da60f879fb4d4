/**
 * @module test/unit/rollup
 * The pure half of the sealed rollups (issue 14, core/rollup and core/trend): aggregates
 * merge exactly in any order and split, the plaintext round-trips strictly, and a trend
 * answered as the rollup reader answers it (whole windows from per-window partial
 * aggregates, the rest from single readings, core/rollup `planTrend`) has exactly the
 * numbers `downsample` gives over the raw readings, for random streams, ranges and buckets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addReading,
  addSum,
  decodeRollup,
  emptyWindow,
  encodeRollup,
  MINUTE_MS,
  mergeWindow,
  planTrend,
  ROLLUP_RESOLUTIONS,
  type WindowAgg,
  windowOf,
} from '../../gateway/src/core/rollup.js';
import { downsample, TrendAccumulator } from '../../gateway/src/core/trend.js';
import type { Observations } from '../../gateway/src/protocol/frame.js';
import { fcRuns } from '../helpers/fc-runs.js';

const FC = { seed: 14, numRuns: fcRuns(500) };
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);
const DAY = 86_400_000;

const value = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 400 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 53 - 1, 2 ** 53, 2 ** 63, 2 ** 64 - 2048) },
);
const obsArb: fc.Arbitrary<Observations> = fc.record(
  { hr: value, spo2: value, rr: value, temp: value, sbp: value, dbp: value },
  { requiredKeys: [] },
);
const readingArb = fc.record({ ts: fc.integer({ min: T0, max: T0 + 3 * 3_600_000 }), obs: obsArb });

/**
 * The reader's answer, modelled without I/O: each planned window from the aggregate of its
 * readings (split at random into partial rows, as several data keys split a window), the
 * raw pieces reading by reading.
 */
function fromRollups(
  readings: readonly { ts: number; obs: Observations }[],
  from: number,
  to: number,
  bucketMs: number,
  split: (i: number) => number,
) {
  const plan = planTrend(from, to, bucketMs);
  const acc = new TrendAccumulator(from, to, bucketMs);
  for (const w of plan.windows) {
    const parts: WindowAgg[] = [emptyWindow(), emptyWindow(), emptyWindow()];
    readings.forEach((r, i) => {
      if (windowOf(r.ts, w.res) === w.start) addReading(parts[split(i) % 3] as WindowAgg, r.obs);
    });
    for (const p of parts) if (p.frames > 0) acc.addWindow(w.bucket, decodeRollup(encodeRollup(p)));
  }
  for (const r of readings)
    if (plan.raw.some((x) => r.ts >= x.from && r.ts <= x.to)) acc.addReading(r.ts, r.obs);
  return acc.series();
}

describe('rollup aggregates (core/rollup)', () => {
  it('behavior: sums are exact beyond 2^53 (bigint) and come back to numbers when they fit', () => {
    expect(addSum(2 ** 53 - 1, 1)).toBe(2n ** 53n);
    expect(addSum(2n ** 53n, 0)).toBe(2n ** 53n);
    expect(addSum(5, 7)).toBe(12);
    const w = emptyWindow();
    addReading(w, { hr: 2 ** 64 - 2048 });
    addReading(w, { hr: 2 ** 64 - 2048 });
    expect(w.vitals.hr?.sum).toBe(2n * BigInt(2 ** 64 - 2048));
    expect(decodeRollup(encodeRollup(w))).toEqual(w);
  });

  it('behavior: the plaintext round-trips, and anything else is refused', () => {
    fc.assert(
      fc.property(fc.array(obsArb, { minLength: 1, maxLength: 40 }), (list) => {
        const w = emptyWindow();
        for (const o of list) addReading(w, o);
        expect(decodeRollup(encodeRollup(w))).toEqual(w);
      }),
      FC,
    );
    const bad = [
      '',
      '{}',
      '[2,1]',
      '[1,0]',
      '[1,1,[0,2,70,70,140]]', // n above the frame count
      '[1,1,[0,1,71,70,70]]', // min above max
      '[1,1,[6,1,70,70,70]]', // no such vital
      '[1,2,[1,1,70,70,70],[0,1,70,70,70]]', // out of order
      '[1,1,[0,1,70,70,"70"]]', // a sum that fits a number is a number
      '[1,1,[0,1,70.5,70.5,70.5]]',
    ];
    for (const b of bad) expect(() => decodeRollup(Buffer.from(b)), b).toThrow(TypeError);
  });

  it('behavior: merging partial aggregates in any split and order gives the aggregate of all readings', () => {
    fc.assert(
      fc.property(fc.array(obsArb, { maxLength: 60 }), fc.array(fc.nat(3)), (list, cuts) => {
        const whole = emptyWindow();
        for (const o of list) addReading(whole, o);
        const parts = [emptyWindow(), emptyWindow(), emptyWindow(), emptyWindow()];
        list.forEach((o, i) => {
          addReading(parts[(cuts[i] ?? 0) % 4] as WindowAgg, o);
        });
        const merged = emptyWindow();
        for (const p of parts.reverse()) mergeWindow(merged, p);
        expect(merged).toEqual(whole);
      }),
      FC,
    );
  });
});

describe('trend plan (core/rollup planTrend)', () => {
  it('behavior: windows and raw pieces cover [from, to] once, each window inside its bucket', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: DAY }),
        fc.integer({ min: 0, max: DAY }),
        fc.oneof(
          fc.integer({ min: 1000, max: 4 * 3_600_000 }),
          fc.constantFrom(60_000, 300_000, 900_000, 3_600_000),
        ),
        fc.array(fc.integer({ min: 0, max: 2 * DAY }), { maxLength: 50 }),
        (a, len, bucketMs, probes) => {
          const from = T0 + a;
          const to = from + len;
          const plan = planTrend(from, to, bucketMs);
          for (const w of plan.windows) {
            expect(w.start % w.res).toBe(0);
            expect(w.start).toBeGreaterThanOrEqual(w.bucket);
            expect(w.start + w.res).toBeLessThanOrEqual(Math.min(w.bucket + bucketMs, to + 1));
          }
          for (const r of plan.raw) expect(r.from).toBeLessThanOrEqual(r.to);
          for (const p of probes) {
            const ts = from - 1000 + (p % (len + 2000));
            const hits =
              plan.windows.filter((w) => ts >= w.start && ts < w.start + w.res).length +
              plan.raw.filter((r) => ts >= r.from && ts <= r.to).length;
            expect(hits).toBe(ts >= from && ts <= to ? 1 : 0);
          }
        },
      ),
      FC,
    );
  });

  it('behavior: an hour of minute-aligned buckets is whole windows; an unaligned edge leaves sub-minute pieces', () => {
    const h = planTrend(T0, T0 + 3_600_000 - 1, 3_600_000);
    expect(h.raw).toEqual([]);
    expect(h.windows.map((w) => w.res)).toEqual([900_000, 900_000, 900_000, 900_000]);
    const five = planTrend(T0, T0 + DAY - 1, 300_000);
    expect(five.raw).toEqual([]);
    expect(five.windows).toHaveLength(1440);
    expect(new Set(five.windows.map((w) => w.res))).toEqual(new Set([MINUTE_MS]));
    const off = planTrend(T0 + 30_000, T0 + 30_000 + 600_000, 300_000);
    expect(off.raw.every((r) => r.to - r.from < 2 * MINUTE_MS)).toBe(true);
    expect(ROLLUP_RESOLUTIONS).toEqual([900_000, 60_000]);
  });
});

describe('trend from rollups = trend from raw readings', () => {
  it('behavior: random streams, ranges and buckets give the same series (exact means included)', () => {
    fc.assert(
      fc.property(
        fc.array(readingArb, { maxLength: 200 }),
        fc.integer({ min: -600_000, max: 3 * 3_600_000 }),
        fc.integer({ min: 0, max: 4 * 3_600_000 }),
        fc.oneof(
          fc.integer({ min: 1000, max: 3_600_000 }),
          fc.constantFrom(60_000, 300_000, 900_000, 1_800_000),
        ),
        fc.func(fc.nat()),
        (readings, a, len, bucketMs, split) => {
          const from = T0 + a;
          const to = from + len;
          expect(fromRollups(readings, from, to, bucketMs, split)).toEqual(
            downsample(readings, from, to, bucketMs),
          );
        },
      ),
      FC,
    );
  });
});
