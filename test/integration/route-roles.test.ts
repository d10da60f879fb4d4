/**
 * The one role table (gateway/src/io/http/route-roles.ts), route by route: a real gateway,
 * one account per role and an enrolled wall display (role `display`, issue 15), every route
 * called as every role and without a session; the README's table is checked against the
 * code's (issue 13).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import type { SessionRole } from '../../gateway/src/core/live-contract.js';
import { ROUTE_ROLES } from '../../gateway/src/io/http/route-roles.js';
import { DisplayRegistry } from '../../gateway/src/io/identity/displays.js';
import { ROLES, UserFile } from '../../gateway/src/io/identity/users.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DEV = 'wr-0001';
const ALARM_ID = '00000000-0000-4000-8000-000000000000';
/** The subjects of the doctor's and the patient's accounts (issue 18). */
const CLINICIAN = `0x${'d0'.repeat(32)}`;
const PSEUDONYM = `0x${'0a'.repeat(32)}`;
/** Every kind of session: the user roles and a wall display. */
const PRINCIPALS: readonly SessionRole[] = [...ROLES, 'display'];

/** A request that passes each route's schema, so only access decides 401/403. */
const SAMPLE: Record<string, { url: string; body?: object }> = {
  'GET /<page file>': { url: '/style.css' },
  'GET /favicon.ico': { url: '/favicon.ico' },
  'GET /healthz': { url: '/healthz' },
  'GET /livez': { url: '/livez' },
  'GET /readyz': { url: '/readyz' },
  'GET /metrics': { url: '/metrics' },
  'POST /api/login': { url: '/api/login', body: { username: 'nobody', password: 'x' } },
  'POST /api/logout': { url: '/api/logout' },
  'GET /api/me': { url: '/api/me' },
  // A wrong current password (401 bad_credentials): a right one would change it.
  'POST /api/password': {
    url: '/api/password',
    body: { current: 'not-the-password', next: 'Another-pass-1' },
  },
  // An unknown token: a valid one would replace the caller's session (a fresh id per sign-in).
  'POST /api/display/session': { url: '/api/display/session', body: { token: 'x'.repeat(43) } },
  'GET /api/displays': { url: '/api/displays' },
  'POST /api/displays': { url: '/api/displays', body: { name: 'Route check' } },
  'POST /api/displays/:id/revoke': { url: '/api/displays/000000000000/revoke', body: {} },
  'GET /api/ward': { url: '/api/ward' },
  'GET /ws': { url: '/ws' },
  'GET /api/alarms': { url: '/api/alarms' },
  'POST /api/alarms/:id/ack': { url: `/api/alarms/${ALARM_ID}/ack`, body: {} },
  'POST /api/outbound/webhook/ack': {
    url: '/api/outbound/webhook/ack',
    body: { alarmId: ALARM_ID, by: 'u.nurse' },
  },
  // The patient account's own pseudonym: a patient passes the route's access (then 404: not
  // admitted here), a doctor too (then 503: no consent contract in this test's gateway).
  'GET /api/care/consents': { url: '/api/care/consents' },
  'GET /api/care/patients': { url: '/api/care/patients' },
  'GET /api/care/patients/:patient/readings': { url: `/api/care/patients/${PSEUDONYM}/readings?from=0&to=1` },
  'GET /api/care/patients/:patient/trend': { url: `/api/care/patients/${PSEUDONYM}/trend?from=0&to=60000` },
  // Break-glass: both care roles are given it below (config care.breakGlassRoles), so each
  // passes the route's access and is then told 404 (no such patient admitted here).
  'POST /api/care/patients/:patient/break-glass': {
    url: `/api/care/patients/${PSEUDONYM}/break-glass`,
    body: { reason: 'route check' },
  },
  'POST /api/care/break-glass': {
    url: '/api/care/break-glass',
    body: { patientId: 'P-0000', reason: 'route check' },
  },
  'GET /api/care/break-glass': { url: '/api/care/break-glass' },
  // The consent routes (no consent contract here): a patient passes the access, then a proof
  // that is not the key's (400) or no chain (503); me, doctors and access answer 200.
  'GET /api/care/me': { url: '/api/care/me' },
  'PUT /api/care/me/key': {
    url: '/api/care/me/key',
    body: { address: `0x${'11'.repeat(20)}`, keystore: { v: 1 }, proof: `0x${'22'.repeat(65)}` },
  },
  'GET /api/care/doctors': { url: '/api/care/doctors' },
  'POST /api/care/consents': {
    url: '/api/care/consents',
    body: {
      message: {
        patient: PSEUDONYM,
        doctor: CLINICIAN,
        scope: 1,
        dataFrom: '0',
        dataUntil: '0',
        validFrom: '0',
        validUntil: '1',
        purpose: 'route check',
        nonce: '1',
      },
      signature: `0x${'33'.repeat(65)}`,
    },
  },
  'POST /api/care/consents/:consentId/revoke': {
    url: `/api/care/consents/${PSEUDONYM}/revoke`,
    body: { signature: `0x${'33'.repeat(65)}` },
  },
  'GET /api/care/access': { url: '/api/care/access' },
  'GET /api/care/patients/:patient/ecg': { url: `/api/care/patients/${PSEUDONYM}/ecg?from=0&to=1` },
  'GET /api/care/patients/:patient/fhir': { url: `/api/care/patients/${PSEUDONYM}/fhir?from=0&to=1` },
  'GET /api/care/patients/:patient/bundle': { url: `/api/care/patients/${PSEUDONYM}/bundle?from=0&to=1` },
  'GET /api/care/patients/:patient/bundle/parts': {
    url: `/api/care/patients/${PSEUDONYM}/bundle/parts?from=0&to=1`,
  },
  'GET /api/patients/:dev': { url: `/api/patients/${DEV}` },
  'GET /api/patients/:dev/settings': { url: `/api/patients/${DEV}/settings` },
  'PUT /api/patients/:dev/settings': { url: `/api/patients/${DEV}/settings`, body: {} },
  'POST /api/patients/:dev/standby': { url: `/api/patients/${DEV}/standby`, body: { on: false } },
  'GET /api/patients/:dev/alarms': { url: `/api/patients/${DEV}/alarms` },
  'GET /api/bindings': { url: '/api/bindings' },
  'GET /api/beds': { url: '/api/beds' },
  'GET /api/devices/:dev/bindings': { url: `/api/devices/${DEV}/bindings` },
  'GET /api/devices/:dev/readings': { url: `/api/devices/${DEV}/readings?from=0&to=1000` },
  'GET /api/devices/:dev/trend': { url: `/api/devices/${DEV}/trend?from=0&to=60000` },
  'POST /api/admissions': { url: '/api/admissions', body: { dev: 'wr-9999', patientId: 'P-1', bed: 'B1' } },
  'POST /api/discharges': { url: '/api/discharges', body: { dev: 'wr-9999' } },
  'GET /checkpoint': { url: '/checkpoint' },
  'GET /proof/inclusion': { url: '/proof/inclusion?leaf=0&size=1' },
  'GET /proof/consistency': { url: '/proof/consistency?from=1&to=1' },
  'GET /anchoring': { url: '/anchoring' },
  'GET /receipt': { url: `/receipt?dev=${DEV}&seq=1` },
  'GET /auditor': { url: '/auditor' },
  'GET /auditor/<page file>': { url: '/auditor/index.html' },
  'GET /patient': { url: '/patient' },
  'GET /patient/<page file>': { url: '/patient/index.html' },
  'GET /doctor': { url: '/doctor' },
  'GET /doctor/<page file>': { url: '/doctor/index.html' },
  'GET /care/consent.js': { url: '/care/consent.js' },
};

describe('route roles: every route as every role', () => {
  const tmp = makeTempDir();
  let gw: RunningGateway;
  const cookies = new Map<SessionRole, string>();

  beforeAll(async () => {
    const paths = await prepareDataDir(tmp.dir, [DEV]);
    gw = (await startGateway({
      dataDir: paths.root,
      logger: silentLogger,
      breakGlass: { roles: ['doctor', 'patient'] },
    })) as RunningGateway;
    const users = new UserFile(paths.users);
    for (const role of ROLES) {
      const subject = role === 'doctor' ? CLINICIAN : role === 'patient' ? PSEUDONYM : undefined;
      if (role !== 'admin') await users.add(`u.${role}`, role, `pw-of-${role}`, subject ? { subject } : {});
    }
    const adminPw = readFileSync(paths.initialAdminPassword, 'utf8').trim();
    for (const role of ROLES) {
      const res = await fetch(`${gw.http.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          role === 'admin'
            ? { username: 'admin', password: adminPw }
            : { username: `u.${role}`, password: `pw-of-${role}` },
        ),
      });
      expect(res.status).toBe(200);
      cookies.set(role, String(res.headers.get('set-cookie')).split(';', 1)[0] as string);
    }
    const { token } = new DisplayRegistry(gw.store).enrol('Wall 1', 'admin');
    const res = await fetch(`${gw.http.url}/api/display/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(res.status).toBe(200);
    cookies.set('display', String(res.headers.get('set-cookie')).split(';', 1)[0] as string);
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  async function statusOf(key: string, cookie: string | undefined): Promise<number> {
    const [method] = key.split(' ', 1) as [string];
    const sample = SAMPLE[key];
    if (!sample) throw new Error(`no sample request for ${key}`);
    if (key === 'GET /ws') {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`${gw.http.url.replace(/^http/, 'ws')}/ws`, {
          headers: cookie ? { cookie } : {},
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', reject);
      });
    }
    const res = await fetch(`${gw.http.url}${sample.url}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(sample.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(sample.body ? { body: JSON.stringify(sample.body) } : {}),
    });
    const text = await res.text();
    // A wrong password (or display token) is 401 too, but coded: only access refusals count.
    return /"(bad_credentials|display_token_invalid)"/.test(text) ? 200 : res.status;
  }

  it('behavior: each role gets exactly the routes the table gives it (403 otherwise; 401 without a session)', async () => {
    const seen: string[] = [];
    // Logout last: it ends the session of the role that calls it.
    const keys = Object.keys(ROUTE_ROLES).sort(
      (a, b) => Number(a === 'POST /api/logout') - Number(b === 'POST /api/logout'),
    );
    for (const key of keys) {
      const access = ROUTE_ROLES[key] as (typeof ROUTE_ROLES)[string];
      const anon = await statusOf(key, undefined);
      if (access === 'public' || access === 'token')
        expect([key, anon === 401 || anon === 403]).toEqual([key, false]);
      else expect([key, anon]).toEqual([key, 401]);
      for (const role of PRINCIPALS) {
        const status = await statusOf(key, cookies.get(role));
        if (access === 'signed') {
          // The webhook signature is the credential: no session counts.
          expect([key, role, status]).toEqual([key, role, 401]);
          seen.push(`${key} ${role} ${status}`);
          continue;
        }
        const allowed = typeof access === 'string' || access.includes(role);
        if (allowed) expect([key, role, status === 401 || status === 403]).toEqual([key, role, false]);
        else expect([key, role, status]).toEqual([key, role, 403]);
        seen.push(`${key} ${role} ${status}`);
      }
    }
    expect(seen.length).toBe(Object.keys(ROUTE_ROLES).length * PRINCIPALS.length);
  }, 120_000);

  it('behavior: nurses and charge nurses get no proofs; auditors no live vitals', () => {
    for (const key of ['GET /checkpoint', 'GET /proof/inclusion', 'GET /anchoring', 'GET /receipt']) {
      expect(ROUTE_ROLES[key]).toEqual(['admin', 'auditor']);
    }
    expect(ROUTE_ROLES['GET /api/ward']).not.toContain('auditor');
  });

  it('behavior: a wall display reads the ward overview and nothing else', () => {
    const forDisplay = Object.entries(ROUTE_ROLES)
      .filter(([, access]) => typeof access !== 'string' && access.includes('display'))
      .map(([key]) => key)
      .sort();
    expect(forDisplay).toEqual(['GET /api/alarms', 'GET /api/beds', 'GET /api/ward', 'GET /ws']);
    expect(ROUTE_ROLES['GET /api/me']).toBe('session');
    for (const key of ['GET /api/displays', 'POST /api/displays', 'POST /api/displays/:id/revoke']) {
      expect(ROUTE_ROLES[key]).toEqual(['admin']);
    }
  });

  it("behavior: the README's route table is the code's", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = readme.slice(
      readme.indexOf('<!-- route-roles:start -->'),
      readme.indexOf('<!-- route-roles:end -->'),
    );
    const rows = [...block.matchAll(/^\s*\| `([^`]+)` \| ([^|]+) \|$/gm)].map((m) => [
      m[1],
      (m[2] as string).trim(),
    ]);
    expect(rows).toEqual(
      Object.entries(ROUTE_ROLES).map(([k, a]) => [k, typeof a === 'string' ? a : a.join(', ')]),
    );
  });
});
