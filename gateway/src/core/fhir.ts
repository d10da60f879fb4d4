/**
 * @module core/fhir
 * FHIR R4 export of readings (issue 4): a Bundle of type `collection` holding one
 * vital-signs Observation per observation of a reading (FHIR R4 vital-signs profile,
 * http://hl7.org/fhir/R4/observation-vitalsigns.html: category `vital-signs`, LOINC code
 * of PROTOCOL.md §1, UCUM unit, effectiveDateTime = the device's `ts`); systolic and
 * diastolic blood pressure become one Observation 85354-9 with components 8480-6 and
 * 8462-4 (the profile's blood-pressure panel). Each Observation has a Provenance naming
 * the device, the transparency log (origin and logId), the leaf index and, once anchored,
 * the checkpoint (tree size, root, transaction) that proves it.
 * Pure: the caller supplies readings, bindings and checkpoints.
 */
import { createHash } from 'node:crypto';
import type { ObservationKey, Observations } from '../protocol/frame.js';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
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

export interface FhirReading {
  dev: string;
  seq: number;
  ts: number;
  obs: Observations;
  leafIndex: number;
  /** The patient bound to the device at `ts`, if any. */
  patientId?: string;
}

export interface FhirCheckpoint {
  treeSize: number;
  rootHash: string;
  txHash: string;
  blockNumber: number;
  chainId: number;
  contract: string;
}

export interface FhirExportParameters {
  readings: readonly FhirReading[];
  log: { origin: string; logId: string };
  /** The anchored checkpoint that covers a leaf, or null while it is not anchored yet. */
  checkpointFor: (leafIndex: number) => FhirCheckpoint | null;
  /** Bundle timestamp (ms); default: the newest reading's ts. */
  now?: number;
  /** System URI of patient identifiers. Default `urn:vitaltrail:patient`. */
  patientSystem?: string;
}

type Json = Record<string, unknown>;

/** A stable urn:uuid from a name (same inputs, same ids: exports diff cleanly). */
export function uuidOf(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50; // name-based layout (RFC 9562 §5.5 shape)
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `urn:uuid:${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function coding(code: string, display: string): Json {
  return { coding: [{ system: LOINC, code, display }], text: display };
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
    const v = FHIR_VITALS[key];
    out.push({
      key,
      resource: { ...base(coding(v.loinc, v.display), key), valueQuantity: quantity(key, raw) },
    });
  }
  const components: Json[] = [];
  for (const key of ['sbp', 'dbp'] as const) {
    const raw = r.obs[key];
    if (typeof raw !== 'number') continue;
    const v = FHIR_VITALS[key];
    components.push({ code: coding(v.loinc, v.display), valueQuantity: quantity(key, raw) });
  }
  if (components.length > 0) {
    out.push({
      key: 'bp',
      resource: { ...base(coding(BP_PANEL.loinc, BP_PANEL.display), 'bp'), component: components },
    });
  }
  return out;
}

/**
 * Builds the Bundle.
 * @example
 * const bundle = buildFhirBundle({ readings, log: { origin, logId }, checkpointFor: () => null });
 */
export function buildFhirBundle(p: FhirExportParameters): Json {
  const entries: Json[] = [];
  const devices = new Set<string>();
  const patientSystem = p.patientSystem ?? 'urn:vitaltrail:patient';
  let newest = 0;
  for (const r of p.readings) {
    newest = Math.max(newest, r.ts);
    const deviceUrl = uuidOf(`device:${r.dev}`);
    if (!devices.has(r.dev)) {
      devices.add(r.dev);
      entries.push({
        fullUrl: deviceUrl,
        resource: { resourceType: 'Device', identifier: [{ system: 'urn:vitaltrail:device', value: r.dev }] },
      });
    }
    const subject =
      r.patientId !== undefined
        ? { identifier: { system: patientSystem, value: r.patientId } }
        : { display: 'no patient bound to the device at this time' };
    const observations = vitalSignObservations(r, {
      subject,
      device: { reference: deviceUrl },
      identifier: (key) => ({ system: `urn:vitaltrail:log:${p.log.logId}`, value: `${r.leafIndex}/${key}` }),
    }).map((o) => o.resource);
    const cp = p.checkpointFor(r.leafIndex);
    for (const obs of observations) {
      const id = (obs.identifier as { value: string }[])[0]?.value as string;
      const obsUrl = uuidOf(`observation:${p.log.logId}:${id}`);
      entries.push({ fullUrl: obsUrl, resource: obs });
      const entity: Json[] = [
        {
          role: 'source',
          what: {
            identifier: { system: `urn:vitaltrail:log:${p.log.logId}`, value: `leaf/${r.leafIndex}` },
            display: `leaf ${r.leafIndex} of the transparency log ${p.log.origin} (device ${r.dev}, seq ${r.seq})`,
          },
        },
      ];
      if (cp) {
        entity.push({
          role: 'quotation',
          what: {
            identifier: {
              system: `urn:vitaltrail:checkpoint:${p.log.logId}`,
              value: `${cp.treeSize}:${cp.rootHash}`,
            },
            display: `checkpoint of tree size ${cp.treeSize} anchored on chain ${cp.chainId} (contract ${cp.contract}) in tx ${cp.txHash}, block ${cp.blockNumber}`,
          },
        });
      }
      entries.push({
        fullUrl: uuidOf(`provenance:${p.log.logId}:${id}`),
        resource: {
          resourceType: 'Provenance',
          target: [{ reference: obsUrl }],
          recorded: new Date(r.ts).toISOString(),
          agent: [
            {
              type: { coding: [{ ...PROVENANCE_AUTHOR }] },
              who: { reference: deviceUrl, display: `device ${r.dev}` },
            },
          ],
          entity,
        },
      });
    }
  }
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date(p.now ?? newest).toISOString(),
    entry: entries,
  };
}
