/**
 * @module test/integration/shared-bindings
 * Issue 16, "an admission made on A is used by B's next readings and exports": two gateways
 * (startGateway in this process, each on its own data directory and embedded broker, the
 * devices and the envelope recipient the same on both, as a group's bootstrap makes them)
 * configured with one real PostgreSQL (`shared.postgres`, test/helpers/postgres). A charge
 * nurse admits a patient through A's API; B's bed list labels the tile at once (by
 * notification), a reading B stores afterwards is exported by B with that patient (FHIR, by
 * device and by patient), and neither data dir's SQLite store holds the admission. She
 * discharges through B: A's bed goes to standby, named after her, and each gateway audits the
 * standby once; re-admitted through A, B's standby ends.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { exportFhir } from '../../gateway/src/io/outbound/fhir-export.js';
import { PgUserDirectory } from '../../gateway/src/io/shared/index.js';
import { loadRecipientSecrets } from '../../gateway/src/io/store/recipients.js';
import { joined } from '../helpers/async-text.js';
import { runCli } from '../helpers/cli.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http-client.js';
import { type RunningPostgres, startPostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEVICES = ['wr-0001', 'wr-0002'];
const NURSE = 'carla';
const PW = 'charge-nurse-on-every-gw-1';
const PATIENT = 'ZZTEST-4711';
/** B sees A's admission by notification: well within the 2 s poll. */
const SEEN_MS = 1500;

type Json = Record<string, unknown>;

const signIn = async (base: string): Promise<string> => {
  const r = await call(base, 'POST', '/api/login', undefined, { username: NURSE, password: PW });
  expect(r.status).toBe(200);
  return r.cookie as string;
};

/** The lines of a gateway's audit log that record `wr-0001`'s standby beginning on discharge. */
const standbyLines = (p: DataPaths): string[] =>
  readFileSync(join(p.gatewayDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(
      (l) => l.includes('"event":"standby"') && l.includes('"dev":"wr-0001"') && l.includes('on discharged'),
    );

describe('one admissions book for two gateways (shared.postgres)', () => {
  const tmp = makeTempDir('vt-shared-bindings-');
  let pgsrv: RunningPostgres;
  let seed: DataPaths;
  const gws: RunningGateway[] = [];
  const paths: DataPaths[] = [];
  const cookies: string[] = [];

  beforeAll(async () => {
    pgsrv = await startPostgres();
    // One bootstrap for the group: the same devices and envelope recipient in both data dirs.
    seed = await prepareDataDir(join(tmp.dir, 'seed'), DEVICES);
    for (const id of ['gw-a', 'gw-b']) {
      const dir = join(tmp.dir, id);
      cpSync(seed.root, dir, { recursive: true });
      paths.push(dataPaths(dir));
    }
    const started = await Promise.all(
      paths.map((p, i) =>
        startGateway({
          dataDir: p.root,
          gatewayId: i === 0 ? 'gw-a' : 'gw-b',
          logger: silentLogger,
          checkpointIntervalMs: 3_600_000,
          shared: { postgres: { url: pgsrv.url, password: pgsrv.password } },
        }),
      ),
    );
    gws.push(...(started as RunningGateway[]));
    const users = await PgUserDirectory.open({ url: pgsrv.url, password: pgsrv.password });
    try {
      await users.add(NURSE, 'charge_nurse', PW);
    } finally {
      await users.close();
    }
    for (const g of gws) cookies.push(await signIn(g.http.url));
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(gws.map((g) => g.stop()));
    await pgsrv?.stop();
    tmp.cleanup();
  });

  it('behavior: admitted through A, B labels the tile at once, and a reading B stores afterwards is exported by B with the patient; neither SQLite store holds it', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const [cookieA, cookieB] = cookies as [string, string];
    const admitted = await call(a.http.url, 'POST', '/api/admissions', cookieA, {
      dev: 'wr-0001',
      patientId: PATIENT,
      bed: 'Bed 7',
    });
    expect(admitted.status).toBe(201);
    const t0 = Date.now();
    const since = admitted.body.since as number;

    // B's bed list (tile labels, wall displays): B was told by PostgreSQL, nobody else.
    let beds: Reply | undefined;
    for (;;) {
      beds = await call(b.http.url, 'GET', '/api/beds', cookieB);
      if ((beds.body.beds as Json[]).length > 0 || Date.now() - t0 > SEEN_MS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Date.now() - t0).toBeLessThan(SEEN_MS);
    expect(beds.body).toEqual({ beds: [{ dev: 'wr-0001', bed: 'Bed 7' }] });
    // B's nurses see who is in the bed (B opens the sealed id with the group's recipient key).
    const onB = await call(b.http.url, 'GET', '/api/bindings', cookieB);
    expect(onB.body).toEqual({ bindings: [{ dev: 'wr-0001', patientId: PATIENT, bed: 'Bed 7', since }] });

    // The device's next reading reaches B (its broker): B stores it, labelled with the bed.
    const chain = new FrameChain('wr-0001', deviceKey(seed, 'wr-0001'));
    const client = await mqtt.connectAsync(b.broker.url, {
      clientId: 'wr-0001',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    try {
      await client.publishAsync(
        'vt/v1/dev/wr-0001/frames',
        Buffer.from(chain.next({}, { hr: 81, spo2: 96 })),
        {
          qos: 1,
        },
      );
    } finally {
      await client.endAsync();
    }
    const stored = b.store.getFrame('wr-0001', 1);
    expect(stored).toBeDefined();
    expect(a.store.getFrame('wr-0001', 1)).toBeUndefined(); // B's reading, not A's
    expect(b.hub.snapshot().find((t) => t.dev === 'wr-0001')?.label).toBe('Bed 7');

    // B's exports name the patient admitted through A: by device, and by patient.
    const secrets = loadRecipientSecrets((paths[1] as DataPaths).recipientsDir);
    const base = { store: b.store, bindings: b.bindings, secrets, log: { origin: b.origin, logId: b.logId } };
    const byDevice = await exportFhir({ ...base, dev: 'wr-0001', from: 0, to: Date.now() + 60_000 });
    const byPatient = await exportFhir({ ...base, patientId: PATIENT, from: 0, to: Date.now() + 60_000 });
    for (const r of [byDevice, byPatient]) {
      const observations = ((JSON.parse(await joined(r.text())).entry as Json[]) ?? [])
        .map((e) => e.resource as Json)
        .filter((x) => x.resourceType === 'Observation');
      expect(observations.length).toBeGreaterThan(0);
      for (const o of observations)
        expect((o.subject as { identifier?: { value?: string } }).identifier?.value).toBe(PATIENT);
    }
    // The outbound interfaces of B read the same book: the reading's binding at its time.
    expect((await b.bindings.at('wr-0001', stored?.ts as number))?.patientId).toBe(PATIENT);

    // The admission lives in PostgreSQL only: neither gateway's SQLite store has a binding.
    for (const g of gws)
      expect(g.store.db.prepare('SELECT count(*) AS n FROM bindings').get()).toEqual({ n: 0 });

    // The CLI beside running B: with B's config file, the group's admissions name the patient's
    // device (FHIR and auditor exports); with B's data dir alone, nobody was ever admitted.
    const pwFile = join(tmp.dir, 'pg-password');
    writeFileSync(pwFile, `${pgsrv.password}\n`, { mode: 0o600 });
    const cfg = join(tmp.dir, 'gw-b.json');
    const root = (paths[1] as DataPaths).root;
    writeFileSync(
      cfg,
      JSON.stringify({
        dataDir: root,
        gatewayId: 'gw-b',
        shared: { postgres: { url: pgsrv.url, passwordFile: pwFile } },
      }),
    );
    const fhirOut = join(tmp.dir, 'b-fhir.json');
    const fhir = await runCli(['export-fhir', '--config', cfg, '--patient', PATIENT, '--out', fhirOut]);
    expect(fhir.stderr).toBe('');
    expect(fhir.stdout).toMatch(/^wrote 2 observations to /); // hr and spo2 of B's one reading
    const bundle = JSON.parse(readFileSync(fhirOut, 'utf8')) as { entry: { resource: Json }[] };
    const subjects = bundle.entry
      .map((e) => e.resource)
      .filter((x) => x.resourceType === 'Observation')
      .map((o) => (o.subject as { identifier?: { value?: string } }).identifier?.value);
    expect(subjects).toEqual([PATIENT, PATIENT]);
    const alone = await runCli(['export-fhir', '--data', root, '--patient', PATIENT, '--out', fhirOut]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/no device was ever bound to this patient/);
    const auditorOut = join(tmp.dir, 'b-bundle.json');
    // The auditor's export: through the group's book the patient's device is found (this data
    // dir has no chain deployment: the next refusal); through the data dir alone, nobody was.
    const bundled = await runCli(['export', '--config', cfg, '--patient', PATIENT, '--out', auditorOut]);
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toMatch(/no chain deployment in the data directory/);
    const aloneBundle = await runCli([
      'export',
      '--data',
      root,
      '--gateway-id',
      'gw-b',
      '--patient',
      PATIENT,
      '--out',
      auditorOut,
    ]);
    expect(aloneBundle.code).toBe(2);
    expect(aloneBundle.stderr).toMatch(/no device was ever bound to this patient/);
    const both = await runCli([
      'export',
      '--config',
      cfg,
      '--data',
      root,
      '--patient',
      PATIENT,
      '--out',
      auditorOut,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
  });

  it("behavior: discharged through B, A's bed goes to standby named after the nurse, audited once by each gateway; re-admitted through A, B's standby ends", async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const [cookieA, cookieB] = cookies as [string, string];
    const discharged = await call(b.http.url, 'POST', '/api/discharges', cookieB, { dev: 'wr-0001' });
    expect(discharged.status).toBe(200);
    await until(() => a.alarms.tileState('wr-0001').standby !== null, SEEN_MS, "A's bed in standby");
    expect(a.alarms.tileState('wr-0001').standby).toMatchObject({ reason: 'discharged', by: NURSE });
    expect(b.alarms.tileState('wr-0001').standby).toMatchObject({ reason: 'discharged', by: NURSE });
    expect((await call(a.http.url, 'GET', '/api/beds', cookieA)).body).toEqual({ beds: [] });
    expect(b.hub.snapshot().find((t) => t.dev === 'wr-0001')?.label).toBe('wr-0001'); // unlabelled

    // Each gateway audits the standby once (after a second poll's worth of time: no repeats).
    await new Promise((r) => setTimeout(r, 2500));
    for (const p of paths) expect(standbyLines(p), p.root).toHaveLength(1);
    expect(standbyLines(paths[0] as DataPaths)[0]).toContain(`"user":"${NURSE}"`);

    const again = await call(a.http.url, 'POST', '/api/admissions', cookieA, {
      dev: 'wr-0001',
      patientId: PATIENT,
      bed: 'Bed 8',
    });
    expect(again.status).toBe(201);
    await until(() => b.alarms.tileState('wr-0001').standby === null, SEEN_MS, "B's standby ends");
    // The rules hold across the group: B refuses the bed A just gave, whatever its spelling.
    const taken = await call(b.http.url, 'POST', '/api/admissions', cookieB, {
      dev: 'wr-0002',
      patientId: 'P-2',
      bed: 'bed 8',
    });
    expect([taken.status, (taken.body.error as Json | undefined)?.code]).toEqual([409, 'bed_occupied']);
  }, 30_000);

  it('behavior: a gateway that was down while another admitted to its discharged bed ends the standby at start', async () => {
    const b = gws[1] as RunningGateway;
    const cookieB = cookies[1] as string;
    expect((await call(b.http.url, 'POST', '/api/discharges', cookieB, { dev: 'wr-0001' })).status).toBe(200);
    await until(() => gws[0]?.alarms.tileState('wr-0001').standby !== null, SEEN_MS, "A's bed in standby");
    await (gws[0] as RunningGateway).stop();
    const admitted = await call(b.http.url, 'POST', '/api/admissions', cookieB, {
      dev: 'wr-0001',
      patientId: 'P-next',
      bed: 'Bed 9',
    });
    expect(admitted.status).toBe(201);
    const a = await startGateway({
      dataDir: (paths[0] as DataPaths).root,
      gatewayId: 'gw-a',
      logger: silentLogger,
      checkpointIntervalMs: 3_600_000,
      shared: { postgres: { url: pgsrv.url, password: pgsrv.password } },
    });
    gws[0] = a;
    expect(a.alarms.tileState('wr-0001').standby).toBeNull();
    expect((await call(a.http.url, 'GET', '/api/beds', await signIn(a.http.url))).body).toEqual({
      beds: [{ dev: 'wr-0001', bed: 'Bed 9' }],
    });
  }, 60_000);
});
