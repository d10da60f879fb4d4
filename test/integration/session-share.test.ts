/**
 * @module test/integration/session-share
 * The abstract sessions suite (session-share-abstract.ts) against the data dir's SQLite store
 * (io/identity `SqliteSessions`, a lone gateway; the twin is a second connection to the same
 * file, as a restarted gateway opens it) and a gateway group's PostgreSQL (io/shared
 * `PgSessions`, a real server: test/helpers/pg-suite). Then what only the SQLite rows do: a
 * close deletes nothing (a restart keeps the sessions); a sign-in prunes the rows unused for
 * `pruneAfterMs`, heard as ends; misuse is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_SESSION_PRUNE_MS,
  type SharedSessionRow,
  SqliteSessions,
} from '../../gateway/src/io/identity/index.js';
import { PgSessions } from '../../gateway/src/io/shared/index.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { closedAfterEach, rejection } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { makeTempDir } from '../helpers/tmp.js';
import { describeSessionShare } from './session-share-abstract.js';

/** Rows of a table as text: every column's value, tab-separated, a row per line. */
const asText = (rows: readonly Record<string, unknown>[]): string =>
  rows.map((r) => Object.values(r).map(String).join('\t')).join('\n');

const sqliteRows = (store: GatewayStore): Record<string, unknown>[] =>
  store.db.prepare('SELECT * FROM dashboard_sessions').all() as Record<string, unknown>[];

describeSessionShare('SqliteSessions (SQLite)', async () => {
  const tmp = makeTempDir('vt-session-rows-');
  const path = join(tmp.dir, 'gateway', 'gateway.db');
  const store = openStore(path);
  const others: GatewayStore[] = [];
  return {
    share: new SqliteSessions(store),
    twin: async () => {
      const other = openStore(path);
      others.push(other);
      return new SqliteSessions(other);
    },
    heardAcross: false,
    storedText: async () => asText(sqliteRows(store)),
    close: async () => {
      for (const o of others) o.close();
      store.close();
      tmp.cleanup();
    },
  };
});

const { server, sql } = usePostgres();
const closedAfter = closedAfterEach<PgSessions>();

describeSessionShare('PgSessions (PostgreSQL)', async () => {
  const url = await server().createDatabase();
  const open = async () => closedAfter(await PgSessions.open({ url, password: server().password }));
  return {
    share: await open(),
    // Another gateway of the group.
    twin: open,
    heardAcross: true,
    storedText: async () => asText((await sql(url, 'SELECT * FROM ward_sessions')).rows),
    close: async () => {},
  };
});

const T = Date.UTC(2026, 11, 3, 8, 0, 0);
const IDLE = 15 * 60_000;

function rowOf(over: Partial<SharedSessionRow> = {}): SharedSessionRow {
  const id = randomBytes(32).toString('base64url');
  return {
    hash: createHash('sha256').update(id).digest('hex'),
    username: 'kim',
    role: 'nurse',
    stamp: 'stamp-at-sign-in',
    mustChange: false,
    createdAt: T,
    lastSeen: T,
    ...over,
  };
}

describe('SqliteSessions: what only the data dir does', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let path: string;
  const stores: GatewayStore[] = [];
  const open = (): GatewayStore => {
    const s = openStore(path);
    stores.push(s);
    return s;
  };

  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    tmp?.cleanup();
  });
  const fresh = (): GatewayStore => {
    tmp = makeTempDir('vt-session-rows-only-');
    path = join(tmp.dir, 'gateway', 'gateway.db');
    return open();
  };

  it('behavior: a close deletes nothing; the store reopened (a restart) finds the session', async () => {
    const store = fresh();
    const rows = new SqliteSessions(store);
    const r = rowOf();
    await rows.put(r);
    await rows.close();
    await rows.close(); // idempotent
    store.close();
    const again = new SqliteSessions(open());
    expect(await again.find(r.hash, T + 1000, IDLE)).toEqual(r);
  });

  it('behavior: a sign-in prunes the rows unused for pruneAfterMs, each heard as an end; newer rows stay', async () => {
    const store = fresh();
    const rows = new SqliteSessions(store, { pruneAfterMs: 2 * IDLE });
    const old = rowOf({ username: 'lee' });
    const recent = rowOf({ username: 'max', lastSeen: T + IDLE });
    await rows.put(old);
    await rows.put(recent);
    const ends: string[] = [];
    rows.onRemoved((h) => ends.push(h));
    await rows.put(rowOf({ createdAt: T + 2 * IDLE - 1, lastSeen: T + 2 * IDLE - 1 })); // old is 1 ms short
    expect(ends).toEqual([]);
    await rows.put(rowOf({ createdAt: T + 2 * IDLE, lastSeen: T + 2 * IDLE }));
    expect(ends).toEqual([old.hash]);
    expect(sqliteRows(store).map((x) => x.username)).not.toContain('lee');
    expect((await rows.find(recent.hash, T + 2 * IDLE, 2 * IDLE))?.username).toBe('max');
    expect(DEFAULT_SESSION_PRUNE_MS).toBeGreaterThan(IDLE); // the default outlives the default idle time
  });

  it('error: misuse is refused: a role that is no account role, bad times, pruneAfterMs, use after close', async () => {
    const store = fresh();
    expect(() => new SqliteSessions(store, { pruneAfterMs: 0 })).toThrow(RangeError);
    expect(() => new SqliteSessions(store, { pruneAfterMs: 1.5 })).toThrow(RangeError);
    const rows = new SqliteSessions(store);
    expect(await rejection(rows.put(rowOf({ role: 'display' })))).toBeInstanceOf(RangeError);
    expect(await rejection(rows.put(rowOf({ lastSeen: Number.NaN })))).toBeInstanceOf(RangeError);
    expect(await rejection(rows.put(rowOf({ createdAt: -1 })))).toBeInstanceOf(RangeError);
    expect(sqliteRows(store)).toEqual([]);
    const r = rowOf();
    await rows.put(r);
    await rows.close();
    expect(await rejection(rows.find(r.hash, T, IDLE))).toBeInstanceOf(TypeError);
    expect(await rejection(rows.touch(r.hash, T))).toBeInstanceOf(TypeError);
    expect(await rejection(rows.remove(r.hash))).toBeInstanceOf(TypeError);
    expect(sqliteRows(store)).toHaveLength(1); // nothing ran
  });
});
