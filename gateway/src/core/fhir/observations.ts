/**
 * @module core/fhir/observations
 * The vital-signs Observations of one reading, the one builder of both FHIR R4 outputs (the
 * file export core/fhir/export and the push core/fhir/push, which differ only in what the
 * Observations refer to). FHIR R4 vital-signs profile
 * (http://hl7.org/fhir/R4/observation-vitalsigns.html): category `vital-signs`, the LOINC
 * code of PROTOCOL.md §1 (core/fhir/codes `FHIR_VITALS`), UCUM `valueQuantity`, effectiveDateTime =
 * the device's `ts`; systolic and diastolic blood pressure become one Observation 85354-9
 * with components 8480-6 and 8462-4 (the profile's blood-pressure panel).
 *
 * Each observation's `code` (and each blood-pressure component's) carries, after its LOINC
 * coding, the ISO/IEEE 11073-10101 (MDC) term the same value has in IHE PCD-01 (core/hl7/mdc
 * `MDC_VITALS`): `{system: 'urn:iso:std:iso:11073:10101', code: '<context-free code>',
 * display: '<reference id>'}`, the mapping of the HL7 Personal Health Device IG ("Obtaining
 * the Observation.code": code = partition × 2^16 + term code, the reference id as display,
 * the LOINC vital-signs code in a coding of its own). The vital-signs profile slices
 * `code.coding` openly: the LOINC coding it requires stays first, the MDC one is additional.
 * The panel itself has only its LOINC code (MDC_VITALS has terms per value, not for the panel).
 * Pure.
 */
import type { ObservationKey, Observations } from '../../protocol/frame.js';
import { MDC_VITALS } from '../hl7/mdc.js';
import {
  BP_PANEL,
  FHIR_VITALS,
  LOINC,
  MDC,
  OBSERVATION_CATEGORY,
  UCUM,
  VITALSIGNS_PROFILE,
} from './codes.js';

type Json = Record<string, unknown>;

/** `code` of one observation key: its LOINC coding, then its MDC coding. */
function vitalCode(key: ObservationKey): Json {
  const v = FHIR_VITALS[key];
  const m = MDC_VITALS[key].metric;
  return {
    coding: [
      { system: LOINC, code: v.loinc, display: v.display },
      { system: MDC, code: String(m.num), display: m.refid },
    ],
    text: v.display,
  };
}

function quantity(key: ObservationKey, raw: number): Json {
  const v = FHIR_VITALS[key];
  return {
    value: Number((raw * v.scale).toFixed(v.scale === 1 ? 0 : 2)),
    unit: v.unit,
    system: UCUM,
    code: v.ucum,
  };
}

/** What the Observations of one reading refer to (export and push differ only in these). */
export interface VitalObservationRefs {
  /** Observation.subject (a reference, a logical identifier, or a display). */
  subject: Json;
  /** Observation.device. */
  device: Json;
  /** The Observation's identifier, from its observation key (`hr` … `temp`, or `bp` for the panel). */
  identifier: (key: ObservationKey | 'bp') => Json;
}

/**
 * The vital-signs Observations of one reading, in the order hr, spo2, rr, temp, then the
 * blood-pressure panel (85354-9 with its 8480-6/8462-4 components) when sbp or dbp is present.
 * @example
 * vitalSignObservations({ ts, obs: { hr: 72 } }, { subject, device, identifier: (k) => ({ system, value: k }) });
 */
export function vitalSignObservations(
  r: { ts: number; obs: Observations },
  refs: VitalObservationRefs,
): { key: ObservationKey | 'bp'; resource: Json }[] {
  const base = (code: Json, key: ObservationKey | 'bp'): Json => ({
    resourceType: 'Observation',
    meta: { profile: [VITALSIGNS_PROFILE] },
    status: 'final',
    category: [
      {
        coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }],
        text: 'Vital Signs',
      },
    ],
    code,
    subject: refs.subject,
    effectiveDateTime: new Date(r.ts).toISOString(),
    device: refs.device,
    identifier: [refs.identifier(key)],
  });
  const out: { key: ObservationKey | 'bp'; resource: Json }[] = [];
  for (const key of ['hr', 'spo2', 'rr', 'temp'] as const) {
    const raw = r.obs[key];
    if (typeof raw !== 'number') continue;
    out.push({ key, resource: { ...base(vitalCode(key), key), valueQuantity: quantity(key, raw) } });
  }
  const components: Json[] = [];
  for (const key of ['sbp', 'dbp'] as const) {
    const raw = r.obs[key];
    if (typeof raw !== 'number') continue;
    components.push({ code: vitalCode(key), valueQuantity: quantity(key, raw) });
  }
  if (components.length > 0) {
    const panel = {
      coding: [{ system: LOINC, code: BP_PANEL.loinc, display: BP_PANEL.display }],
      text: BP_PANEL.display,
    };
    out.push({ key: 'bp', resource: { ...base(panel, 'bp'), component: components } });
  }
  return out;
}

/**
 * How many Observations `vitalSignObservations` makes of `obs`, without making them: one per
 * vital of hr, spo2, rr and temp present, and one blood-pressure panel when sbp or dbp is.
 */
export function vitalSignCount(obs: Observations): number {
  let n = 0;
  for (const key of ['hr', 'spo2', 'rr', 'temp'] as const) if (typeof obs[key] === 'number') n += 1;
  return typeof obs.sbp === 'number' || typeof obs.dbp === 'number' ? n + 1 : n;
}
