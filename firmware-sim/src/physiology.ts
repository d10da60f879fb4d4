/**
 * @module firmware-sim/physiology
 * Synthetic patients for the wearable simulator: a seeded, deterministic model of the six
 * vital signs of PROTOCOL.md §1 (integers in the protocol's units: hr /min, spo2 %,
 * rr /min, temp 0.01 °C, sbp and dbp mmHg) plus a battery level, and an optional synthetic
 * ECG (int16 LE µV, the `wf` chunk of PROTOCOL.md §1).
 *
 * Pure: no clock, no I/O. Time only advances through `next(dtMs)`, so the same seed and
 * the same sequence of steps give the same readings. The PRNG is mulberry32, a tiny
 * non-cryptographic generator: it shapes test data and must never be used for keys.
 *
 * Each vital is an Ornstein-Uhlenbeck process (a mean-reverting random walk) around a
 * target: the patient's baseline, moved by the scenario. These are plausible shapes for
 * exercising alarms, not clinical truth:
 * - 'steady': the baseline, with noise.
 * - 'deteriorating': the targets drift toward a sepsis-like picture (NEWS2 ≥ 7, Royal
 *   College of Physicians 2017) from 2 min on.
 * - 'arrhythmia': an irregularly irregular heart rate with fast episodes.
 * - 'artefacts': now and then a motion spike, a one-reading probe-off or a wild cuff pressure.
 * - 'fever': from 2 min on the temperature climbs to 39.4-39.8 °C within 20-40 min and stays
 *   there; the heart rate follows at about 10/min per °C, the respiratory rate at 1.5/min per °C.
 * - 'probe_off': after 2 min the pulse oximeter's probe comes off and stays off: frames keep
 *   coming without `spo2` and without `hr`, which this wearable takes from the same probe
 *   (as in the artefacts' dropouts); rr, temp, sbp and dbp go on.
 * - 'battery_drain': steady vitals; the battery falls from its start level to 3 % within
 *   25-28 min, then drains at the ordinary rate.
 *
 * Each scenario's own parameters come from a second generator seeded from the same seed, so
 * the older scenarios give exactly the readings they gave before the newer ones existed.
 */
import type { Observations } from '../../gateway/src/protocol/frame.js';

export type Scenario =
  | 'steady'
  | 'deteriorating'
  | 'arrhythmia'
  | 'artefacts'
  | 'fever'
  | 'probe_off'
  | 'battery_drain';
export const SCENARIOS: readonly Scenario[] = [
  'steady',
  'deteriorating',
  'arrhythmia',
  'artefacts',
  'fever',
  'probe_off',
  'battery_drain',
];

export interface PatientReading {
  obs: Observations;
  /** Battery percent, 0-100. */
  bat: number;
}

export interface PatientModel {
  /** Advances the patient by `dtMs` of wall time (times the model's speedup) and reads the sensors. */
  next(dtMs: number): PatientReading;
}

export interface PatientModelOptions {
  /** Any integer; the same seed gives the same patient and the same readings. */
  seed: number;
  /** Default 'steady'. */
  scenario?: Scenario;
  /** Simulated time per wall-clock time, default 1 (e.g. 60 turns 20 min of deterioration into 20 s). */
  speedup?: number;
}

/** mulberry32: a 32-bit seeded PRNG in [0, 1). Not cryptographic. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates from a uniform source (Box-Muller). */
function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand(); // (0, 1]: log(0) must not happen
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

type Vital = 'hr' | 'spo2' | 'rr' | 'temp' | 'sbp' | 'dbp';
const VITALS: readonly Vital[] = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];

/**
 * Sepsis-like targets of 'deteriorating': NEWS2 RR ≥ 25 → 3, SpO2 ≤ 91 → 3, temp 38.1-39.0 → 1
 * (39.1+ → 2), SBP ≤ 90 → 3, HR 111-130 → 2; together far above the "≥ 7: emergency" band.
 */
export const DETERIORATION_TARGET: Record<Vital, number> = {
  hr: 130,
  spo2: 89,
  rr: 28,
  temp: 3900,
  sbp: 90,
  dbp: 55,
};

/**
 * Each vital's model: mean-reversion time constant `tau` (s), noise `sigma` (units per √s)
 * and `limits`, the hard physical limits of the sensor output (after artefacts too).
 */
const DYNAMICS: Record<Vital, { tau: number; sigma: number; limits: readonly [number, number] }> = {
  hr: { tau: 60, sigma: 0.6, limits: [25, 230] },
  spo2: { tau: 120, sigma: 0.05, limits: [50, 100] },
  rr: { tau: 90, sigma: 0.1, limits: [4, 60] },
  temp: { tau: 600, sigma: 0.7, limits: [3300, 4300] },
  sbp: { tau: 180, sigma: 0.5, limits: [60, 230] },
  dbp: { tau: 180, sigma: 0.35, limits: [30, 140] },
};

/** 'deteriorating': onset after 2 min, full picture after a further 10-20 min (per patient). */
const DETERIORATION_ONSET_S = 120;
/** Battery drain: 1 % per 30 min of simulated time. */
const BATTERY_DRAIN_PER_S = 1 / 1800;
/** 'artefacts': chance per reading of a motion spike or a probe-off dropout. */
const ARTEFACT_RATE = 0.02;
/** 'fever': onset after 2 min; the peak (°C × 100) is reached 20-40 min later and held. */
const FEVER_ONSET_S = 120;
const FEVER_PEAK: readonly [number, number] = [3940, 3980];
const FEVER_RISE_S: readonly [number, number] = [1200, 2400];
/** 'fever': heart rate and respiratory rate per °C above baseline (about 10/min per °C for the heart rate). */
const FEVER_HR_PER_C = 10;
const FEVER_RR_PER_C = 1.5;
/** 'probe_off': the SpO2 probe comes off after 2 min and stays off. */
const PROBE_OFF_AT_S = 120;
/** 'battery_drain': down to this percent in 25-28 min, then the ordinary drain. */
const BATTERY_DRAIN_FLOOR = 3;
const BATTERY_DRAIN_S: readonly [number, number] = [1500, 1680];
/** Seeds the second generator (the newer scenarios' parameters) from the patient's seed. */
const SCENARIO_SEED_SALT = 0x5ce7a210;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * Creates a seeded synthetic patient.
 * @throws {TypeError} when seed is not a safe integer or the scenario is unknown.
 * @throws {RangeError} when speedup is not a positive finite number.
 * @example
 * const p = createPatientModel({ seed: 7, scenario: 'deteriorating', speedup: 60 });
 * const { obs, bat } = p.next(1000); // obs.hr, obs.spo2, …: integers in PROTOCOL.md §1 units
 */
export function createPatientModel(opts: PatientModelOptions): PatientModel {
  const { seed, scenario = 'steady', speedup = 1 } = opts;
  if (!Number.isSafeInteger(seed)) throw new TypeError('createPatientModel: seed must be a safe integer');
  if (!SCENARIOS.includes(scenario)) throw new TypeError('createPatientModel: unknown scenario');
  if (!(Number.isFinite(speedup) && speedup > 0)) {
    throw new RangeError('createPatientModel: speedup must be a positive finite number');
  }
  const rand = mulberry32(seed);
  const normal = gaussian(rand);
  const between = (lo: number, hi: number) => lo + (hi - lo) * rand();

  const baseline: Record<Vital, number> = {
    hr: between(60, 88),
    spo2: between(96, 99),
    rr: between(13, 17),
    temp: between(3630, 3730),
    sbp: between(110, 135),
    dbp: between(65, 82),
  };
  const state: Record<Vital, number> = { ...baseline };
  const deteriorationS = between(600, 1200);
  let bat = Math.round(between(70, 100));
  let batExact = bat;
  let tS = 0;
  /** Remaining seconds of an arrhythmia episode (irregular, often fast rhythm). */
  let episodeS = 0;

  // The newer scenarios draw from their own generator: `rand`'s sequence stays as it was.
  const extra = mulberry32(seed ^ SCENARIO_SEED_SALT);
  const extraBetween = ([lo, hi]: readonly [number, number]) => lo + (hi - lo) * extra();
  const feverRiseC = (extraBetween(FEVER_PEAK) - baseline.temp) / 100;
  const feverRiseS = extraBetween(FEVER_RISE_S);
  const fastDrainPerS = (bat - BATTERY_DRAIN_FLOOR) / extraBetween(BATTERY_DRAIN_S);

  /** 'fever': how far the fever has come, 0-1 (smoothstep: a gentle start and a gentle plateau). */
  function feverProgress(): number {
    const x = clamp((tS - FEVER_ONSET_S) / feverRiseS, 0, 1);
    return x * x * (3 - 2 * x);
  }

  function target(v: Vital): number {
    if (scenario === 'fever') {
      const c = feverProgress() * feverRiseC;
      if (v === 'temp') return baseline.temp + c * 100;
      if (v === 'hr') return baseline.hr + c * FEVER_HR_PER_C;
      if (v === 'rr') return baseline.rr + c * FEVER_RR_PER_C;
      return baseline[v];
    }
    if (scenario !== 'deteriorating') return baseline[v];
    const p = clamp((tS - DETERIORATION_ONSET_S) / deteriorationS, 0, 1);
    return baseline[v] + p * (DETERIORATION_TARGET[v] - baseline[v]);
  }

  /** Battery left after `dtS` more seconds: 'battery_drain' runs fast down to its floor. */
  function drained(dtS: number): number {
    if (scenario !== 'battery_drain' || batExact <= BATTERY_DRAIN_FLOOR) {
      return Math.max(0, batExact - dtS * BATTERY_DRAIN_PER_S);
    }
    const fastS = Math.min(dtS, (batExact - BATTERY_DRAIN_FLOOR) / fastDrainPerS);
    return Math.max(0, batExact - fastS * fastDrainPerS - (dtS - fastS) * BATTERY_DRAIN_PER_S);
  }

  function step(dtS: number): void {
    for (const v of VITALS) {
      const { tau, sigma } = DYNAMICS[v];
      // Exact OU update: decay toward the target plus noise of the matching variance.
      const decay = Math.exp(-dtS / tau);
      const sd = sigma * Math.sqrt((tau / 2) * (1 - decay * decay));
      state[v] = target(v) + (state[v] - target(v)) * decay + sd * normal();
    }
    state.spo2 = Math.min(state.spo2, 100);
    batExact = drained(dtS);
    bat = Math.round(batExact);
  }

  function read(): Observations {
    const raw: Record<Vital, number> = { ...state };
    if (scenario === 'arrhythmia') {
      // Irregularly irregular rate (atrial-fibrillation-like): ±15 % beat to beat, with
      // episodes of fast rate.
      if (episodeS <= 0 && rand() < 0.01) episodeS = between(20, 120);
      raw.hr = (raw.hr + (episodeS > 0 ? 40 : 0)) * (1 + (rand() - 0.5) * 0.3);
    }
    if (raw.dbp > raw.sbp - 20) raw.dbp = raw.sbp - 20;
    const obs: Observations = {};
    for (const v of VITALS) {
      const [lo, hi] = DYNAMICS[v].limits;
      obs[v] = Math.round(clamp(raw[v], lo, hi));
    }
    if (scenario === 'artefacts' && rand() < ARTEFACT_RATE) {
      const kind = rand();
      if (kind < 0.4) {
        // Motion artefact: pulse oximeter double-counts and desaturates.
        obs.hr = Math.round(clamp((obs.hr ?? 70) * between(1.6, 2.2), ...DYNAMICS.hr.limits));
        obs.spo2 = Math.round(between(70, 86));
      } else if (kind < 0.7) {
        // Probe off: no pulse oximetry for this reading.
        delete obs.hr;
        delete obs.spo2;
      } else {
        // Cuff artefact: a single wild blood pressure.
        obs.sbp = Math.round(between(180, 220));
        obs.dbp = Math.round(between(40, 50));
      }
    }
    if (scenario === 'probe_off' && tS >= PROBE_OFF_AT_S) {
      // The probe stays off: no SpO2 and no pulse rate from it (see the module notes).
      delete obs.spo2;
      delete obs.hr;
    }
    return obs;
  }

  return {
    next(dtMs: number): PatientReading {
      if (!(Number.isFinite(dtMs) && dtMs >= 0)) {
        throw new RangeError('PatientModel.next: dtMs must be a non-negative finite number');
      }
      const dtS = (dtMs / 1000) * speedup;
      tS += dtS;
      if (episodeS > 0) episodeS -= dtS;
      if (dtS > 0) step(dtS);
      return { obs: read(), bat };
    },
  };
}

export interface EcgGeneratorOptions {
  seed: number;
  /** Sampling rate in Hz, default 250. */
  fs?: number;
}

export interface EcgGenerator {
  /** The next `ms` of ECG at heart rate `hr`, as int16 little-endian microvolt samples. */
  chunk(ms: number, hr: number): Uint8Array;
  readonly fs: number;
}

/** One beat as a sum of Gaussian waves: [centre (fraction of RR), width (s), amplitude (µV)]. */
const ECG_WAVES: readonly [number, number, number][] = [
  [0.16, 0.025, 120], // P
  [0.28, 0.008, -100], // Q
  [0.3, 0.01, 1200], // R
  [0.32, 0.009, -250], // S
  [0.56, 0.04, 300], // T
];

/**
 * A synthetic ECG (lead-II-like PQRST per beat, small baseline noise) whose phase runs on
 * across chunks.
 * @throws {RangeError} when fs is not an integer in 50-1000.
 */
export function createEcgGenerator(opts: EcgGeneratorOptions): EcgGenerator {
  const fs = opts.fs ?? 250;
  if (!Number.isInteger(fs) || fs < 50 || fs > 1000) {
    throw new RangeError('createEcgGenerator: fs must be an integer in 50-1000');
  }
  const normal = gaussian(mulberry32(opts.seed ^ 0x5eed));
  let phase = 0; // fraction of the current beat, [0, 1)
  return {
    fs,
    chunk(ms: number, hr: number): Uint8Array {
      if (!(Number.isFinite(ms) && ms >= 0 && ms <= 10_000)) {
        throw new RangeError('EcgGenerator.chunk: ms must be in 0-10000');
      }
      const rr = 60 / clamp(Number.isFinite(hr) ? hr : 60, 20, 250);
      const n = Math.round((ms / 1000) * fs);
      const out = new Uint8Array(n * 2);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) {
        let uv = normal() * 8;
        for (const [c, w, a] of ECG_WAVES) {
          const d = (phase - c) * rr; // seconds from the wave's centre
          uv += a * Math.exp(-(d * d) / (2 * w * w));
        }
        view.setInt16(i * 2, Math.round(clamp(uv, -32768, 32767)), true); // PROTOCOL.md §1: int16 LE µV
        phase += 1 / (fs * rr);
        if (phase >= 1) phase -= 1;
      }
      return out;
    },
  };
}
