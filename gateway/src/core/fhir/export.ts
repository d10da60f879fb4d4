/**
 * @module core/fhir/export
 * FHIR R4 export of readings (issue 4; `vitaltrail export-fhir`): a Bundle of type
 * `collection` holding the vital-signs Observations of each reading (core/fhir/observations:
 * category `vital-signs`, LOINC and MDC codings, UCUM unit, blood pressure as one 85354-9
 * panel). Each Observation has a Provenance naming the device, the transparency log (origin
 * and logId), the leaf index and, once anchored, the checkpoint (tree size, root,
 * transaction) that proves it.
 * Pure: the caller supplies readings, bindings and checkpoints (io/outbound/fhir-export).
 */
import type { Observations } from '../../protocol/frame.js';
import { PROVENANCE_AUTHOR, uuidOf } from './codes.js';
import { vitalSignObservations } from './observations.js';

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
