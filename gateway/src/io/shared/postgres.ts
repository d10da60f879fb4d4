/**
 * @module io/shared/postgres
 * The connection to the PostgreSQL database a gateway group shares (issue 16: "shared
 * clinical state in an existing engine"; config `shared.postgres.url` and
 * `shared.postgres.passwordFile`): a `pg.Pool` made from the URL and the password read from
 * its secret file, checked at open by running the migrations of io/shared/schema (so a
 * gateway that cannot reach the database, or whose credentials are refused, stops at start
 * with `shared_unavailable`, never later on a nurse's sign-in).
 *
 * The URL carries no password (app/config refuses one): `postgres://user@host:port/db`,
 * optionally `?sslmode=verify-full` (TLS, the server's certificate checked against Node's
 * CAs and its name) or `?sslmode=disable`. Error reasons never carry the URL or the password.
 */
import type pg from 'pg';
import { errorClass } from '../../protocol/errors.js';
import { migrateShared, SHARED_SCHEMA_VERSION } from './schema.js';

/**
 * The error class of the state a gateway group shares (protocol/error-groups `shared`):
 * `shared_unavailable`, the shared database cannot be reached, used or understood.
 */
export class SharedStateError extends errorClass<'shared'>('SharedStateError') {}

/** How to reach the shared database (app/options `shared.postgres`). */
export interface SharedPostgresOptions {
  /** `postgres://user@host:port/database[?sslmode=verify-full|disable]`, without a password. */
  url: string;
  /** The password (from `shared.postgres.passwordFile`); absent for trust or peer auth. */
  password?: string;
  /** Connections in the pool. Default 4 (a gateway's writes are rare; reads are cached). */
  max?: number;
  /** How long a connection attempt may take. Default 5 s. */
  connectTimeoutMs?: number;
}

/**
 * The pool's settings from the URL, parsed here: `pg`'s own parsing of a connection string
 * would let the URL's empty password override the one from the file. Without a password,
 * `pg` falls back to `PGPASSWORD` or `~/.pgpass`, as libpq does; a user or database the URL
 * does not name comes from `PGUSER`/`PGDATABASE` or the OS user, as there.
 * @throws {SharedStateError} `shared_unavailable` when the URL does not parse or carries a password
 */
export function poolConfig(o: SharedPostgresOptions): pg.PoolConfig {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch (err) {
    throw new SharedStateError('shared_unavailable', 'shared.postgres.url is not a URL', { cause: err });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new SharedStateError('shared_unavailable', 'shared.postgres.url must be a postgres:// URL');
  if (u.password) throw new SharedStateError('shared_unavailable', 'shared.postgres.url carries a password');
  const sslmode = u.searchParams.get('sslmode');
  return {
    host: decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, '$1')),
    port: u.port === '' ? 5432 : Number(u.port),
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { database: decodeURIComponent(u.pathname.slice(1)) } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(sslmode === 'verify-full' ? { ssl: true } : {}),
    max: o.max ?? 4,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5000,
    application_name: 'vitaltrail',
  };
}

/**
 * Opens the pool and brings the shared schema up to this gateway's version.
 * @throws {SharedStateError} `shared_unavailable` when the database cannot be reached, refuses
 *   the credentials, or holds a newer schema (the pool is ended first)
 * @example const pool = await openSharedPool({ url: 'postgres://vitaltrail@db/vitaltrail', password });
 */
export async function openSharedPool(o: SharedPostgresOptions): Promise<pg.Pool> {
  // The client is loaded with the first pool: a lone gateway and most CLI commands never need it.
  const { default: pgClient } = await import('pg');
  const pool = new pgClient.Pool(poolConfig(o));
  // An idle connection that drops emits here; the next query opens a new one. Without a
  // listener the pool's 'error' event would end the process.
  pool.on('error', () => {});
  try {
    const from = await migrateShared(pool);
    if (from > SHARED_SCHEMA_VERSION)
      throw new SharedStateError(
        'shared_unavailable',
        `the shared database is at schema version ${from}, newer than this gateway's ${SHARED_SCHEMA_VERSION}`,
      );
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof SharedStateError) throw err;
    throw new SharedStateError(
      'shared_unavailable',
      `the shared PostgreSQL database cannot be used (${sqlState(err)})`,
      { cause: err },
    );
  }
  return pool;
}

/**
 * What went wrong, in words safe to log: the SQLSTATE or the socket error code (never the
 * server's message, which may name the user or the database).
 */
export function sqlState(err: unknown): string {
  const e = err as { code?: unknown } | null;
  return typeof e?.code === 'string' ? e.code : err instanceof Error ? err.name : 'unknown';
}

/** `shared_unavailable` for a failure of `what` (a SharedStateError passes as it is). */
export function unavailable(what: string, err: unknown): SharedStateError {
  if (err instanceof SharedStateError) return err;
  return new SharedStateError('shared_unavailable', `${what} cannot be used (${sqlState(err)})`, {
    cause: err,
  });
}

/**
 * One statement on the pool; a failure is `shared_unavailable` naming `what`.
 * @throws {SharedStateError} `shared_unavailable`
 */
export async function sharedQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
  pool: pg.Pool,
  what: string,
  sql: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(sql, params);
  } catch (err) {
    throw unavailable(what, err);
  }
}
