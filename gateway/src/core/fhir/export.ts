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

/** The patient system of `p` (its default). */
const patientSystemOf = (p: FhirExportParameters): string => p.patientSystem ?? 'urn:vitaltrail:patient';

/**
 * The Bundle entries of one reading, in Bundle order: its device's Device entry the first
 * time `seen` meets the device, then each vital-sign Observation followed by its Provenance.
 */
function entriesOf(p: FhirExportParameters, r: FhirReading, seen: Set<string>): Json[] {
  const entries: Json[] = [];
  const deviceUrl = uuidOf(`device:${r.dev}`);
  if (!seen.has(r.dev)) {
    seen.add(r.dev);
    entries.push({
      fullUrl: deviceUrl,
      resource: { resourceType: 'Device', identifier: [{ system: 'urn:vitaltrail:device', value: r.dev }] },
    });
  }
  const subject =
    r.patientId !== undefined
      ? { identifier: { system: patientSystemOf(p), value: r.patientId } }
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
  return entries;
}

/** The Bundle without its entries. */
function bundleHead(p: FhirExportParameters): Json {
  let newest = 0;
  for (const r of p.readings) newest = Math.max(newest, r.ts);
  return { resourceType: 'Bundle', type: 'collection', timestamp: new Date(p.now ?? newest).toISOString() };
}

/**
 * Builds the Bundle.
 * @example
 * const bundle = buildFhirBundle({ readings, log: { origin, logId }, checkpointFor: () => null });
 */
export function buildFhirBundle(p: FhirExportParameters): Json {
  const seen = new Set<string>();
  const entry: Json[] = [];
  for (const r of p.readings) for (const e of entriesOf(p, r, seen)) entry.push(e);
  return { ...bundleHead(p), entry };
}

/** The Bundle's JSON text as its head, each reading's piece in turn, and its tail. */
export interface FhirBundleParts {
  /** Everything before the first entry. */
  head: string;
  /** The text of one reading's entries, with the comma before them ('' when it has none). */
  piece(r: FhirReading): string;
  /** Everything after the last entry (call once, after the last `piece`). */
  tail(): string;
}

/**
 * The Bundle's JSON text made reading by reading, without the whole Bundle (~830 bytes of
 * JSON per Observation and its Provenance) ever in memory, for readings that are not all at
 * hand at once (io/outbound/fhir-export reads a long export a day at a time): `head`, then
 * `piece` of each reading in order, then `tail`, joined, are exactly
 * `JSON.stringify(buildFhirBundle(p), null, indent)`. `p.readings` is not read: give `p.now`
 * (the newest reading's ts, the Bundle's timestamp).
 * @example const b = fhirBundleParts({ readings: [], now, log, checkpointFor }, 2); out(b.head); for (const r of day) out(b.piece(r)); out(b.tail());
 */
export function fhirBundleParts(p: FhirExportParameters, indent: 0 | 2 = 0): FhirBundleParts {
  // The head as JSON.stringify lays it out, cut at the empty entry array's brackets.
  const whole = JSON.stringify({ ...bundleHead(p), entry: [] }, null, indent);
  const at = whole.lastIndexOf('[]');
  const pad = indent === 0 ? '' : `\n${' '.repeat(2 * indent)}`;
  const seen = new Set<string>();
  let first = true;
  return {
    head: whole.slice(0, at + 1),
    piece(r) {
      let piece = '';
      for (const e of entriesOf(p, r, seen)) {
        const text = JSON.stringify(e, null, indent);
        piece += `${first ? '' : ','}${pad}${indent === 0 ? text : text.replaceAll('\n', pad)}`;
        first = false;
      }
      return piece;
    },
    tail: () => `${first || indent === 0 ? '' : `\n${' '.repeat(indent)}`}${whole.slice(at + 1)}`,
  };
}
