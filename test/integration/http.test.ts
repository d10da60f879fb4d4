/**
 * @module test/integration/http
 * The gateway HTTP/WebSocket server (gateway/src/io/http/server.ts) with real users files in
 * temp dirs: REST through `app.inject` (fastify), the live socket through a real `ws`
 * client on a loopback port. Covers auth, whitelisting, security headers, backoff,
 * idle expiry (close 4401), and the users file (io/users.ts).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import { type HttpAuditEvent, type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { ensureInitialAdmin, UserFile, UserFileError } from '../../gateway/src/io/identity/users.js';
import { makeTempDir } from '../helpers/tmp.js';

const STATIC_DIR = join(import.meta.dirname, '../../dashboards/ward');
const NURSE = { username: 'nurse.jo', password: 'ward-7-night-shift' };

function reading(dev: string, seq: number, hr: number): LiveReading {
  return {
    dev,
    seq,
    ts: 1_700_000_000_000 + seq * 1000,
    obs: { hr, spo2: 97, rr: 16, temp: 3712, sbp: 121, dbp: 79 },
    bat: 88,
    receivedAt: Date.now(),
  };
}

function setCookie(res: { headers: Record<string, unknown> }): string | undefined {
  const h = res.headers['set-cookie'];
  return Array.isArray(h) ? h[0] : typeof h === 'string' ? h : undefined;
}

/** `name=value` part of a Set-Cookie header, for a Cookie request header. */
function cookiePair(header: string | undefined): string {
  if (!header) throw new Error('no set-cookie');
  return header.split(';', 1)[0]!;
}

interface WsClient {
  ws: WebSocket;
  next(): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a real WebSocket; rejects with the HTTP status when the upgrade is refused. */
function openWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', { headers });
    const queue: Record<string, unknown>[] = [];
    const waiters: ((m: Record<string, unknown>) => void)[] = [];
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      const w = waiters.shift();
      if (w) w(msg);
      else queue.push(msg);
    });
    const closed = new Promise<{ code: number; reason: string }>((res) =>
      ws.on('close', (code, reason) => res({ code, reason: String(reason) })),
    );
    ws.on('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error('refused'), { status: res.statusCode })),
    );
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        closed,
        next: () => {
          const m = queue.shift();
          return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
        },
      }),
    );
  });
}

describe('http server', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  const events: HttpAuditEvent[] = [];
  let users: UserFile;
  let srv: HttpServer;

  async function login(username = NURSE.username, password = NURSE.password): Promise<string> {
    const res = await srv.app.inject({ method: 'POST', url: '/api/login', payload: { username, password } });
    expect(res.statusCode).toBe(200);
    return cookiePair(setCookie(res));
  }

  beforeAll(async () => {
    users = new UserFile(join(tmp.dir, 'gateway', 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    await users.add('audit.al', 'auditor', 'proofs-not-pulses');
    hub.addDevice('bed-01');
    hub.addDevice('bed-02');
    hub.publish(reading('bed-01', 1, 72));
    srv = await startHttpServer({
      hub,
      users,
      staticDir: STATIC_DIR,
      status: () => ({ devices: hub.snapshot().length }),
      audit: (e) => events.push(e),
      wardName: 'Ward 7B',
    });
  });

  afterAll(async () => {
    await srv?.close();
    tmp.cleanup();
  });

  it('error: unauthenticated /api/ward is 401 with no patient data', async () => {
    const res = await srv.app.inject({ method: 'GET', url: '/api/ward' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'unauthenticated', reason: 'sign in first' } });
    expect(res.body).not.toContain('bed-01');
    expect(res.headers['cache-control']).toBe('no-store');
    const forged = await srv.app.inject({
      method: 'GET',
      url: '/api/ward',
      headers: { cookie: `vt_session=${'A'.repeat(43)}` },
    });
    expect(forged.statusCode).toBe(401);
    expect(setCookie(forged)).toMatch(/Max-Age=0/);
  });

  it('error: a wrong password is 401 bad_credentials and sets no cookie', async () => {
    const before = events.length;
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      payload: { username: NURSE.username, password: 'nope' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('bad_credentials');
    expect(setCookie(res)).toBeUndefined();
    const unknown = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      payload: { username: 'ghost', password: 'nope' },
    });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error.code).toBe('bad_credentials');
    expect(events.slice(before).map((e) => e.type)).toEqual(['login_failed', 'login_failed']);
    expect(JSON.stringify(events)).not.toContain('nope');
  });

  it('behavior: login sets a strict HttpOnly session cookie; /api/ward lists whitelisted tiles', async () => {
    const res = await srv.app.inject({ method: 'POST', url: '/api/login', payload: NURSE });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ username: NURSE.username, role: 'nurse', live: true });
    const sc = setCookie(res)!;
    expect(sc).toMatch(/^vt_session=[A-Za-z0-9_-]{43}; /);
    expect(sc).toContain('HttpOnly');
    expect(sc).toContain('SameSite=Strict');
    expect(sc).toContain('Path=/');
    const cookie = cookiePair(sc);

    const me = await srv.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
    expect(me.json()).toEqual({ username: NURSE.username, role: 'nurse', live: true });

    // An internal field smuggled into a reading must not reach the client.
    hub.publish({ ...reading('bed-02', 5, 110), secretNote: 'x' } as LiveReading);
    const ward = await srv.app.inject({ method: 'GET', url: '/api/ward', headers: { cookie } });
    expect(ward.statusCode).toBe(200);
    expect(ward.headers['cache-control']).toBe('no-store');
    const body = ward.json();
    expect(body.ward).toEqual({ name: 'Ward 7B', clock: '24h' });
    expect(typeof body.now).toBe('number');
    expect(body.patients.map((p: { dev: string }) => p.dev)).toEqual(['bed-01', 'bed-02']);
    expect(body.patients[1]).toEqual({
      dev: 'bed-02',
      label: 'bed-02',
      last: {
        dev: 'bed-02',
        seq: 5,
        ts: 1_700_000_005_000,
        obs: { hr: 110, spo2: 97, rr: 16, temp: 3712, sbp: 121, dbp: 79 },
        bat: 88,
        receivedAt: expect.any(Number),
      },
    });
    expect(ward.body).not.toContain('secretNote');
    expect(events.at(-1)).toMatchObject({ type: 'ward_view', username: NURSE.username });
  });

  it('behavior: security headers on pages, API, errors; static files with their types', async () => {
    const cases = [
      { url: '/', type: 'text/html' },
      { url: '/app.js', type: 'text/javascript' },
      { url: '/style.css', type: 'text/css' },
      { url: '/api/ward', type: 'application/json' },
      { url: '/nope', type: 'application/json' },
    ];
    for (const c of cases) {
      const res = await srv.app.inject({ method: 'GET', url: c.url });
      expect(res.headers['content-type'], c.url).toContain(c.type);
      expect(res.headers['content-security-policy'], c.url).toContain("default-src 'self'");
      expect(res.headers['content-security-policy']).toContain("connect-src 'self' ws: wss:");
      expect(res.headers['content-security-policy']).toContain("object-src 'none'");
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['x-content-type-options'], c.url).toBe('nosniff');
      expect(res.headers['referrer-policy'], c.url).toBe('no-referrer');
    }
    const page = await srv.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<script type="module" src="/app.js"></script>');
    // CSP without 'unsafe-inline' works only if the page has no inline script or style.
    expect(page.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(page.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const missing = await srv.app.inject({ method: 'GET', url: '/../package.json' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });

  it('behavior: /healthz is public and carries only the status fields', async () => {
    const res = await srv.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', devices: 2 });
  });

  it('error: bad bodies, non-JSON and cross-origin posts are refused with coded errors', async () => {
    const missing = await srv.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'x' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual({
      error: { code: 'bad_request', reason: 'the request does not match the API' },
    });
    const broken = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"username":"nurse.jo","password":"hunter2-secret',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.body).not.toContain('hunter2');
    const text = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify(NURSE),
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');
    const cross = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { origin: 'https://evil.example' },
      payload: NURSE,
    });
    expect(cross.statusCode).toBe(403);
    expect(cross.json().error.code).toBe('bad_origin');
    expect(setCookie(cross)).toBeUndefined();
  });

  it('error: repeated failures for one username back off with 429 and Retry-After', async () => {
    await users.add('slow.sam', 'nurse', 'right-password');
    const attempt = (password: string) =>
      srv.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'slow.sam', password } });
    for (let i = 0; i < 4; i++) expect((await attempt('wrong')).statusCode).toBe(401);
    const locked = await attempt('right-password');
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('too_many_attempts');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await attempt('x')).statusCode).toBe(429);
    // Other usernames are not affected.
    await login();
  });

  it('error: sign-ins beyond the ones in flight from one address are 503 login_busy, not a failure', async () => {
    // Nurses behind one NAT signing in at the same moment: none has failed, so none may be
    // told "too many failed sign-ins" (429), which they were before.
    const names = ['night.a', 'night.b', 'night.c', 'night.d'];
    for (const n of names) await users.add(n, 'nurse', `pw-${n}-1234`);
    const answers = await Promise.all(
      names.map((n) =>
        srv.app.inject({
          method: 'POST',
          url: '/api/login',
          payload: { username: n, password: `pw-${n}-1234` },
        }),
      ),
    );
    const codes = answers.map((a) => (a.statusCode === 200 ? 'ok' : a.json().error.code));
    expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c === 'login_busy').length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c !== 'ok' && c !== 'login_busy')).toEqual([]);
    for (const a of answers.filter((x) => x.statusCode !== 200)) expect(a.headers['retry-after']).toBe('1');
    // Told to retry, they sign in.
    for (const n of names.filter((_, i) => codes[i] !== 'ok')) await login(n, `pw-${n}-1234`);
  });

  it('error: an auditor signs in but gets 403 on live data (no live PHI)', async () => {
    const cookie = await login('audit.al', 'proofs-not-pulses');
    const me = await srv.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
    expect(me.json()).toEqual({ username: 'audit.al', role: 'auditor', live: false });
    const ward = await srv.app.inject({ method: 'GET', url: '/api/ward', headers: { cookie } });
    expect(ward.statusCode).toBe(403);
    expect(ward.json().error.code).toBe('forbidden');
    expect(ward.body).not.toContain('bed-');
    await expect(openWs(srv.url, { cookie })).rejects.toMatchObject({ status: 403 });
  });

  it('error: a WebSocket without a session cookie, or from another origin, is refused', async () => {
    await expect(openWs(srv.url)).rejects.toMatchObject({ status: 401 });
    await expect(openWs(srv.url, { cookie: `vt_session=${'B'.repeat(43)}` })).rejects.toMatchObject({
      status: 401,
    });
    const cookie = await login();
    await expect(openWs(srv.url, { cookie, origin: 'http://evil.example' })).rejects.toMatchObject({
      status: 403,
    });
  });

  it('behavior: the socket gets a snapshot, then each reading published on the hub', async () => {
    const cookie = await login();
    const host = new URL(srv.url).host;
    const c = await openWs(srv.url, { cookie, origin: `http://${host}` });
    const snap = await c.next();
    expect(snap.type).toBe('snapshot');
    expect(snap.ward).toEqual({ name: 'Ward 7B', clock: '24h' });
    const patients = snap.patients as { dev: string; last: { obs: { hr: number } } | null }[];
    expect(patients.map((p) => p.dev)).toEqual(['bed-01', 'bed-02']);
    expect(patients[0]!.last!.obs.hr).toBe(72);

    hub.publish({ ...reading('bed-01', 2, 131), internal: true } as LiveReading);
    const msg = await c.next();
    expect(msg).toMatchObject({ type: 'reading', dev: 'bed-01', seq: 2, obs: { hr: 131 }, bat: 88 });
    expect(msg).not.toHaveProperty('internal');
    c.ws.close();
    await c.closed;
  });

  it('behavior: logout ends the session, closes its sockets with 4401 and kills the cookie', async () => {
    const cookie = await login();
    const c = await openWs(srv.url, { cookie });
    await c.next();
    const res = await srv.app.inject({ method: 'POST', url: '/api/logout', headers: { cookie } });
    expect(res.statusCode).toBe(204);
    expect(setCookie(res)).toMatch(/^vt_session=; .*Max-Age=0/);
    expect((await c.closed).code).toBe(4401);
    const after = await srv.app.inject({ method: 'GET', url: '/api/ward', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(events.at(-1)).toMatchObject({ type: 'logout', username: NURSE.username });
  });

  it('behavior: a new login replaces the session the browser held (no fixation)', async () => {
    const first = await login();
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      payload: NURSE,
      headers: { cookie: first },
    });
    const second = cookiePair(setCookie(res));
    expect(second).not.toBe(first);
    expect(
      (await srv.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: first } })).statusCode,
    ).toBe(401);
    expect(
      (await srv.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: second } })).statusCode,
    ).toBe(200);
  });
});

describe('http server: idle sessions', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  let srv: HttpServer;

  beforeAll(async () => {
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    hub.addDevice('bed-09');
    srv = await startHttpServer({ hub, users, staticDir: STATIC_DIR, sessionIdleMs: 1000 });
  });

  afterAll(async () => {
    await srv?.close();
    tmp.cleanup();
  });

  it('behavior: activity keeps a session; idle expiry closes its socket with 4401', async () => {
    const res = await srv.app.inject({ method: 'POST', url: '/api/login', payload: NURSE });
    const cookie = cookiePair(setCookie(res));
    const c = await openWs(srv.url, { cookie });
    expect((await c.next()).type).toBe('snapshot');
    const opened = Date.now();
    // Requests within the idle window keep the session alive past 1 s.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 300));
      expect((await srv.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode).toBe(
        200,
      );
    }
    // Server-side readings are not activity: the socket alone does not keep it alive.
    hub.publish(reading('bed-09', 1, 80));
    expect((await c.next()).type).toBe('reading');
    const { code } = await c.closed;
    expect(code).toBe(4401);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(2000);
    const after = await srv.app.inject({ method: 'GET', url: '/api/ward', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.body).not.toContain('bed-09');
  });

  it('behavior: the ward clock format (config wardClock) reaches the page; 24-hour by default', async () => {
    const users = new UserFile(join(tmp.dir, 'clock-users.json'));
    await users.add('clock.cy', 'nurse', 'twelve-hour-clock-1');
    const s = await startHttpServer({ hub: new LiveHub(), users, staticDir: STATIC_DIR, wardClock: '12h' });
    try {
      const login = await s.app.inject({
        method: 'POST',
        url: '/api/login',
        payload: { username: 'clock.cy', password: 'twelve-hour-clock-1' },
      });
      const cookie = String(login.headers['set-cookie']).split(';', 1)[0] as string;
      const ward = await s.app.inject({ method: 'GET', url: '/api/ward', headers: { cookie } });
      expect(ward.json().ward).toEqual({ name: 'Ward', clock: '12h' });
    } finally {
      await s.close();
    }
  });

  it('error: hub listeners are released on close', async () => {
    const h = new LiveHub();
    const users = new UserFile(join(tmp.dir, 'none.json'));
    const s = await startHttpServer({ hub: h, users, staticDir: STATIC_DIR });
    expect(h.listenerCount).toBe(1);
    await s.close();
    expect(h.listenerCount).toBe(0);
    await expect(startHttpServer({ hub: h, users, staticDir: STATIC_DIR, sessionIdleMs: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('users file', () => {
  it('behavior: accounts persist in a 0600 JSON file; duplicates are refused', async () => {
    const tmp = makeTempDir();
    try {
      const path = join(tmp.dir, 'gateway', 'users.json');
      const uf = new UserFile(path);
      expect(uf.list()).toEqual([]);
      await uf.add('zoe', 'nurse', 'pw-zoe-1234');
      await uf.add('adam', 'admin', 'pw-adam-1234');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const raw = readFileSync(path, 'utf8');
      expect(raw).not.toContain('pw-zoe-1234');
      const again = new UserFile(path);
      expect(again.list().map((u) => [u.username, u.role])).toEqual([
        ['adam', 'admin'],
        ['zoe', 'nurse'],
      ]);
      await expect(again.add('zoe', 'auditor', 'other-pw')).rejects.toMatchObject({ code: 'user_exists' });
      await expect(again.add('bad name', 'nurse', 'pw')).rejects.toThrow(TypeError);
      await expect(again.add('eve', 'root' as 'admin', 'pw')).rejects.toThrow(TypeError);
      expect((await again.authenticate('zoe', 'pw-zoe-1234'))?.role).toBe('nurse');
      expect(await again.authenticate('zoe', 'pw-adam-1234')).toBeNull();
      expect(await again.authenticate('nobody', 'pw-zoe-1234')).toBeNull();
      // Concurrent adds of one name: exactly one wins.
      const results = await Promise.allSettled([
        uf.add('twin', 'nurse', 'a-pw'),
        uf.add('twin', 'nurse', 'b-pw'),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(uf.list().filter((u) => u.username === 'twin')).toHaveLength(1);
    } finally {
      tmp.cleanup();
    }
  });

  it('error: a corrupt users file is a coded error, not a SyntaxError', () => {
    const tmp = makeTempDir();
    try {
      const path = join(tmp.dir, 'users.json');
      writeFileSync(path, '{"version":1,"users":[{"username":"a"');
      expect(() => new UserFile(path).list()).toThrow(UserFileError);
      writeFileSync(path, JSON.stringify({ version: 1, users: [{ username: 'a', role: 'god' }] }));
      expect(() => new UserFile(path).list()).toThrow(expect.objectContaining({ code: 'users_corrupt' }));
      writeFileSync(path, JSON.stringify({ version: 2, users: [] }));
      expect(() => new UserFile(path).list()).toThrow(expect.objectContaining({ code: 'users_corrupt' }));
    } finally {
      tmp.cleanup();
    }
  });

  it('behavior: ensureInitialAdmin creates admin once, with a 0600 password file that signs in', async () => {
    const tmp = makeTempDir();
    try {
      const usersPath = join(tmp.dir, 'gateway', 'users.json');
      const pwPath = join(tmp.dir, 'gateway', 'initial-admin-password');
      expect(await ensureInitialAdmin(usersPath, pwPath)).toEqual({ created: true });
      expect(statSync(pwPath).mode & 0o777).toBe(0o600);
      expect(statSync(usersPath).mode & 0o777).toBe(0o600);
      const password = readFileSync(pwPath, 'utf8').trim();
      expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
      expect(readFileSync(usersPath, 'utf8')).not.toContain(password);
      const uf = new UserFile(usersPath);
      expect((await uf.authenticate('admin', password))?.role).toBe('admin');
      expect(await ensureInitialAdmin(usersPath, pwPath)).toEqual({ created: false });
      expect(readFileSync(pwPath, 'utf8').trim()).toBe(password);
      expect(uf.list()).toHaveLength(1);
    } finally {
      tmp.cleanup();
    }
  });
});
