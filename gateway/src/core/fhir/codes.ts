/**
 * @module core/fhir/codes
 * The FHIR R4 vocabulary of the readings, one table for every FHIR output (the file export
 * core/fhir/export, the push core/fhir/push, both through core/fhir/observations) and for
 * the LOINC alternate codings of IHE PCD-01 (core/hl7/mdc): each observation key's LOINC
 * code (PROTOCOL.md §1) and UCUM unit (FHIR R4 vital-signs profile,
 * http://hl7.org/fhir/R4/observation-vitalsigns.html), the code systems, the blood-pressure
 * panel, and the stable urn:uuid names of the Bundles' entries. The MDC (ISO/IEEE
 * 11073-10101) terms are core/hl7/mdc's; this module imports nothing of it (mdc imports this).
 * Pure data.
 */
import { createHash } from 'node:crypto';
import type { ObservationKey } from '../../protocol/frame.js';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
/** The FHIR code system of ISO/IEEE 11073-10101 (MDC) terms (FHIR R4 terminologies, "ISO 11073-10101 codes"). */
export const MDC = 'urn:iso:std:iso:11073:10101';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const VITALSIGNS_PROFILE = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';

/** PROTOCOL.md §1 observation table → LOINC and UCUM (value = integer × scale). */
export const FHIR_VITALS: Readonly<
  Record<ObservationKey, { loinc: string; display: string; ucum: string; unit: string; scale: number }>
> = {
  hr: { loinc: '8867-4', display: 'Heart rate', ucum: '/min', unit: 'beats/minute', scale: 1 },
  spo2: {
    loinc: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    ucum: '%',
    unit: '%',
    scale: 1,
  },
  rr: { loinc: '9279-1', display: 'Respiratory rate', ucum: '/min', unit: 'breaths/minute', scale: 1 },
  temp: { loinc: '8310-5', display: 'Body temperature', ucum: 'Cel', unit: 'C', scale: 0.01 },
  sbp: { loinc: '8480-6', display: 'Systolic blood pressure', ucum: 'mm[Hg]', unit: 'mmHg', scale: 1 },
  dbp: { loinc: '8462-4', display: 'Diastolic blood pressure', ucum: 'mm[Hg]', unit: 'mmHg', scale: 1 },
};
/** Provenance.agent.type of the device that measured (R4 provenance-participant-type). */
export const PROVENANCE_AUTHOR = {
  system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  code: 'author',
} as const;
export const BP_PANEL = { loinc: '85354-9', display: 'Blood pressure panel with all children optional' };

/** A stable urn:uuid from a name (same inputs, same ids: exports diff cleanly). */
export function uuidOf(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50; // name-based layout (RFC 9562 §5.5 shape)
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `urn:uuid:${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
