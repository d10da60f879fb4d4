/**
 * @module test/integration/session-restart
 * Issue 16, sessions "in an existing engine … the embedded default stays SQLite in the data
 * dir", on a real lone gateway (startGateway, no `shared.postgres`, real HTTP): a nurse's
 * session survives a restart of the gateway on the same data dir (io/identity
 * `SqliteSessions`), while what ends a session still ends it: a sign-out before the restart
 * holds after it; a password reset or a disabled account while the gateway was down refuses
 * the session after it (and enabling the account again does not bring it back, nor does it
 * for an account disabled while running); a wall display's session is its gateway process's,
 * as before (the screen exchanges its token again). The table holds only hashes. Then, on a
 * bare HTTP server with a short idle timeout over the same kind of rows: a session in use
 * lives on, an idle one ends and its row goes.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { SqliteSessions } from '../../gateway/src/io/identity/index.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { call, type Reply } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const PW = 'a-nurses-password-of-20';
const RESET_PW = 'reset-by-an-admin-while-down-9';
/** The account sync's bound is about 1 s (io/http/sessions ACCOUNT_SYNC_MS); far beyond it. */
const ENDED_WITHIN_MS = 10_000;

const idOf = (cookie: string): string => cookie.slice(cookie.indexOf('=') + 1);
const hashOf = (cookie: string): string => createHash('sha256').update(idOf(cookie)).digest('hex');

describe('a lone gateway keeps its sessions across a restart (SQLite in the data dir)', () => {
  const tmp = makeTempDir('vt-session-restart-');
  let paths: DataPaths;
  let users: UserFile;
  let gw: RunningGateway | undefined;

  const base = (): string => (gw as RunningGateway).http.url;
  const start = async (): Promise<void> => {
    gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
  };
  const signIn = async (username: string): Promise<string> => {
    const r = await call(base(), 'POST', '/api/login', undefined, { username, password: PW });
    expect(r.status).toBe(200);
    return r.cookie as string;
  };
  const me = (cookie: string): Promise<Reply> => call(base(), 'GET', '/api/me', cookie);

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'gw'), []);
    users = new UserFile(paths.users);
    for (const u of ['kim', 'lee', 'max', 'ann', 'bo']) await users.add(u, 'nurse', PW);
    await users.add('ada', 'admin', PW);
    await start();
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  it('behavior: a session ended for its disabled account stays ended when the account is enabled again', async () => {
    const cookie = await signIn('bo');
    expect((await me(cookie)).status).toBe(200);
    await users.disable('bo');
    await expect.poll(async () => (await me(cookie)).status, { timeout: ENDED_WITHIN_MS }).toBe(401);
    await users.enable('bo');
    expect((await me(cookie)).status).toBe(401);
    expect((await call(base(), 'GET', '/api/me', await signIn('bo'))).status).toBe(200); // a new sign-in works
  });

  it('behavior: after a restart her session works, a sign-out holds, a reset or disabled account refuses; a display signs in again', async () => {
    const kim = await signIn('kim');
    const lee = await signIn('lee');
    const max = await signIn('max');
    const ann = await signIn('ann');
    expect((await call(base(), 'POST', '/api/logout', lee)).status).toBe(204);
    expect((await me(lee)).status).toBe(401);
    const enrolled = await call(base(), 'POST', '/api/displays', await signIn('ada'), { name: 'Station 7B' });
    expect(enrolled.status).toBe(201);
    const token = enrolled.body.token as string;
    const display = (await call(base(), 'POST', '/api/display/session', undefined, { token }))
      .cookie as string;
    expect((await me(display)).status).toBe(200);

    await (gw as RunningGateway).stop();
    gw = undefined;
    // While the gateway is down (the CLI on the users file): a reset, a disabled account.
    await users.setPassword('max', RESET_PW, { mustChange: true });
    await users.disable('ann');
    const store = openStore(paths.db);
    try {
      const rows = store.db.prepare('SELECT * FROM dashboard_sessions').all() as Record<string, unknown>[];
      const text = JSON.stringify(rows);
      for (const c of [kim, max, ann]) {
        expect(rows.map((r) => r.id_hash)).toContain(hashOf(c));
        expect(text).not.toContain(idOf(c));
      }
      expect(rows.map((r) => r.id_hash)).not.toContain(hashOf(lee)); // signed out: gone
      expect(rows.map((r) => r.id_hash)).not.toContain(hashOf(display)); // a display's is never stored
    } finally {
      store.close();
    }
    await start();

    const kimMe = await me(kim);
    expect([kimMe.status, kimMe.body.username, kimMe.body.role]).toEqual([200, 'kim', 'nurse']);
    expect((await call(base(), 'GET', '/api/ward', kim)).status).toBe(200);
    expect((await me(lee)).status).toBe(401);
    expect((await me(max)).status).toBe(401);
    expect((await me(ann)).status).toBe(401);
    await users.enable('ann');
    expect((await me(ann)).status).toBe(401); // refused once: not back with the account
    expect((await me(display)).status).toBe(401);
    const again = await call(base(), 'POST', '/api/display/session', undefined, { token });
    expect(again.status).toBe(200);
    expect((await me(again.cookie as string)).status).toBe(200);
    // Signed out after the restart: ended for good.
    expect((await call(base(), 'POST', '/api/logout', kim)).status).toBe(204);
    expect((await me(kim)).status).toBe(401);
  }, 60_000);
});

describe('the idle timeout of a session kept in the data dir (bare server, short idle time)', () => {
  const tmp = makeTempDir('vt-session-idle-');
  const IDLE_MS = 400;
  let srv: HttpServer;
  let store: ReturnType<typeof openStore>;

  beforeAll(async () => {
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add('kim', 'nurse', PW);
    store = openStore(join(tmp.dir, 'gateway.db'));
    srv = await startHttpServer({
      hub: new LiveHub(),
      users,
      staticDir: join(import.meta.dirname, '../../dashboards/ward'),
      sessionIdleMs: IDLE_MS,
      sharedSessions: new SqliteSessions(store),
    });
  });

  afterAll(async () => {
    await srv?.close();
    store?.close();
    tmp.cleanup();
  });

  it('behavior: a session in use outlives the idle time; idle, it ends and its row is deleted', async () => {
    const login = await call(srv.url, 'POST', '/api/login', undefined, { username: 'kim', password: PW });
    const cookie = login.cookie as string;
    const rows = () => store.db.prepare('SELECT id_hash FROM dashboard_sessions').pluck().all();
    expect(rows()).toEqual([hashOf(cookie)]);
    const until = Date.now() + 3 * IDLE_MS;
    while (Date.now() < until) {
      expect((await call(srv.url, 'GET', '/api/me', cookie)).status).toBe(200);
      await new Promise((r) => setTimeout(r, IDLE_MS / 4));
    }
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    expect((await call(srv.url, 'GET', '/api/me', cookie)).status).toBe(401);
    expect(rows()).toEqual([]);
  });
});
