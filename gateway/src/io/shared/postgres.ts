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
 *
 * `PgListener`: a connection of a module's own that `LISTEN`s on one channel, for
 * io/shared/pg-copy (the copies of the accounts, admissions, settings and sessions) and
 * io/shared/pg-alarms (the group's alarm events). It is taken from the module's pool and
 * held; when the server ends it (a restart, an operator, a cut link) it is given back and
 * the listener is closed until its owner's poll opens it again. One connection at most:
 * calls to `open` while one is opening share it. An owner's poll that comes round again
 * before a slow connect ends (a loaded server, a slow link) must not open a second one: the
 * first would be lost still checked out of the pool, a slot gone for good and a session
 * that hears every notification twice.
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

export interface PgListenerOptions {
  pool: pg.Pool;
  /** The channel (io/shared/schema). */
  channel: string;
  /** A notification on the channel, with its payload if it has one. */
  onNotification: (payload: string | undefined) => void;
  /** Names the owner in a `shared_unavailable` error ("the group's alarm ledger"). */
  what: string;
}

/** One held `LISTEN` connection, re-opened on demand. */
export class PgListener {
  readonly #o: PgListenerOptions;
  #client: pg.PoolClient | null = null;
  #opening: Promise<void> | null = null;
  #closed = false;

  constructor(o: PgListenerOptions) {
    this.#o = o;
  }

  /** Whether the connection is held (it may still be about to hear that it was ended). */
  get isOpen(): boolean {
    return this.#client !== null;
  }

  /**
   * Opens the listener unless it is open or closed for good; calls while it opens share the
   * one attempt. Resolves once `LISTEN` has been answered.
   * @throws {SharedStateError} `shared_unavailable` when the channel cannot be listened to
   */
  open(): Promise<void> {
    if (this.#opening) return this.#opening;
    if (this.#closed || this.#client) return Promise.resolve();
    this.#opening = this.#open().finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  /** Gives the connection back (destroyed) and opens no more. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#client?.release(true);
    this.#client = null;
  }

  async #open(): Promise<void> {
    const fail = (err: unknown): SharedStateError => unavailable(this.#o.what, err);
    const client = await this.#o.pool.connect().catch((err: unknown) => {
      throw fail(err);
    });
    if (this.#closed) {
      client.release(true);
      return;
    }
    // Released once: a connection already given back (by close, or by an earlier error) may
    // still emit errors (the server's FATAL on shutdown), and a second release would throw.
    const lost = (): void => {
      if (this.#client !== client) return;
      this.#client = null;
      client.release(true);
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => this.#o.onNotification(n.payload || undefined));
    this.#client = client;
    try {
      await client.query(`LISTEN ${this.#o.channel}`);
    } catch (err) {
      lost();
      throw fail(err);
    }
  }
}
