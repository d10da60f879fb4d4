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
 * target: the patient's baseline, moved by the scenario. 'deteriorating' drifts the
 * targets toward a sepsis-like picture (NEWS2 ≥ 7, Royal College of Physicians 2017).
 * These are plausible shapes for exercising alarms, not clinical truth.
 */
import type { Observations } from '../../gateway/src/protocol/frame.js';

export type Scenario = 'steady' | 'deteriorating' | 'arrhythmia' | 'artefacts';
export const SCENARIOS: readonly Scenario[] = ['steady', 'deteriorating', 'arrhythmia', 'artefacts'];

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

  function target(v: Vital): number {
    if (scenario !== 'deteriorating') return baseline[v];
    const p = clamp((tS - DETERIORATION_ONSET_S) / deteriorationS, 0, 1);
    return baseline[v] + p * (DETERIORATION_TARGET[v] - baseline[v]);
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
    batExact = Math.max(0, batExact - dtS * BATTERY_DRAIN_PER_S);
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
