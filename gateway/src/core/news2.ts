/**
 * @module core/news2
 * National Early Warning Score 2 (Royal College of Physicians, "National Early Warning
 * Score (NEWS) 2", 2017; chart 1 "The NEWS2 scoring system", chart 2 "thresholds and
 * triggers"). Pure: no clock, no I/O.
 *
 * Inputs are the latest observations in PROTOCOL.md §1 units (temperature in 0.01 °C),
 * the patient's SpO2 scale (1, or 2 for hypercapnic respiratory failure, chosen by a
 * clinician), whether the patient is on supplemental oxygen, and the consciousness level
 * (ACVPU) entered by the nurse.
 *
 * Missing observations: a parameter that is unknown scores nothing and is listed in
 * `missing`; the result is then `partial: true`. A partial score is a LOWER BOUND (a
 * missing parameter can only add points), so it still triggers its band, and it is never
 * reported as reassuring: the dashboard shows it as incomplete ("≥ n"), never as a plain
 * low score.
 */

/** ACVPU: Alert, new Confusion, responds to Voice, to Pain, Unresponsive (RCP 2017 chart 1). */
export type Consciousness = 'A' | 'C' | 'V' | 'P' | 'U';
export const CONSCIOUSNESS_LEVELS: readonly Consciousness[] = ['A', 'C', 'V', 'P', 'U'];

export type SpO2Scale = 1 | 2;

export interface News2Input {
  /** Respiration rate, breaths/min. */
  rr?: number | undefined;
  /** SpO2, %. */
  spo2?: number | undefined;
  /** Temperature, 0.01 °C (PROTOCOL.md §1). */
  temp?: number | undefined;
  /** Systolic blood pressure, mmHg. */
  sbp?: number | undefined;
  /** Pulse (heart rate), beats/min. */
  hr?: number | undefined;
  /** Entered by the nurse; undefined when not assessed. */
  consciousness?: Consciousness | undefined;
  /** Supplemental oxygen (true) or air (false). Per patient; default air. */
  oxygen?: boolean | undefined;
  /** Default 1. Scale 2 only for patients with a target range of 88-92 % (RCP 2017). */
  spo2Scale?: SpO2Scale | undefined;
}

export type News2Parameter = 'rr' | 'spo2' | 'oxygen' | 'temp' | 'sbp' | 'hr' | 'consciousness';
export const NEWS2_PARAMETERS: readonly News2Parameter[] = [
  'rr',
  'spo2',
  'oxygen',
  'temp',
  'sbp',
  'hr',
  'consciousness',
];

/**
 * RCP 2017 chart 2 clinical risk: `zero` (aggregate 0), `low` (1-4), `low_medium` (a
 * single parameter scoring 3, aggregate ≤ 4), `medium` (5-6), `high` (≥ 7).
 */
export type News2Band = 'zero' | 'low' | 'low_medium' | 'medium' | 'high';

export interface News2Result {
  /** Sum of the known parameters' scores (a lower bound when `partial`). */
  score: number;
  band: News2Band;
  /** Scores of the known parameters. */
  scores: Partial<Record<News2Parameter, number>>;
  /** Parameters with no observation. */
  missing: News2Parameter[];
  partial: boolean;
}

/** One row of RCP 2017 chart 1 as thresholds (`scores` has one entry more than `upTo`). */
interface Bands {
  upTo: readonly number[];
  scores: readonly number[];
}

/** The rows of chart 1, made once (scored for every frame of every bed: nothing allocated per call). */
const RR: Bands = { upTo: [8, 11, 20, 24], scores: [3, 1, 0, 2, 3] };
const SPO2_SCALE_1: Bands = { upTo: [91, 93, 95], scores: [3, 2, 1, 0] };
const SPO2_SCALE_2_AIR: Bands = { upTo: [83, 85, 87], scores: [3, 2, 1, 0] };
const SPO2_SCALE_2_OXYGEN: Bands = { upTo: [83, 85, 87, 92, 94, 96], scores: [3, 2, 1, 0, 1, 2, 3] };
const TEMP: Bands = { upTo: [350, 360, 380, 390], scores: [3, 1, 0, 1, 2] };
const SBP: Bands = { upTo: [90, 100, 110, 219], scores: [3, 2, 1, 0, 3] };
const HR: Bands = { upTo: [40, 50, 90, 110, 130], scores: [3, 1, 0, 1, 2, 3] };

/** The score of the first band whose inclusive upper bound `upTo[i]` is at least `x`, else the last. */
function scoreBand(x: number, { upTo, scores }: Bands): number {
  let i = 0;
  while (i < upTo.length && !(x <= upTo[i]!)) i += 1; // as findIndex(x <= bound): NaN scores last
  return scores[i]!;
}

/** RCP 2017 chart 1, respiration rate: ≤8 → 3; 9-11 → 1; 12-20 → 0; 21-24 → 2; ≥25 → 3. */
export function scoreRespirationRate(rr: number): number {
  return scoreBand(rr, RR);
}

/**
 * RCP 2017 chart 1, SpO2. Scale 1: ≤91 → 3; 92-93 → 2; 94-95 → 1; ≥96 → 0.
 * Scale 2: ≤83 → 3; 84-85 → 2; 86-87 → 1; 88-92 (or ≥93 on air) → 0;
 * on oxygen 93-94 → 1, 95-96 → 2, ≥97 → 3.
 */
export function scoreSpO2(spo2: number, scale: SpO2Scale, oxygen: boolean): number {
  if (scale === 1) return scoreBand(spo2, SPO2_SCALE_1);
  return scoreBand(spo2, oxygen ? SPO2_SCALE_2_OXYGEN : SPO2_SCALE_2_AIR);
}

/** RCP 2017 chart 1, air or oxygen: oxygen → 2; air → 0. */
export function scoreOxygen(oxygen: boolean): number {
  return oxygen ? 2 : 0;
}

/**
 * RCP 2017 chart 1, temperature (°C, one decimal): ≤35.0 → 3; 35.1-36.0 → 1;
 * 36.1-38.0 → 0; 38.1-39.0 → 1; ≥39.1 → 2. The 0.01 °C reading is first rounded to the
 * chart's 0.1 °C (half up), so 36.04 °C scores as 36.0.
 */
export function scoreTemperature(tempCentiC: number): number {
  const t = Math.round(tempCentiC / 10); // tenths of a degree
  return scoreBand(t, TEMP);
}

/** RCP 2017 chart 1, systolic BP: ≤90 → 3; 91-100 → 2; 101-110 → 1; 111-219 → 0; ≥220 → 3. */
export function scoreSystolicBp(sbp: number): number {
  return scoreBand(sbp, SBP);
}

/** RCP 2017 chart 1, pulse: ≤40 → 3; 41-50 → 1; 51-90 → 0; 91-110 → 1; 111-130 → 2; ≥131 → 3. */
export function scoreHeartRate(hr: number): number {
  return scoreBand(hr, HR);
}

/** RCP 2017 chart 1, consciousness: Alert → 0; new Confusion, Voice, Pain, Unresponsive → 3. */
export function scoreConsciousness(c: Consciousness): number {
  return c === 'A' ? 0 : 3;
}

const known = (x: number | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** The RCP 2017 chart 2 band of an aggregate score and its highest single-parameter score. */
export function news2Band(score: number, maxSingle: number): News2Band {
  if (score >= 7) return 'high';
  if (score >= 5) return 'medium';
  if (maxSingle >= 3) return 'low_medium';
  if (score >= 1) return 'low';
  return 'zero';
}

/**
 * Scores the latest observations of one patient.
 * @throws {RangeError} when `spo2Scale` is not 1 or 2, or `consciousness` is not an ACVPU letter.
 * @example
 * news2({ rr: 22, spo2: 95, temp: 3840, sbp: 105, hr: 112, consciousness: 'A' })
 * // { score: 7, band: 'high', scores: { rr: 2, spo2: 1, oxygen: 0, temp: 1, sbp: 1, hr: 2, consciousness: 0 }, missing: [], partial: false }
 */
export function news2(input: News2Input): News2Result {
  const scale = input.spo2Scale ?? 1;
  if (scale !== 1 && scale !== 2) throw new RangeError('news2: spo2Scale must be 1 or 2');
  const c = input.consciousness;
  if (c !== undefined && !CONSCIOUSNESS_LEVELS.includes(c)) {
    throw new RangeError('news2: consciousness must be one of A, C, V, P, U');
  }
  const oxygen = input.oxygen ?? false;
  const scores: Partial<Record<News2Parameter, number>> = {};
  const missing: News2Parameter[] = [];
  let score = 0;
  let maxSingle = 0;
  const put = (p: News2Parameter, s: number | undefined) => {
    if (s === undefined) {
      missing.push(p);
      return;
    }
    scores[p] = s;
    score += s;
    if (s > maxSingle) maxSingle = s;
  };
  put('rr', known(input.rr) ? scoreRespirationRate(input.rr) : undefined);
  put('spo2', known(input.spo2) ? scoreSpO2(input.spo2, scale, oxygen) : undefined);
  put('oxygen', scoreOxygen(oxygen));
  put('temp', known(input.temp) ? scoreTemperature(input.temp) : undefined);
  put('sbp', known(input.sbp) ? scoreSystolicBp(input.sbp) : undefined);
  put('hr', known(input.hr) ? scoreHeartRate(input.hr) : undefined);
  put('consciousness', c !== undefined ? scoreConsciousness(c) : undefined);
  const band = news2Band(score, maxSingle);
  return { score, band, scores, missing, partial: missing.length > 0 };
}
