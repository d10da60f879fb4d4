/**
 * @module test/integration/care-routes
 * Doctors and patients through the gateway (issue 18), on a real anvil with the real consent
 * contract, a gateway started in this process with that ledger, real signatures (viem
 * accounts), and real HTTP (test/helpers/care-rig):
 * - the KGC registers two doctors and the patient's key; the patient signs a grant for Dr A
 *   (vitals, 24 h of history, valid for an hour), submitted by another account (the gateway
 *   pays gas, the patient holds no ether);
 * - Dr A reads the patient's readings (every device bound to them, within the binding) under
 *   that consent, named in the answer; Dr B is refused `consent_required`; Dr A asking beyond
 *   the consent's range is refused `consent_out_of_scope` (never cut); the patient reads
 *   their own (`self`) and no one else's (`forbidden`); a nurse has no care route, a doctor
 *   no ward route;
 * - Dr A's patient list names the patient by id (opened through the admissions);
 * - the patient revokes: Dr A is refused within the refresh; a new grant, then Dr A
 *   suspended in the registry: refused `clinician_suspended` under that valid consent;
 * - every access is in the access log (io/access) and the audit log with its basis, every
 *   refusal in the audit log with its code; a nurse's view of the device (the ward's data
 *   routes) is in the access log too, basis `ward`, cut to the patient's binding.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsentMessage,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  REVOCATION_TYPES,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { type CareRig, H, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const PATIENT_ID = 'P-0007';

describe('care routes: doctors under the patient consent on chain', () => {
  const tmp = makeTempDir('vt-care-');
  let rig: CareRig;
  let pseudonym: Hex;
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drB = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  let t0 = 0;
  let admittedAt = 0;
  let frames: FrameChain;

  /** The patient's grant to Dr A, 24 h of history before the start. */
  const sign = (o: Partial<ConsentMessage> = {}) =>
    rig.sign(patientAccount, { patient: pseudonym, doctor: drA, dataFrom: BigInt(t0 - 24 * H), ...o });
  const readings = (who: string, from = t0 - H, to = Date.now() + 60_000, p: string = pseudonym) =>
    rig.get(who, `/api/care/patients/${p}/readings?from=${from}&to=${to}`);

  beforeAll(async () => {
    t0 = Date.now();
    // At most 5 frames a readings answer: the 4 of these tests fit, the last test passes it.
    rig = await startCareRig(tmp.dir, { devices: [DEV], users: [], http: { maxReadings: 5 } }, (paths) => {
      pseudonym = pseudonymIn(paths, PATIENT_ID);
      return {
        users: [
          { username: 'dr-a', role: 'doctor', subject: drA },
          { username: 'dr-b', role: 'doctor', subject: drB },
          { username: 'pat', role: 'patient', subject: pseudonym },
          { username: 'nia', role: 'nurse' },
          { username: 'cn', role: 'charge_nurse' },
        ],
        doctors: [drA, drB],
        patientKeys: [[pseudonym, patientAccount.address]],
      };
    });
    await rig.login('dr-a', 'dr-b', 'pat', 'nia', 'cn');
    const admitted = await call(rig.gw.http.url, 'POST', '/api/admissions', rig.cookies.cn, {
      dev: DEV,
      patientId: PATIENT_ID,
      bed: 'Bed 7',
    });
    expect(admitted.status).toBe(201);
    admittedAt = admitted.body.since as number;
    frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < 4; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 70 + i, spo2: 97 }), DEV);
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: Dr A reads under the consent named in the answer; Dr B, beyond the range, others: coded refusals', async () => {
    const { message, signature } = await sign();
    const granted = await rig.relay.submitGrant(message, signature);
    const domain = consentDomain(rig.chain.deployment.chainId, rig.chain.deployment.consent as Hex);
    expect(granted.consentId).toBe(consentIdOf(domain, message));
    await rig.settle();

    const a = await readings('dr-a');
    expect(a.status).toBe(200);
    expect(a.body.basis).toEqual({ type: 'consent', consentId: granted.consentId.toLowerCase() });
    const rows = a.body.readings as { dev: string; seq: number; obs: { hr: number } }[];
    expect(rows.map((r) => [r.dev, r.seq, r.obs.hr])).toEqual([
      [DEV, 1, 70],
      [DEV, 2, 71],
      [DEV, 3, 72],
      [DEV, 4, 73],
    ]);
    // The latest rows only (`limit`: what the pages show) and the range's count of frames.
    const last2 = await rig.get(
      'dr-a',
      `/api/care/patients/${pseudonym}/readings?from=${t0 - H}&to=${Date.now() + 60_000}&limit=2`,
    );
    expect(last2.status).toBe(200);
    expect((last2.body.readings as { seq: number }[]).map((r) => r.seq)).toEqual([3, 4]);
    expect(last2.body.total).toBe(4);
    expect(a.body.total).toBeUndefined();
    const badLimit = await rig.get('dr-a', `/api/care/patients/${pseudonym}/readings?from=0&to=1&limit=0`);
    expect(badLimit.status).toBe(400);
    // The trend too, per device and binding period; Dr B refused.
    const trendUrl = (from: number) =>
      `/api/care/patients/${pseudonym}/trend?from=${from}&to=${Date.now() + 60_000}&bucketMs=60000`;
    const trend = await rig.get('dr-a', trendUrl(admittedAt));
    expect(trend.status).toBe(200);
    const devices = trend.body.devices as { dev: string; from: number; series: { hr: { n: number }[] } }[];
    expect(devices.map((d) => [d.dev, d.from])).toEqual([[DEV, admittedAt]]);
    expect(devices[0]?.series.hr.reduce((n, b) => n + b.n, 0)).toBe(4);
    const refusedTrend = await rig.get('dr-b', trendUrl(admittedAt));
    expect([refusedTrend.status, (refusedTrend.body.error as { code: string }).code]).toEqual([
      403,
      'consent_required',
    ]);
    expect((await readings('dr-b')).body).toMatchObject({ error: { code: 'consent_required' } });
    expect((await readings('dr-b')).status).toBe(403);
    const beyond = await readings('dr-a', t0 - 25 * H, t0);
    expect([beyond.status, (beyond.body.error as { code: string }).code]).toEqual([
      403,
      'consent_out_of_scope',
    ]);

    // The patient: their own (self), nobody else's.
    const own = await readings('pat');
    expect([own.status, own.body.basis]).toEqual([200, { type: 'self' }]);
    expect((own.body.readings as unknown[]).length).toBe(4);
    const other = await readings('pat', t0 - H, Date.now(), `0x${'ab'.repeat(32)}`);
    expect([other.status, (other.body.error as { code: string }).code]).toEqual([403, 'forbidden']);
    // Roles: a nurse has no care route, a doctor no ward route.
    expect((await readings('nia')).status).toBe(403);
    expect((await rig.get('dr-a', '/api/bindings')).status).toBe(403);
    expect((await rig.get('dr-a', `/api/devices/${DEV}/readings?from=0&to=1`)).status).toBe(403);

    // Dr A's patients: named by id, with the consent.
    const list = await rig.get('dr-a', '/api/care/patients');
    expect(list.body.patients).toEqual([
      expect.objectContaining({
        patient: pseudonym,
        patientId: PATIENT_ID,
        consents: [expect.objectContaining({ status: 'in_force' })],
      }),
    ]);
    expect((await rig.get('dr-b', '/api/care/patients')).body.patients).toEqual([]);
    const mine = await rig.get('pat', '/api/care/consents');
    expect((mine.body.consents as { id: string }[]).map((c) => c.id)).toEqual([
      granted.consentId.toLowerCase(),
    ]);
  });

  it('behavior: revoked by the patient, Dr A is refused; under a new grant, suspended in the registry, refused too', async () => {
    const [first] = await rig.kgc.consentsOf({ patient: pseudonym });
    const domain = consentDomain(rig.chain.deployment.chainId, rig.chain.deployment.consent as Hex);
    const revocation = await patientAccount.signTypedData({
      domain,
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId: first!.id },
    });
    await rig.relay.submitRevocation(first!.id, revocation);
    // At once, not after the gateway's next read of the chain: the serving consent is read again.
    const r = await readings('dr-a');
    expect([r.status, (r.body.error as { code: string }).code]).toEqual([403, 'consent_required']);

    const again = await sign();
    await rig.relay.submitGrant(again.message, again.signature);
    await rig.settle();
    expect((await readings('dr-a')).status).toBe(200);
    await rig.kgc.suspendClinician(drA);
    await rig.settle();
    const s = await readings('dr-a');
    expect([s.status, (s.body.error as { code: string }).code]).toEqual([403, 'clinician_suspended']);

    const audit = readFileSync(join(tmp.dir, 'd', 'gateway', 'audit.log'), 'utf8');
    const care = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; detail?: string })
      .filter((l) => l.detail?.startsWith('care readings'));
    // Dr A's readings under a consent: the range, its last two (`limit`, logged with its count
    // of 2), and the read after a new grant.
    const byDrA = care.filter((l) => l.user === 'dr-a' && l.detail?.includes(' under consent 0x'));
    expect(byDrA).toHaveLength(3);
    expect(byDrA.filter((l) => l.detail?.includes(' (2) under '))).toHaveLength(1);
    expect(care.filter((l) => l.user === 'pat' && l.detail?.endsWith(' under self'))).toHaveLength(1);
    expect(care.every((l) => l.event === 'patient_data_view' && !l.detail?.includes(PATIENT_ID))).toBe(true);
    // A nurse's view of the device (the ward team's data routes) is in the access log too,
    // basis `ward`, its range cut to the patient's binding (admitted after the range began).
    const from = t0 - H;
    const ward = await rig.get('nia', `/api/devices/${DEV}/readings?from=${from}&to=${Date.now()}`);
    expect(ward.status).toBe(200);
    // The access log (io/access): each access served, in order, before its answer; no patient id.
    const entries = (
      rig.gw.store.db.prepare('SELECT entry FROM access_entries ORDER BY idx').pluck().all() as Buffer[]
    ).map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, unknown>);
    expect(
      entries.map((e) => [e.actor, e.role, e.patient, e.action, (e.basis as { type: string }).type]),
    ).toEqual([
      [drA, 'doctor', pseudonym, 'readings', 'consent'],
      [drA, 'doctor', pseudonym, 'readings', 'consent'], // its last two (`limit`)
      [drA, 'doctor', pseudonym, 'trend', 'consent'],
      ['pat', 'patient', pseudonym, 'readings', 'self'],
      [drA, 'doctor', pseudonym, 'readings', 'consent'],
      ['nia', 'nurse', pseudonym, 'readings', 'ward'],
    ]);
    expect(entries[5]).toMatchObject({ dev: DEV, dataFrom: admittedAt, basis: { type: 'ward' } });
    expect(entries[5]?.dataUntil).toBeGreaterThan(admittedAt);
    expect(entries[0]?.basis).toEqual({
      type: 'consent',
      consentId: first!.id.toLowerCase(),
      chainId: rig.chain.deployment.chainId,
    });
    expect(JSON.stringify(entries)).not.toContain(PATIENT_ID);
    // Refusals are audited with their code: Dr B once, Dr A beyond range, revoked, suspended; the patient once.
    const refused = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; code?: string })
      .filter((l) => l.event === 'care_access_refused')
      .map((l) => `${l.user} ${l.code}`);
    expect(refused).toEqual(
      expect.arrayContaining([
        'dr-b consent_required',
        'dr-a consent_out_of_scope',
        'dr-a consent_required',
        'dr-a clinician_suspended',
        'pat forbidden',
      ]),
    );
  });

  it('error: a range holding more frames than `http.maxReadings` is refused 422 too_many_readings; its latest N are not', async () => {
    for (let i = 0; i < 6; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 80 + i, spo2: 96 }), DEV);
    // 4 + 6 frames of the patient's device in range: past the bound of 5, on the care and the ward routes.
    const whole = await readings('pat');
    expect(whole.status).toBe(422);
    expect(whole.body).toMatchObject({ error: { code: 'too_many_readings' } });
    const ward = await rig.get(
      'nia',
      `/api/devices/${DEV}/readings?from=${t0 - H}&to=${Date.now() + 60_000}`,
    );
    expect(ward.status).toBe(422);
    expect(ward.body).toMatchObject({ error: { code: 'too_many_readings' } });
    const last = await rig.get(
      'pat',
      `/api/care/patients/${pseudonym}/readings?from=${t0 - H}&to=${Date.now() + 60_000}&limit=2`,
    );
    expect(last.status).toBe(200);
    expect((last.body.readings as { obs: { hr: number } }[]).map((r) => r.obs.hr)).toEqual([84, 85]);
    expect(last.body.total).toBe(10);
    const audit = readFileSync(join(rig.paths.root, 'gateway', 'audit.log'), 'utf8');
    expect(audit).toContain('"care_access_refused"');
    expect(
      audit
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; user?: string; code?: string })
        .some((l) => l.event === 'care_access_refused' && l.user === 'pat' && l.code === 'too_many_readings'),
    ).toBe(true);
    // Discharged and admitted again: two binding periods. The latest 4 of both fit the bound
    // of 5 (the bound is on the answer, not on each period's latest N added up).
    const out = await call(rig.gw.http.url, 'POST', '/api/discharges', rig.cookies.cn, { dev: DEV });
    expect(out.status).toBe(200);
    await new Promise((r) => setTimeout(r, 5));
    const back = await call(rig.gw.http.url, 'POST', '/api/admissions', rig.cookies.cn, {
      dev: DEV,
      patientId: PATIENT_ID,
      bed: 'Bed 7',
    });
    expect(back.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
      await rig.gw.ingest.submit(frames.next({}, { hr: 90 + i, spo2: 96 }), DEV);
    }
    const two = await rig.get(
      'pat',
      `/api/care/patients/${pseudonym}/readings?from=${t0 - H}&to=${Date.now() + 60_000}&limit=4`,
    );
    expect(two.status).toBe(200);
    expect((two.body.readings as { obs: { hr: number } }[]).map((r) => r.obs.hr)).toEqual([84, 85, 90, 91]);
    expect(two.body.total).toBe(12);
  });
});
