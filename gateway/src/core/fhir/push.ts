/**
 * @module core/fhir/push
 * FHIR R4 push to a hospital FHIR server (issue 19): the `transaction` Bundle of a batch of
 * accepted readings. Per reading, the vital-signs Observations of core/fhir/observations (the
 * file export's too: LOINC and MDC codings, UCUM, blood pressure as one 85354-9 panel), each
 * with the identifier `urn:vitaltrail:reading|<dev>:<seq>:<key>` (key = observation key, or
 * `bp` for the panel) and sent as a conditional create (`POST Observation`, `ifNoneExist: identifier=…`), so a
 * resend of the same reading creates nothing new. Each Observation has a Provenance (agent:
 * the device; entities: the log leaf and, once anchored, the checkpoint and the anchoring
 * transaction), also a conditional create, keyed on its target Observation. The device is
 * created once (`POST Device`, `ifNoneExist: identifier=urn:vitaltrail:device|<dev>`) and
 * referred to by its entry's fullUrl, which the server resolves to the Device it matched or
 * created. A bound reading's subject is the conditional reference
 * `Patient?identifier=<patientSystem>|<patientId>`, resolved by the server to the Patient the
 * hospital already holds (a reading whose patient the server does not know is refused there).
 * Every fullUrl is a urn:uuid hashed from the identifier: the same readings always give the
 * same Bundle.
 * Pure: no I/O, no clock.
 */

import type { OutboundReading } from '../outbound-reading.js';
import { PROVENANCE_AUTHOR, uuidOf } from './codes.js';
import { vitalSignObservations } from './observations.js';

export const READING_SYSTEM = 'urn:vitaltrail:reading';
export const DEVICE_SYSTEM = 'urn:vitaltrail:device';
export const DEFAULT_PATIENT_SYSTEM = 'urn:vitaltrail:patient';

/** The fields of an outbound reading (core/outbound-reading) the push needs: all but its id. */
export type PushReading = Omit<OutboundReading, 'id'>;

export interface TransactionOptions {
  /** System URI of the hospital's patient identifiers. Default `urn:vitaltrail:patient`. */
  patientSystem?: string;
}

type Json = Record<string, unknown>;

export interface TransactionBundle {
  resourceType: 'Bundle';
  type: 'transaction';
  entry: { fullUrl: string; resource: Json; request: { method: 'POST'; url: string; ifNoneExist: string } }[];
}

/**
 * A token search value `system|value`, escaped as FHIR search requires (`\`, `,`, `$`, `|`
 * inside the parts) and percent-encoded for a URL query (`:` and `/` kept readable).
 */
export function tokenParam(system: string, value: string): string {
  const part = (s: string) =>
    encodeURIComponent(s.replace(/[\\,$|]/g, (c) => `\\${c}`))
      .replace(/%3A/gi, ':')
      .replace(/%2F/gi, '/');
  return `${part(system)}|${part(value)}`;
}

/** The identifier value of one Observation: `<dev>:<seq>:<key>`. */
export function observationIdentifier(r: Pick<PushReading, 'dev' | 'seq'>, key: string): string {
  return `${r.dev}:${r.seq}:${key}`;
}

function provenance(r: PushReading, obsUrl: string, identifier: string, device: Json): Json {
  const entity: Json[] = [
    {
      role: 'source',
      what: {
        identifier: { system: `urn:vitaltrail:log:${r.origin}`, value: `leaf/${r.leafIndex}` },
        display: `leaf ${r.leafIndex} of the transparency log ${r.origin} (device ${r.dev}, seq ${r.seq})`,
      },
    },
  ];
  const a = r.anchored;
  if (a) {
    entity.push(
      {
        role: 'quotation',
        what: {
          identifier: {
            system: `urn:vitaltrail:checkpoint:${r.origin}`,
            value: `${a.treeSize}:${a.rootHash}`,
          },
          display: `checkpoint of tree size ${a.treeSize}, root ${a.rootHash}, covering leaf ${r.leafIndex}`,
        },
      },
      {
        role: 'quotation',
        what: {
          identifier: { system: `urn:vitaltrail:anchor:${r.origin}`, value: a.txHash },
          display: `anchoring transaction ${a.txHash} (block ${a.blockNumber}) of checkpoint ${a.treeSize}`,
        },
      },
    );
  }
  return {
    resourceType: 'Provenance',
    target: [{ reference: obsUrl, identifier: { system: READING_SYSTEM, value: identifier } }],
    occurredDateTime: new Date(r.ts).toISOString(),
    recorded: new Date(r.acceptedAt).toISOString(),
    agent: [
      {
        type: { coding: [{ ...PROVENANCE_AUTHOR }] },
        who: { ...device, display: `device ${r.dev}` },
      },
    ],
    entity,
  };
}

/**
 * The transaction Bundle of `readings` (in order): one Device entry per device first, then
 * per reading each Observation followed by its Provenance. Every entry is a conditional create.
 * @example
 * const bundle = transactionBundle(batch, { patientSystem: 'http://hospital.example/mrn' });
 */
export function transactionBundle(
  readings: readonly PushReading[],
  opts: TransactionOptions = {},
): TransactionBundle {
  const patientSystem = opts.patientSystem ?? DEFAULT_PATIENT_SYSTEM;
  const devices: TransactionBundle['entry'] = [];
  const rest: TransactionBundle['entry'] = [];
  const deviceRefs = new Map<string, Json>();
  for (const r of readings) {
    let device = deviceRefs.get(r.dev);
    if (!device) {
      const fullUrl = uuidOf(`push:device:${r.dev}`);
      device = { reference: fullUrl, identifier: { system: DEVICE_SYSTEM, value: r.dev } };
      deviceRefs.set(r.dev, device);
      devices.push({
        fullUrl,
        resource: { resourceType: 'Device', identifier: [{ system: DEVICE_SYSTEM, value: r.dev }] },
        request: {
          method: 'POST',
          url: 'Device',
          ifNoneExist: `identifier=${tokenParam(DEVICE_SYSTEM, r.dev)}`,
        },
      });
    }
    const subject = r.binding
      ? { reference: `Patient?identifier=${tokenParam(patientSystem, r.binding.patientId)}` }
      : { display: 'no patient bound to the device at this time' };
    const observations = vitalSignObservations(r, {
      subject,
      device,
      identifier: (key) => ({ system: READING_SYSTEM, value: observationIdentifier(r, key) }),
    });
    for (const { key, resource } of observations) {
      const id = observationIdentifier(r, key);
      const obsUrl = uuidOf(`push:observation:${id}`);
      rest.push({
        fullUrl: obsUrl,
        resource,
        request: {
          method: 'POST',
          url: 'Observation',
          ifNoneExist: `identifier=${tokenParam(READING_SYSTEM, id)}`,
        },
      });
      rest.push({
        fullUrl: uuidOf(`push:provenance:${id}`),
        resource: provenance(r, obsUrl, id, device),
        request: { method: 'POST', url: 'Provenance', ifNoneExist: `target=${obsUrl}` },
      });
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: [...devices, ...rest] };
}
