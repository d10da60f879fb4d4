/**
 * @module test/unit/alarm-filter
 * The alarm-fatigue filter of a device's limit conditions (gateway/src/core/alarms/
 * vital-filter.ts; issue 15): averaging (one artefact raises nothing), the condition
 * delay (a sustained desaturation alarms after it), hysteresis (a value just back inside
 * keeps the condition), stale values, bounded memory, and, with the alarm board's episode
 * gap, a heart rate hovering at its limit for ten minutes making one episode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AlarmBoard,
  type AlarmPolicies,
  DEFAULT_LIMITS,
  DEFAULT_POLICIES,
  type LimitVital,
  limitVitalOf,
  mergePolicies,
  NO_FATIGUE_POLICY,
  uniformPolicies,
  VitalAlarmFilter,
} from '../../gateway/src/core/alarms/index.js';
import { fcRuns } from '../helpers/fc-runs.js';

const T0 = 1_000_000;
const sec = (s: number) => T0 + s * 1000;

/** Feeds one reading per second of `vital` from `series` (index = second); returns the conditions after each. */
function run(f: VitalAlarmFilter, vital: LimitVital, series: readonly number[], from = 0) {
  return series.map((x, i) => {
    f.push(vital, sec(from + i), x);
    return f.evaluate(DEFAULT_LIMITS, sec(from + i));
  });
}

describe('VitalAlarmFilter', () => {
  it('behavior: a single SpO2 artefact sample raises nothing with the defaults (it would without them)', () => {
    const series = Array.from({ length: 40 }, (_, i) => (i === 15 ? 70 : 97));
    const filtered = run(new VitalAlarmFilter({ ...DEFAULT_POLICIES }), 'spo2', series);
    expect(filtered.flat()).toEqual([]);
    const raw = run(new VitalAlarmFilter(uniformPolicies(NO_FATIGUE_POLICY)), 'spo2', series);
    expect(raw[15]).toMatchObject([{ code: 'spo2_low', value: 70 }]);
    expect(raw[16]).toEqual([]);
  });

  it('behavior: a sustained desaturation raises spo2_low once the 10 s mean has been below 92 % for 10 s', () => {
    // 97 % for 20 s, then 85 %: the 10 s mean is 91.0 at second 24, so the condition is present at 34.
    const series = Array.from({ length: 60 }, (_, i) => (i < 20 ? 97 : 85));
    const out = run(new VitalAlarmFilter({ ...DEFAULT_POLICIES }), 'spo2', series);
    const first = out.findIndex((c) => c.length > 0);
    expect(first).toBe(34);
    expect(out[first]).toEqual([
      { code: 'spo2_low', kind: 'physiological', priority: 'high', value: 85, limit: 92 },
    ]);
    expect(out.slice(first).every((c) => c.length === 1)).toBe(true);
    // The mean, not the latest reading, is the value compared and reported.
    const f = new VitalAlarmFilter(mergePolicies(DEFAULT_POLICIES, { spo2: { delaySeconds: 0 } }));
    const noDelay = run(f, 'spo2', series);
    expect(noDelay.findIndex((c) => c.length > 0)).toBe(24);
    expect(noDelay[24]).toMatchObject([{ value: 91 }]);
  });

  it('behavior: a breach shorter than the delay raises nothing; the delay restarts after it', () => {
    const f = new VitalAlarmFilter({ ...DEFAULT_POLICIES });
    // HR 140 for 9 s, back to 100 for 1 s, 140 again for 9 s: never 10 s in a row.
    const series = [...Array(9).fill(140), 100, ...Array(9).fill(140), 100];
    expect(run(f, 'hr', series).flat()).toEqual([]);
    expect(run(f, 'hr', Array(11).fill(140), 20).at(-1)).toMatchObject([{ code: 'hr_high' }]);
  });

  it('behavior: hysteresis: once present, hr_high stays until HR is at or below 130 − 5', () => {
    const f = new VitalAlarmFilter(mergePolicies(DEFAULT_POLICIES, { hr: { delaySeconds: 0 } }));
    const out = run(f, 'hr', [140, 128, 126, 125, 128, 131]);
    expect(out.map((c) => c.map((x) => `${x.code}:${x.value}`))).toEqual([
      ['hr_high:140'],
      ['hr_high:128'], // inside the limit, not by the margin: still present
      ['hr_high:126'],
      [], // 125 = 130 − 5: ended
      [], // 128: inside, no breach
      ['hr_high:131'],
    ]);
  });

  it('behavior: new limits apply at once; a limit switched off ends its condition', () => {
    const f = new VitalAlarmFilter(
      mergePolicies(DEFAULT_POLICIES, { spo2: { delaySeconds: 0, averageSeconds: 0 } }),
    );
    f.push('spo2', sec(0), 88);
    expect(f.evaluate(DEFAULT_LIMITS, sec(0))).toMatchObject([{ code: 'spo2_low', limit: 92 }]);
    expect(f.evaluate({ ...DEFAULT_LIMITS, spo2: { low: 85, high: null } }, sec(0))).toEqual([]);
    f.evaluate(DEFAULT_LIMITS, sec(0));
    expect(f.evaluate({ ...DEFAULT_LIMITS, spo2: { low: null, high: null } }, sec(0))).toEqual([]);
  });

  it('behavior: a stale vital gives no condition; after the gap it starts afresh (delay again)', () => {
    const f = new VitalAlarmFilter(DEFAULT_POLICIES, { staleAfterMs: 15_000 });
    expect(run(f, 'hr', Array(11).fill(140)).at(-1)).toHaveLength(1);
    expect(f.evaluate(DEFAULT_LIMITS, sec(10 + 15))).toHaveLength(1);
    expect(f.evaluate(DEFAULT_LIMITS, sec(10 + 16))).toEqual([]); // signal loss: no physiological alarm
    // Back after 20 s still at 140: a new breach, timed from its first reading.
    const back = run(f, 'hr', Array(11).fill(140), 30);
    expect(back.findIndex((c) => c.length > 0)).toBe(10);
  });

  it('behavior: the value compared is the mean of the window (at most maxSamples readings, none from before a gap), however readings come', () => {
    // A model of the window: the readings since the last gap of more than staleAfterMs,
    // those within averageSeconds of the latest (the latest always), the last maxSamples.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({ dt: fc.integer({ min: 0, max: 20_000 }), v: fc.integer({ min: 0, max: 300 }) }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (averageSeconds, maxSamples, steps) => {
          const policy = { averageSeconds, delaySeconds: 0, hysteresis: 0, episodeGapSeconds: 0 };
          const f = new VitalAlarmFilter(uniformPolicies(policy), { maxSamples, staleAfterMs: 15_000 });
          const always = { ...DEFAULT_LIMITS, hr: { low: null, high: -1000 } }; // present at any value
          let at = T0;
          let kept: [number, number][] = [];
          for (const { dt, v } of steps) {
            at += dt;
            if (kept.length > 0 && at - (kept.at(-1) as [number, number])[0] > 15_000) kept = [];
            kept.push([at, v]);
            kept = kept
              .filter(([t], i) => i === kept.length - 1 || t > at - averageSeconds * 1000)
              .slice(-maxSamples);
            f.push('hr', at, v);
            const mean = kept.reduce((a, [, x]) => a + x, 0) / kept.length;
            const c = f.evaluate(always, at).find((x) => x.code === 'hr_high');
            expect(c?.value).toBe(Math.round(mean * 10) / 10);
          }
        },
      ),
      { numRuns: fcRuns(300) },
    );
  });

  it('behavior: memory is bounded (maxSamples readings per vital); older readings than the latest are ignored', () => {
    const p = mergePolicies(DEFAULT_POLICIES, { spo2: { averageSeconds: 60, delaySeconds: 0 } });
    const f = new VitalAlarmFilter(p, { maxSamples: 4 });
    run(f, 'spo2', [97, 97, 97, 97, 80, 80, 80]);
    // Only the last 4 readings (97, 80, 80, 80) are averaged: 84.25 → 84.3.
    expect(f.evaluate(DEFAULT_LIMITS, sec(6))).toMatchObject([{ value: 84.3 }]);
    f.push('spo2', sec(2), 50); // late: ignored
    expect(f.evaluate(DEFAULT_LIMITS, sec(6))).toMatchObject([{ value: 84.3 }]);
    expect(() => new VitalAlarmFilter(p, { maxSamples: 0 })).toThrow(RangeError);
    expect(() => new VitalAlarmFilter(p, { staleAfterMs: -1 })).toThrow(RangeError);
  });
});

describe('a heart rate hovering at its limit for ten minutes', () => {
  /** 20 s at 134, 10 s at 127, 10 s at 120, repeated: 15 breaches in 10 minutes. */
  const hover = Array.from({ length: 600 }, (_, i) => {
    const s = i % 40;
    return s < 20 ? 134 : s < 30 ? 127 : 120;
  });

  function episodes(policies: AlarmPolicies) {
    const f = new VitalAlarmFilter(policies);
    const b = new AlarmBoard({
      escalateAfterMs: 3_600_000,
      episodeGapMs: (_scope, code) => {
        const v = limitVitalOf(code);
        return v ? policies[v].episodeGapSeconds * 1000 : 0;
      },
    });
    const ts = hover.flatMap((x, i) => {
      f.push('hr', sec(i), x);
      return b.evaluate('wr-1', f.evaluate(DEFAULT_LIMITS, sec(i)), sec(i));
    });
    return {
      raised: ts.filter((t) => t.type === 'raised').length,
      reactivated: ts.filter((t) => t.type === 'reactivated').length,
      ids: new Set(ts.map((t) => t.alarm.id)).size,
    };
  }

  it('behavior: with the defaults it is one episode (one alarm re-opened), at most one per 2 min gap', () => {
    const after = episodes({ ...DEFAULT_POLICIES });
    expect(after.raised).toBeLessThanOrEqual(600 / DEFAULT_POLICIES.hr.episodeGapSeconds);
    expect(after.raised).toBe(1);
    expect(after.ids).toBe(1);
    expect(after.reactivated).toBeGreaterThan(0); // each return re-opens the same alarm
  });

  it('behavior: without fatigue controls every breach is a new alarm', () => {
    const before = episodes(uniformPolicies(NO_FATIGUE_POLICY));
    expect(before.raised).toBe(15);
    expect(before.reactivated).toBe(0);
  });
});
