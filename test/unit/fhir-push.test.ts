/**
 * FHIR R4 push (issue 19), the pure part: `transactionBundle` of core/fhir/push. Shape of
 * the transaction (conditional creates keyed on stable identifiers, urn:uuid links, the
 * Patient as a conditional reference, the Device created once), and determinism: the same
 * readings always give the same Bundle, so a resend is byte-identical.
 * The server-side behaviour (validation, de-duplication) is in test/integration/fhir-push.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FHIR_VITALS, LOINC } from '../../gateway/src/core/fhir/codes.js';
import { buildFhirBundle } from '../../gateway/src/core/fhir/export.js';
import {
  DEFAULT_PATIENT_SYSTEM,
  READING_SYSTEM,
  tokenParam,
  transactionBundle,
} from '../../gateway/src/core/fhir/push.js';
import type { OutboundReading } from '../../gateway/src/io/interfaces/receiver.js';

type Json = Record<string, unknown>;
const T = Date.UTC(2026, 10, 21, 9, 0, 0);
const ANCHOR = { treeSize: 64, rootHash: 'ab'.repeat(32), txHash: `0x${'cd'.repeat(32)}`, blockNumber: 12 };

function reading(over: Partial<OutboundReading> & { dev: string; seq: number }): OutboundReading {
  return {
    id: `${over.dev}:${over.seq}`,
    ts: T + over.seq * 1000,
    acceptedAt: T + over.seq * 1000 + 40,
    obs: { hr: 72, spo2: 97 },
    leafIndex: over.seq,
    origin: 'vitaltrail/gw-test',
    ...over,
  };
}

const BATCH: OutboundReading[] = [
  reading({ dev: 'wr-1', seq: 1, binding: { bed: 'B1', patientId: 'P-1' }, anchored: ANCHOR }),
  reading({ dev: 'wr-2', seq: 1, obs: { hr: 80, sbp: 121, dbp: 79 } }),
  reading({ dev: 'wr-1', seq: 2, obs: { temp: 3712, rr: 14 }, binding: { bed: 'B1', patientId: 'P-1' } }),
];

const entries = (b: { entry: unknown[] }) =>
  b.entry as {
    fullUrl: string;
    resource: Json;
    request: { method: string; url: string; ifNoneExist: string };
  }[];

describe('transactionBundle', () => {
  test('behavior: same readings, same Bundle, byte for byte (a resend is identical)', () => {
    const a = JSON.stringify(transactionBundle(BATCH));
    const b = JSON.stringify(transactionBundle(structuredClone(BATCH)));
    expect(a).toBe(b);
    expect(JSON.stringify(transactionBundle(BATCH, { patientSystem: 'http://h.example/mrn' }))).not.toBe(a);
  });

  test('behavior: a transaction of conditional creates: Devices first, then each Observation and its Provenance', () => {
    const b = transactionBundle(BATCH);
    expect(b.resourceType).toBe('Bundle');
    expect(b.type).toBe('transaction');
    const e = entries(b);
    expect(e.map((x) => x.resource.resourceType)).toEqual([
      'Device',
      'Device',
      ...Array(2 + 2 + 2)
        .fill(['Observation', 'Provenance'])
        .flat(),
    ]);
    for (const x of e) {
      expect(x.fullUrl).toMatch(
        /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(x.request.method).toBe('POST');
      expect(x.request.url).toBe(x.resource.resourceType);
      expect(x.request.ifNoneExist.length).toBeGreaterThan(0);
    }
    expect(new Set(e.map((x) => x.fullUrl)).size).toBe(e.length);
    expect(e[0]?.request.ifNoneExist).toBe('identifier=urn:vitaltrail:device|wr-1');
    expect(e[0]?.resource).toEqual({
      resourceType: 'Device',
      identifier: [{ system: 'urn:vitaltrail:device', value: 'wr-1' }],
    });
  });

  test('behavior: each Observation carries urn:vitaltrail:reading|<dev>:<seq>:<key> and is created only if absent', () => {
    const e = entries(transactionBundle(BATCH));
    const obs = e.filter((x) => x.resource.resourceType === 'Observation');
    const ids = obs.map((x) => (x.resource.identifier as { system: string; value: string }[])[0]);
    expect(ids.map((i) => i?.value)).toEqual([
      'wr-1:1:hr',
      'wr-1:1:spo2',
      'wr-2:1:hr',
      'wr-2:1:bp',
      'wr-1:2:rr',
      'wr-1:2:temp',
    ]);
    for (const [k, x] of obs.entries()) {
      expect(ids[k]?.system).toBe(READING_SYSTEM);
      expect(x.request.ifNoneExist).toBe(`identifier=urn:vitaltrail:reading|${ids[k]?.value}`);
    }
  });

  test('behavior: blood pressure is one 85354-9 panel with systolic and diastolic components', () => {
    const e = entries(transactionBundle(BATCH));
    const bp = e.find(
      (x) => (x.resource.identifier as { value: string }[] | undefined)?.[0]?.value === 'wr-2:1:bp',
    );
    const r = bp?.resource as {
      code: { coding: { code: string }[] };
      component: Json[];
      valueQuantity?: unknown;
    };
    expect(r.code.coding).toEqual([expect.objectContaining({ system: LOINC, code: '85354-9' })]);
    expect(r.valueQuantity).toBeUndefined();
    expect(r.component).toEqual([
      expect.objectContaining({
        valueQuantity: expect.objectContaining({ value: 121, code: FHIR_VITALS.sbp.ucum }),
      }),
      expect.objectContaining({
        valueQuantity: expect.objectContaining({ value: 79, code: FHIR_VITALS.dbp.ucum }),
      }),
    ]);
  });

  test('behavior: each code is LOINC first, then its ISO/IEEE 11073-10101 (MDC) term; BP components both', () => {
    const e = entries(transactionBundle(BATCH));
    type Code = { coding: { system: string; code: string; display: string }[]; text: string };
    const of = (v: string) =>
      e.find((x) => (x.resource.identifier as { value: string }[] | undefined)?.[0]?.value === v)?.resource as
        | { code: Code; component?: { code: Code }[] }
        | undefined;
    const MDC = 'urn:iso:std:iso:11073:10101';
    // The codes of the PCD-01 table (README "Codes: MDC, LOINC, UCUM"), written out here.
    const expected: [string, string, string, string][] = [
      ['wr-1:1:hr', '8867-4', '147842', 'MDC_ECG_HEART_RATE'],
      ['wr-1:1:spo2', '59408-5', '150456', 'MDC_PULS_OXIM_SAT_O2'],
      ['wr-1:2:rr', '9279-1', '151562', 'MDC_RESP_RATE'],
      ['wr-1:2:temp', '8310-5', '150344', 'MDC_TEMP'],
    ];
    for (const [id, loinc, mdc, refid] of expected) {
      const code = of(id)?.code;
      expect(code?.coding, id).toEqual([
        { system: LOINC, code: loinc, display: expect.any(String) },
        { system: MDC, code: mdc, display: refid },
      ]);
      expect(code?.text).toBe(code?.coding[0]?.display);
    }
    const bp = of('wr-2:1:bp');
    expect(bp?.component?.map((c) => c.code.coding)).toEqual([
      [
        { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
        { system: MDC, code: '150021', display: 'MDC_PRESS_BLD_NONINV_SYS' },
      ],
      [
        { system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' },
        { system: MDC, code: '150022', display: 'MDC_PRESS_BLD_NONINV_DIA' },
      ],
    ]);
  });

  test('behavior: the push and the file export code, value and profile an Observation alike (one builder)', () => {
    const r = BATCH[1] as OutboundReading; // hr and a BP panel
    const pushed = entries(transactionBundle([r]))
      .map((x) => x.resource)
      .filter((x) => x.resourceType === 'Observation');
    const exported = (
      buildFhirBundle({
        readings: [{ ...r, patientId: 'P-1' }],
        log: { origin: r.origin, logId: 'ab'.repeat(32) },
        checkpointFor: () => null,
      }).entry as { resource: Json }[]
    )
      .map((x) => x.resource)
      .filter((x) => x.resourceType === 'Observation');
    const clinical = (o: Json) => {
      const { subject, device, identifier, ...rest } = o;
      return rest;
    };
    expect(pushed).toHaveLength(2);
    expect(exported.map(clinical)).toEqual(pushed.map(clinical));
    // …and the parts that differ are only what they refer to.
    expect(exported[0]?.identifier).not.toEqual(pushed[0]?.identifier);
  });

  test('behavior: subject is the Patient by identifier when bound, a display otherwise; device is the Device entry', () => {
    const e = entries(transactionBundle(BATCH));
    const device1 = e[0]?.fullUrl;
    const of = (v: string) =>
      e.find((x) => (x.resource.identifier as { value: string }[] | undefined)?.[0]?.value === v)?.resource;
    expect(of('wr-1:1:hr')?.subject).toEqual({
      reference: `Patient?identifier=${DEFAULT_PATIENT_SYSTEM}|P-1`,
    });
    expect(of('wr-2:1:hr')?.subject).toEqual({ display: 'no patient bound to the device at this time' });
    expect(of('wr-1:2:temp')?.device).toEqual({
      reference: device1,
      identifier: { system: 'urn:vitaltrail:device', value: 'wr-1' },
    });
    const custom = entries(transactionBundle(BATCH, { patientSystem: 'http://h.example/mrn' }));
    expect(custom[2]?.resource.subject).toEqual({ reference: 'Patient?identifier=http://h.example/mrn|P-1' });
  });

  test('behavior: each Provenance targets its Observation, names the device and the log, and the anchor once anchored', () => {
    const e = entries(transactionBundle(BATCH));
    for (let i = 2; i < e.length; i += 2) {
      const obs = e[i];
      const prov = e[i + 1];
      if (!obs || !prov) throw new Error('entries come in pairs');
      expect(prov?.request.ifNoneExist).toBe(`target=${obs?.fullUrl}`);
      const p = prov?.resource as {
        target: Json[];
        agent: { who: Json }[];
        entity: { what: { identifier: Json } }[];
      };
      expect(p.target[0]).toEqual({
        reference: obs?.fullUrl,
        identifier: (obs.resource.identifier as Json[])[0],
      });
      expect(p.agent[0]?.who.reference).toBe((obs.resource.device as Json).reference);
    }
    const anchored = e[3]?.resource as {
      entity: { role: string; what: { identifier: Json } }[];
      recorded: string;
    };
    expect(anchored.recorded).toBe(new Date(T + 1040).toISOString());
    expect(anchored.entity.map((x) => x.what.identifier)).toEqual([
      { system: 'urn:vitaltrail:log:vitaltrail/gw-test', value: 'leaf/1' },
      { system: 'urn:vitaltrail:checkpoint:vitaltrail/gw-test', value: `64:${ANCHOR.rootHash}` },
      { system: 'urn:vitaltrail:anchor:vitaltrail/gw-test', value: ANCHOR.txHash },
    ]);
    const pending = e.at(-1)?.resource as { entity: unknown[] };
    expect(pending.entity).toHaveLength(1);
  });

  test('error: search-significant characters in a patient id are escaped, not read as syntax', () => {
    expect(tokenParam('urn:x', 'a|b,c$d\\e f&g')).toBe('urn:x|a%5C%7Cb%5C%2Cc%5C%24d%5C%5Ce%20f%26g');
    const b = entries(
      transactionBundle([
        reading({ dev: 'wr-9', seq: 1, binding: { bed: 'B', patientId: 'x&identifier=y' } }),
      ]),
    );
    expect(b[1]?.resource.subject).toEqual({
      reference: 'Patient?identifier=urn:vitaltrail:patient|x%26identifier%3Dy',
    });
  });

  test('behavior: an empty batch gives an empty transaction', () => {
    expect(transactionBundle([])).toEqual({ resourceType: 'Bundle', type: 'transaction', entry: [] });
  });
});

describe('the README sample', () => {
  test('behavior: the README "Sample transaction: one reading" is exactly what transactionBundle builds', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const at = readme.indexOf('**Sample transaction: one reading**');
    const start = readme.indexOf('```json\n', at) + '```json\n'.length;
    const sample = JSON.parse(readme.slice(start, readme.indexOf('```', start)));
    const built = transactionBundle(
      [
        {
          dev: 'wr-0001',
          seq: 4711,
          ts: Date.parse('2026-11-21T09:00:00.000Z'),
          acceptedAt: Date.parse('2026-11-21T09:00:00.038Z'),
          obs: { hr: 72, sbp: 118, dbp: 76 },
          leafIndex: 90210,
          origin: 'vitaltrail/gw-ward3',
          binding: { bed: 'Bed 3', patientId: 'MRN-0012345' },
          anchored: {
            treeSize: 90240,
            rootHash: `3b6f${'0'.repeat(60)}`,
            txHash: `0x9c1e${'0'.repeat(60)}`,
            blockNumber: 18234,
          },
        },
      ],
      { patientSystem: 'http://hospital.example.org/fhir/sid/mrn' },
    );
    expect(JSON.parse(JSON.stringify(built))).toEqual(sample);
  });
});
