/**
 * @module test/integration/alarm-ledger
 * The alarm ledger of a gateway group (io/shared `PgAlarms`, the io/clinical `AlarmLedger` of
 * issue 16, "alarms decided once") on a real PostgreSQL (test/helpers/postgres), two ledgers
 * on one database standing for two gateways (`gw-a`, `gw-b`), fed hand-made transitions:
 * - the abstract suite (alarm-ledger-abstract.ts, also run against a lone gateway's SQLite
 *   store by local-alarm-ledger.test.ts): each transition recorded once, the decision rules,
 *   event ids without gaps, the feed, the history, the open alarms, no vital value stored;
 *   here with the two gateways' records racing on the server;
 * - `onRemote` tells one gateway of the other's transitions (with the alarm's row) by
 *   notification, in order, each once, never its own, also one notified while a read that
 *   finds nothing is under way (a proxy delays the answers); without notifications the poll
 *   does;
 * - a ledger whose database is away (cut off by a proxy; connections refused and sessions
 *   ended) fails with `shared_unavailable`, never crashes the process, and follows the group
 *   again (listener re-opened) once it is back; a closed ledger whose sessions the server
 *   ends afterwards does not crash the process either;
 * - a database of the second shared slice (version 2) is migrated to the current version
 *   (3 and on), its accounts and admissions kept.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alarm, AlarmTransition } from '../../gateway/src/core/alarms/index.js';
import type { RemoteAlarmEvent } from '../../gateway/src/io/clinical/index.js';
import {
  PG_TABLE_OWNERS,
  PgAlarms,
  PgBindings,
  PgUserDirectory,
  SHARED_SCHEMA_VERSION,
  SharedStateError,
} from '../../gateway/src/io/shared/index.js';
import { closedAfterEach, rejection } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { recipientPair } from '../helpers/sealed.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';
import {
  acknowledge,
  alarm,
  alarmRowOf,
  clear,
  describeAlarmLedger,
  escalate,
  raise,
  sharedOf,
  T,
} from './alarm-ledger-abstract.js';

/** A poll far beyond every deadline: only a notification explains a delivery. */
const NO_POLL = 60_000;

const { server: started, sql } = usePostgres();

/** Ledgers opened by a test, closed after it. */
const closedAfter = closedAfterEach<PgAlarms>();
const openLedger = async (url: string, gatewayId: string, pollMs = NO_POLL): Promise<PgAlarms> =>
  closedAfter(await PgAlarms.open({ url, password: started().password, gatewayId, pollMs }));

/** Two gateways of one group on a fresh database. */
async function twoGateways(pollMs = NO_POLL): Promise<{ url: string; a: PgAlarms; b: PgAlarms }> {
  const url = await started().createDatabase();
  return { url, a: await openLedger(url, 'gw-a', pollMs), b: await openLedger(url, 'gw-b', pollMs) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `url` with another port (a proxy's). */
function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/**
 * A proxy to the PostgreSQL server for one ledger: it answers `answerDelayMs` late on every
 * connection but one that LISTENs (notifications come at once, query results late; `slow`
 * changes the delay from then on), and `hold()` stops forwarding what the ledger sends (the
 * server never hears it again).
 */
async function pgProxy(
  targetPort: number,
  answerDelayMs = 0,
): Promise<{ port: number; hold(): void; slow(ms: number): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let held = false;
  let delay = answerDelayMs;
  // Half-open allowed: a client's goodbye (its FIN) held back leaves its answers flowing.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    let listening = false;
    let due = 0; // when the last answer chunk goes out (chunks keep their order)
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', drop).on('close', drop);
    }
    client.on('data', (d: Buffer) => {
      if (held) return;
      if (d.includes('LISTEN ')) listening = true;
      upstream.write(d);
    });
    client.on('end', () => {
      if (!held) upstream.end();
    });
    upstream.on('end', () => client.end());
    upstream.on('data', (d: Buffer) => {
      due = Math.max(due, Date.now() + (listening ? 0 : delay));
      setTimeout(() => client.writable && client.write(d), due - Date.now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    hold: () => {
      held = true;
    },
    slow: (ms) => {
      delay = ms;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const count = async (url: string, table: string, where = 'true'): Promise<number> =>
  (await sql(url, `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`)).rows[0].n;

const TABLES = { alarms: 'ward_alarms', events: 'ward_alarm_events' } as const;

describeAlarmLedger('PgAlarms (PostgreSQL, two gateways)', async () => {
  const { url, a, b } = await twoGateways();
  return {
    a,
    b,
    gatewayOf: { a: 'gw-a', b: 'gw-b' },
    interleaves: true,
    count: (table, scope) => count(url, TABLES[table], scope === undefined ? 'true' : `scope = '${scope}'`),
    alarmRows: async () =>
      (await sql(url, 'SELECT * FROM ward_alarms ORDER BY raised_at, id')).rows.map(alarmRowOf),
    columns: async (table) =>
      (
        await sql(
          url,
          'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
          [TABLES[table]],
        )
      ).rows.map((r) => r.column_name as string),
    storedText: async (table) => JSON.stringify((await sql(url, `SELECT * FROM ${TABLES[table]}`)).rows),
    close: async () => {},
  };
});

describe('PgAlarms: what other gateways record', () => {
  it('behavior: B hears A’s transitions by notification, in order, with the alarm’s row, each once, never its own', async () => {
    const { url, a, b } = await twoGateways(NO_POLL);
    const heard = { a: [] as RemoteAlarmEvent[], b: [] as RemoteAlarmEvent[] };
    a.onRemote((es) => heard.a.push(...es));
    b.onRemote((es) => heard.b.push(...es));

    // Step by step: each of A's transitions reaches B well within 1 s, with the row after it.
    let cur = alarm({ priority: 'medium' });
    const steps: [AlarmTransition, Alarm][] = [[raise(cur), cur]];
    steps.push(escalate(cur, 'high', T + 120_000));
    steps.push(acknowledge((steps[1] as [AlarmTransition, Alarm])[1], 'ana', 'checked', T + 130_000));
    steps.push(clear((steps[2] as [AlarmTransition, Alarm])[1], T + 140_000));
    for (const [i, [t, after]] of steps.entries()) {
      const t0 = Date.now();
      expect((await a.record(t, t.type === 'acknowledged' ? 'checked' : null)).recorded).toBe(true);
      await until(() => heard.b.length === i + 1, 1500, `B hears A's ${t.type}`, 5);
      expect(Date.now() - t0).toBeLessThan(1000);
      const got = heard.b[i] as RemoteAlarmEvent;
      expect(got.event).toMatchObject({ id: i + 1, alarmId: cur.id, event: t.type, gateway: 'gw-a' });
      expect(got.alarm).toEqual(sharedOf(after));
      cur = after;
    }

    // B's own transitions reach A, never B.
    const own = alarm({ scope: 'wr-0002', raisedAt: T + 200_000 });
    await b.record(raise(own), null);
    await until(() => heard.a.length === 1, 1500, "A hears B's raise", 5);
    expect(heard.a[0]?.event).toMatchObject({ id: 5, alarmId: own.id, gateway: 'gw-b' });
    expect(heard.a[0]?.alarm).toEqual(sharedOf(own));

    // A burst from both at once: each hears every one of the other's, once and in order.
    const burst = Array.from({ length: 30 }, (_, i) => [
      a.record(raise(alarm({ scope: `wr-a${i}`, raisedAt: T + 300_000 + i })), null),
      b.record(raise(alarm({ scope: `wr-b${i}`, raisedAt: T + 300_000 + i })), null),
    ]).flat();
    const t0 = Date.now();
    await Promise.all(burst);
    await until(
      () => heard.a.length === 31 && heard.b.length === 34,
      2000,
      'each hears the other’s burst by notification',
      5,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(heard.b.map((e) => e.event.gateway)).toEqual(Array(34).fill('gw-a'));
    expect(heard.a.map((e) => e.event.gateway)).toEqual(Array(31).fill('gw-b'));
    const idsOf = (es: RemoteAlarmEvent[]) => es.map((e) => e.event.id);
    const sorted = (xs: number[]) => [...xs].sort((p, q) => p - q);
    expect(idsOf(heard.b)).toEqual(sorted(idsOf(heard.b)));
    expect(idsOf(heard.a)).toEqual(sorted(idsOf(heard.a)));
    expect(new Set([...idsOf(heard.a), ...idsOf(heard.b)]).size).toBe(65);
    expect(await count(url, 'ward_alarm_events')).toBe(65);
  });

  it('behavior: a transition recorded while B reads and finds nothing is told at once (B reads again), not at the next poll', async () => {
    const url = await started().createDatabase();
    const a = await openLedger(url, 'gw-a');
    const proxy = await pgProxy(started().port, 250);
    try {
      const b = await openLedger(viaPort(url, proxy.port), 'gw-b', NO_POLL);
      const heard: RemoteAlarmEvent[] = [];
      b.onRemote((es) => heard.push(...es));
      // A notification with nothing new behind it (sent by hand): B reads, finds nothing, and
      // its answer takes 250 ms. Meanwhile A records: A's notification reaches B during that read.
      await sql(url, 'NOTIFY vitaltrail_alarms');
      await sleep(50);
      const x = alarm();
      const t0 = Date.now();
      expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
      await until(() => heard.length === 1, 3000, 'B hears the raise notified during its empty read');
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(heard[0]?.event).toMatchObject({ id: 1, alarmId: x.id, gateway: 'gw-a' });
      await b.close();
    } finally {
      await proxy.close();
    }
  });

  it('behavior: a listener that stops listening hears nothing more; one that throws does not stop the others', async () => {
    const { a, b } = await twoGateways(NO_POLL);
    const first: RemoteAlarmEvent[] = [];
    const second: RemoteAlarmEvent[] = [];
    const stop = b.onRemote((es) => first.push(...es));
    b.onRemote(() => {
      throw new Error('a failing listener');
    });
    b.onRemote((es) => second.push(...es));
    await a.record(raise(alarm({ scope: 'wr-0001' })), null);
    await until(() => first.length === 1 && second.length === 1, 1500, 'both listeners hear it', 5);
    stop();
    await a.record(raise(alarm({ scope: 'wr-0002' })), null);
    await until(() => second.length === 2, 1500, 'the remaining listener hears it', 5);
    await new Promise((r) => setTimeout(r, 200));
    expect(first).toHaveLength(1);
  });

  it('behavior: without notifications (trigger dropped) the poll delivers within pollMs; a ledger that does not poll hears nothing', async () => {
    const url = await started().createDatabase();
    const pollMs = 250;
    const a = await openLedger(url, 'gw-a', pollMs);
    const polling = await openLedger(url, 'gw-b', pollMs);
    const deaf = await openLedger(url, 'gw-c', NO_POLL);
    const heard: RemoteAlarmEvent[] = [];
    const deafHeard: RemoteAlarmEvent[] = [];
    polling.onRemote((es) => heard.push(...es));
    deaf.onRemote((es) => deafHeard.push(...es));
    await sql(url, 'DROP TRIGGER ward_alarm_events_notify ON ward_alarm_events');

    const x = alarm();
    const steps: [AlarmTransition, Alarm][] = [[raise(x), x], acknowledge(x, 'ana', null, T + 1_000)];
    for (const [i, [t, after]] of steps.entries()) {
      const t0 = Date.now();
      await a.record(t, null);
      await until(() => heard.length === i + 1, pollMs * 4, `the poll delivers ${t.type}`, 5);
      // One poll period, plus the read itself (with room for a loaded machine).
      expect(Date.now() - t0).toBeLessThan(2 * pollMs);
      expect(heard[i]?.event).toMatchObject({ id: i + 1, event: t.type, gateway: 'gw-a' });
      expect(heard[i]?.alarm).toEqual(sharedOf(after));
    }
    await new Promise((r) => setTimeout(r, 3 * pollMs));
    expect(heard).toHaveLength(2);
    expect(deafHeard).toEqual([]);
  });
});

describe('PgAlarms when the database is away', () => {
  /** Crashes of this process during a test (an unhandled 'error' event, a double release). */
  const crashes: unknown[] = [];
  const onException = (e: unknown) => crashes.push({ uncaught: (e as Error)?.stack ?? e });
  const onRejection = (e: unknown) => crashes.push({ unhandled: (e as Error)?.stack ?? e });
  beforeEach(() => {
    crashes.length = 0;
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
  });
  afterEach(() => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  });

  /** Sessions LISTENing on the alarms channel in a database (the ledgers' listeners). */
  const listeners = async (url: string): Promise<number> =>
    (
      await sql(
        url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN vitaltrail_alarms'",
      )
    ).rows[0].n;

  const expectUnavailable = async (p: Promise<unknown>, what: string): Promise<void> => {
    const err = await rejection(p);
    expect(err, what).toBeInstanceOf(SharedStateError);
    expect((err as SharedStateError).code, what).toBe('shared_unavailable');
  };

  it('error: a gateway cut off from the database fails with shared_unavailable, does not crash, and follows the group again once it is back', async () => {
    const url = await started().createDatabase();
    const a = await openLedger(url, 'gw-a', 100);
    const proxy = await startTcpProxy(started().port);
    try {
      const b = await openLedger(viaPort(url, proxy.port), 'gw-b', 100);
      const heard: RemoteAlarmEvent[] = [];
      b.onRemote((es) => heard.push(...es));
      expect(await listeners(url)).toBe(2);

      proxy.cut();
      const x = alarm();
      await expectUnavailable(b.record(raise(x), null), 'record');
      await expectUnavailable(b.openAlarms(), 'openAlarms');
      await expectUnavailable(b.history('wr-0001', 10), 'history');
      await expectUnavailable(b.eventsFrom(1, 10), 'eventsFrom');
      await expectUnavailable(b.lastEventId(), 'lastEventId');
      // The group goes on without B: A records; B's polls fail meanwhile.
      expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
      await sleep(600);
      expect(await listeners(url)).toBe(1);
      expect(heard).toEqual([]);

      proxy.restore();
      // B's poll re-opens its listener and reads what it missed.
      await until(() => heard.length === 1, 3000, 'B hears what A recorded while it was away');
      expect(heard[0]?.event).toMatchObject({ id: 1, alarmId: x.id, gateway: 'gw-a' });
      expect(await listeners(url)).toBe(2);
      // A's listener never went away: the second one is B's, re-opened by its poll.
      const [ack] = acknowledge(x, 'ana', null, T + 1_000);
      expect(await a.record(ack, null)).toEqual({ recorded: true, eventId: 2 });
      await until(() => heard.length === 2, 1000, 'B hears the acknowledgement');
      expect(await b.record(clear(x, T + 2_000)[0], null)).toEqual({ recorded: true, eventId: 3 });
      await b.close();
    } finally {
      await proxy.close();
    }
    expect(crashes).toEqual([]);
  });

  it('error: a database that refuses connections and ends the sessions fails both gateways with shared_unavailable; both recover, listeners re-opened', async () => {
    const { url, a, b } = await twoGateways(100);
    const heardA: RemoteAlarmEvent[] = [];
    const heardB: RemoteAlarmEvent[] = [];
    a.onRemote((es) => heardA.push(...es));
    b.onRemote((es) => heardB.push(...es));
    const db = new URL(url).pathname.slice(1);
    const admin = new URL(url);
    admin.pathname = '/postgres';
    await a.record(raise(alarm({ scope: 'wr-0001' })), null);
    await until(() => heardB.length === 1, 1000, 'B hears the first raise');
    expect(await listeners(url)).toBe(2);

    await sql(admin.toString(), `ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
    const ended = await sql(
      admin.toString(),
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1',
      [db],
    );
    expect(ended.rows[0].n).toBeGreaterThanOrEqual(2); // at least the two listeners
    try {
      const y = alarm({ scope: 'wr-0002' });
      await expectUnavailable(a.record(raise(y), null), 'A records');
      await expectUnavailable(b.record(raise(y), null), 'B records');
      await expectUnavailable(b.openAlarms(), 'B lists');
      await new Promise((r) => setTimeout(r, 500)); // polls fail meanwhile
    } finally {
      await sql(admin.toString(), `ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    }
    const deadline = Date.now() + 3000;
    while ((await listeners(url)) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await listeners(url)).toBe(2);
    const z = alarm({ scope: 'wr-0003' });
    expect(await b.record(raise(z), null)).toEqual({ recorded: true, eventId: 2 });
    await until(() => heardA.length === 1, 1000, 'A hears B again');
    expect(heardA[0]?.event).toMatchObject({ id: 2, alarmId: z.id, gateway: 'gw-b' });
    expect(heardB).toHaveLength(1);
    expect(crashes).toEqual([]);
  });

  it('error: a listener re-opened over a slow link is opened once, however many polls come round meanwhile', async () => {
    const url = await started().createDatabase();
    const a = await openLedger(url, 'gw-a');
    const proxy = await pgProxy(started().port);
    try {
      const b = await openLedger(viaPort(url, proxy.port), 'gw-b', 20);
      // From now on every answer on B's link comes 150 ms late until it LISTENs: re-opening
      // its listener (connect, authenticate, LISTEN) takes many polls of 20 ms.
      proxy.slow(150);
      const heard: RemoteAlarmEvent[] = [];
      b.onRemote((es) => heard.push(...es));
      expect(await listeners(url)).toBe(2);
      // Both listeners ended: A's stays closed (A polls once a minute), B's polls re-open B's.
      const ended = await sql(
        url,
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND query = 'LISTEN vitaltrail_alarms'`,
      );
      expect(ended.rows[0].n).toBe(2);
      const deadline = Date.now() + 10_000;
      while ((await listeners(url)) !== 1 && Date.now() < deadline) await sleep(50);
      await sleep(1000); // fifty polls more
      expect(await listeners(url)).toBe(1);
      // B's pool still serves it (no connection lost checked out), and it hears A.
      const x = alarm();
      expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
      await until(() => heard.length === 1, 3000, 'B hears the raise');
      expect(heard).toHaveLength(1);
      expect(await b.record(clear(x, T + 1_000)[0], null)).toEqual({ recorded: true, eventId: 2 });
      await b.close();
    } finally {
      await proxy.close();
    }
    expect(crashes).toEqual([]);
  });

  it('error: a ledger closed while the server ends its sessions does not crash the process', async () => {
    const url = await started().createDatabase();
    const db = new URL(url).pathname.slice(1);
    const proxy = await pgProxy(started().port);
    try {
      const b = await PgAlarms.open({
        url: viaPort(url, proxy.port),
        password: started().password,
        gatewayId: 'gw-b',
        pollMs: NO_POLL,
      });
      expect(await listeners(url)).toBe(1);
      // What B sends from now on never reaches the server, its goodbye included: its
      // connections are still open on the server's side when it closes.
      proxy.hold();
      await b.close();
      // Then the server ends the sessions (an operator, a restart): B's released listener
      // connection hears it.
      const ended = await sql(
        url,
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db],
      );
      expect(ended.rows[0].n).toBeGreaterThanOrEqual(1);
      await sleep(300);
    } finally {
      await proxy.close();
    }
    expect(crashes).toEqual([]);
  });

  it('error: a poll period below 10 ms is refused before connecting', async () => {
    await expect(
      PgAlarms.open({ url: 'postgres://nobody@127.0.0.1:1/none', gatewayId: 'gw-a', pollMs: 5 }),
    ).rejects.toThrow(RangeError);
  });
});

/** What shared schema versions 1 and 2 created: a database rolled back to 2 keeps only these. */
const UP_TO_V2: Record<'TABLE' | 'FUNCTION' | 'SEQUENCE', readonly string[]> = {
  TABLE: ['schema_version', 'users', 'ward_bindings'],
  FUNCTION: ['users_stamp', 'users_notify', 'ward_bindings_stamp', 'ward_bindings_notify'],
  SEQUENCE: ['users_change_no', 'ward_bindings_id', 'ward_bindings_change_no'],
};

/** The tables, functions and sequences of a database's public schema, as `KIND name`. */
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
 * (whatever later versions added, this one's alarm tables included) and sets the version.
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

describe('PgAlarms on an older shared database', () => {
  it('behavior: a database of the second shared slice (version 2) is migrated (to 3 and on), its accounts and admissions kept', async () => {
    const url = await started().createDatabase();
    const password = started().password;
    const pair = recipientPair('records', 'ec');
    const users = await PgUserDirectory.open({ url, password });
    await users.add('ana', 'nurse', 'correct horse battery 1');
    await users.close();
    const book = await PgBindings.open({
      url,
      password,
      recipients: [pair.recipient],
      secrets: [{ kid: 'records', privateKey: pair.privateKey }],
    });
    await book.admit('wr-0001', 'P-1', 'Bed 1', T, 'ana');
    await book.close();
    // Back to what version 2 had: no alarm tables, nor their function (nor what came later).
    const dropped = await rollBack(url, UP_TO_V2, 2);
    expect(dropped).toEqual(
      expect.arrayContaining([
        'TABLE ward_alarm_events',
        'TABLE ward_alarms',
        'FUNCTION ward_alarm_events_notify',
      ]),
    );
    expect(await objects(url)).toEqual(
      Object.entries(UP_TO_V2)
        .flatMap(([kind, names]) => names.map((n) => `${kind} ${n}`))
        .sort(),
    );

    const a = await openLedger(url, 'gw-a');
    const x = alarm();
    expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
    expect(await a.openAlarms()).toEqual([sharedOf(x)]);
    expect((await sql(url, 'SELECT version FROM schema_version')).rows).toEqual([
      { version: SHARED_SCHEMA_VERSION },
    ]);
    expect(SHARED_SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    // Every shared table is back, and only those.
    expect((await objects(url)).filter((o) => o.startsWith('TABLE ')).sort()).toEqual(
      Object.keys(PG_TABLE_OWNERS)
        .map((t) => `TABLE ${t}`)
        .sort(),
    );
    expect((await sql(url, 'SELECT username FROM users')).rows).toEqual([{ username: 'ana' }]);
    expect((await sql(url, 'SELECT dev, bed, admitted_by FROM ward_bindings')).rows).toEqual([
      { dev: 'wr-0001', bed: 'Bed 1', admitted_by: 'ana' },
    ]);
    // The notification trigger is back: a second ledger hears the first by notification.
    const b = await openLedger(url, 'gw-b');
    const heard: RemoteAlarmEvent[] = [];
    b.onRemote((es) => heard.push(...es));
    await a.record(clear(x, T + 1)[0], null);
    await until(() => heard.length === 1, 1000, 'B hears the clear');
  });
});
