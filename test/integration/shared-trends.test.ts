/**
 * @module test/integration/shared-trends
 * Issue 16, "trends and history across gateways: a patient's trend and history include every
 * gateway's readings": two gateways in external-broker mode behind one real Mosquitto (the
 * shared subscription splits each device's frames between them), one real PostgreSQL (the
 * group's accounts, sessions and gateway registry). A nurse asks gateway A for a device's
 * raw readings and trend: A answers with every frame either gateway stored (each once), and
 * says which gateways the answer holds; asked as a peer, A answers with its own share only.
 * A registered gateway that does not answer is named as missing (the answer is partial).
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningExternalGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { PgUserDirectory, poolConfig } from '../../gateway/src/io/shared/index.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { type RunningPostgres, startPostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEVICES = ['wr-0001', 'wr-0002'];
const FRAMES = 40;
const NURSE = { username: 'kim', password: 'kims-password-on-every-gw-1' };

type Reading = { seq: number; ts: number; obs: Record<string, number> };
type Point = { t: number; n: number; min: number; max: number; mean: number };

describe('trends and history across the gateways of a group', () => {
  const tmp = makeTempDir('vt-shared-trends-');
  let broker: RunningMosquitto;
  let pgsrv: RunningPostgres;
  const gws: RunningExternalGateway[] = [];
  let cookie = '';
  let from = 0;

  beforeAll(async () => {
    const seed = await prepareDataDir(join(tmp.dir, 'seed'), DEVICES);
    [broker, pgsrv] = await Promise.all([startMosquitto(tmp.dir), startPostgres()]);
    for (const id of ['gw-a', 'gw-b']) {
      const dir = join(tmp.dir, id);
      cpSync(seed.root, dir, { recursive: true });
      gws.push(
        await startGateway({
          dataDir: dataPaths(dir).root,
          gatewayId: id,
          logger: silentLogger,
          externalBroker: { url: broker.url, clientId: id, lanes: 2 },
          checkpointIntervalMs: 3_600_000,
          shared: { postgres: { url: pgsrv.url, password: pgsrv.password } },
        }),
      );
    }
    const users = await PgUserDirectory.open({ url: pgsrv.url, password: pgsrv.password });
    try {
      await users.add(NURSE.username, 'nurse', NURSE.password);
    } finally {
      await users.close();
    }
    from = Date.now() - 60_000;
    const fleet = await Fleet.start({
      url: broker.url,
      devices: DEVICES.map((d) => ({ devId: d, privateKey: deviceKey(seed, d) })),
      rateHz: 20,
      maxFrames: FRAMES,
      appAcks: true,
      clientOptions: { protocolVersion: 5 },
    });
    await fleet.finished;
    await until(() => fleet.stats().inOutbox === 0, 30_000, 'every frame acked');
    expect(await fleet.stop()).toMatchObject({ made: DEVICES.length * FRAMES, inOutbox: 0 });
    const login = await call(gws[0]!.http.url, 'POST', '/api/login', undefined, NURSE);
    expect(login.status).toBe(200);
    cookie = login.cookie as string;
  }, 120_000);

  afterAll(async () => {
    for (const g of gws) await g.stop();
    await broker?.stop();
    await pgsrv?.stop();
    tmp.cleanup();
  });

  const range = () => `from=${from}&to=${Date.now() + 60_000}`;

  test("behavior: A's readings and trend hold every frame either gateway stored, once; as a peer, A answers its own share", async () => {
    const [a, b] = gws as [RunningExternalGateway, RunningExternalGateway];
    for (const dev of DEVICES) {
      const shares = [a, b].map((g) => {
        let n = 0;
        for (let s = 1; s <= FRAMES; s++) if (g.store.getFrame(dev, s)) n++;
        return n;
      });
      expect(shares[0], `${dev}: A stored a share`).toBeGreaterThan(0);
      expect(shares[1], `${dev}: B stored a share`).toBeGreaterThan(0);

      const all = await call(a.http.url, 'GET', `/api/devices/${dev}/readings?${range()}`, cookie);
      expect(all.status).toBe(200);
      expect((all.body.readings as Reading[]).map((r) => r.seq)).toEqual(
        Array.from({ length: FRAMES }, (_, i) => i + 1),
      );
      expect(all.body.sources).toEqual({ gateways: ['gw-a', 'gw-b'], missing: [] });

      const trend = await call(
        a.http.url,
        'GET',
        `/api/devices/${dev}/trend?${range()}&bucketMs=60000`,
        cookie,
      );
      expect(trend.status).toBe(200);
      const hr = (trend.body.series as Record<string, Point[]>).hr as Point[];
      expect(
        hr.reduce((s, p) => s + p.n, 0),
        `${dev}: every frame's hr counted once`,
      ).toBe(FRAMES);
      const values = (all.body.readings as Reading[]).map((r) => r.obs.hr as number);
      expect(Math.min(...hr.map((p) => p.min))).toBe(Math.min(...values));
      expect(Math.max(...hr.map((p) => p.max))).toBe(Math.max(...values));

      // Asked as a peer (what B does when a nurse asks it), A answers for its own share only.
      const own = await fetch(`${a.http.url}/api/devices/${dev}/readings?${range()}`, {
        headers: { cookie, 'x-vitaltrail-peer': '1' },
      });
      const ownBody = (await own.json()) as { readings: Reading[]; sources?: unknown };
      expect(ownBody.readings).toHaveLength(shares[0] as number);
      expect(ownBody.sources).toBeUndefined();
    }
  });

  test('error: a registered gateway that does not answer is named missing; the answer holds the others', async () => {
    const [a] = gws as [RunningExternalGateway];
    const c = new pg.Client(poolConfig({ url: pgsrv.url, password: pgsrv.password }));
    await c.connect();
    try {
      const dead = `http://127.0.0.1:${await freePort()}`;
      await c.query('INSERT INTO ward_gateways (gateway_id, url, seen_at) VALUES ($1, $2, $3)', [
        'gw-x',
        dead,
        Date.now() + 60_000,
      ]);
      const all = await call(a.http.url, 'GET', `/api/devices/wr-0001/readings?${range()}`, cookie);
      expect(all.status).toBe(200);
      expect(all.body.sources).toEqual({ gateways: ['gw-a', 'gw-b'], missing: ['gw-x'] });
      expect((all.body.readings as Reading[]).length).toBe(FRAMES);
    } finally {
      await c.query("DELETE FROM ward_gateways WHERE gateway_id = 'gw-x'");
      await c.end();
    }
  });
});
