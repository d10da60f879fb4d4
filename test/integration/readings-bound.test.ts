/**
 * @module test/integration/readings-bound
 * The ward's readings answers are bounded and sent in slices, through real parts (a sealed
 * store with signed, verified frames; the fastify server on a real socket; `fetch`):
 * - a range holding more frames than `maxReadings` is refused 422 `too_many_readings`, with
 *   the registry's fixed reason, and audited as no view (nothing was served); before the
 *   bound, the API took a week of one device at its word (~600,000 readings opened, held and
 *   made into one JSON text in one turn of the event loop);
 * - a range within it is answered whole: over `SLICED_JSON_FROM` readings as a stream of the
 *   exact compact JSON (`application/json`), every reading once, by seq;
 * - `limit` answers the latest N and `total` on the range the bound refuses whole.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { wardStaticDir } from '../../gateway/src/app/gateway.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { createDataRoutes, type DataAuditEvent } from '../../gateway/src/io/http/routes/data-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { SLICED_JSON_FROM } from '../../gateway/src/io/outbound/index.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { httpStatusOf } from '../../gateway/src/protocol/error-codes.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const N = 4_200;
const BOUND = 4_150;
const END = Date.UTC(2026, 11, 6, 12, 0, 0);
const START = END - (N - 1) * 1000;
const OBS = { hr: 71, spo2: 98, rr: 15, temp: 3680, sbp: 118, dbp: 76 };

describe('readings answers: bounded, and long ones sent in slices', () => {
  const tmp = makeTempDir('vt-readings-bound-');
  const audits: DataAuditEvent[] = [];
  let rig: SealedRig;
  let srv: HttpServer;
  let cookie = '';

  const get = async (url: string) => {
    const res = await fetch(`${srv.url}${url}`, { headers: { cookie } });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      length: res.headers.get('content-length'),
      text: await res.text(),
    };
  };

  beforeAll(async () => {
    const r = recipientPair('care', 'ec');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    rig = sealedRig(tmp.dir, [r.recipient], { now: () => END });
    const users = new UserFile(join(tmp.dir, 'gateway', 'users.json'));
    await users.add('nina', 'nurse', 'correct horse battery staple');
    srv = await startHttpServer({
      hub: new LiveHub(),
      users,
      staticDir: wardStaticDir(),
      routes: [
        createDataRoutes({
          store: rig.store,
          bindings: new Bindings(rig.store, { recipients: [r.recipient], secrets, now: () => START }),
          secrets,
          maxReadings: BOUND,
          onAudit: (e) => audits.push(e),
        }),
      ],
    });
    const login = await fetch(`${srv.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nina', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    cookie = String(login.headers.get('set-cookie')).split(';', 1)[0] as string;
    const dev = rig.device('wr-b1');
    const frames = Array.from({ length: N }, (_, i) => dev.next({ ts: START + i * 1000 }, OBS));
    for (let i = 0; i < N; i += 700) {
      const results = await Promise.all(frames.slice(i, i + 700).map((f) => rig.ingest.submit(f, 'wr-b1')));
      expect(results.every((x) => x.status === 'accepted')).toBe(true);
    }
  }, 240_000);

  afterAll(async () => {
    await srv?.close();
    await rig?.ingest.close();
    rig?.store.close();
    tmp.cleanup();
  });

  test('error: a range holding more frames than the bound is refused 422 too_many_readings, nothing served', async () => {
    const res = await get(`/api/devices/wr-b1/readings?from=${START}&to=${END}`);
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text)).toEqual({
      error: { code: 'too_many_readings', reason: httpStatusOf('too_many_readings').reason },
    });
    expect(audits.filter((a) => a.route === 'readings')).toEqual([]);
  });

  test('behavior: a range within the bound is answered whole, as a stream of the exact compact JSON', async () => {
    const to = END - (N - BOUND) * 1000; // the first BOUND frames
    const res = await get(`/api/devices/wr-b1/readings?from=${START}&to=${to}`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/json/);
    const body = JSON.parse(res.text) as {
      dev: string;
      readings: { seq: number; ts: number; obs: unknown }[];
    };
    expect(BOUND).toBeGreaterThan(SLICED_JSON_FROM); // the sliced path, not one JSON.stringify:
    expect(res.length).toBeNull(); // a stream, its length unknown when its first piece is sent
    expect(res.text).toBe(JSON.stringify(body));
    expect(body.dev).toBe('wr-b1');
    expect(body.readings.map((x) => x.seq)).toEqual(Array.from({ length: BOUND }, (_, i) => i + 1));
    expect(body.readings[0]).toEqual({ seq: 1, ts: START, obs: OBS });
    expect(audits.at(-1)).toMatchObject({ route: 'readings', dev: 'wr-b1', count: BOUND });
  });

  test("behavior: the latest N and the range's total, where the whole range is refused", async () => {
    const res = await get(`/api/devices/wr-b1/readings?from=${START}&to=${END}&limit=3`);
    expect(res.status).toBe(200);
    expect(Number(res.length)).toBe(res.text.length); // a short answer: one JSON text
    const body = JSON.parse(res.text) as { readings: { seq: number }[]; total: number };
    expect(body.readings.map((x) => x.seq)).toEqual([N - 2, N - 1, N]);
    expect(body.total).toBe(N);
  });
});
