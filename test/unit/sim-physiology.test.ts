/**
 * @module test/unit/sim-physiology
 * The simulator's synthetic patients (firmware-sim/src/physiology.ts): determinism per
 * seed, plausible integer vitals in PROTOCOL.md §1 units over a day, the 'deteriorating'
 * scenario reaching a NEWS2 emergency band (RCP 2017), and the synthetic ECG chunk.
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

const DAY_S = 24 * 3600;

function run(seed: number, scenario: Scenario, steps: number, dtMs = 1000, speedup = 1): PatientReading[] {
  const m = createPatientModel({ seed, scenario, speedup });
  return Array.from({ length: steps }, () => m.next(dtMs));
}

/** NEWS2 (RCP 2017) for the parameters the wearable measures; SpO2 scale 1, on air, alert. */
function news2(o: PatientReading['obs']): number {
  const band = (x: number | undefined, f: (x: number) => number) => (x === undefined ? 0 : f(x));
  return (
    band(o.rr, (x) => (x <= 8 ? 3 : x <= 11 ? 1 : x <= 20 ? 0 : x <= 24 ? 2 : 3)) +
    band(o.spo2, (x) => (x <= 91 ? 3 : x <= 93 ? 2 : x <= 95 ? 1 : 0)) +
    band(o.sbp, (x) => (x <= 90 ? 3 : x <= 100 ? 2 : x <= 110 ? 1 : x <= 219 ? 0 : 3)) +
    band(o.hr, (x) => (x <= 40 ? 3 : x <= 50 ? 1 : x <= 90 ? 0 : x <= 110 ? 1 : x <= 130 ? 2 : 3)) +
    band(o.temp, (x) => (x <= 3500 ? 3 : x <= 3600 ? 1 : x <= 3800 ? 0 : x <= 3900 ? 1 : 2))
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

describe('createPatientModel', () => {
  test('behavior: the same seed and steps give the same readings; another seed differs', () => {
    for (const scenario of SCENARIOS) {
      const a = run(42, scenario, 600);
      expect(run(42, scenario, 600)).toEqual(a);
      expect(run(43, scenario, 600)).not.toEqual(a);
    }
  });

  test('behavior: steady and deteriorating stay plausible over 24 h of 1 Hz steps', () => {
    const PLAUSIBLE: Record<string, [number, number]> = {
      hr: [40, 180],
      spo2: [80, 100],
      rr: [6, 40],
      temp: [3500, 4100],
      sbp: [65, 200],
      dbp: [35, 130],
      bat: [0, 100],
    };
    for (const scenario of ['steady', 'deteriorating'] as const) {
      for (const seed of [1, 2, 3]) {
        // Aggregate first: 86,400 readings × 7 values are too many for one expect() each.
        const lo: Record<string, number> = {};
        const hi: Record<string, number> = {};
        let bad = 0;
        for (const { obs, bat } of run(seed, scenario, DAY_S)) {
          if (Object.keys(obs).length !== 6 || (obs.dbp ?? 0) >= (obs.sbp ?? 0)) bad++;
          for (const [k, v] of Object.entries({ ...obs, bat })) {
            if (!Number.isInteger(v)) bad++;
            lo[k] = Math.min(lo[k] ?? Infinity, v);
            hi[k] = Math.max(hi[k] ?? -Infinity, v);
          }
        }
        expect(bad).toBe(0);
        for (const [k, [min, max]] of Object.entries(PLAUSIBLE)) {
          expect(lo[k], `${scenario} ${k} min`).toBeGreaterThanOrEqual(min);
          expect(hi[k], `${scenario} ${k} max`).toBeLessThanOrEqual(max);
        }
      }
    }
  });

  test('behavior: a steady patient scores low on NEWS2 all day', () => {
    for (const seed of [1, 2, 3, 4]) {
      const scores = run(seed, 'steady', DAY_S).map((r) => news2(r.obs));
      expect(scores.reduce((a, b) => a + b, 0) / scores.length).toBeLessThan(1.5);
      expect(median(scores)).toBeLessThanOrEqual(1);
    }
  });

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

  test('behavior: artefacts drop and spike readings now and then, never below one observation', () => {
    const rs = run(11, 'artefacts', 3 * 3600);
    const dropouts = rs.filter((r) => r.obs.spo2 === undefined).length;
    const spikes = rs.filter((r) => (r.obs.spo2 ?? 100) < 88 || (r.obs.sbp ?? 0) >= 180).length;
    expect(dropouts).toBeGreaterThan(20);
    expect(spikes).toBeGreaterThan(20);
    expect(dropouts + spikes).toBeLessThan(rs.length * 0.05);
    for (const r of rs) {
      expect(Object.keys(r.obs).length).toBeGreaterThan(0);
      for (const v of Object.values(r.obs)) expect(Number.isInteger(v) && v >= 0).toBe(true);
    }
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
