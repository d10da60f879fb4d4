/**
 * @module test/integration/break-glass
 * Break-glass access (issue 18: "by a configured role: reason required, charge nurse alerted,
 * patient portal shows it, audit marks it"), on a real anvil with the real consent contract
 * and the access log's account registered, a gateway in this process (openings of 9 s), real
 * HTTP and real EIP-712 signatures:
 * - the reason is mandatory (400 `break_glass_reason_required`, `break_glass_reason_invalid`);
 *   a role not given break-glass (the patient), a nurse, a doctor the registry suspended
 *   (`clinician_suspended`) and an unknown pseudonym (404) cannot;
 * - Dr A, without consent (`consent_required`), breaks glass and reads the patient's readings
 *   with basis `break_glass` and the reason, in the answer, the access log and the audit;
 * - the central station shows `break_glass_access` on the patient's bed (the charge nurse's
 *   `GET /api/alarms`), naming Dr A and the reason, acknowledgeable; a patient not bound to a
 *   device now gets it on the gateway's line; it ends when the opening does, and so does the
 *   access (`consent_required` again);
 * - a consent in force that covers a request still serves it (basis `consent`);
 * - `GET /api/care/break-glass` shows the opening to its patient, not to another, and to Dr A;
 * - the exported access log with these entries is VALID under `verify-access`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinicianIdOf } from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { type CareRig, H, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { runMain as run } from '../helpers/cli-main.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const GW = 'gw-1';
const DEV = 'wr-0001';
const DEV2 = 'wr-0002';
/** Openings last 9 s here (60 min by default). */
const MINUTES = 0.15;
const REASON = 'Cardiac arrest in bed 7 — no consent reachable';

const until = async (what: () => boolean | Promise<boolean>, ms: number, label: string) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('break-glass access on anvil', () => {
  const tmp = makeTempDir('vt-break-glass-');
  let rig: CareRig;
  let patient: Hex;
  let other: Hex;
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drS = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const url = () => rig.gw.http.url;
  const readingsUrl = (p: string = patient) =>
    `/api/care/patients/${p}/readings?from=${Date.now() - H}&to=${Date.now() + 60_000}`;
  const breakGlass = (who: string, body: object, p: string = patient) =>
    call(url(), 'POST', `/api/care/patients/${p}/break-glass`, rig.cookies[who], body);
  const codeOf = (r: { status: number; body: Record<string, unknown> }) => [
    r.status,
    (r.body.error as { code?: string } | undefined)?.code,
  ];
  const auditLines = () =>
    readFileSync(join(rig.paths.root, 'gateway', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; code?: string; detail?: string });
  const openAlarm = (scope: string) =>
    rig.gw.alarms.openAlarms().find((a) => a.code === 'break_glass_access' && a.dev === scope);

  beforeAll(async () => {
    rig = await startCareRig(
      tmp.dir,
      {
        devices: [DEV, DEV2],
        users: [],
        checkpointIntervalMs: 500,
        anchorAccessLog: true,
        breakGlass: { minutes: MINUTES },
      },
      (paths) => {
        patient = pseudonymIn(paths, 'P-0007');
        other = pseudonymIn(paths, 'P-0008');
        return {
          users: [
            { username: 'dr-a', role: 'doctor', subject: drA },
            { username: 'dr-s', role: 'doctor', subject: drS },
            { username: 'pat', role: 'patient', subject: patient },
            { username: 'pat2', role: 'patient', subject: other },
            { username: 'nia', role: 'nurse' },
            { username: 'cn', role: 'charge_nurse' },
          ],
          doctors: [drA, drS],
          suspended: [drS],
          patientKeys: [[patient, patientAccount.address]],
        };
      },
    );
    await rig.login('dr-a', 'dr-s', 'pat', 'pat2', 'nia', 'cn');
    // The patient in Bed 7 on DEV; the other patient admitted on DEV2, then discharged.
    for (const [dev, id, bed] of [
      [DEV, 'P-0007', 'Bed 7'],
      [DEV2, 'P-0008', 'Bed 8'],
    ] as const) {
      const r = await call(url(), 'POST', '/api/admissions', rig.cookies.cn, { dev, patientId: id, bed });
      expect(r.status).toBe(201);
    }
    expect((await call(url(), 'POST', '/api/discharges', rig.cookies.cn, { dev: DEV2 })).status).toBe(200);
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < 3; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 70 + i, spo2: 97 }), DEV);
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('error: the reason is mandatory; a role not given break-glass, a suspended doctor and an unknown patient cannot', async () => {
    expect(codeOf(await breakGlass('dr-a', {}))).toEqual([400, 'break_glass_reason_required']);
    expect(codeOf(await breakGlass('dr-a', { reason: '   ' }))).toEqual([400, 'break_glass_reason_required']);
    expect(codeOf(await breakGlass('dr-a', { reason: 'x'.repeat(501) }))).toEqual([
      400,
      'break_glass_reason_invalid',
    ]);
    expect(codeOf(await breakGlass('dr-a', { reason: 'two\nlines' }))).toEqual([
      400,
      'break_glass_reason_invalid',
    ]);
    expect(codeOf(await breakGlass('pat', { reason: REASON }, other))).toEqual([403, 'forbidden']);
    expect((await breakGlass('nia', { reason: REASON })).status).toBe(403);
    expect(codeOf(await breakGlass('dr-s', { reason: REASON }))).toEqual([403, 'clinician_suspended']);
    expect(codeOf(await breakGlass('dr-a', { reason: REASON }, `0x${'ab'.repeat(32)}`))).toEqual([
      404,
      'not_found',
    ]);
    // None of these opened anything.
    expect((await rig.get('pat', '/api/care/break-glass')).body).toEqual({ openings: [] });
    expect(codeOf(await rig.get('dr-a', readingsUrl()))).toEqual([403, 'consent_required']);
    const refused = auditLines()
      .filter((l) => l.event === 'care_access_refused')
      .map((l) => `${l.user} ${l.code}`);
    expect(refused).toEqual(
      expect.arrayContaining([
        'dr-a break_glass_reason_required',
        'pat forbidden',
        'dr-s clinician_suspended',
      ]),
    );
  });

  it('behavior: Dr A breaks glass: reads marked break_glass everywhere, the charge nurse alerted on the bed, the patient told, all until the end', async () => {
    const opened = await breakGlass('dr-a', { reason: `  ${REASON}  ` });
    expect(opened.status).toBe(201);
    const { at, until: end } = opened.body as { at: number; until: number };
    expect(opened.body).toEqual({ patient, reason: REASON, at, until: at + MINUTES * 60_000 });

    const read = await rig.get('dr-a', readingsUrl());
    expect(read.status).toBe(200);
    expect(read.body.basis).toEqual({ type: 'break_glass', reason: REASON });
    expect((read.body.readings as unknown[]).length).toBe(3);
    // Only for this patient: the other one (no opening) is still refused.
    expect(codeOf(await rig.get('dr-a', readingsUrl(other)))).toEqual([403, 'consent_required']);

    // The charge nurse's central station: on Bed 7's device, naming Dr A and why.
    await until(() => openAlarm(DEV) !== undefined, 5000, 'break_glass_access on the bed');
    const listed = await rig.get('cn', '/api/alarms');
    const alarm = (
      listed.body.alarms as {
        id: string;
        code: string;
        dev: string;
        detail?: string;
        priority: string;
        kind: string;
      }[]
    ).find((a) => a.code === 'break_glass_access');
    expect(alarm).toMatchObject({ dev: DEV, priority: 'low', kind: 'technical', detail: `dr-a: ${REASON}` });
    const ack = await call(url(), 'POST', `/api/alarms/${alarm!.id}/ack`, rig.cookies.cn, {});
    expect([ack.status, (ack.body.alarm as { state: string }).state]).toEqual([200, 'acknowledged']);

    // The patient portal's list: the patient's own, not another patient's; Dr A's own.
    const seen = { username: 'dr-a', actor: drA, patient, reason: REASON, at, until: end };
    expect((await rig.get('pat', '/api/care/break-glass')).body).toEqual({
      openings: [seen],
    });
    expect((await rig.get('pat2', '/api/care/break-glass')).body).toEqual({ openings: [] });
    expect((await rig.get('dr-a', '/api/care/break-glass')).body).toEqual({
      openings: [seen],
    });

    // The audit: the opening with who, whose, until when and why; the read under break_glass.
    const audit = auditLines();
    expect(audit.filter((l) => l.event === 'break_glass')).toEqual([
      expect.objectContaining({ user: 'dr-a', detail: `${patient} until ${end}: ${REASON}` }),
    ]);
    expect(
      audit.some(
        (l) =>
          l.event === 'patient_data_view' && l.user === 'dr-a' && l.detail?.endsWith(' under break_glass'),
      ),
    ).toBe(true);
    // The access log: the read, marked break_glass with the reason, Dr A by clinician id.
    const entries = (
      rig.gw.store.db.prepare('SELECT entry FROM access_entries ORDER BY idx').pluck().all() as Buffer[]
    ).map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, unknown>);
    expect(entries.filter((e) => (e.basis as { type: string }).type === 'break_glass')).toEqual([
      expect.objectContaining({
        actor: drA,
        role: 'doctor',
        patient,
        action: 'readings',
        basis: { type: 'break_glass', reason: REASON },
      }),
    ]);

    // The end: the alarm clears at the first tick after it, and the access ends with it.
    await until(
      () => Date.now() > end && openAlarm(DEV) === undefined,
      end - Date.now() + 5000,
      'the alarm ends',
    );
    expect(codeOf(await rig.get('dr-a', readingsUrl()))).toEqual([403, 'consent_required']);
  }, 60_000);

  it('behavior: a patient bound to no device now is shown on the gateway line; a consent in force still serves its request', async () => {
    const opened = await breakGlass('dr-a', { reason: 'found collapsed in the corridor' }, other);
    expect(opened.status).toBe(201);
    await until(() => openAlarm('gateway') !== undefined, 5000, 'break_glass_access on the gateway line');
    expect(openAlarm('gateway')?.detail).toBe('dr-a: found collapsed in the corridor');
    expect(openAlarm(DEV2)).toBeUndefined();

    // Dr A breaks glass on the first patient again, who then grants Dr A: the consent wins.
    expect((await breakGlass('dr-a', { reason: REASON })).status).toBe(201);
    const consentId = await rig.grant(patientAccount, { patient, doctor: drA, nonce: 7n });
    await rig.settle();
    const read = await rig.get('dr-a', readingsUrl());
    expect([read.status, read.body.basis]).toEqual([200, { type: 'consent', consentId }]);
    // Beyond the consent's range, the opening serves it (never silently cut, never refused in an emergency).
    const beyond = await rig.get(
      'dr-a',
      `/api/care/patients/${patient}/readings?from=${Date.now() - 48 * H}&to=${Date.now() - 30 * H}`,
    );
    expect([beyond.status, beyond.body.basis]).toEqual([200, { type: 'break_glass', reason: REASON }]);
  }, 60_000);

  it('behavior: the access log holding break-glass entries is VALID under verify-access', async () => {
    await rig.stopGateway(); // flushes the access anchorer: every access answered is anchored
    const out = join(tmp.dir, 'access.json');
    const exported = await run(['export-access', '--data', rig.paths.root, '--gateway-id', GW, '--out', out]);
    expect([exported.code, exported.stderr]).toEqual([0, '']);
    const bundle = readFileSync(out, 'utf8');
    expect(bundle).toContain('\\"type\\":\\"break_glass\\"');
    const r = await run([
      'verify-access',
      out,
      '--consent',
      rig.chain.deployment.consent as string,
      '--rpc',
      rig.chain.rpcUrl,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^verified: access log vitaltrail\/gw-1\/access/);
  }, 60_000);
});
