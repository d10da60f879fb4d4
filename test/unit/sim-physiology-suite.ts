/**
 * @module test/unit/sim-physiology-suite
 * The long-run tests of the simulator's synthetic patients (firmware-sim/src/physiology.ts)
 * for one simulated span: plausible integer vitals in PROTOCOL.md §1 units, a steady
 * patient's low NEWS2 (RCP 2017), and the artefacts scenario's dropouts and spikes. `test/unit/sim-physiology.test.ts` runs them over 2 h;
 * `test/slow/sim-physiology.test.ts` over the full 24 h. Also the helpers both files use.
 */
import { expect, test } from 'vitest';
import { createPatientModel, type PatientReading, type Scenario } from '../../firmware-sim/src/physiology.js';

export const DAY_S = 24 * 3600;

/** `steps` readings of one patient, `dtMs` apart. */
export function run(
  seed: number,
  scenario: Scenario,
  steps: number,
  dtMs = 1000,
  speedup = 1,
): PatientReading[] {
  const m = createPatientModel({ seed, scenario, speedup });
  return Array.from({ length: steps }, () => m.next(dtMs));
}

/** NEWS2 (RCP 2017) for the parameters the wearable measures; SpO2 scale 1, on air, alert. */
export function news2(o: PatientReading['obs']): number {
  const band = (x: number | undefined, f: (x: number) => number) => (x === undefined ? 0 : f(x));
  return (
    band(o.rr, (x) => (x <= 8 ? 3 : x <= 11 ? 1 : x <= 20 ? 0 : x <= 24 ? 2 : 3)) +
    band(o.spo2, (x) => (x <= 91 ? 3 : x <= 93 ? 2 : x <= 95 ? 1 : 0)) +
    band(o.sbp, (x) => (x <= 90 ? 3 : x <= 100 ? 2 : x <= 110 ? 1 : x <= 219 ? 0 : 3)) +
    band(o.hr, (x) => (x <= 40 ? 3 : x <= 50 ? 1 : x <= 90 ? 0 : x <= 110 ? 1 : x <= 130 ? 2 : 3)) +
    band(o.temp, (x) => (x <= 3500 ? 3 : x <= 3600 ? 1 : x <= 3800 ? 0 : x <= 3900 ? 1 : 2))
  );
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export interface PatientSpan {
  /** Simulated seconds (1 Hz steps). */
  seconds: number;
  /** In the first test's name: "over <over> of 1 Hz steps". */
  over: string;
  /** In the second test's name: "scores low on NEWS2 <throughout>". */
  throughout: string;
  /** Simulated seconds of the artefacts patient (3 h at full size; its counts need at least 2 h). */
  artefactSeconds: number;
}

/** Registers the long-run tests (call inside a `describe`) over `span`. */
export function patientSpanTests(span: PatientSpan): void {
  test(`behavior: steady and deteriorating stay plausible over ${span.over} of 1 Hz steps`, () => {
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
        for (const { obs, bat } of run(seed, scenario, span.seconds)) {
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

  test(`behavior: a steady patient scores low on NEWS2 ${span.throughout}`, () => {
    for (const seed of [1, 2, 3, 4]) {
      const scores = run(seed, 'steady', span.seconds).map((r) => news2(r.obs));
      expect(scores.reduce((a, b) => a + b, 0) / scores.length).toBeLessThan(1.5);
      expect(median(scores)).toBeLessThanOrEqual(1);
    }
  });

  test('behavior: artefacts drop and spike readings now and then, never below one observation', () => {
    const rs = run(11, 'artefacts', span.artefactSeconds);
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
}
