/**
 * @module test/integration/binding-book
 * The abstract `BindingBook` suite against the data dir's SQLite store (io/store `Bindings`)
 * and against the PostgreSQL book a gateway group shares (io/shared `PgBindings`) on a real
 * PostgreSQL (test/helpers/postgres), then what only the shared one has to show: two books on
 * one database hear each other's admissions and discharges by notification (long before the
 * fallback poll), each once; a change that sends no notification is caught by the poll; one
 * patient admitted through two books at once is admitted once; a book without a private key
 * still labels beds; a bad row is `integrity_error`; a lost table is `shared_unavailable` on
 * writes while the copy keeps serving; a database of the first shared slice (version 1: the
 * bindings of version 2, the alarm tables of version 3 and whatever came later dropped) is
 * migrated to the current version, every shared table back, its accounts kept.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecipientSecret } from '../../gateway/src/core/envelope.js';
import {
  PG_TABLE_OWNERS,
  PgBindings,
  type PgBindingsOptions,
  PgUserDirectory,
  SHARED_SCHEMA_VERSION,
} from '../../gateway/src/io/shared/index.js';
import { type BindingChange, Bindings } from '../../gateway/src/io/store/bindings.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { closedAfterEach, failsWith } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { recipientPair } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { describeBindingBook } from './binding-book-abstract.js';

const T = Date.UTC(2026, 11, 2, 9, 0, 0);
const pair = recipientPair('records', 'ec');
const recipients = [pair.recipient];
const secrets: RecipientSecret[] = [{ kid: 'records', privateKey: pair.privateKey }];

/** Rows of a table as text: every column's value, tab-separated, a row per line. */
const asText = (rows: readonly Record<string, unknown>[]): string =>
  rows.map((r) => Object.values(r).map(String).join('\t')).join('\n');

describeBindingBook('Bindings (SQLite)', async () => {
  const tmp = makeTempDir('vt-bindings-');
  const store = openStore(join(tmp.dir, 'gateway', 'gateway.db'));
  return {
    book: new Bindings(store, { recipients, secrets }),
    twin: async () => new Bindings(store, { recipients, secrets }),
    storedText: async () =>
      asText(store.db.prepare('SELECT * FROM bindings').all() as Record<string, unknown>[]),
    close: async () => {
      store.close();
      tmp.cleanup();
    },
  };
});

const { server: started, sql } = usePostgres();

/** Books opened by a test, closed after it. */
const closedAfter = closedAfterEach<PgBindings>();
const openPg = async (url: string, o: Partial<PgBindingsOptions> = {}): Promise<PgBindings> =>
  closedAfter(await PgBindings.open({ url, password: started().password, recipients, secrets, ...o }));

describeBindingBook('PgBindings (PostgreSQL)', async () => {
  const url = await started().createDatabase();
  const book = await openPg(url);
  return {
    book,
    twin: () => openPg(url),
    storedText: async () => asText((await sql(url, 'SELECT * FROM ward_bindings')).rows),
    close: async () => {},
  };
});

/** What shared schema version 1 created: a database rolled back to 1 keeps only these. */
const UP_TO_V1: Record<'TABLE' | 'FUNCTION' | 'SEQUENCE', readonly string[]> = {
  TABLE: ['schema_version', 'users'],
  FUNCTION: ['users_stamp', 'users_notify'],
  SEQUENCE: ['users_change_no'],
};

/** The tables, functions and sequences of a database's public schema, as `KIND name`, sorted. */
async function objects(url: string): Promise<string[]> {
  const r = await sql(
    url,
    `SELECT 'TABLE' AS kind, tablename AS name FROM pg_tables WHERE schemaname = 'public'
     UNION ALL SELECT 'FUNCTION', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public'
     UNION ALL SELECT 'SEQUENCE', sequencename FROM pg_sequences WHERE schemaname = 'public'`,
  );
  return r.rows.map((x) => `${x.kind} ${x.name}`).sort();
}

/**
 * Takes a database back to a schema version: drops every object that version did not have
 * (whatever later versions added) and sets the version.
 * @returns what it dropped
 */
async function rollBack(
  url: string,
  keep: Record<'TABLE' | 'FUNCTION' | 'SEQUENCE', readonly string[]>,
  version: number,
): Promise<string[]> {
  const order = ['TABLE', 'FUNCTION', 'SEQUENCE'] as const;
  const drop = (await objects(url))
    .map((o) => o.split(' ') as [(typeof order)[number], string])
    .filter(([kind, name]) => !keep[kind].includes(name))
    .sort(([k1], [k2]) => order.indexOf(k1) - order.indexOf(k2));
  await sql(
    url,
    [
      ...drop.map(([kind, name]) => `DROP ${kind} ${name} CASCADE`),
      // Version 8 changed the users table in place (issue 18: two roles, a subject): undone.
      'ALTER TABLE users DROP COLUMN IF EXISTS subject CASCADE',
      'ALTER TABLE users DROP CONSTRAINT users_role_check',
      "ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'nurse', 'charge_nurse', 'auditor'))",
      `UPDATE schema_version SET version = ${version}`,
    ].join('; '),
  );
  return drop.map(([kind, name]) => `${kind} ${name}`);
}

describe('PgBindings across gateways (one PostgreSQL)', () => {
  it('behavior: an admission through A reaches B by notification, a discharge through B reaches A, each heard once by every book', async () => {
    const url = await started().createDatabase();
    // A poll far beyond the deadlines on A and B: only the notification explains what they see.
    const a = await openPg(url, { pollMs: 60_000 });
    const b = await openPg(url, { pollMs: 60_000 });
    // C polls all the time: its polls must never tell a change again.
    const c = await openPg(url, { pollMs: 20 });
    const heard = new Map<string, BindingChange[]>([
      ['a', []],
      ['b', []],
      ['c', []],
    ]);
    for (const [name, book] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const)
      book.onChange((e) => heard.get(name)?.push(e));

    const t0 = Date.now();
    await a.admit('wr-0001', 'ZZTEST-4711', 'Bed 7', T, 'carla');
    await until(() => b.bedAt('wr-0001', T) === 'Bed 7', 1000, 'B sees the admission made through A');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await b.at('wr-0001', T)).toEqual({ patientId: 'ZZTEST-4711', bed: 'Bed 7', from: T, to: null });
    await until(() => (heard.get('b') ?? []).length === 1, 1000, 'B heard it');

    await b.discharge('wr-0001', T + 60_000, 'dora');
    await until(() => a.beds().length === 0, 1000, 'A sees the discharge made through B');
    await new Promise((r) => setTimeout(r, 300)); // C has polled ~15 times meanwhile
    const admission = { type: 'admission', dev: 'wr-0001', bed: 'Bed 7', at: T, by: 'carla' };
    const discharge = { type: 'discharge', dev: 'wr-0001', at: T + 60_000, by: 'dora' };
    for (const name of ['a', 'b', 'c']) expect(heard.get(name), name).toEqual([admission, discharge]);
  });

  it('behavior: a change that sends no notification is seen by the poll, and told once', async () => {
    const url = await started().createDatabase();
    const a = await openPg(url, { pollMs: 200 });
    const heard: BindingChange[] = [];
    a.onChange((e) => heard.push(e));
    await a.admit('wr-0001', 'P-1', 'Bed 1', T);
    await sql(url, 'ALTER TABLE ward_bindings DISABLE TRIGGER ward_bindings_notify');
    await sql(url, "UPDATE ward_bindings SET to_ts = $1 WHERE dev = 'wr-0001'", [T + 5]);
    await until(() => a.beds().length === 0, 3000, 'the poll sees the discharge');
    await new Promise((r) => setTimeout(r, 500));
    expect(heard).toEqual([
      { type: 'admission', dev: 'wr-0001', bed: 'Bed 1', at: T },
      { type: 'discharge', dev: 'wr-0001', at: T + 5 },
    ]);
  });

  it('behavior: one patient admitted to two beds through two books at once is admitted once', async () => {
    const url = await started().createDatabase();
    const a = await openPg(url);
    const b = await openPg(url);
    for (let round = 0; round < 5; round++) {
      const patient = `P-race-${round}`;
      const results = await Promise.allSettled([
        a.admit(`wr-a${round}`, patient, `Bed A${round}`, T),
        b.admit(`wr-b${round}`, patient, `Bed B${round}`, T),
      ]);
      expect(
        results.filter((r) => r.status === 'fulfilled'),
        `round ${round}`,
      ).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { name: 'BindingError', code: 'patient_elsewhere' },
      });
    }
    const open = await sql(url, 'SELECT count(*)::int AS n FROM ward_bindings WHERE to_ts IS NULL');
    expect(open.rows[0].n).toBe(5);
  });

  it('behavior: a gateway without a private key labels beds and finds bindings by time, but cannot open patient ids sealed elsewhere', async () => {
    const url = await started().createDatabase();
    const a = await openPg(url);
    const keyless = await openPg(url, { secrets: [] });
    await a.admit('wr-0001', 'P-1', 'Bed 1', T);
    await keyless.refresh();
    expect(keyless.beds()).toEqual([{ dev: 'wr-0001', bed: 'Bed 1' }]);
    expect(keyless.bedAt('wr-0001', T)).toBe('Bed 1');
    expect(keyless.idAt('wr-0001', T)).toBe(a.idAt('wr-0001', T));
    await expect(keyless.at('wr-0001', T)).rejects.toMatchObject({ code: 'no_recipient_key' });
    // What it sealed itself it can open (from memory), as a lone gateway can.
    await keyless.admit('wr-0002', 'P-2', 'Bed 2', T);
    expect((await keyless.at('wr-0002', T))?.patientId).toBe('P-2');
  });

  it('error: a row that is no binding makes reads integrity_error until it is fixed; a sealed id moved to another row does not open', async () => {
    const url = await started().createDatabase();
    const a = await openPg(url, { pollMs: 100 });
    await a.admit('wr-0001', 'P-1', 'Bed 1', T);
    await a.admit('wr-0002', 'P-2', 'Bed 2', T);
    await sql(url, 'ALTER TABLE ward_bindings DROP CONSTRAINT ward_bindings_dev_check');
    await sql(url, "UPDATE ward_bindings SET dev = '../etc' WHERE dev = 'wr-0001'");
    await until(
      failsWith('integrity_error', () => a.beds()),
      3000,
      'reads fail integrity_error',
    );
    await sql(url, "UPDATE ward_bindings SET dev = 'wr-0001' WHERE dev = '../etc'");
    // Until the copy has reloaded, reads still fail (integrity_error): that is no answer yet.
    const beds = (): number => {
      try {
        return a.beds().length;
      } catch {
        return -1;
      }
    };
    await until(() => beds() === 2, 3000, 'reads work again');
    // The sealed id of wr-0001's binding copied onto wr-0002's: its AAD names another row.
    await sql(
      url,
      "UPDATE ward_bindings SET patient = (SELECT patient FROM ward_bindings WHERE dev = 'wr-0001') WHERE dev = 'wr-0002'",
    );
    const fresh = await openPg(url); // nothing cached: it must open the row
    await expect(fresh.at('wr-0002', T)).rejects.toMatchObject({ code: 'integrity_error' });
  });

  it('error: a table that cannot be used fails writes with shared_unavailable; the copy keeps serving', async () => {
    const url = await started().createDatabase();
    const a = await openPg(url, { pollMs: 100 });
    await a.admit('wr-0001', 'P-1', 'Bed 1', T);
    await sql(url, 'ALTER TABLE ward_bindings RENAME TO ward_bindings_gone');
    await expect(a.admit('wr-0002', 'P-2', 'Bed 2', T)).rejects.toMatchObject({
      name: 'SharedStateError',
      code: 'shared_unavailable',
    });
    await expect(a.discharge('wr-0001', T + 1)).rejects.toMatchObject({ code: 'shared_unavailable' });
    await new Promise((r) => setTimeout(r, 300)); // polls fail meanwhile
    expect(a.beds()).toEqual([{ dev: 'wr-0001', bed: 'Bed 1' }]);
    expect((await a.at('wr-0001', T))?.patientId).toBe('P-1');
    await sql(url, 'ALTER TABLE ward_bindings_gone RENAME TO ward_bindings');
    expect(await a.discharge('wr-0001', T + 1)).toEqual({ to: T + 1 });
  });

  it('behavior: a database of the first shared slice (version 1) is migrated, its accounts kept', async () => {
    const url = await started().createDatabase();
    const users = await PgUserDirectory.open({ url, password: started().password });
    await users.add('ana', 'nurse', 'correct horse battery 1');
    await users.close();
    // Back to what version 1 had: no bindings table, its functions or sequences, nor the alarm
    // tables of version 3 and their function (nor whatever later versions added).
    const dropped = await rollBack(url, UP_TO_V1, 1);
    expect(dropped).toEqual(
      expect.arrayContaining([
        'TABLE ward_bindings',
        'FUNCTION ward_bindings_stamp',
        'FUNCTION ward_bindings_notify',
        'SEQUENCE ward_bindings_id',
        'SEQUENCE ward_bindings_change_no',
        'TABLE ward_alarm_events',
        'TABLE ward_alarms',
        'FUNCTION ward_alarm_events_notify',
      ]),
    );
    expect(await objects(url)).toEqual(
      Object.entries(UP_TO_V1)
        .flatMap(([kind, names]) => names.map((n) => `${kind} ${n}`))
        .sort(),
    );
    const a = await openPg(url);
    await a.admit('wr-0001', 'P-1', 'Bed 1', T);
    expect((await sql(url, 'SELECT version FROM schema_version')).rows).toEqual([
      { version: SHARED_SCHEMA_VERSION },
    ]);
    expect(SHARED_SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    // Every shared table is back, and only those.
    expect((await objects(url)).filter((o) => o.startsWith('TABLE '))).toEqual(
      Object.keys(PG_TABLE_OWNERS)
        .map((t) => `TABLE ${t}`)
        .sort(),
    );
    expect((await sql(url, 'SELECT username FROM users')).rows).toEqual([{ username: 'ana' }]);
  });
});
