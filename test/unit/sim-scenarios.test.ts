/**
 * @module test/unit/sim-scenarios
 * Issue 15: the simulator's newer scenarios (firmware-sim/src/physiology.ts) — 'fever'
 * (temperature into temp_high territory, heart rate following, then a plateau), 'probe_off'
 * (no SpO2 and no pulse rate from 2 min on, the other vitals go on: the gateway's
 * `signal_loss_spo2`), 'battery_drain' (below 10 % within 30 min: `battery_low` low, then
 * medium) — deterministic per seed, and `speedup` running the same trajectory in
 * proportionally fewer wall steps.
 */
import { describe, expect, test } from 'vitest';
import { type PatientReading, SCENARIOS } from '../../firmware-sim/src/physiology.js';
import { median, news2, run } from './sim-physiology-suite.js';

const SEEDS = [1, 2, 3, 4, 5, 0x811c9dc5];
/** The gateway's default limits (core/alarms: temp high 39.0 °C, battery_low under 20 %, medium under 10 %). */
const TEMP_HIGH = 3900;
const BATTERY_LOW = 20;
const BATTERY_CRITICAL = 10;
const at = (rs: PatientReading[], fromS: number, toS: number) => rs.slice(fromS, toS);
const med = (rs: PatientReading[], f: (r: PatientReading) => number | undefined) =>
  median(rs.map((r) => f(r) ?? Number.NaN));

describe('scenarios of issue 15', () => {
  test('behavior: the scenario list keeps the older four first and adds fever, probe_off, battery_drain', () => {
    expect(SCENARIOS).toEqual([
      'steady',
      'deteriorating',
      'arrhythmia',
      'artefacts',
      'fever',
      'probe_off',
      'battery_drain',
    ]);
  });

  test('behavior: each new scenario is deterministic per seed', () => {
    for (const scenario of ['fever', 'probe_off', 'battery_drain'] as const) {
      expect(run(7, scenario, 900)).toEqual(run(7, scenario, 900));
      expect(run(8, scenario, 900)).not.toEqual(run(7, scenario, 900));
    }
  });

  test('behavior: fever crosses the temp_high limit within 60 min with a faster heart rate, then plateaus', () => {
    const tempHigh = TEMP_HIGH;
    for (const seed of SEEDS) {
      const r = run(seed, 'fever', 90 * 60);
      const before = at(r, 0, 120);
      expect(med(before, (x) => x.obs.temp)).toBeLessThan(3800);
      expect(Math.max(...at(r, 0, 60 * 60).map((x) => x.obs.temp ?? 0))).toBeGreaterThanOrEqual(tempHigh);
      // Minutes 55-60 and 85-90: the plateau, 39.0-39.9 °C, in alarm.
      for (const [from, to] of [
        [55, 60],
        [85, 90],
      ] as const) {
        const span = at(r, from * 60, to * 60);
        expect(med(span, (x) => x.obs.temp)).toBeGreaterThan(tempHigh + 20); // past the hysteresis
        expect(Math.max(...span.map((x) => x.obs.temp ?? 0))).toBeLessThanOrEqual(3990);
      }
      const late = at(r, 55 * 60, 60 * 60);
      const riseC = (med(late, (x) => x.obs.temp) - med(before, (x) => x.obs.temp)) / 100;
      // About 10/min per °C (the noise of two medians aside).
      const hrRise = med(late, (x) => x.obs.hr) - med(before, (x) => x.obs.hr);
      expect(hrRise).toBeGreaterThan(riseC * 5);
      expect(hrRise).toBeLessThan(riseC * 16);
      expect(med(late, (x) => x.obs.rr)).toBeGreaterThanOrEqual(med(before, (x) => x.obs.rr));
      expect(med(late, (x) => x.obs.spo2)).toBeGreaterThanOrEqual(94);
      // NEWS2 rises (temperature ≥ 39.1 °C scores 2), short of the deteriorating emergency band.
      const score = med(late, (x) => news2(x.obs));
      expect(score).toBeGreaterThan(med(before, (x) => news2(x.obs)));
      expect(score).toBeGreaterThanOrEqual(2);
      expect(score).toBeLessThan(7);
    }
  });

  test('behavior: probe_off sends every vital for 2 min, then never spo2 or hr again, the others always', () => {
    for (const seed of SEEDS) {
      const r = run(seed, 'probe_off', 2 * 3600);
      const keys = (x: PatientReading) => Object.keys(x.obs).sort().join(',');
      const first = at(r, 0, 119);
      expect(new Set(first.map(keys))).toEqual(new Set(['dbp,hr,rr,sbp,spo2,temp']));
      expect(r[0]!.obs.spo2).toBeGreaterThanOrEqual(90);
      const after = at(r, 120, r.length);
      expect(new Set(after.map(keys))).toEqual(new Set(['dbp,rr,sbp,temp']));
      // The vitals that go on stay steady.
      expect(median(after.map((x) => news2(x.obs)))).toBeLessThanOrEqual(1);
    }
  });

  test('behavior: battery_drain falls below 20 % and then 10 % within 30 min, never rises, vitals steady', () => {
    for (const seed of SEEDS) {
      const r = run(seed, 'battery_drain', 45 * 60);
      expect(r[0]!.bat).toBeGreaterThanOrEqual(60);
      expect(r.filter((x, i) => i > 0 && x.bat > r[i - 1]!.bat)).toEqual([]);
      const low = r.findIndex((x) => x.bat < BATTERY_LOW);
      const critical = r.findIndex((x) => x.bat < BATTERY_CRITICAL);
      expect(low).toBeGreaterThan(10 * 60); // a while in the "low" band first …
      expect(critical).toBeGreaterThan(low + 60);
      expect(critical).toBeLessThan(30 * 60); // … then medium, within 30 min
      expect(r.at(-1)!.bat).toBeGreaterThanOrEqual(1); // the floor: the wearable keeps sending
      expect(median(r.map((x) => news2(x.obs)))).toBeLessThanOrEqual(1);
      expect(r.filter((x) => Object.keys(x.obs).length !== 6)).toEqual([]);
    }
  });

  test('behavior: speedup runs the same trajectory in proportionally fewer wall steps', () => {
    for (const scenario of ['fever', 'probe_off', 'battery_drain'] as const) {
      // 60 one-second frames at ×60 are exactly 60 one-minute steps at ×1.
      expect(run(3, scenario, 60, 1000, 60)).toEqual(run(3, scenario, 60, 60_000, 1));
    }
    // 60 s of wall time at ×60: an hour of fever, in alarm; the same 60 s at ×1: no fever yet.
    expect(run(3, 'fever', 60, 1000, 60).at(-1)!.obs.temp).toBeGreaterThan(3900);
    expect(run(3, 'fever', 60, 1000, 1).at(-1)!.obs.temp).toBeLessThan(3800);
    // 30 s at ×60 drains the battery below 10 %; probe-off at 2 min is 2 s of wall time.
    expect(run(3, 'battery_drain', 30, 1000, 60).at(-1)!.bat).toBeLessThan(10);
    const probe = run(3, 'probe_off', 4, 1000, 60);
    expect(probe[0]!.obs.spo2).toBeDefined();
    expect(probe[3]!.obs.spo2).toBeUndefined();
  });
});
