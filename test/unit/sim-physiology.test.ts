/**
 * @module test/unit/sim-physiology
 * The simulator's synthetic patients (firmware-sim/src/physiology.ts): determinism per
 * seed, plausible integer vitals in PROTOCOL.md §1 units (over 2 h here, over a day in
 * the slow tier), the 'deteriorating' scenario reaching a NEWS2 emergency band (RCP 2017),
 * and the synthetic ECG chunk.
 */
import { describe, expect, test } from 'vitest';
import {
  createEcgGenerator,
  createPatientModel,
  type PatientReading,
  SCENARIOS,
  type Scenario,
} from '../../firmware-sim/src/physiology.js';
import { waveformSamples } from '../../gateway/src/protocol/frame.js';
import { median, news2, patientSpanTests, run } from './sim-physiology-suite.js';

describe('createPatientModel', () => {
  test('behavior: the same seed and steps give the same readings; another seed differs', () => {
    for (const scenario of SCENARIOS) {
      const a = run(42, scenario, 600);
      expect(run(42, scenario, 600)).toEqual(a);
      expect(run(43, scenario, 600)).not.toEqual(a);
    }
  });

  // The full 24 h runs in the slow tier (test/slow/sim-physiology.test.ts).
  patientSpanTests({ seconds: 2 * 3600, over: '2 h', throughout: 'over 2 h', artefactSeconds: 2 * 3600 });

  test('behavior: deteriorating reaches the sepsis-like zone (NEWS2 ≥ 7) within 30 min, not in the first 2', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = run(seed, 'deteriorating', 30 * 60);
      expect(median(r.slice(0, 120).map((x) => news2(x.obs)))).toBeLessThanOrEqual(2);
      const last5 = r.slice(-300);
      expect(median(last5.map((x) => news2(x.obs)))).toBeGreaterThanOrEqual(7);
      expect(median(last5.map((x) => x.obs.hr ?? 0))).toBeGreaterThanOrEqual(115);
      expect(median(last5.map((x) => x.obs.rr ?? 0))).toBeGreaterThanOrEqual(25);
      expect(median(last5.map((x) => x.obs.spo2 ?? 100))).toBeLessThanOrEqual(91);
      expect(median(last5.map((x) => x.obs.sbp ?? 200))).toBeLessThanOrEqual(95);
      expect(median(last5.map((x) => x.obs.temp ?? 0))).toBeGreaterThanOrEqual(3820);
    }
  });

  test('behavior: speedup compresses simulated time (30 s at ×60 = 30 min)', () => {
    const fast = run(9, 'deteriorating', 30, 1000, 60);
    expect(news2(fast.at(-1)?.obs ?? {})).toBeGreaterThanOrEqual(7);
  });

  test('behavior: arrhythmia has a far more irregular heart rate than steady', () => {
    const jitter = (rs: PatientReading[]) => {
      const d = rs.slice(1).map((r, i) => Math.abs((r.obs.hr ?? 0) - (rs[i]?.obs.hr ?? 0)));
      return d.reduce((a, b) => a + b, 0) / d.length;
    };
    expect(jitter(run(5, 'arrhythmia', 3600))).toBeGreaterThan(5 * jitter(run(5, 'steady', 3600)));
  });

  test('behavior: the battery drains slowly and never rises', () => {
    const rs = run(3, 'steady', 4 * 3600);
    for (let i = 1; i < rs.length; i++) expect(rs[i]!.bat).toBeLessThanOrEqual(rs[i - 1]!.bat);
    const drained = rs[0]!.bat - rs.at(-1)!.bat;
    expect(drained).toBeGreaterThanOrEqual(6);
    expect(drained).toBeLessThanOrEqual(10);
  });

  test('error: invalid options and steps are TypeError/RangeError', () => {
    expect(() => createPatientModel({ seed: 1.5 })).toThrow(TypeError);
    expect(() => createPatientModel({ seed: 1, scenario: 'bogus' as Scenario })).toThrow(TypeError);
    expect(() => createPatientModel({ seed: 1, speedup: 0 })).toThrow(RangeError);
    const m = createPatientModel({ seed: 1 });
    expect(() => m.next(-1)).toThrow(RangeError);
    expect(() => m.next(Number.NaN)).toThrow(RangeError);
  });
});

describe('createEcgGenerator', () => {
  test('behavior: a chunk is int16 LE µV at fs, with one R peak per beat, phase continuous', () => {
    const ecg = createEcgGenerator({ seed: 1, fs: 250 });
    const chunks = Array.from({ length: 10 }, () => ecg.chunk(1000, 72));
    for (const c of chunks) expect(c.length).toBe(500);
    const all = chunks.flatMap((s) => [...waveformSamples({ kind: 'ecg', fs: 250, s })]);
    let peaks = 0;
    for (let i = 1; i < all.length; i++) if (all[i]! >= 600 && all[i - 1]! < 600) peaks++;
    expect(peaks).toBeGreaterThanOrEqual(11); // 72/min over 10 s = 12 beats
    expect(peaks).toBeLessThanOrEqual(13);
    expect(Math.max(...all)).toBeGreaterThan(900);
    expect(Math.min(...all)).toBeGreaterThan(-600);
  });

  test('error: bad fs or duration is RangeError', () => {
    expect(() => createEcgGenerator({ seed: 1, fs: 10 })).toThrow(RangeError);
    expect(() => createEcgGenerator({ seed: 1 }).chunk(-5, 60)).toThrow(RangeError);
  });
});
