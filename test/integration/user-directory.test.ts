/**
 * @module test/integration/user-directory
 * The abstract `UserDirectory` suite against the users file (io/identity `UserFile`) and
 * against the PostgreSQL directory a gateway group shares (io/shared `PgUserDirectory`) on a
 * real PostgreSQL (test/helpers/postgres), then what only the shared one has to show: two
 * directories on one database see each other's changes by notification (long before the
 * fallback poll), a missed notification is caught by the poll, a bad row is `users_corrupt`,
 * and a database that cannot be used is `shared_unavailable` at open.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import {
  PgUserDirectory,
  type PgUserDirectoryOptions,
  SHARED_SCHEMA_VERSION,
  SharedStateError,
} from '../../gateway/src/io/shared/index.js';
import { closedAfterEach, failsWith } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { describeUserDirectory } from './user-directory-abstract.js';

const PW = 'correct horse battery 1';

describeUserDirectory('UserFile', async () => {
  const tmp = makeTempDir('vt-users-');
  const path = join(tmp.dir, 'gateway', 'users.json');
  return {
    users: new UserFile(path),
    twin: async () => new UserFile(path),
    close: async () => tmp.cleanup(),
  };
});

const { server: started, sql } = usePostgres();

/** Directories opened by a test, closed after it. */
const closedAfter = closedAfterEach<PgUserDirectory>();
const openPg = async (o: PgUserDirectoryOptions): Promise<PgUserDirectory> =>
  closedAfter(await PgUserDirectory.open(o));

describeUserDirectory('PgUserDirectory (PostgreSQL)', async () => {
  const url = await started().createDatabase();
  const o = { url, password: started().password };
  const users = await openPg(o);
  return { users, twin: () => openPg(o), close: async () => {} };
});

describe('PgUserDirectory across gateways (one PostgreSQL)', () => {
  it('behavior: a user added through A is seen by B by notification; disabled through B, A refuses her and its signature moved', async () => {
    const url = await started().createDatabase();
    // A poll far beyond the deadlines: only the notification can explain what B and A see.
    const a = await openPg({ url, password: started().password, pollMs: 60_000 });
    const b = await openPg({ url, password: started().password, pollMs: 60_000 });
    const sigA = a.signature();
    const sigB = b.signature();
    await a.add('ana', 'nurse', PW);
    const t0 = Date.now();
    await until(() => b.find('ana') !== undefined, 1000, 'B sees the account A added');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(b.signature()).not.toBe(sigB);
    expect(await b.authenticate('ana', PW)).toMatchObject({ username: 'ana', role: 'nurse' });
    expect(a.signature()).toBe(b.signature());

    const beforeDisable = a.signature();
    expect(await b.disable('ana')).toBe(true);
    expect(b.get('ana')).toBeUndefined(); // the writer sees its own write at once
    await until(() => a.get('ana') === undefined, 1000, 'A sees the account disabled through B');
    expect(a.signature()).not.toBe(beforeDisable);
    expect(a.signature()).not.toBe(sigA);
    expect(await a.authenticate('ana', PW)).toMatchObject({ disabled: true });
  });

  it('behavior: an account not yet in the copy (no notification yet) still signs in: the table is read again first', async () => {
    const url = await started().createDatabase();
    const a = await openPg({ url, password: started().password, pollMs: 60_000 });
    const b = await openPg({ url, password: started().password, pollMs: 60_000 });
    // B hears nothing of this account: the notify trigger is off and its poll is a minute away.
    await sql(url, 'ALTER TABLE users DISABLE TRIGGER users_notify');
    await a.add('ana', 'nurse', PW);
    expect(b.find('ana')).toBeUndefined();
    expect(await b.authenticate('ana', PW)).toMatchObject({ username: 'ana', role: 'nurse' });
    expect(b.find('ana')).toBeDefined();
    expect(await b.authenticate('nobody', PW)).toBeNull();
  });

  it('behavior: a change that sends no notification is seen by the 2 s poll', async () => {
    const url = await started().createDatabase();
    const a = await openPg({ url, password: started().password, pollMs: 300 });
    await a.add('ana', 'nurse', PW);
    const s = a.signature();
    // An operator's edit with the notify trigger off: nothing is sent on the channel.
    await sql(url, 'ALTER TABLE users DISABLE TRIGGER users_notify');
    await sql(url, "UPDATE users SET disabled = true WHERE username = 'ana'");
    await until(() => a.get('ana') === undefined, 3000, 'the poll sees the disable');
    expect(a.signature()).not.toBe(s);
  });

  it('behavior: the listener lost (its connection killed) is re-opened, and changes meanwhile are seen', async () => {
    const url = await started().createDatabase();
    const listeners = async (): Promise<number> =>
      Number(
        (
          await sql(
            url,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
          )
        ).rows[0].n,
      );
    const a = await openPg({ url, password: started().password, pollMs: 200 });
    expect(await listeners()).toBe(1);
    await sql(
      url,
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    );
    const b = await openPg({ url, password: started().password, pollMs: 60_000 });
    await b.add('kim', 'nurse', PW);
    await until(() => a.find('kim') !== undefined, 3000, 'A sees the account after its listener was killed');
    // A listens again (its own connection and B's).
    const deadline = Date.now() + 3000;
    while ((await listeners()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await listeners()).toBe(2);
    await a.add('lee', 'auditor', PW);
    await until(() => b.find('lee') !== undefined, 1000, 'B sees A by notification');
  });

  it('error: a row that is no valid account makes reads users_corrupt until it is fixed', async () => {
    const url = await started().createDatabase();
    const a = await openPg({ url, password: started().password, pollMs: 200 });
    await a.add('ana', 'nurse', PW);
    await sql(url, 'ALTER TABLE users DROP CONSTRAINT users_role_check');
    await sql(url, "UPDATE users SET role = 'root' WHERE username = 'ana'");
    await until(
      failsWith('users_corrupt', () => a.list()),
      3000,
      'reads fail users_corrupt',
    );
    expect(() => a.find('ana')).toThrow(
      expect.objectContaining({ name: 'UserFileError', code: 'users_corrupt' }),
    );
    await sql(url, "UPDATE users SET role = 'nurse' WHERE username = 'ana'");
    // Reads throw users_corrupt until the copy reloads: a throw is "not yet".
    const worksAgain = () => {
      try {
        return a.find('ana')?.role === 'nurse';
      } catch {
        return false;
      }
    };
    await until(worksAgain, 3000, 'reads work again');
  });

  it('error: an unreachable database, refused credentials or a newer schema are shared_unavailable at open, naming no secret', async () => {
    const port = await freePort();
    const nowhere = PgUserDirectory.open({
      url: `postgres://vitaltrail@127.0.0.1:${port}/x`,
      connectTimeoutMs: 2000,
    });
    await expect(nowhere).rejects.toBeInstanceOf(SharedStateError);
    await expect(nowhere).rejects.toMatchObject({ code: 'shared_unavailable' });
    const url = await started().createDatabase();
    const wrong = PgUserDirectory.open({ url, password: 'not-the-password-1' });
    const err = (await wrong.catch((e: unknown) => e)) as SharedStateError;
    expect(err).toMatchObject({ name: 'SharedStateError', code: 'shared_unavailable' });
    expect(err.message).not.toContain('not-the-password-1');
    expect(err.message).not.toContain(url);
    await expect(
      PgUserDirectory.open({ url: url.replace('vitaltrail@', 'vitaltrail:pw@') }),
    ).rejects.toMatchObject({
      code: 'shared_unavailable',
    });
    // A database migrated by a newer gateway is refused, never downgraded.
    await (await openPg({ url, password: started().password })).close();
    await sql(url, 'UPDATE schema_version SET version = version + 1');
    await expect(PgUserDirectory.open({ url, password: started().password })).rejects.toMatchObject({
      code: 'shared_unavailable',
      message: expect.stringContaining('newer'),
    });
  });

  it('behavior: gateways migrating one new database at once all open it', async () => {
    const url = await started().createDatabase();
    const dirs = await Promise.all([1, 2, 3].map(() => openPg({ url, password: started().password })));
    await dirs[0]?.add('ana', 'nurse', PW);
    await until(() => dirs.every((d) => d.find('ana') !== undefined), 2000, 'all see the account');
    const v = await sql(url, 'SELECT version FROM schema_version');
    expect(v.rows).toEqual([{ version: SHARED_SCHEMA_VERSION }]);
  });
});
