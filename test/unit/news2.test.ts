/**
 * @module test/unit/news2
 * NEWS2 (RCP 2017 chart 1 and chart 2), band edge by band edge: every boundary value of
 * the chart on both sides, the scale-2 oxygen rows, aggregation, the trigger bands, and
 * the handling of missing observations (partial = lower bound, flagged).
 */
import { describe, expect, it } from 'vitest';
import {
  news2,
  news2Band,
  scoreConsciousness,
  scoreHeartRate,
  scoreOxygen,
  scoreRespirationRate,
  scoreSpO2,
  scoreSystolicBp,
  scoreTemperature,
} from '../../gateway/src/core/news2.js';

/** `value:score` pairs straight from the RCP 2017 chart, e.g. `'8:3 9:1'`. */
type Edges = [number, number][];
const chart = (pairs: string): Edges =>
  pairs.split(' ').map((p) => p.split(':').map(Number) as [number, number]);

function table(fn: (v: number) => number, edges: Edges): Edges {
  return edges.map(([v]) => [v, fn(v)]);
}

describe('NEWS2 chart 1 (RCP 2017), every band edge', () => {
  it('behavior: respiration rate ≤8:3, 9-11:1, 12-20:0, 21-24:2, ≥25:3', () => {
    const edges = chart('0:3 8:3 9:1 11:1 12:0 20:0 21:2 24:2 25:3 60:3');
    expect(table(scoreRespirationRate, edges)).toEqual(edges);
  });

  it('behavior: SpO2 scale 1 ≤91:3, 92-93:2, 94-95:1, ≥96:0 (oxygen does not change it)', () => {
    const edges = chart('50:3 91:3 92:2 93:2 94:1 95:1 96:0 100:0');
    expect(table((v) => scoreSpO2(v, 1, false), edges)).toEqual(edges);
    expect(table((v) => scoreSpO2(v, 1, true), edges)).toEqual(edges);
  });

  it('behavior: SpO2 scale 2 on air ≤83:3, 84-85:2, 86-87:1, ≥88:0', () => {
    const edges = chart('70:3 83:3 84:2 85:2 86:1 87:1 88:0 92:0 93:0 94:0 95:0 96:0 97:0 100:0');
    expect(table((v) => scoreSpO2(v, 2, false), edges)).toEqual(edges);
  });

  it('behavior: SpO2 scale 2 on oxygen adds 93-94:1, 95-96:2, ≥97:3', () => {
    const edges = chart('83:3 84:2 85:2 86:1 87:1 88:0 92:0 93:1 94:1 95:2 96:2 97:3 100:3');
    expect(table((v) => scoreSpO2(v, 2, true), edges)).toEqual(edges);
  });

  it('behavior: air or oxygen: oxygen 2, air 0', () => {
    expect([scoreOxygen(true), scoreOxygen(false)]).toEqual([2, 0]);
  });

  it('behavior: temperature ≤35.0:3, 35.1-36.0:1, 36.1-38.0:0, 38.1-39.0:1, ≥39.1:2 (0.01 °C units)', () => {
    const edges = chart('3000:3 3500:3 3510:1 3600:1 3610:0 3800:0 3810:1 3900:1 3910:2 4200:2');
    expect(table(scoreTemperature, edges)).toEqual(edges);
  });

  it('behavior: temperature is rounded to the chart’s 0.1 °C first (half up)', () => {
    // 35.04 → 35.0 (3); 35.05 → 35.1 (1); 38.04 → 38.0 (0); 38.05 → 38.1 (1).
    expect([3504, 3505, 3804, 3805].map(scoreTemperature)).toEqual([3, 1, 0, 1]);
  });

  it('behavior: systolic BP ≤90:3, 91-100:2, 101-110:1, 111-219:0, ≥220:3', () => {
    const edges = chart('60:3 90:3 91:2 100:2 101:1 110:1 111:0 219:0 220:3 260:3');
    expect(table(scoreSystolicBp, edges)).toEqual(edges);
  });

  it('behavior: pulse ≤40:3, 41-50:1, 51-90:0, 91-110:1, 111-130:2, ≥131:3', () => {
    const edges = chart('30:3 40:3 41:1 50:1 51:0 90:0 91:1 110:1 111:2 130:2 131:3 200:3');
    expect(table(scoreHeartRate, edges)).toEqual(edges);
  });

  it('behavior: consciousness Alert 0; new Confusion, Voice, Pain, Unresponsive 3', () => {
    expect((['A', 'C', 'V', 'P', 'U'] as const).map(scoreConsciousness)).toEqual([0, 3, 3, 3, 3]);
  });
});

describe('NEWS2 chart 2 trigger bands and aggregation', () => {
  const calm = { rr: 16, spo2: 97, temp: 3700, sbp: 120, hr: 70, consciousness: 'A' as const };

  it('behavior: band edges 0 | 1-4 low | single 3 low-medium | 5-6 medium | ≥7 high', () => {
    expect(news2Band(0, 0)).toBe('zero');
    expect(news2Band(1, 1)).toBe('low');
    expect(news2Band(4, 2)).toBe('low');
    expect(news2Band(3, 3)).toBe('low_medium');
    expect(news2Band(4, 3)).toBe('low_medium');
    expect(news2Band(5, 2)).toBe('medium');
    expect(news2Band(6, 3)).toBe('medium'); // aggregate wins over the single-3 rule
    expect(news2Band(7, 2)).toBe('high');
    expect(news2Band(20, 3)).toBe('high');
  });

  it('behavior: a calm, complete set scores 0 with no missing parameter', () => {
    expect(news2(calm)).toEqual({
      score: 0,
      band: 'zero',
      scores: { rr: 0, spo2: 0, oxygen: 0, temp: 0, sbp: 0, hr: 0, consciousness: 0 },
      missing: [],
      partial: false,
    });
  });

  it('behavior: sums the parameters; oxygen adds 2; a single 3 is low-medium', () => {
    expect(news2({ ...calm, hr: 91 }).score).toBe(1);
    expect(news2({ ...calm, hr: 91 }).band).toBe('low');
    expect(news2({ ...calm, oxygen: true }).score).toBe(2);
    expect(news2({ ...calm, consciousness: 'C' })).toMatchObject({ score: 3, band: 'low_medium' });
    expect(news2({ ...calm, rr: 21, hr: 111, oxygen: true })).toMatchObject({ score: 6, band: 'medium' });
    expect(news2({ ...calm, rr: 21, hr: 111, oxygen: true, temp: 3810 })).toMatchObject({
      score: 7,
      band: 'high',
    });
  });

  it('behavior: the RCP sepsis-like example scores 7 (high)', () => {
    const r = news2({ rr: 22, spo2: 95, temp: 3840, sbp: 105, hr: 112, consciousness: 'A' });
    expect(r).toMatchObject({ score: 7, band: 'high', partial: false });
    expect(r.scores).toEqual({ rr: 2, spo2: 1, oxygen: 0, temp: 1, sbp: 1, hr: 2, consciousness: 0 });
  });

  it('behavior: scale 2 with oxygen scores high saturations (over-oxygenation)', () => {
    const r = news2({ ...calm, spo2: 98, spo2Scale: 2, oxygen: true });
    expect(r.scores.spo2).toBe(3);
    expect(r.score).toBe(5);
    expect(news2({ ...calm, spo2: 98, spo2Scale: 2 }).scores.spo2).toBe(0);
  });

  it('behavior: missing observations are listed and flag the score partial, never silently low', () => {
    const r = news2({ hr: 72 });
    expect(r.partial).toBe(true);
    expect(r.missing).toEqual(['rr', 'spo2', 'temp', 'sbp', 'consciousness']);
    expect(r.score).toBe(0);
    expect(r.scores).toEqual({ oxygen: 0, hr: 0 });
    // Not-a-number is as missing as absent.
    expect(news2({ ...calm, spo2: Number.NaN }).missing).toEqual(['spo2']);
    // Consciousness not yet assessed: partial even when every device vital is there.
    const { consciousness: _c, ...noAcvpu } = calm;
    expect(news2(noAcvpu)).toMatchObject({ partial: true, missing: ['consciousness'] });
  });

  it('behavior: a partial score still triggers its band (it is a lower bound)', () => {
    expect(news2({ rr: 26, hr: 135, sbp: 88 })).toMatchObject({ score: 9, band: 'high', partial: true });
  });

  it('error: an unknown SpO2 scale or ACVPU letter is a RangeError', () => {
    expect(() => news2({ ...calm, spo2Scale: 3 as never })).toThrow(RangeError);
    expect(() => news2({ ...calm, consciousness: 'X' as never })).toThrow(RangeError);
  });
});
