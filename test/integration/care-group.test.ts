/**
 * @module test/integration/care-group
 * A doctor's and a patient's care routes across a gateway group (issues 16 and 18): two
 * gateways (startGateway in this process, each on its own data directory and embedded
 * broker) in one group on one real PostgreSQL (accounts, sessions, admissions, the gateway
 * registry) and one real anvil chain with the real consent contract (both read the same
 * consents). The patient's device sends some frames to A and some to B (each gateway's
 * ingest), so each store holds a share:
 * - Dr A, under the patient's grant, reads through A every gateway's readings, trend and ECG,
 *   naming both gateways (`sources`); the patient reads their own through B the same way;
 * - each gateway logs what it served, one access-log entry (and audit line, with its own
 *   count) per request it answered, as the answering gateway or as a peer;
 * - Dr B, without a consent, is refused by A, and B is never asked (nothing in B's access log
 *   or audit); after breaking glass on A (an opening A keeps, B does not), A answers its own
 *   share and names B missing: B's refusal is never counted as data;
 * - each gateway within `http.maxReadings`, their merged readings past it: A refuses 422
 *   `too_many_readings` and its access log holds no view of it (B's holds the share it served);
 * - B gone (its registry row left, as a killed gateway leaves it): A answers its own share and
 *   names B missing.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  clinicianIdOf,
  consentDomain,
  createConsentClient,
  SCOPE_ECG,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import { createViemRegistry, fundAccount, type Hex } from '../../anchor/src/ledger/index.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import {
  accountOf,
  consentAccountKeyPath,
  type EmbeddedChain,
  ensureAccountKey,
  startEmbeddedChain,
} from '../../gateway/src/io/anchoring/index.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/index.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { PgUserDirectory, poolConfig } from '../../gateway/src/io/shared/index.js';
import { H, pseudonymIn } from '../helpers/care-rig.js';
import { deviceKey, FrameChain, prepareDataDir, registerDevicesOnChain } from '../helpers/gateway.js';
import { call, errorCode } from '../helpers/http-client.js';
import { type RunningPostgres, startPostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const PATIENT_ID = 'P-0007';
const PW = 'care-group-password-1';
const REFRESH_MS = 300;
const FS = 250;

type Row = { dev: string; seq: number; ts: number; obs: { hr: number } };
type Point = { t: number; n: number; min: number; max: number };
type Entry = { gateway: string; actor: string; role: string; action: string; basis: { type: string } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One second of a flat ECG at `uv` microvolts. */
const ecg = (uv: number) => {
  const s = new Uint8Array(FS * 2);
  for (let i = 0; i < FS; i++) new DataView(s.buffer).setInt16(i * 2, uv, true);
  return { kind: 'ecg' as const, fs: FS, s };
};

describe('care routes across a gateway group: every gateway asked, each authorizing and logging', () => {
  const tmp = makeTempDir('vt-care-group-');
  let pgsrv: RunningPostgres;
  let chain: EmbeddedChain;
  let pseudonym: Hex;
  const paths: DataPaths[] = [];
  const gws: RunningGateway[] = [];
  const cookies: Record<string, string> = {};
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drB = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  let consentId = '';
  let from = 0;
  let frames: FrameChain;

  const url = (what: string, extra = '') =>
    `/api/care/patients/${pseudonym}/${what}?from=${from}&to=${Date.now() + 60_000}${extra}`;
  const get = (g: RunningGateway, who: string, u: string) => call(g.http.url, 'GET', u, cookies[who]);
  const accessLog = (g: RunningGateway): Entry[] =>
    (g.store.db.prepare('SELECT entry FROM access_entries ORDER BY idx').pluck().all() as Buffer[])
      .map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Entry)
      .filter((e) => e.role === 'doctor' || e.role === 'patient');
  const auditOf = (i: number) =>
    readFileSync(join(paths[i]!.gatewayDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; code?: string; detail?: string });

  beforeAll(async () => {
    pgsrv = await startPostgres();
    // One bootstrap for the group: the devices (registered on the chain), the envelope
    // recipient and the pseudonym key in both data dirs.
    const seed = await prepareDataDir(join(tmp.dir, 'seed'), [DEV]);
    chain = await startEmbeddedChain(seed, logIdOf(checkpointOrigin('gw-a')));
    await registerDevicesOnChain(seed, chain);
    pseudonym = pseudonymIn(seed, PATIENT_ID);
    const kgc = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    await kgc.registerClinician(drA, 'doctor');
    await kgc.registerClinician(drB, 'doctor');
    await kgc.registerPatientKey(pseudonym, patientAccount.address);
    // B anchors its own log with its own account (one logId per account).
    const keyB = generatePrivateKey();
    await fundAccount(chain.rpcUrl, accountOf(keyB));
    await createViemRegistry({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    }).registerGateway(accountOf(keyB), logIdOf(checkpointOrigin('gw-b')));
    for (const [id, key] of [
      ['gw-a', chain.gatewayKey],
      ['gw-b', keyB],
    ] as const) {
      const dir = join(tmp.dir, id);
      cpSync(seed.root, dir, { recursive: true });
      paths.push(dataPaths(dir));
      gws.push(
        (await startGateway({
          dataDir: dir,
          gatewayId: id,
          logger: silentLogger,
          mqtt: { port: 0 },
          // Each gateway's 3 readings, and the 6 merged, fit; a seventh on B passes the bound together.
          http: { port: 0, maxReadings: 6 },
          checkpointIntervalMs: 3_600_000,
          consentRefreshMs: REFRESH_MS,
          ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: key },
          shared: { postgres: { url: pgsrv.url, password: pgsrv.password } },
        })) as RunningGateway,
      );
    }
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const users = await PgUserDirectory.open({ url: pgsrv.url, password: pgsrv.password });
    try {
      await users.add('dr-a', 'doctor', PW, { subject: drA });
      await users.add('dr-b', 'doctor', PW, { subject: drB });
      await users.add('pat', 'patient', PW, { subject: pseudonym });
      await users.add('cn', 'charge_nurse', PW);
    } finally {
      await users.close();
    }
    // Signed in through A: the sessions are the group's.
    for (const u of ['dr-a', 'dr-b', 'pat', 'cn']) {
      const r = await call(a.http.url, 'POST', '/api/login', undefined, { username: u, password: PW });
      expect(r.status).toBe(200);
      cookies[u] = r.cookie as string;
    }
    const admitted = await call(a.http.url, 'POST', '/api/admissions', cookies.cn, {
      dev: DEV,
      patientId: PATIENT_ID,
      bed: 'Bed 7',
    });
    expect(admitted.status).toBe(201);
    from = admitted.body.since as number;
    // Seq 1-3 reach A, 4-6 reach B (one ECG chunk each side: seq 2 and 5).
    frames = new FrameChain(DEV, deviceKey(seed, DEV));
    for (let i = 0; i < 6; i++) {
      await sleep(5);
      const over = i === 1 || i === 4 ? { wf: ecg(100 * (i + 1)) } : {};
      const g = i < 3 ? a : b;
      expect(await g.ingest.submit(frames.next(over, { hr: 70 + i, spo2: 97 }), DEV)).toMatchObject({
        status: 'accepted',
      });
    }
    // The patient's grant to Dr A: vitals and ECG, a day of history, in force for an hour.
    const now = BigInt(Date.now());
    const message = {
      patient: pseudonym,
      doctor: drA,
      scope: SCOPE_VITALS | SCOPE_ECG,
      dataFrom: now - BigInt(24 * H),
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
    const relay = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      // The relay's own account (as the gateways'): the anchorers never race its nonces.
      privateKey: ensureAccountKey(consentAccountKeyPath(seed)),
    });
    consentId = (await relay.submitGrant(message, signature)).consentId.toLowerCase();
    await sleep(REFRESH_MS * 3 + 200); // both gateways' consent copies read the grant
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(gws.map((g) => g.stop()));
    await chain?.anvil.stop();
    await pgsrv?.stop();
    tmp.cleanup();
  });

  it("behavior: Dr A reads through A every gateway's readings, trend and ECG; each gateway logs what it served", async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    // Each store holds its share only: what follows is a merge, not one gateway's copy.
    expect(
      [1, 2, 3, 4, 5, 6].map((s) => [Boolean(a.store.getFrame(DEV, s)), Boolean(b.store.getFrame(DEV, s))]),
    ).toEqual([
      [true, false],
      [true, false],
      [true, false],
      [false, true],
      [false, true],
      [false, true],
    ]);

    const readings = await get(a, 'dr-a', url('readings'));
    expect(readings.status).toBe(200);
    expect(readings.body.basis).toEqual({ type: 'consent', consentId });
    expect((readings.body.readings as Row[]).map((r) => [r.dev, r.seq, r.obs.hr])).toEqual([
      [DEV, 1, 70],
      [DEV, 2, 71],
      [DEV, 3, 72],
      [DEV, 4, 73],
      [DEV, 5, 74],
      [DEV, 6, 75],
    ]);
    expect(readings.body.sources).toEqual({ gateways: ['gw-a', 'gw-b'], missing: [] });

    const trend = await get(a, 'dr-a', url('trend', '&bucketMs=60000'));
    expect(trend.status).toBe(200);
    expect(trend.body.sources).toEqual({ gateways: ['gw-a', 'gw-b'], missing: [] });
    const devices = trend.body.devices as { dev: string; from: number; series: { hr: Point[] } }[];
    expect(devices.map((d) => [d.dev, d.from])).toEqual([[DEV, from]]);
    const hr = devices[0]?.series.hr ?? [];
    expect(
      hr.reduce((n, p) => n + p.n, 0),
      "both gateways' readings, each once",
    ).toBe(6);
    expect([Math.min(...hr.map((p) => p.min)), Math.max(...hr.map((p) => p.max))]).toEqual([70, 75]);

    const strips = await get(a, 'dr-a', url('ecg'));
    expect(strips.status).toBe(200);
    expect(strips.body.sources).toEqual({ gateways: ['gw-a', 'gw-b'], missing: [] });
    const got = strips.body.strips as { seq: number; fs: number; s: string }[];
    expect(got.map((s) => [s.seq, s.fs, Buffer.from(s.s, 'base64').readInt16LE(0)])).toEqual([
      [2, FS, 200],
      [5, FS, 500],
    ]);

    // The patient, through B: their own, every gateway's, B first.
    const own = await get(b, 'pat', url('readings'));
    expect([own.status, own.body.basis, own.body.sources]).toEqual([
      200,
      { type: 'self' },
      { gateways: ['gw-b', 'gw-a'], missing: [] },
    ]);
    expect((own.body.readings as Row[]).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);

    // One access-log entry per request each gateway served, as the one asked or as a peer.
    const seen = (g: RunningGateway) => accessLog(g).map((e) => [e.gateway, e.actor, e.action, e.basis.type]);
    for (const [g, id] of [
      [a, 'gw-a'],
      [b, 'gw-b'],
    ] as const)
      expect(seen(g), id).toEqual([
        [id, drA, 'readings', 'consent'],
        [id, drA, 'trend', 'consent'],
        [id, drA, 'ecg', 'consent'],
        [id, 'pat', 'readings', 'self'],
      ]);
    expect(accessLog(b)[0]?.basis).toEqual({ type: 'consent', consentId, chainId: chain.deployment.chainId });
    // Each audits the count it disclosed (its own share), not the merged answer's.
    for (const i of [0, 1]) {
      const lines = auditOf(i).filter(
        (l) => l.event === 'patient_data_view' && l.detail?.startsWith('care '),
      );
      expect(
        lines.map((l) => [l.user, l.detail?.split(' ')[1], /\((\d+)\)/.exec(l.detail ?? '')?.[1]]),
        `gateway ${i}`,
      ).toEqual([
        ['dr-a', 'readings', '3'],
        ['dr-a', 'trend', '3'],
        ['dr-a', 'ecg', '1'],
        ['pat', 'readings', '3'],
      ]);
    }
  });

  it('error: Dr B without a consent is refused by A, and B is never asked', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    for (const what of ['readings', 'trend', 'ecg']) {
      const r = await get(a, 'dr-b', url(what));
      expect([what, r.status, errorCode(r)]).toEqual([what, 403, 'consent_required']);
      expect(r.body.sources).toBeUndefined();
    }
    expect(auditOf(0).filter((l) => l.event === 'care_access_refused' && l.user === 'dr-b')).toHaveLength(3);
    // B would have refused and audited it, had A asked: nothing there, nothing served.
    expect(auditOf(1).filter((l) => l.user === 'dr-b')).toEqual([]);
    expect(accessLog(b).filter((e) => e.actor === drB)).toEqual([]);
    expect(accessLog(a).filter((e) => e.actor === drB)).toEqual([]);
  });

  it("error: a peer's refusal is named missing, never data: Dr B's break-glass opening on A holds on A only", async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const opened = await call(
      a.http.url,
      'POST',
      `/api/care/patients/${pseudonym}/break-glass`,
      cookies['dr-b'],
      {
        reason: 'cardiac arrest in the corridor',
      },
    );
    expect(opened.status).toBe(201);
    const r = await get(a, 'dr-b', url('readings'));
    expect(r.status).toBe(200);
    expect(r.body.basis).toEqual({ type: 'break_glass', reason: 'cardiac arrest in the corridor' });
    expect((r.body.readings as Row[]).map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(r.body.sources).toEqual({ gateways: ['gw-a'], missing: ['gw-b'] });
    // B authorized by itself (no opening there), refused, audited the refusal and served nothing.
    expect(
      auditOf(1)
        .filter((l) => l.user === 'dr-b')
        .map((l) => [l.event, l.code]),
    ).toEqual([['care_access_refused', 'consent_required']]);
    expect(accessLog(b).filter((e) => e.actor === drB)).toEqual([]);
    expect(
      accessLog(a)
        .filter((e) => e.actor === drB)
        .map((e) => [e.gateway, e.action, e.basis.type]),
    ).toEqual([['gw-a', 'readings', 'break_glass']]);
  });

  it('error: each gateway within `http.maxReadings`, the merged answer past it: refused 422, not logged as served by A', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    expect(await b.ingest.submit(frames.next({}, { hr: 76, spo2: 97 }), DEV)).toMatchObject({
      status: 'accepted',
    });
    const served = (g: RunningGateway) =>
      accessLog(g).filter((e) => e.actor === drA && e.action === 'readings').length;
    const [beforeA, beforeB] = [served(a), served(b)];
    const r = await get(a, 'dr-a', url('readings'));
    expect([r.status, errorCode(r)]).toEqual([422, 'too_many_readings']);
    // A refused the merged answer (3 + 4 readings): nothing of it reached Dr A, so nothing is
    // in A's access log; B served its share to A (4, within the bound) and logged that.
    expect(served(a)).toBe(beforeA);
    expect(served(b)).toBe(beforeB + 1);
    expect(
      auditOf(0).some(
        (l) => l.event === 'care_access_refused' && l.user === 'dr-a' && l.code === 'too_many_readings',
      ),
    ).toBe(true);
    // The ward team's route the same way: the device's merged readings refused, no view logged by A.
    const byNurse = (g: RunningGateway) =>
      (g.store.db.prepare('SELECT entry FROM access_entries').pluck().all() as Buffer[])
        .map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Entry)
        .filter((e) => e.actor === 'cn' && e.action === 'readings').length;
    const nurseBefore = byNurse(a);
    const ward = await get(a, 'cn', `/api/devices/${DEV}/readings?from=${from}&to=${Date.now() + 60_000}`);
    expect([ward.status, errorCode(ward)]).toEqual([422, 'too_many_readings']);
    expect(byNurse(a)).toBe(nurseBefore);
    const last = await get(
      a,
      'cn',
      `/api/devices/${DEV}/readings?from=${from}&to=${Date.now() + 60_000}&limit=2`,
    );
    expect([last.status, (last.body.readings as Row[]).map((x) => x.seq), last.body.total]).toEqual([
      200,
      [6, 7],
      7,
    ]);
    expect(byNurse(a)).toBe(nurseBefore + 1);
  });

  it('error: B gone without leaving the registry (killed), A answers its own share and names B missing', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const bUrl = b.http.url;
    await b.stop(); // a stop removes B's row: put it back, as a killed gateway leaves it (15 s)
    const c = new pg.Client(poolConfig({ url: pgsrv.url, password: pgsrv.password }));
    await c.connect();
    try {
      await c.query('INSERT INTO ward_gateways (gateway_id, url, seen_at) VALUES ($1, $2, $3)', [
        'gw-b',
        bUrl,
        Date.now(),
      ]);
    } finally {
      await c.end();
    }
    const r = await get(a, 'dr-a', url('readings'));
    expect(r.status).toBe(200);
    expect((r.body.readings as Row[]).map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(r.body.sources).toEqual({ gateways: ['gw-a'], missing: ['gw-b'] });
    const t = await get(a, 'dr-a', url('trend', '&bucketMs=60000'));
    const hr = (t.body.devices as { series: { hr: Point[] } }[])[0]?.series.hr ?? [];
    expect([hr.reduce((n, p) => n + p.n, 0), t.body.sources]).toEqual([
      3,
      { gateways: ['gw-a'], missing: ['gw-b'] },
    ]);
  });
});
