/**
 * @module test/integration/ward-access-log
 * The ward team's views in the access log (issue 18: "every view or export of a patient's
 * data … is appended"), on a gateway in this process (no ledger: the access log is kept and
 * checkpointed without one), real HTTP and a real WebSocket:
 * - `GET /api/ward` and the live socket: one `patient_view` entry per patient bound now, basis
 *   `ward`, the nurse named, before the board is answered (the socket's snapshot);
 * - the ward's patient view (`GET /api/patients/:dev`): one entry for the patient bound to
 *   that device over the alarm history shown;
 * - a wall display's look adds nothing (no person; its sign-ins are audited instead), and a
 *   device with no patient bound adds nothing;
 * - no patient id in any entry: the pseudonym only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AccessEntry } from '../../anchor/src/verify-access/index.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../../gateway/src/core/pseudonym.js';
import { DisplayRegistry } from '../../gateway/src/io/identity/displays.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { keyFile } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const PW = 'ward-access-password-1';

function openLive(base: string, cookie: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: { cookie, origin: base } });
    ws.once('message', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

describe('the ward team’s views in the access log', () => {
  const tmp = makeTempDir('vt-ward-access-');
  let gw: RunningGateway;
  let nurse = '';
  let display = '';
  let p1 = '';
  let p2 = '';

  /** The access log's entries from leaf `from` on. */
  const entriesFrom = (from: number): AccessEntry[] =>
    (
      gw.store.db
        .prepare('SELECT entry FROM access_entries WHERE idx >= ? ORDER BY idx')
        .pluck()
        .all(from) as Buffer[]
    ).map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as AccessEntry);
  const size = (): number =>
    gw.store.db.prepare('SELECT count(*) FROM access_entries').pluck().get() as number;

  beforeAll(async () => {
    const paths = await prepareDataDir(tmp.dir, ['wr-0001', 'wr-0002', 'wr-0003']);
    gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
    await new UserFile(paths.users).add('nia', 'nurse', PW);
    const login = await call(gw.http.url, 'POST', '/api/login', undefined, { username: 'nia', password: PW });
    expect(login.status).toBe(200);
    nurse = login.cookie as string;
    await gw.bindings.admit('wr-0001', 'P-1001', 'Bed 1', undefined, 'nia');
    await gw.bindings.admit('wr-0002', 'P-1002', 'Bed 2', undefined, 'nia');
    const key = keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES);
    p1 = pseudonymOf(key, 'P-1001');
    p2 = pseudonymOf(key, 'P-1002');
    const { token } = new DisplayRegistry(gw.store).enrol('Wall 1', 'admin');
    const res = await fetch(`${gw.http.url}/api/display/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    display = String(res.headers.get('set-cookie')).split(';', 1)[0] as string;
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  it('behavior: the ward board (GET /api/ward) logs one patient_view per patient bound now, basis ward', async () => {
    const before = size();
    const t0 = Date.now();
    expect((await call(gw.http.url, 'GET', '/api/ward', nurse)).status).toBe(200);
    const added = entriesFrom(before);
    expect(added.map((e) => [e.actor, e.role, e.action, e.dev, e.patient, e.basis.type]).sort()).toEqual([
      ['nia', 'nurse', 'patient_view', 'wr-0001', p1, 'ward'],
      ['nia', 'nurse', 'patient_view', 'wr-0002', p2, 'ward'],
    ]);
    for (const e of added) {
      expect(e.dataFrom).toBe(e.dataUntil);
      expect(e.dataFrom).toBeGreaterThanOrEqual(t0);
    }
    expect(JSON.stringify(added)).not.toMatch(/P-100/);
  });

  it('behavior: the live socket logs the same before its snapshot; a wall display logs nothing', async () => {
    const before = size();
    const ws = await openLive(gw.http.url, nurse);
    // The entries were appended before the upgrade: present as soon as the snapshot arrived.
    expect(
      entriesFrom(before)
        .map((e) => e.dev)
        .sort(),
    ).toEqual(['wr-0001', 'wr-0002']);
    ws.close();
    const mid = size();
    const wall = await openLive(gw.http.url, display);
    expect((await call(gw.http.url, 'GET', '/api/ward', display)).status).toBe(200);
    wall.close();
    expect(size()).toBe(mid);
  });

  it('behavior: the patient view logs its patient over the history shown; an unbound device none', async () => {
    const before = size();
    expect((await call(gw.http.url, 'GET', '/api/patients/wr-0002', nurse)).status).toBe(200);
    const [e, ...rest] = entriesFrom(before);
    expect(rest).toEqual([]);
    expect([e?.action, e?.dev, e?.patient, e?.basis]).toEqual([
      'patient_view',
      'wr-0002',
      p2,
      { type: 'ward' },
    ]);
    expect(e?.dataUntil).toBeGreaterThanOrEqual(e?.dataFrom as number);
    const unbound = size();
    expect((await call(gw.http.url, 'GET', '/api/patients/wr-0003', nurse)).status).toBe(200);
    expect(size()).toBe(unbound);
  });
});
