/**
 * @module core/hl7/mdc
 * IEEE 11073-10101 (MDC) terms of the PROTOCOL.md §1 observations, for IHE PCD-01 (issue 19):
 * each observation key's metric term, its unit as an MDC dimension and as UCUM, its LOINC
 * code (taken from `FHIR_VITALS` of core/fhir/codes, the one LOINC table), and its place in the
 * containment tree PCD-01 reports (MDS, VMD, channel, metric: OBX-4 `1.<vmd>.<chan>.<metric>`).
 *
 * Context-free MDC codes are `partition × 65536 + term code` (IEEE 11073-10101 §A.1): metrics
 * are in partition 2 (SCADA, 131072 +), units in partition 4 (DIM, 262144 +), device objects
 * in partition 1 (OBJ, 65536 +). Each code below was checked against public material (the
 * search corpus of the workspace library), and its arithmetic against the context-sensitive
 * term code where one was found:
 * - 150456 MDC_PULS_OXIM_SAT_O2 (19384), 149530 MDC_PULS_OXIM_PULS_RATE, 262688 MDC_DIM_PERCENT,
 *   264928 MDC_DIM_RESP_PER_MIN: a Mindray VS-series PCD-01 capture, and US Core pulse-oximetry
 *   examples coding 59408-5 with urn:iso:std:iso:11073:10101 150456;
 * - 147842 MDC_ECG_HEART_RATE (16770; older refid MDC_ECG_CARD_BEAT_RATE), 264864
 *   MDC_DIM_BEAT_PER_MIN, 69965 MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS: the Philips PCD-01 sample
 *   of the HL7 Point-of-Care Device IG mapping page, and GE B1x5 PCD-01 samples;
 * - 150021 / 150022 MDC_PRESS_BLD_NONINV_SYS / _DIA (18949 / 18950) with LOINC 8480-6 / 8462-4,
 *   266016 MDC_DIM_MMHG: HL7 Personal Health Device IG, Observation bloodPress example;
 * - 151562 MDC_RESP_RATE (20490): MII ICU module examples, Philips MDC→LOINC table (9279-1);
 * - 150344 MDC_TEMP (19272), 268192 MDC_DIM_DEGC, 69902 / 69903 MDC_DEV_METER_TEMP_VMD / _CHAN:
 *   GE B1x5 PCD-01 samples;
 * - device objects, from the Philips IntelliVue Data Export nomenclature (NOM_DEV_*, partition 1):
 *   ECG VMD 4262 → 69798, SpO2 VMD 4106 → 69642, RR VMD 4186 → 69722, temperature VMD 4366 →
 *   69902, NIBP VMD 5150 → 70686, multi-parameter MDS 4429 → 69965; a channel is its VMD + 1
 *   (the 10101 device-term layout base, _MDS, _VMD, _CHAN; seen as 69643, 69799, 69903, 70687
 *   in PCD-01 samples).
 *
 * Heart rate: the wearables of this system carry an ECG (`wf.kind = 'ecg'`), so `hr` is the
 * ECG-derived heart rate 147842 MDC_ECG_HEART_RATE, which is also the term PCD-01 monitors send
 * for "HR" (LOINC 8867-4). A pulse oximeter's rate would be 149530 MDC_PULS_OXIM_PULS_RATE.
 * Pure data.
 */
import type { ObservationKey } from '../../protocol/frame.js';
import { FHIR_VITALS } from '../fhir/codes.js';

/** One MDC term: context-free numeric code and reference id (CWE `<num>^<refid>^MDC`). */
export interface MdcTerm {
  readonly num: number;
  readonly refid: string;
}

/** The coding system id of MDC terms in HL7 v2 (CWE-3), of LOINC (HL7 table 0396), of UCUM. */
export const MDC_SYSTEM = 'MDC';
export const LOINC_SYSTEM = 'LN';
export const UCUM_SYSTEM = 'UCUM';

/** The device as a whole: one MDS per wearable, OBX-4 `1.0.0.0`. */
export const MDS_TERM: MdcTerm = { num: 69965, refid: 'MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS' };

/** A virtual medical device (subsystem) of the MDS, with its one channel. */
export interface VmdSpec {
  /** OBX-4 second number: fixed per subsystem, so a metric keeps its sub-id across messages. */
  readonly index: number;
  readonly vmd: MdcTerm;
  readonly chan: MdcTerm;
}

export const VMDS = {
  ecg: {
    index: 1,
    vmd: { num: 69798, refid: 'MDC_DEV_ECG_VMD' },
    chan: { num: 69799, refid: 'MDC_DEV_ECG_CHAN' },
  },
  spo2: {
    index: 2,
    vmd: { num: 69642, refid: 'MDC_DEV_ANALY_SAT_O2_VMD' },
    chan: { num: 69643, refid: 'MDC_DEV_ANALY_SAT_O2_CHAN' },
  },
  resp: {
    index: 3,
    vmd: { num: 69722, refid: 'MDC_DEV_ANALY_RESP_RATE_VMD' },
    chan: { num: 69723, refid: 'MDC_DEV_ANALY_RESP_RATE_CHAN' },
  },
  temp: {
    index: 4,
    vmd: { num: 69902, refid: 'MDC_DEV_METER_TEMP_VMD' },
    chan: { num: 69903, refid: 'MDC_DEV_METER_TEMP_CHAN' },
  },
  nibp: {
    index: 5,
    vmd: { num: 70686, refid: 'MDC_DEV_PRESS_BLD_NONINV_VMD' },
    chan: { num: 70687, refid: 'MDC_DEV_PRESS_BLD_NONINV_CHAN' },
  },
} as const satisfies Record<string, VmdSpec>;

/** How one observation key is reported in PCD-01. */
export interface MdcVital {
  readonly metric: MdcTerm;
  /** OBX-6: the MDC dimension and its UCUM code. */
  readonly unit: MdcTerm;
  readonly ucum: string;
  /** OBX-3 alternate coding (CWE-4..6). */
  readonly loinc: string;
  readonly display: string;
  /** value = integer × scale; printed with `decimals` digits after the point. */
  readonly scale: number;
  readonly decimals: number;
  readonly vmd: VmdSpec;
  /** OBX-4 fourth number within the VMD's channel 1. */
  readonly metricIndex: number;
}

const DIM = {
  bpm: { num: 264864, refid: 'MDC_DIM_BEAT_PER_MIN' },
  percent: { num: 262688, refid: 'MDC_DIM_PERCENT' },
  respPerMin: { num: 264928, refid: 'MDC_DIM_RESP_PER_MIN' },
  degC: { num: 268192, refid: 'MDC_DIM_DEGC' },
  mmHg: { num: 266016, refid: 'MDC_DIM_MMHG' },
} as const satisfies Record<string, MdcTerm>;

function vital(
  key: ObservationKey,
  metric: MdcTerm,
  unit: MdcTerm,
  vmd: VmdSpec,
  metricIndex: number,
): MdcVital {
  const f = FHIR_VITALS[key];
  const decimals = Math.max(0, Math.round(-Math.log10(f.scale)));
  return {
    metric,
    unit,
    ucum: f.ucum,
    loinc: f.loinc,
    display: f.display,
    scale: f.scale,
    decimals,
    vmd,
    metricIndex,
  };
}

/** PROTOCOL.md §1 observation keys → MDC metric, unit, LOINC and containment (the README table). */
export const MDC_VITALS: Readonly<Record<ObservationKey, MdcVital>> = {
  hr: vital('hr', { num: 147842, refid: 'MDC_ECG_HEART_RATE' }, DIM.bpm, VMDS.ecg, 1),
  spo2: vital('spo2', { num: 150456, refid: 'MDC_PULS_OXIM_SAT_O2' }, DIM.percent, VMDS.spo2, 1),
  rr: vital('rr', { num: 151562, refid: 'MDC_RESP_RATE' }, DIM.respPerMin, VMDS.resp, 1),
  temp: vital('temp', { num: 150344, refid: 'MDC_TEMP' }, DIM.degC, VMDS.temp, 1),
  sbp: vital('sbp', { num: 150021, refid: 'MDC_PRESS_BLD_NONINV_SYS' }, DIM.mmHg, VMDS.nibp, 1),
  dbp: vital('dbp', { num: 150022, refid: 'MDC_PRESS_BLD_NONINV_DIA' }, DIM.mmHg, VMDS.nibp, 2),
};

/** The order in which a reading's observations become OBX segments (VMD by VMD). */
export const PCD01_ORDER: readonly ObservationKey[] = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];

/**
 * An integer observation in its reporting unit, exactly (no float rounding):
 * `scaledValue(3712, 2)` is `'37.12'`, `scaledValue(3700, 2)` `'37.00'`.
 */
export function scaledValue(raw: number, decimals: number): string {
  if (decimals === 0) return String(raw);
  if (!Number.isSafeInteger(raw)) return (raw / 10 ** decimals).toFixed(decimals);
  const sign = raw < 0 ? '-' : '';
  const digits = String(Math.abs(raw)).padStart(decimals + 1, '0');
  return `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}
