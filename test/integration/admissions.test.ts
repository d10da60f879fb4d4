/**
 * Validated admissions (issue 15): one patient per bed and one bed per patient at a time,
 * bed labels unique on the ward, through the real HTTP API (fastify with sessions, the
 * sealed bindings on a real SQLite store). Refusals are 409 with their registered code and
 * change nothing; every admission and discharge that is stored is audited and reported to
 * the binding listener (the alarm service's standby).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { wardStaticDir } from '../../gateway/src/app/gateway.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { createDataRoutes, type DataAuditEvent } from '../../gateway/src/io/http/routes/data-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('admissions: one patient per bed, one bed per patient', () => {
  const tmp = makeTempDir('vt-admit-');
  const hub = new LiveHub();
  const audits: DataAuditEvent[] = [];
  const changes: { type: string; dev: string; username: string }[] = [];
  let rig: SealedRig;
  let srv: HttpServer;
  let bindings: Bindings;
  let cookie = '';

  const post = (url: string, payload: object) =>
    srv.app.inject({ method: 'POST', url, headers: { cookie }, payload });
  const admit = (dev: string, patientId: string, bed: string) =>
    post('/api/admissions', { dev, patientId, bed });

  beforeAll(async () => {
    const r = recipientPair('care', 'ec');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    rig = sealedRig(tmp.dir, [r.recipient], { live: hub });
    for (const d of ['wr-a', 'wr-b', 'wr-c']) rig.device(d);
    bindings = new Bindings(rig.store, { recipients: [r.recipient], secrets });
    const users = new UserFile(join(tmp.dir, 'gateway', 'users.json'));
    await users.add('carl', 'charge_nurse', 'charge nurse passphrase 42');
    srv = await startHttpServer({
      hub,
      users,
      staticDir: wardStaticDir(),
      routes: [
        createDataRoutes({
          store: rig.store,
          bindings,
          secrets,
          hub,
          onAudit: (e) => audits.push(e),
          onBindingChange: (e) => changes.push(e),
        }),
      ],
    });
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      payload: { username: 'carl', password: 'charge nurse passphrase 42' },
    });
    expect(res.statusCode).toBe(200);
    const h = res.headers['set-cookie'];
    cookie = String(Array.isArray(h) ? h[0] : h).split(';', 1)[0] as string;
  });

  afterAll(async () => {
    await srv?.close();
    rig?.store.close();
    tmp.cleanup();
  });

  test('error: a second patient in an occupied bed is refused 409 bed_occupied, whatever the spelling of the bed', async () => {
    expect((await admit('wr-a', 'P-1', 'Bed 3')).statusCode).toBe(201);
    for (const bed of ['Bed 3', 'bed 3', ' BED  3']) {
      const res = await admit('wr-b', 'P-2', bed);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toEqual({ error: { code: 'bed_occupied', reason: 'the bed is occupied' } });
    }
    // Nothing changed: wr-b is not admitted, Bed 3 still holds P-1 on wr-a.
    expect(await bindings.current('wr-b')).toBeNull();
    expect((await bindings.current('wr-a'))?.patientId).toBe('P-1');
    expect(changes.filter((c) => c.dev === 'wr-b')).toEqual([]);
  });

  test('error: a patient admitted on one device cannot be admitted on another (409 patient_elsewhere)', async () => {
    const res = await admit('wr-b', 'P-1', 'Bed 4');
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      error: { code: 'patient_elsewhere', reason: 'the patient is admitted elsewhere' },
    });
    expect(await bindings.current('wr-b')).toBeNull();
  });

  test('behavior: after a discharge the bed and the patient are free again; the listener hears both changes', async () => {
    expect((await post('/api/discharges', { dev: 'wr-a' })).statusCode).toBe(200);
    expect((await admit('wr-b', 'P-1', 'Bed 3')).statusCode).toBe(201);
    expect((await bindings.current('wr-b'))?.bed).toBe('Bed 3');
    expect(changes.slice(-2)).toEqual([
      { type: 'discharge', dev: 'wr-a', username: 'carl' },
      { type: 'admission', dev: 'wr-b', username: 'carl' },
    ]);
    expect(audits.filter((a) => a.type === 'admission').map((a) => a.dev)).toEqual(['wr-a', 'wr-b']);
  });

  test('behavior: re-admitting the same device moves its patient (a transfer), never a conflict with itself', async () => {
    const res = await admit('wr-b', 'P-1', 'Bed 5');
    expect(res.statusCode).toBe(201);
    const history = await bindings.history('wr-b');
    expect(history.map((b) => [b.bed, b.to === null])).toEqual([
      ['Bed 3', false],
      ['Bed 5', true],
    ]);
    // Bed 3 is free now.
    expect((await admit('wr-c', 'P-9', 'Bed 3')).statusCode).toBe(201);
  });
});
