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
import {
  CONSENT_TYPES,
  type ConsentClient,
  clinicianIdOf,
  consentDomain,
  createConsentClient,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { main } from '../../gateway/src/cli/main.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../../gateway/src/core/pseudonym.js';
import {
  accessLogOrigin,
  checkpointOrigin,
  consentAccountKeyPath,
  type EmbeddedChain,
  ensureAccountKey,
  logIdOf,
  startEmbeddedChain,
} from '../../gateway/src/io/anchoring/index.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { type DataPaths, keyFile } from '../../gateway/src/io/ops/index.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir, registerDevicesOnChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const GW = 'gw-1';
const DEV = 'wr-0001';
const DEV2 = 'wr-0002';
const PW = 'break-glass-password-1';
const H = 3_600_000;
const REFRESH_MS = 300;
/** Openings last 9 s here (60 min by default). */
const MINUTES = 0.15;
const REASON = 'Cardiac arrest in bed 7 — no consent reachable';

/** Runs `vitaltrail …args` in this process; returns its exit code and output. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((s: string) => {
    out.stdout += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    out.stderr += s;
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(['node', 'vitaltrail', ...args]);
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, ...out };
}

const until = async (what: () => boolean | Promise<boolean>, ms: number, label: string) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('break-glass access on anvil', () => {
  const tmp = makeTempDir('vt-break-glass-');
  let paths: DataPaths;
  let chain: EmbeddedChain;
  let gw: RunningGateway | undefined;
  let relay: ConsentClient;
  let patient: Hex;
  let other: Hex;
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drS = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const cookies: Record<string, string> = {};
  const url = () => gw!.http.url;
  const readingsUrl = (p: string = patient) =>
    `/api/care/patients/${p}/readings?from=${Date.now() - H}&to=${Date.now() + 60_000}`;
  const breakGlass = (who: string, body: object, p: string = patient) =>
    call(url(), 'POST', `/api/care/patients/${p}/break-glass`, cookies[who], body);
  const codeOf = (r: { status: number; body: Record<string, unknown> }) => [
    r.status,
    (r.body.error as { code?: string } | undefined)?.code,
  ];
  const auditLines = () =>
    readFileSync(join(paths.root, 'gateway', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; code?: string; detail?: string });
  const openAlarm = (scope: string) =>
    gw!.alarms.openAlarms().find((a) => a.code === 'break_glass_access' && a.dev === scope);

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'd'), [DEV, DEV2]);
    chain = await startEmbeddedChain(paths, logIdOf(checkpointOrigin(GW)), {
      accessLogId: logIdOf(accessLogOrigin(GW)),
    });
    await registerDevicesOnChain(paths, chain);
    const key = keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES);
    patient = pseudonymOf(key, 'P-0007') as Hex;
    other = pseudonymOf(key, 'P-0008') as Hex;
    const users = new UserFile(paths.users);
    await users.add('dr-a', 'doctor', PW, { subject: drA });
    await users.add('dr-s', 'doctor', PW, { subject: drS });
    await users.add('pat', 'patient', PW, { subject: patient });
    await users.add('pat2', 'patient', PW, { subject: other });
    await users.add('nia', 'nurse', PW);
    await users.add('cn', 'charge_nurse', PW);
    const kgc = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    relay = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      // The relay's own account (as the gateway's): the anchorer's transactions never race its nonces.
      privateKey: ensureAccountKey(consentAccountKeyPath(paths)),
    });
    await kgc.registerClinician(drA, 'doctor');
    await kgc.registerClinician(drS, 'doctor');
    await kgc.suspendClinician(drS);
    await kgc.registerPatientKey(patient, patientAccount.address);
    gw = (await startGateway({
      dataDir: paths.root,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      checkpointIntervalMs: 500,
      consentRefreshMs: REFRESH_MS,
      breakGlass: { minutes: MINUTES },
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
    })) as RunningGateway;
    for (const u of ['dr-a', 'dr-s', 'pat', 'pat2', 'nia', 'cn']) {
      const r = await call(url(), 'POST', '/api/login', undefined, { username: u, password: PW });
      expect(r.status).toBe(200);
      cookies[u] = r.cookie as string;
    }
    // The patient in Bed 7 on DEV; the other patient admitted on DEV2, then discharged.
    for (const [dev, id, bed] of [
      [DEV, 'P-0007', 'Bed 7'],
      [DEV2, 'P-0008', 'Bed 8'],
    ] as const) {
      const r = await call(url(), 'POST', '/api/admissions', cookies.cn, { dev, patientId: id, bed });
      expect(r.status).toBe(201);
    }
    expect((await call(url(), 'POST', '/api/discharges', cookies.cn, { dev: DEV2 })).status).toBe(200);
    const frames = new FrameChain(DEV, deviceKey(paths, DEV));
    for (let i = 0; i < 3; i++) await gw.ingest.submit(frames.next({}, { hr: 70 + i, spo2: 97 }), DEV);
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
    await chain?.anvil.stop();
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
    expect((await call(url(), 'GET', '/api/care/break-glass', cookies.pat)).body).toEqual({ openings: [] });
    expect(codeOf(await call(url(), 'GET', readingsUrl(), cookies['dr-a']))).toEqual([
      403,
      'consent_required',
    ]);
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

    const read = await call(url(), 'GET', readingsUrl(), cookies['dr-a']);
    expect(read.status).toBe(200);
    expect(read.body.basis).toEqual({ type: 'break_glass', reason: REASON });
    expect((read.body.readings as unknown[]).length).toBe(3);
    // Only for this patient: the other one (no opening) is still refused.
    expect(codeOf(await call(url(), 'GET', readingsUrl(other), cookies['dr-a']))).toEqual([
      403,
      'consent_required',
    ]);

    // The charge nurse's central station: on Bed 7's device, naming Dr A and why.
    await until(() => openAlarm(DEV) !== undefined, 5000, 'break_glass_access on the bed');
    const listed = await call(url(), 'GET', '/api/alarms', cookies.cn);
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
    const ack = await call(url(), 'POST', `/api/alarms/${alarm!.id}/ack`, cookies.cn, {});
    expect([ack.status, (ack.body.alarm as { state: string }).state]).toEqual([200, 'acknowledged']);

    // The patient portal's list: the patient's own, not another patient's; Dr A's own.
    const seen = { username: 'dr-a', actor: drA, patient, reason: REASON, at, until: end };
    expect((await call(url(), 'GET', '/api/care/break-glass', cookies.pat)).body).toEqual({
      openings: [seen],
    });
    expect((await call(url(), 'GET', '/api/care/break-glass', cookies.pat2)).body).toEqual({ openings: [] });
    expect((await call(url(), 'GET', '/api/care/break-glass', cookies['dr-a'])).body).toEqual({
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
      gw!.store.db.prepare('SELECT entry FROM access_entries ORDER BY idx').pluck().all() as Buffer[]
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
    expect(codeOf(await call(url(), 'GET', readingsUrl(), cookies['dr-a']))).toEqual([
      403,
      'consent_required',
    ]);
  }, 60_000);

  it('behavior: a patient bound to no device now is shown on the gateway line; a consent in force still serves its request', async () => {
    const opened = await breakGlass('dr-a', { reason: 'found collapsed in the corridor' }, other);
    expect(opened.status).toBe(201);
    await until(() => openAlarm('gateway') !== undefined, 5000, 'break_glass_access on the gateway line');
    expect(openAlarm('gateway')?.detail).toBe('dr-a: found collapsed in the corridor');
    expect(openAlarm(DEV2)).toBeUndefined();

    // Dr A breaks glass on the first patient again, who then grants Dr A: the consent wins.
    expect((await breakGlass('dr-a', { reason: REASON })).status).toBe(201);
    const now = BigInt(Date.now());
    const message = {
      patient,
      doctor: drA,
      scope: SCOPE_VITALS,
      dataFrom: BigInt(Date.now() - 24 * H),
      dataUntil: 0n,
      validFrom: now - 60_000n,
      validUntil: now + BigInt(H),
      purpose: 'cardiology follow-up',
      nonce: 7n,
    };
    const signature = await patientAccount.signTypedData({
      domain: consentDomain(chain.deployment.chainId, chain.deployment.consent as Hex),
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message,
    });
    const { consentId } = await relay.submitGrant(message, signature);
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3 + 200));
    const read = await call(url(), 'GET', readingsUrl(), cookies['dr-a']);
    expect([read.status, read.body.basis]).toEqual([
      200,
      { type: 'consent', consentId: consentId.toLowerCase() },
    ]);
    // Beyond the consent's range, the opening serves it (never silently cut, never refused in an emergency).
    const beyond = await call(
      url(),
      'GET',
      `/api/care/patients/${patient}/readings?from=${Date.now() - 48 * H}&to=${Date.now() - 30 * H}`,
      cookies['dr-a'],
    );
    expect([beyond.status, beyond.body.basis]).toEqual([200, { type: 'break_glass', reason: REASON }]);
  }, 60_000);

  it('behavior: the access log holding break-glass entries is VALID under verify-access', async () => {
    await gw!.stop(); // flushes the access anchorer: every access answered is anchored
    gw = undefined;
    const out = join(tmp.dir, 'access.json');
    const exported = await run(['export-access', '--data', paths.root, '--gateway-id', GW, '--out', out]);
    expect([exported.code, exported.stderr]).toEqual([0, '']);
    const bundle = readFileSync(out, 'utf8');
    expect(bundle).toContain('\\"type\\":\\"break_glass\\"');
    const r = await run([
      'verify-access',
      out,
      '--consent',
      chain.deployment.consent as string,
      '--rpc',
      chain.rpcUrl,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^verified: access log vitaltrail\/gw-1\/access/);
  }, 60_000);
});
