/**
 * @module test/integration/display
 * Wall displays (issue 15; gateway/src/io/http/displays.ts, io/identity/displays.ts) on a
 * real gateway: an admin enrols, lists and revokes; the token is shown once and stored only
 * as its SHA-256; a display session is read-only (every write and patient route 403) and
 * answers 401 `display_token_invalid` for unknown and revoked tokens; revoking (by the API,
 * or by another process writing the table as `vitaltrail displays revoke` does) closes its
 * socket with 4401; every step is audited. Then, on a bare HTTP server with a short idle
 * timeout: a display session outlives the nurses' idle logout many times over, and every
 * quiet socket gets a heartbeat.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { HEARTBEAT_MS, WS_CLOSE_SESSION_ENDED } from '../../gateway/src/core/live-contract.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { MAX_SESSIONS_PER_DISPLAY } from '../../gateway/src/io/http/sessions.js';
import { DisplayRegistry } from '../../gateway/src/io/identity/displays.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { call, errorCode, type Reply } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DEV = 'wr-d001';
const NURSE = { username: 'nurse.ada', password: 'ward-7b-night-shift' };
const ALARM_ID = '00000000-0000-4000-8000-000000000000';

interface Live {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  /** Resolves with the first message (already received or not) that `fn` accepts. */
  next(fn: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  closed: Promise<number>;
}

function openLive(base: string, cookie: string): Promise<Live> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: { cookie } });
    const messages: Record<string, unknown>[] = [];
    const waiters: {
      fn: (m: Record<string, unknown>) => boolean;
      done: (m: Record<string, unknown>) => void;
    }[] = [];
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      messages.push(m);
      for (const w of [...waiters]) {
        if (w.fn(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(m);
        }
      }
    });
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        messages,
        closed,
        next: (fn) => {
          const seen = messages.find(fn);
          return seen ? Promise.resolve(seen) : new Promise((done) => waiters.push({ fn, done }));
        },
      }),
    );
  });
}

describe('wall displays on a real gateway', () => {
  const tmp = makeTempDir();
  let gw: RunningGateway;
  let base: string;
  let admin: string;
  let nurse: string;
  let auditPath: string;

  beforeAll(async () => {
    const paths = await prepareDataDir(tmp.dir, [DEV]);
    auditPath = join(paths.gatewayDir, 'audit.log');
    gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
    base = gw.http.url;
    await new UserFile(paths.users).add(NURSE.username, 'nurse', NURSE.password);
    const adminPw = readFileSync(paths.initialAdminPassword, 'utf8').trim();
    const a = await call(base, 'POST', '/api/login', undefined, { username: 'admin', password: adminPw });
    const n = await call(base, 'POST', '/api/login', undefined, NURSE);
    expect([a.status, n.status]).toEqual([200, 200]);
    admin = a.cookie as string;
    nurse = n.cookie as string;
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  async function enrol(name: string): Promise<{ id: string; token: string }> {
    const r = await call(base, 'POST', '/api/displays', admin, { name });
    expect(r.status).toBe(201);
    return { id: r.body.id as string, token: r.body.token as string };
  }

  async function displaySession(token: string): Promise<Reply> {
    return call(base, 'POST', '/api/display/session', undefined, { token });
  }

  it('behavior: an admin enrols and lists displays; the token is shown once and stored only as its SHA-256', async () => {
    const r = await call(base, 'POST', '/api/displays', admin, { name: 'Station 7B' });
    expect(r.status).toBe(201);
    const token = r.body.token as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      name: 'Station 7B',
      createdAt: expect.any(Number),
      createdBy: 'admin',
      revokedAt: null,
      revokedBy: null,
      token,
      path: `/#display=${token}`,
    });

    const list = await call(base, 'GET', '/api/displays', admin);
    expect(list.status).toBe(200);
    const rows = list.body.displays as Record<string, unknown>[];
    expect(rows.find((d) => d.id === r.body.id)).toEqual({
      id: r.body.id,
      name: 'Station 7B',
      createdAt: r.body.createdAt,
      createdBy: 'admin',
      revokedAt: null,
      revokedBy: null,
    });
    expect(JSON.stringify(list.body)).not.toContain(token);

    // The table holds the token's SHA-256, never the token.
    const stored = gw.store.db.prepare('SELECT * FROM displays WHERE id = ?').get(r.body.id) as Record<
      string,
      unknown
    >;
    expect(stored.token_sha256).toEqual(createHash('sha256').update(token).digest());
    expect(JSON.stringify(Object.values(stored))).not.toContain(token);

    // Only admins enrol; names are checked.
    expect((await call(base, 'POST', '/api/displays', nurse, { name: 'Hall' })).status).toBe(403);
    expect((await call(base, 'GET', '/api/displays', nurse)).status).toBe(403);
    expect((await call(base, 'POST', '/api/displays', undefined, { name: 'Hall' })).status).toBe(401);
    for (const name of ['', ' leading space', 'a\u0000b', 'x'.repeat(65), '<script>']) {
      const bad = await call(base, 'POST', '/api/displays', admin, { name });
      expect([name, bad.status, errorCode(bad)]).toEqual([name, 400, 'bad_request']);
    }
  });

  it('behavior: a token opens a read-only display session; every write and patient route is 403', async () => {
    const { id, token } = await enrol('Nurses station');
    const s = await displaySession(token);
    expect(s.status).toBe(200);
    const me = {
      username: 'display:Nurses station',
      role: 'display',
      live: true,
      display: { id, name: 'Nurses station' },
    };
    expect(s.body).toEqual(me);
    const cookie = s.cookie as string;
    expect((await call(base, 'GET', '/api/me', cookie)).body).toEqual(me);

    for (const url of ['/api/ward', '/api/alarms', '/api/beds']) {
      expect([url, (await call(base, 'GET', url, cookie)).status]).toEqual([url, 200]);
    }
    const refused: [string, string, unknown?][] = [
      ['GET', '/api/bindings'], // patient ids: never on a wall screen (the page reads /api/beds)
      ['POST', `/api/alarms/${ALARM_ID}/ack`, {}],
      ['GET', `/api/patients/${DEV}`],
      ['GET', `/api/patients/${DEV}/settings`],
      ['PUT', `/api/patients/${DEV}/settings`, {}],
      ['POST', `/api/patients/${DEV}/standby`, { on: true }],
      ['GET', `/api/patients/${DEV}/alarms`],
      ['POST', '/api/admissions', { dev: DEV, patientId: 'P-1', bed: 'B1' }],
      ['POST', '/api/discharges', { dev: DEV }],
      ['GET', `/api/devices/${DEV}/readings?from=0&to=1000`],
      ['GET', `/api/devices/${DEV}/trend?from=0&to=60000`],
      ['GET', '/api/displays'],
      ['POST', '/api/displays', { name: 'Rogue' }],
      ['POST', `/api/displays/${id}/revoke`, {}],
      ['GET', '/anchoring'],
      ['GET', '/checkpoint'],
    ];
    for (const [method, url, body] of refused) {
      const r = await call(base, method, url, cookie, body);
      expect([method, url, r.status, errorCode(r)]).toEqual([method, url, 403, 'forbidden']);
    }
    // Nothing of the above happened: still one enrolment, not revoked.
    expect(new DisplayRegistry(gw.store).get(id)?.revokedAt).toBeNull();
  });

  it('error: revoked, unknown and malformed tokens are 401 display_token_invalid, then back off; a bad body is 400', async () => {
    const { id, token } = await enrol('Old screen');
    expect((await call(base, 'POST', `/api/displays/${id}/revoke`, admin, {})).status).toBe(200);
    for (const t of [token, randomBytes(32).toString('base64url'), 'short']) {
      const r = await displaySession(t);
      expect([r.status, errorCode(r), r.cookie]).toEqual([401, 'display_token_invalid', undefined]);
    }
    expect((await call(base, 'POST', '/api/display/session', undefined, {})).status).toBe(400);
    expect((await call(base, 'POST', '/api/display/session', undefined, { token: '' })).status).toBe(400);
    // Past the free refusals from one address, more wait (429); a valid token never does.
    const fourth = await displaySession('x'.repeat(43));
    expect([fourth.status, errorCode(fourth)]).toEqual([401, 'display_token_invalid']);
    const fifth = await displaySession('y'.repeat(43));
    expect([fifth.status, errorCode(fifth)]).toEqual([429, 'too_many_attempts']);
    const valid = await enrol('New screen');
    expect((await displaySession(valid.token)).status).toBe(200);
    // Nor do the display refusals slow a nurse's sign-in from the same address.
    expect((await call(base, 'POST', '/api/login', undefined, NURSE)).status).toBe(200);
    expect((await call(base, 'POST', '/api/displays/000000000000/revoke', admin, {})).status).toBe(404);
  });

  it('behavior: revoking a display ends its session at once (socket 4401), once, and is audited', async () => {
    const { id, token } = await enrol('Hall screen');
    const s = await displaySession(token);
    const live = await openLive(base, s.cookie as string);
    expect((await live.next(() => true)).type).toBe('snapshot');

    const r = await call(base, 'POST', `/api/displays/${id}/revoke`, admin, {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id,
      name: 'Hall screen',
      revokedBy: 'admin',
      revokedAt: expect.any(Number),
    });
    expect(await live.closed).toBe(WS_CLOSE_SESSION_ENDED);
    expect((await call(base, 'GET', '/api/me', s.cookie)).status).toBe(401);
    // A second revocation keeps the first one's time and actor.
    const again = await call(base, 'POST', `/api/displays/${id}/revoke`, admin, {});
    expect(again.body.revokedAt).toBe(r.body.revokedAt);

    await expect
      .poll(() => {
        const lines = readFileSync(auditPath, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        return lines
          .filter((l) => String(l.detail ?? '').startsWith(`display ${id}`))
          .map((l) => [l.event, l.user]);
      })
      .toEqual([
        ['display_enrolled', 'admin'],
        ['display_session', 'display:Hall screen'],
        ['display_revoked', 'admin'],
      ]);
    const audit = readFileSync(auditPath, 'utf8');
    expect(audit).toContain('"event":"display_session_refused"');
    expect(audit).not.toContain(token);
  });

  it('behavior: a revocation written by another process (the CLI) ends the session within the sweep', async () => {
    const { id, token } = await enrol('Corridor');
    const s = await displaySession(token);
    const live = await openLive(base, s.cookie as string);
    await live.next((m) => m.type === 'snapshot');
    const cli = openStore(join(tmp.dir, 'gateway', 'gateway.db'));
    try {
      expect(new DisplayRegistry(cli).revoke(id, 'cli:engineer')?.changed).toBe(true);
    } finally {
      cli.close();
    }
    expect(await live.closed).toBe(WS_CLOSE_SESSION_ENDED);
    expect((await call(base, 'GET', '/api/me', s.cookie)).status).toBe(401);
  });
});

describe('display sessions on a server with a short nurse idle timeout', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  const IDLE_MS = 300;
  let srv: HttpServer;
  let displays: DisplayRegistry;
  let close: () => void;

  beforeAll(async () => {
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    const store = openStore(join(tmp.dir, 'gateway.db'));
    close = () => store.close();
    displays = new DisplayRegistry(store);
    hub.addDevice('bed-01');
    srv = await startHttpServer({
      hub,
      users,
      displays,
      staticDir: join(ROOT, 'dashboards/ward'),
      sessionIdleMs: IDLE_MS,
    });
  });

  afterAll(async () => {
    await srv?.close();
    close?.();
    tmp.cleanup();
  });

  it('behavior: the display outlives the idle timeout many times over; the nurse does not', async () => {
    const { token } = displays.enrol('Station 7B', 'admin');
    const n = await call(srv.url, 'POST', '/api/login', undefined, NURSE);
    const d = await call(srv.url, 'POST', '/api/display/session', undefined, { token });
    const live = await openLive(srv.url, d.cookie as string);
    await live.next((m) => m.type === 'snapshot');
    await new Promise((r) => setTimeout(r, 5 * IDLE_MS));
    expect((await call(srv.url, 'GET', '/api/me', n.cookie)).status).toBe(401);
    expect((await call(srv.url, 'GET', '/api/me', d.cookie)).status).toBe(200);
    hub.publish({ dev: 'bed-01', seq: 1, ts: Date.now(), obs: { hr: 77 }, receivedAt: Date.now() });
    expect(await live.next((m) => m.type === 'reading')).toMatchObject({ dev: 'bed-01', obs: { hr: 77 } });
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.ws.close();
  });

  it('behavior: a quiet socket hears a heartbeat; a display keeps at most a few sessions', async () => {
    const { token } = displays.enrol('Spare', 'admin');
    const first = await call(srv.url, 'POST', '/api/display/session', undefined, { token });
    const live = await openLive(srv.url, first.cookie as string);
    const snapshot = await live.next((m) => m.type === 'snapshot');
    const beat = await live.next((m) => m.type === 'heartbeat');
    expect(beat.now).toEqual(expect.any(Number));
    expect(beat.now as number).toBeGreaterThanOrEqual((snapshot.now as number) + HEARTBEAT_MS);
    // Re-exchanging the token from browsers without the cookie: the oldest session ends.
    for (let i = 0; i < MAX_SESSIONS_PER_DISPLAY; i++) {
      expect((await call(srv.url, 'POST', '/api/display/session', undefined, { token })).status).toBe(200);
    }
    expect(await live.closed).toBe(WS_CLOSE_SESSION_ENDED);
    expect((await call(srv.url, 'GET', '/api/me', first.cookie)).status).toBe(401);
  });
});
