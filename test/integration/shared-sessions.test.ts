/**
 * @module test/integration/shared-sessions
 * Issue 16, "users and sessions" shared, "one URL for nurses behind the hospital's reverse
 * proxy (either gateway may answer)": two gateways (startGateway in this process, each on
 * its own data directory and embedded broker) with one real PostgreSQL (`shared.postgres`).
 * A nurse signs in through A; her cookie is good on B (API and live socket), as a proxy
 * without affinity would send it; signed out through B, her session on A ends at once (the
 * live socket closes 4401); a password change on A keeps her session on B and ends her other
 * sessions on both; an account disabled loses its sessions for the group (enabled again, the
 * old cookie is still refused); with A stopped, B goes on serving her. The database holds only the
 * SHA-256 of a session id, and a cookie of the right shape that was never issued is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { PgUserDirectory, poolConfig } from '../../gateway/src/io/shared/index.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http-client.js';
import { type RunningPostgres, startPostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/tmp.js';

const NURSE = 'kim';
const PW = 'kims-password-on-every-gw-1';
const NEXT_PW = 'kims-new-password-on-every-gw-2';
/** The other gateway hears a sign-out by notification: well within this. */
const ENDED_WITHIN_MS = 2000;

const signIn = (base: string, password = PW): Promise<Reply> =>
  call(base, 'POST', '/api/login', undefined, { username: NURSE, password });

/** An open live socket of `cookie`'s session, after its snapshot. */
function openLive(base: string, cookie: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: { cookie, origin: base } });
    ws.once('message', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

/** Resolves with the close code and time of a socket. */
const closeOf = (ws: WebSocket): Promise<{ code: number; at: number }> =>
  new Promise((resolve) => ws.once('close', (code) => resolve({ code, at: Date.now() })));

describe('one session for a gateway group (shared.postgres)', () => {
  const tmp = makeTempDir('vt-shared-sessions-');
  let pgsrv: RunningPostgres;
  const gws: RunningGateway[] = [];

  beforeAll(async () => {
    pgsrv = await startPostgres();
    const started = await Promise.all(
      ['gw-a', 'gw-b'].map(async (id) =>
        startGateway({
          dataDir: (await prepareDataDir(join(tmp.dir, id), [])).root,
          gatewayId: id,
          logger: silentLogger,
          shared: { postgres: { url: pgsrv.url, password: pgsrv.password } },
        }),
      ),
    );
    gws.push(...(started as RunningGateway[]));
    const users = await PgUserDirectory.open({ url: pgsrv.url, password: pgsrv.password });
    try {
      await users.add(NURSE, 'nurse', PW);
    } finally {
      await users.close();
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(gws.map((g) => g.stop()));
    await pgsrv?.stop();
    tmp.cleanup();
  });

  it('behavior: signed in through A, her cookie is good on B (API and live socket); the database holds only its hash', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const login = await signIn(a.http.url);
    expect(login.status).toBe(200);
    const cookie = login.cookie as string;
    const me = await call(b.http.url, 'GET', '/api/me', cookie);
    expect([me.status, me.body.username]).toEqual([200, NURSE]);
    const ws = await openLive(b.http.url, cookie);
    ws.close();
    const id = cookie.split('=')[1] as string;
    const c = new pg.Client(poolConfig({ url: pgsrv.url, password: pgsrv.password }));
    await c.connect();
    try {
      const rows = (await c.query('SELECT * FROM ward_sessions')).rows;
      const text = JSON.stringify(rows);
      expect(text).not.toContain(id);
      expect(rows.map((r) => r.id_hash)).toContain(createHash('sha256').update(id).digest('hex'));
    } finally {
      await c.end();
    }
  });

  it('error: a cookie of the right shape that was never issued is refused on both', async () => {
    const forged = `vt_session=${randomBytes(32).toString('base64url')}`;
    for (const g of gws) expect((await call(g.http.url, 'GET', '/api/me', forged)).status).toBe(401);
  });

  it('behavior: signed out through B, her session on A ends at once (live socket 4401)', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const cookie = (await signIn(a.http.url)).cookie as string;
    const ws = await openLive(a.http.url, cookie);
    const closed = closeOf(ws);
    const t0 = Date.now();
    expect((await call(b.http.url, 'POST', '/api/logout', cookie)).status).toBe(204);
    const end = await closed;
    expect(end.code).toBe(4401);
    expect(end.at - t0).toBeLessThan(ENDED_WITHIN_MS);
    for (const g of gws) expect((await call(g.http.url, 'GET', '/api/me', cookie)).status).toBe(401);
  });

  it('behavior: an account disabled ends its sessions for the group; enabled again, the old cookie stays refused on both', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const users = await PgUserDirectory.open({ url: pgsrv.url, password: pgsrv.password });
    try {
      await users.add('lou', 'nurse', 'lous-password-on-every-gw-1');
      const cookie = (
        await call(a.http.url, 'POST', '/api/login', undefined, {
          username: 'lou',
          password: 'lous-password-on-every-gw-1',
        })
      ).cookie as string;
      for (const g of [a, b]) expect((await call(g.http.url, 'GET', '/api/me', cookie)).status).toBe(200);
      await users.disable('lou');
      const rows = async () => {
        const c = new pg.Client(poolConfig({ url: pgsrv.url, password: pgsrv.password }));
        await c.connect();
        try {
          return (await c.query("SELECT count(*)::int AS n FROM ward_sessions WHERE username = 'lou'"))
            .rows[0].n;
        } finally {
          await c.end();
        }
      };
      const t0 = Date.now();
      while ((await rows()) > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 100));
      expect(await rows()).toBe(0);
      for (const g of [a, b]) expect((await call(g.http.url, 'GET', '/api/me', cookie)).status).toBe(401);
      await users.enable('lou');
      await new Promise((r) => setTimeout(r, 1500)); // both copies hold the enabled account
      for (const g of [a, b]) expect((await call(g.http.url, 'GET', '/api/me', cookie)).status).toBe(401);
    } finally {
      await users.close();
    }
  });

  it('behavior: a password change on A keeps that session on B and ends her other sessions on both; with A stopped, B serves her', async () => {
    const [a, b] = gws as [RunningGateway, RunningGateway];
    const other = (await signIn(b.http.url)).cookie as string;
    const cookie = (await signIn(a.http.url)).cookie as string;
    expect((await call(b.http.url, 'GET', '/api/me', cookie)).status).toBe(200); // held by B too
    const changed = await call(a.http.url, 'POST', '/api/password', cookie, { current: PW, next: NEXT_PW });
    expect(changed.status).toBe(200);
    // B sees the account change (its sync) and the session's new stamp (the group's copy).
    await expect
      .poll(async () => (await call(b.http.url, 'GET', '/api/me', other)).status, { timeout: 5000 })
      .toBe(401);
    expect((await call(a.http.url, 'GET', '/api/me', other)).status).toBe(401);
    expect((await call(b.http.url, 'GET', '/api/me', cookie)).status).toBe(200);
    await a.stop();
    const me = await call(b.http.url, 'GET', '/api/me', cookie);
    expect([me.status, me.body.username]).toEqual([200, NURSE]);
  }, 60_000);
});
