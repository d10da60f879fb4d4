/**
 * The sealed store's promise, end to end through real parts (Ingest, SQLite WAL files,
 * the fastify server with sessions, jose): 10,000 frames carrying sentinel vitals and an
 * admitted sentinel patient code leave 0 traces, in any encoding we could think of, in
 * the data directory (database, WAL, shm, log file, users file, any temp file there),
 * while the query API returns them to an authorized caller — and only to one.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { wardStaticDir } from '../../gateway/src/app/gateway.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { downsample } from '../../gateway/src/core/trend.js';
import { createDataRoutes, type DataAuditEvent } from '../../gateway/src/io/http/routes/data-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';
import { readTrend } from '../../gateway/src/io/queries/index.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { encodeBody } from '../../gateway/src/protocol/frame.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const N = 10_000;
const PATIENT = 'ZZTEST-4711';
const END = Date.UTC(2026, 10, 21, 12, 0, 0);
const START = END - N * 1000;
const OBS = { hr: 173, spo2: 97, rr: 19, temp: 4242, sbp: 131, dbp: 77 };

/** The base64/base64url characters that encode `b` alone, for each of the 3 alignments. */
function base64Variants(b: Buffer): string[] {
  const out: string[] = [];
  for (const k of [0, 1, 2]) {
    const s = Buffer.concat([Buffer.alloc(k), b]).toString('base64');
    const start = [0, 2, 3][k] as number;
    const end = Math.floor(((k + b.length) * 8) / 6);
    const core = s.slice(start, end);
    out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** Every encoding of a byte string we search for. */
function encodings(label: string, b: Buffer): { label: string; needle: Buffer }[] {
  const text = b.toString('latin1');
  return [
    { label: `${label} raw`, needle: b },
    { label: `${label} utf16le`, needle: Buffer.from(text, 'utf16le') },
    { label: `${label} utf16be`, needle: Buffer.from(text, 'utf16le').swap16() },
    { label: `${label} hex`, needle: Buffer.from(b.toString('hex')) },
    { label: `${label} HEX`, needle: Buffer.from(b.toString('hex').toUpperCase()) },
    ...base64Variants(b).map((v, i) => ({ label: `${label} base64#${i}`, needle: Buffer.from(v) })),
  ];
}

// Sentinels. Bare "173" is not searched: any 3-character string occurs by chance about
// 13 times per MB of base64 ciphertext. Its encodings in context are searched instead.
const NEEDLES = [
  ...encodings('patient', Buffer.from(PATIENT)),
  ...encodings('cbor hr:173', Buffer.from([0x62, 0x68, 0x72, 0x18, 0xad])),
  ...encodings('cbor temp:4242', Buffer.from([0x64, 0x74, 0x65, 0x6d, 0x70, 0x19, 0x10, 0x92])),
  ...encodings('json hr', Buffer.from('"hr":173')),
  ...encodings('json temp', Buffer.from('"temp":4242')),
  ...encodings('text hr', Buffer.from('hr=173')),
  ...encodings('text temp', Buffer.from('temp=4242')),
  ...encodings('decimal temp', Buffer.from('42.42')),
];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function findings(dir: string): string[] {
  const hits: string[] = [];
  for (const f of filesUnder(dir)) {
    const bytes = readFileSync(f);
    for (const n of NEEDLES) if (bytes.includes(n.needle)) hits.push(`${n.label} in ${f}`);
  }
  return hits;
}

describe('sealed store: sentinel values never at rest, served to authorized callers', () => {
  const tmp = makeTempDir('vt-sentinel-');
  const hub = new LiveHub();
  const audits: DataAuditEvent[] = [];
  const logLines: string[] = [];
  let rig: SealedRig;
  let srv: HttpServer;
  let bindings: Bindings;
  let reader: () => SealedReader;
  const cookies: Record<string, string> = {};

  async function login(username: string, password: string): Promise<string> {
    const res = await srv.app.inject({ method: 'POST', url: '/api/login', payload: { username, password } });
    expect(res.statusCode).toBe(200);
    const h = res.headers['set-cookie'];
    return String(Array.isArray(h) ? h[0] : h).split(';', 1)[0] as string;
  }

  beforeAll(async () => {
    const r = recipientPair('care', 'ec');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    reader = () => new SealedReader(rig.store, secrets);
    rig = sealedRig(tmp.dir, [r.recipient], { now: () => END, live: hub });
    const log = createLogger({ write: (l) => logLines.push(l) });
    bindings = new Bindings(rig.store, { recipients: [r.recipient], secrets, now: () => START });
    const users = new UserFile(join(tmp.dir, 'gateway', 'users.json'));
    await users.add('nina', 'nurse', 'correct horse battery staple');
    await users.add('carl', 'charge_nurse', 'charge nurse passphrase 42');
    await users.add('audra', 'auditor', 'proofs not pulses please');
    srv = await startHttpServer({
      hub,
      users,
      staticDir: wardStaticDir(),
      audit: (e) => log.info('audit', { event: e.type }),
      routes: [
        createDataRoutes({
          store: rig.store,
          bindings,
          secrets,
          hub,
          onAudit: (e) => {
            audits.push(e);
            log.info('data audit', { ...e });
          },
        }),
      ],
    });
    cookies.nina = await login('nina', 'correct horse battery staple');
    cookies.carl = await login('carl', 'charge nurse passphrase 42');
    cookies.audra = await login('audra', 'proofs not pulses please');

    const dev = rig.device('wr-zz');
    const adm = await srv.app.inject({
      method: 'POST',
      url: '/api/admissions',
      headers: { cookie: cookies.carl as string },
      payload: { dev: 'wr-zz', patientId: PATIENT, bed: 'Bed 12' },
    });
    expect(adm.statusCode).toBe(201);
    const frames = Array.from({ length: N }, (_, i) => dev.next({ ts: START + i * 1000 }, OBS));
    for (let i = 0; i < N; i += 1000) {
      const results = await Promise.all(frames.slice(i, i + 1000).map((f) => rig.ingest.submit(f, 'wr-zz')));
      expect(results.every((x) => x.status === 'accepted')).toBe(true);
    }
  }, 240_000); // 10,000 signed, verified, sealed frames: ~35 s on an idle 2-core machine

  afterAll(async () => {
    await srv?.close();
    rig?.store.close();
    tmp.cleanup();
  });

  test('behavior: the needles are real — each encoding family is found in the plaintext it came from', () => {
    const body = Buffer.from(
      encodeBody({ v: 1, dev: 'x', seq: 1, ts: 0, prev: new Uint8Array(32), obs: OBS }),
    );
    const has = (hay: Buffer, prefix: string) =>
      NEEDLES.filter((n) => n.label.startsWith(prefix)).some((n) => hay.includes(n.needle));
    expect(has(body, 'cbor hr:173 raw')).toBe(true);
    expect(has(body, 'cbor temp:4242 raw')).toBe(true);
    expect(has(Buffer.from(body.toString('base64')), 'cbor hr:173 base64')).toBe(true);
    expect(has(Buffer.from(body.toString('base64url')), 'cbor temp:4242 base64')).toBe(true);
    expect(has(Buffer.from(JSON.stringify({ obs: OBS })), 'json hr raw')).toBe(true);
    expect(has(Buffer.from(Buffer.from(PATIENT).toString('base64')), 'patient base64')).toBe(true);
  });

  test('behavior: the query API returns the sentinels to a nurse; the tile label is the bed only', async () => {
    const res = await srv.app.inject({
      method: 'GET',
      url: `/api/devices/wr-zz/readings?from=${START}&to=${END}`,
      headers: { cookie: cookies.nina as string },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { dev: string; readings: { seq: number; ts: number; obs: typeof OBS }[] };
    expect(body.dev).toBe('wr-zz');
    expect(body.readings).toHaveLength(N);
    expect(body.readings[0]).toEqual({ seq: 1, ts: START, obs: OBS });
    expect(body.readings.every((r) => r.obs.hr === 173 && r.obs.temp === 4242)).toBe(true);

    const trend = await srv.app.inject({
      method: 'GET',
      url: `/api/devices/wr-zz/trend?from=${START}&to=${END}&bucketMs=3600000`,
      headers: { cookie: cookies.nina as string },
    });
    const t = trend.json() as {
      bucketMs: number;
      series: Record<string, { t: number; min: number; max: number; mean: number; n: number }[]>;
    };
    expect(t.bucketMs).toBe(3_600_000);
    expect(t.series.hr?.[0]).toEqual({ t: START, min: 173, max: 173, mean: 173, n: 3600 });
    expect(t.series.hr?.reduce((s, p) => s + p.n, 0)).toBe(N);
    expect(Object.keys(t.series).sort()).toEqual(['dbp', 'hr', 'rr', 'sbp', 'spo2', 'temp']);

    const b = await srv.app.inject({
      method: 'GET',
      url: '/api/bindings',
      headers: { cookie: cookies.nina as string },
    });
    expect(b.json()).toEqual({
      bindings: [{ dev: 'wr-zz', patientId: PATIENT, bed: 'Bed 12', since: START }],
    });
    const h = await srv.app.inject({
      method: 'GET',
      url: '/api/devices/wr-zz/bindings',
      headers: { cookie: cookies.nina as string },
    });
    expect(h.json()).toEqual({ history: [{ patientId: PATIENT, bed: 'Bed 12', from: START, to: null }] });
    expect(hub.snapshot().find((t) => t.dev === 'wr-zz')?.label).toBe('Bed 12');
    expect(await bindings.devicesOf(PATIENT)).toEqual([{ dev: 'wr-zz', from: START, to: null }]);

    // Each view was audited, without values.
    expect(audits.map((a) => a.route)).toEqual(
      expect.arrayContaining(['admissions', 'readings', 'trend', 'bindings', 'binding_history']),
    );
    expect(JSON.stringify(audits)).not.toContain(PATIENT);
  });

  test('behavior: the trend route answers from the sealed rollups with the values of the raw readings', async () => {
    const get = async (url: string) =>
      (await srv.app.inject({ method: 'GET', url, headers: { cookie: cookies.nina as string } })).json() as {
        readings: { ts: number; obs: typeof OBS }[];
        series: unknown;
      };
    const { readings } = await get(`/api/devices/wr-zz/readings?from=${START}&to=${END}`);
    const minute = START - (START % 60_000);
    for (const [from, bucketMs] of [
      [START, 3_600_000],
      [minute, 300_000],
      [minute + 60_000, 60_000],
      [START + 12_345, 288_000],
      [END - 3_600_000, 12_000],
    ] as const) {
      const t = await get(`/api/devices/wr-zz/trend?from=${from}&to=${END}&bucketMs=${bucketMs}`);
      expect(t.series).toEqual(downsample(readings, from, END, bucketMs));
    }
    // What the route read for the 5-minute trend: rollup rows, raw frames only at the end.
    const t = await readTrend(rig.store, reader(), 'wr-zz', minute, END, 300_000, { fill: false });
    expect(t.stats.rollupRows).toBeGreaterThanOrEqual(165);
    expect(t.stats.rawFrames).toBeLessThanOrEqual(60);
    expect(t.readings).toBe(N);
  });

  test('error: callers without a viewing role or session get no patient data', async () => {
    const url = `/api/devices/wr-zz/readings?from=${START}&to=${END}`;
    const anon = await srv.app.inject({ method: 'GET', url });
    expect(anon.statusCode).toBe(401);
    const aud = await srv.app.inject({ method: 'GET', url, headers: { cookie: cookies.audra as string } });
    expect(aud.statusCode).toBe(403);
    const nurseAdmits = await srv.app.inject({
      method: 'POST',
      url: '/api/admissions',
      headers: { cookie: cookies.nina as string },
      payload: { dev: 'wr-zz', patientId: 'X-1', bed: 'Bed 1' },
    });
    expect(nurseAdmits.statusCode).toBe(403);
    for (const r of [anon, aud, nurseAdmits]) {
      expect(r.body).not.toContain('173');
      expect(r.body).not.toContain(PATIENT);
    }
  });

  test('behavior: 0 occurrences of any sentinel encoding in the database, WAL, logs and temp files', () => {
    writeFileSync(join(tmp.dir, 'gateway.log'), logLines.join(''));
    expect(filesUnder(tmp.dir).some((f) => f.endsWith('gateway.db-wal'))).toBe(true);
    expect(findings(tmp.dir)).toEqual([]);
    // And after a checkpoint moves the WAL into the main file, and the store is closed.
    rig.store.db.pragma('wal_checkpoint(TRUNCATE)');
    rig.store.close();
    expect(findings(tmp.dir)).toEqual([]);
  });
});
