/**
 * FHIR R4 push (issue 19) against a real FHIR server: `FhirReceiver` posts transactions to
 * test/helpers/fhir-server (medplum's FhirRouter over a MemoryRepository that validates every
 * resource with `validateResource` against R4 and the vital-signs profile, and resolves
 * conditional references). No mocks: real HTTP on 127.0.0.1, real server-side conditional
 * creates, real validation.
 * Covered: one Observation per observation (BP as one panel), coded LOINC then MDC (ISO/IEEE
 * 11073-10101) and found by either code, one Provenance each, one
 * Device per device, Patients resolved by identifier; a resend creates nothing; server down
 * / 500 / hanging / 401 → `receiver_unavailable`; a refused resource → `receiver_rejected`
 * with the number of readings acknowledged before it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FhirReceiver } from '../../gateway/src/io/interfaces/fhir-receiver.js';
import { DeliveryError, type OutboundReading } from '../../gateway/src/io/interfaces/receiver.js';
import { type FhirTestServer, startFhirServer, validateR4 } from '../helpers/fhir-server.js';

type Json = Record<string, unknown>;
const T = Date.UTC(2026, 10, 21, 9, 0, 0);
const MRN = 'http://hospital.example/mrn';
const ORIGIN = 'vitaltrail/gw-test';
const PATIENTS: Record<string, string> = { 'wr-0001': 'MRN-1001', 'wr-0002': 'MRN-1002' };
const MDC = 'urn:iso:std:iso:11073:10101';
/** Each key's LOINC code and MDC term (README "Codes: MDC, LOINC, UCUM"), written out. */
const CODES: Record<string, [string, string, string]> = {
  hr: ['8867-4', '147842', 'MDC_ECG_HEART_RATE'],
  spo2: ['59408-5', '150456', 'MDC_PULS_OXIM_SAT_O2'],
  rr: ['9279-1', '151562', 'MDC_RESP_RATE'],
  temp: ['8310-5', '150344', 'MDC_TEMP'],
  sbp: ['8480-6', '150021', 'MDC_PRESS_BLD_NONINV_SYS'],
  dbp: ['8462-4', '150022', 'MDC_PRESS_BLD_NONINV_DIA'],
};
type Coding = { system: string; code: string; display?: string };
/** The LOINC coding, then the MDC one, as stored by the server. */
const expectCodes = (codings: Coding[] | undefined, key: string) => {
  const [loinc, num, refid] = CODES[key] as [string, string, string];
  expect(codings, key).toEqual([
    expect.objectContaining({ system: 'http://loinc.org', code: loinc }),
    { system: MDC, code: num, display: refid },
  ]);
};

/** Readings of 3 devices in log order: wr-0001 bound (4 vitals), wr-0002 bound (hr, spo2, BP), wr-0003 unbound. */
function readings(fromSeq: number, toSeq: number, leafBase = 0): OutboundReading[] {
  const out: OutboundReading[] = [];
  for (let seq = fromSeq; seq <= toSeq; seq++) {
    for (const [d, dev] of ['wr-0001', 'wr-0002', 'wr-0003'].entries()) {
      const leafIndex = leafBase + (seq - 1) * 3 + d;
      const obs =
        d === 0
          ? { hr: 70 + seq, spo2: 97, rr: 14, temp: 3650 + seq }
          : d === 1
            ? { hr: 80, spo2: 95, sbp: 120 + seq, dbp: 80 }
            : { hr: 60 + seq, spo2: 99 };
      const pid = PATIENTS[dev];
      out.push({
        id: `${dev}:${seq}`,
        dev,
        seq,
        ts: T + seq * 60_000 + d,
        acceptedAt: T + seq * 60_000 + d + 35,
        obs,
        leafIndex,
        origin: ORIGIN,
        ...(leafIndex < 15
          ? {
              anchored: {
                treeSize: 16,
                rootHash: 'ab'.repeat(32),
                txHash: `0x${'cd'.repeat(32)}`,
                blockNumber: 7,
              },
            }
          : {}),
        ...(pid ? { binding: { bed: `bed-${d + 1}`, patientId: pid } } : {}),
      });
    }
  }
  return out;
}

const observationsOf = (rs: readonly OutboundReading[]) =>
  rs.reduce(
    (n, r) => n + ['hr', 'spo2', 'rr', 'temp'].filter((k) => k in r.obs).length + ('sbp' in r.obs ? 1 : 0),
    0,
  );

async function get(server: FhirTestServer, path: string): Promise<Json> {
  const res = await fetch(`${server.baseUrl}/${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

async function failure(p: Promise<void>): Promise<DeliveryError & { delivered: number }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError & { delivered: number };
}

describe('FHIR R4 push to a real FHIR server', () => {
  let server: FhirTestServer;
  let receiver: FhirReceiver;
  const batch = readings(1, 10); // 30 readings
  const patientIds: Record<string, string> = {};

  beforeAll(async () => {
    server = await startFhirServer();
    // The hospital's EHR already knows the patients.
    for (const mrn of Object.values(PATIENTS)) {
      const res = await fetch(`${server.baseUrl}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Patient',
          identifier: [{ system: MRN, value: mrn }],
          active: true,
        }),
      });
      expect(res.status).toBe(201);
      patientIds[mrn] = ((await res.json()) as { id: string }).id;
    }
    receiver = new FhirReceiver({
      name: 'ehr-fhir',
      baseUrl: server.baseUrl,
      patientSystem: MRN,
      maxReadingsPerRequest: 8,
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await server?.stop();
  });

  test('behavior: a batch of 30 readings is stored as valid R4 resources, one per observation, in 4 requests', async () => {
    const before = server.requests;
    await receiver.deliver(batch);
    expect(server.requests - before).toBe(4); // 8 + 8 + 8 + 6 readings
    const expected = observationsOf(batch);
    expect(await server.count('Observation')).toBe(expected);
    expect(await server.count('Provenance')).toBe(expected);
    expect(await server.count('Device')).toBe(3);
    expect(await server.count('Patient')).toBe(2);
    for (const type of ['Observation', 'Provenance', 'Device', 'Patient']) {
      for (const r of await server.repo.searchResources({ resourceType: type } as never)) {
        expect(() => validateR4(r as never)).not.toThrow();
      }
    }
  });

  test('behavior: each Observation is found by its identifier and links its Patient, Device and Provenance', async () => {
    const devices = (await get(server, 'Device')).entry as { resource: { id: string; identifier: Json[] } }[];
    const deviceId = (dev: string) =>
      devices.find((d) => (d.resource.identifier[0] as { value: string }).value === dev)?.resource.id;
    for (const r of batch) {
      for (const key of [
        ...['hr', 'spo2', 'rr', 'temp'].filter((k) => k in r.obs),
        ...('sbp' in r.obs ? ['bp'] : []),
      ]) {
        const found = await get(
          server,
          `Observation?identifier=urn:vitaltrail:reading|${r.dev}:${r.seq}:${key}`,
        );
        const hits = found.entry as { resource: Json & { id: string } }[];
        expect(hits).toHaveLength(1);
        const o = hits[0]?.resource as Json & { id: string; subject: Json; device: Json; code: Json };
        const pid = r.binding?.patientId;
        if (pid) {
          expect(o.subject.reference).toBe(`Patient/${patientIds[pid]}`);
          const patient = await get(server, o.subject.reference as string);
          expect(patient.identifier).toEqual([{ system: MRN, value: pid }]);
        } else {
          expect(o.subject).toEqual({ display: 'no patient bound to the device at this time' });
        }
        expect(o.device.reference).toBe(`Device/${deviceId(r.dev)}`);
        if (key === 'bp') {
          expect((o.code as { coding: Coding[] }).coding).toEqual([
            expect.objectContaining({ system: 'http://loinc.org', code: '85354-9' }),
          ]);
          const components = o.component as { code: { coding: Coding[] } }[];
          expect(components).toHaveLength(2);
          expectCodes(components[0]?.code.coding, 'sbp');
          expectCodes(components[1]?.code.coding, 'dbp');
        } else {
          expectCodes((o.code as { coding: Coding[] }).coding, key);
        }
        const prov = (await get(server, `Provenance?target=Observation/${o.id}`)).entry as {
          resource: Json;
        }[];
        expect(prov).toHaveLength(1);
        const p = prov[0]?.resource as { agent: { who: Json }[]; entity: { what: { identifier: Json } }[] };
        expect(p.agent[0]?.who.reference).toBe(`Device/${deviceId(r.dev)}`);
        expect(p.entity[0]?.what.identifier).toEqual({
          system: `urn:vitaltrail:log:${ORIGIN}`,
          value: `leaf/${r.leafIndex}`,
        });
        expect(p.entity).toHaveLength(r.anchored ? 3 : 1);
      }
    }
    // No separate systolic/diastolic Observations: BP is only ever the panel.
    expect((await get(server, 'Observation?code=8480-6')).entry).toBeUndefined();
    // The server finds the readings by their MDC term as by their LOINC code.
    const byCode = async (q: string) =>
      ((await get(server, `Observation?code=${q}&_count=1000`)).entry as unknown[] | undefined)?.length;
    expect(await byCode(`${MDC}|150456`)).toBe(batch.length); // every reading has spo2
    expect(await byCode(`${MDC}|150344`)).toBe(batch.filter((r) => 'temp' in r.obs).length);
  });

  test('behavior: the same batch again (a resend after a crash) creates nothing new', async () => {
    const ids = (await server.repo.searchResources({ resourceType: 'Observation' } as never))
      .map((r) => r.id)
      .sort();
    const counts = async () =>
      Promise.all(['Observation', 'Provenance', 'Device', 'Patient'].map((t) => server.count(t)));
    const before = await counts();
    await receiver.deliver(batch);
    await receiver.deliver(batch.slice(5, 9));
    expect(await counts()).toEqual(before);
    expect(
      (await server.repo.searchResources({ resourceType: 'Observation' } as never)).map((r) => r.id).sort(),
    ).toEqual(ids);
  });

  test('error: server stopped → receiver_unavailable; restarted on the same port → the delivery completes', async () => {
    const next = readings(11, 12);
    await server.stop();
    const err = await failure(receiver.deliver(next));
    expect(err.code).toBe('receiver_unavailable');
    expect(err.delivered).toBe(0);
    await server.start();
    const before = await server.count('Observation');
    await receiver.deliver(next);
    expect(await server.count('Observation')).toBe(before + observationsOf(next));
  });

  test('error: 500, a hanging server (timeout) and a missing bearer token → receiver_unavailable, nothing lost', async () => {
    const next = readings(13, 13);
    server.mode = 'error500';
    expect((await failure(receiver.deliver(next))).code).toBe('receiver_unavailable');
    server.mode = 'hang';
    const impatient = new FhirReceiver({ baseUrl: server.baseUrl, patientSystem: MRN, timeoutMs: 1_000 });
    const t0 = Date.now();
    const hung = await failure(impatient.deliver(next));
    expect(hung.code).toBe('receiver_unavailable');
    expect(hung.reason).toMatch(/within 1000 ms/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await impatient.close();
    server.mode = 'ok';
    server.requireBearer = 'hospital-secret';
    const unauth = await failure(receiver.deliver(next));
    expect(unauth.code).toBe('receiver_unavailable');
    expect(unauth.reason).toMatch(/HTTP 401/);
    const withToken = new FhirReceiver({
      baseUrl: server.baseUrl,
      patientSystem: MRN,
      bearerToken: 'hospital-secret',
    });
    await withToken.deliver(next);
    await withToken.close();
    server.requireBearer = undefined;
    expect((await get(server, 'Observation?identifier=urn:vitaltrail:reading|wr-0003:13:hr')).total).toBe(1);
  });

  test('error: a resource the server refuses → receiver_rejected at that reading, the earlier ones delivered', async () => {
    const next = readings(14, 17); // 12 readings; wr-0002:16 is the 8th (index 7)
    server.rejectIdentifiers.add('wr-0002:16:bp');
    const one = new FhirReceiver({ baseUrl: server.baseUrl, patientSystem: MRN }); // one request of 12
    const before = await server.count('Observation');
    const err = await failure(one.deliver(next));
    expect(err.code).toBe('receiver_rejected');
    expect(err.delivered).toBe(7);
    expect(err.reason).not.toMatch(/MRN-|wr-0002/); // no identifiers or PHI in the reason
    expect(await server.count('Observation')).toBe(before + observationsOf(next.slice(0, 7)));
    // With 5 readings per request: the first request (5) goes through, the refusal is in the second.
    const chunked = new FhirReceiver({
      baseUrl: server.baseUrl,
      patientSystem: MRN,
      maxReadingsPerRequest: 5,
    });
    const again = await failure(chunked.deliver(next));
    expect(again.code).toBe('receiver_rejected');
    expect(again.delivered).toBe(7);
    server.rejectIdentifiers.clear();
    await chunked.deliver(next.slice(7));
    expect(await server.count('Observation')).toBe(before + observationsOf(next));
    await one.close();
    await chunked.close();
  });

  test('error: a reading bound to a patient the hospital does not know is refused (conditional reference unresolved)', async () => {
    const [r] = readings(18, 18);
    const stranger = { ...(r as OutboundReading), binding: { bed: 'bed-9', patientId: 'MRN-9999' } };
    const err = await failure(receiver.deliver([stranger]));
    expect(err.code).toBe('receiver_rejected');
    expect(err.delivered).toBe(0);
    expect(err.reason).not.toMatch(/MRN-9999/);
  });

  test('error: a hanging server is given up at the timeout while the collector runs (Node 20 AbortSignal.any)', async () => {
    server.mode = 'hang';
    const impatient = new FhirReceiver({ baseUrl: server.baseUrl, patientSystem: MRN, timeoutMs: 500 });
    // A collection every 100 ms, as a busy gateway has them: the timeout must survive them.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const collecting = setInterval(gc, 100);
    try {
      const t0 = Date.now();
      const hung = await Promise.race([
        failure(impatient.deliver(readings(13, 13))),
        new Promise<null>((r) => setTimeout(() => r(null), 8_000)),
      ]);
      expect(hung?.code).toBe('receiver_unavailable');
      expect(hung?.reason).toMatch(/within 500 ms/);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      clearInterval(collecting);
      await impatient.close();
      server.mode = 'ok';
    }
  });

  test('behavior: close() makes later deliveries unavailable, never silently dropped', async () => {
    const closed = new FhirReceiver({ baseUrl: server.baseUrl });
    await closed.close();
    expect((await failure(closed.deliver(readings(19, 19)))).code).toBe('receiver_unavailable');
  });
});
