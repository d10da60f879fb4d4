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
 *
 * Bounds (a server that hangs, e.g. frozen, or a link that drops packets, must not hold a
 * gateway's requests, polls or stop): every statement has `queryTimeoutMs` (default 10 s)
 * on the client (`query_timeout`: the statement fails with `shared_unavailable`, reason
 * `query_timeout`, and its connection is dropped) and nine tenths of it on the server
 * (`statement_timeout`, lock waits included: a statement that is merely slow is cancelled
 * there, SQLSTATE 57014, and its connection stays usable); a session idle inside a
 * transaction for as long is ended by the server (`idle_in_transaction_session_timeout`: a
 * gateway frozen mid-transaction does not keep the group's advisory locks). The sockets have
 * TCP keepalive (a peer gone without a word is noticed on an idle connection, a held
 * `LISTEN` one included). A part's close (`closeSharedPool`) waits at most `closeTimeoutMs`
 * (default 2 s) for its last statements and the pool's end, then destroys the sockets left.
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
  /** The bound on one statement (module doc). Default `DEFAULT_QUERY_TIMEOUT_MS`. */
  queryTimeoutMs?: number;
  /** The bound on a part's close: its last statements and its pool's end. Default `DEFAULT_CLOSE_TIMEOUT_MS`. */
  closeTimeoutMs?: number;
}

/**
 * The bound on one statement (ms). The slowest statements the gateways run are the full
 * reloads of a table's copy (`ward_bindings` holds every admission ever made), a shipment of
 * 500 audit lines, and a wait for a group's advisory lock behind another gateway's short
 * transaction: milliseconds on a LAN, and still far under this on a loaded server.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** The bound on a part's close (ms): its last statements, then the pool's end. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
/** How long an ended pool's connections may take to be closed by the server before theirs are destroyed. */
const END_GRACE_MS = 500;
/** How long a part's close waits, after its pool's end, for its background work to settle. */
export const CLOSE_GRACE_MS = 1000;
/** Idle time before the first keepalive probe on a connection. */
const KEEPALIVE_MS = 10_000;

/** The connections of each pool opened here (for a bounded end) and its close bound. */
const pools = new WeakMap<pg.Pool, { clients: Set<pg.Client>; closeMs: number }>();

const bound = (name: string, v: number | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 10) throw new RangeError(`shared.postgres: ${name} must be >= 10`);
  return Math.round(v);
};

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
  const queryMs = bound('queryTimeoutMs', o.queryTimeoutMs, DEFAULT_QUERY_TIMEOUT_MS);
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
    query_timeout: queryMs,
    statement_timeout: Math.max(1, Math.floor(queryMs * 0.9)),
    idle_in_transaction_session_timeout: queryMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_MS,
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
  const config = poolConfig(o);
  const closeMs = bound('closeTimeoutMs', o.closeTimeoutMs, DEFAULT_CLOSE_TIMEOUT_MS);
  // Every connection of the pool, from its first byte to its end: a close that finds the
  // server silent destroys their sockets (pg's own end waits for the server to close them).
  const clients = new Set<pg.Client>();
  class TrackedClient extends pgClient.Client {
    constructor(c?: pg.ClientConfig) {
      super(c);
      clients.add(this);
      this.once('end', () => clients.delete(this));
    }
  }
  const pool = new pgClient.Pool({ ...config, Client: TrackedClient });
  pools.set(pool, { clients, closeMs });
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
    await endSharedPool(pool);
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
 * Whether `p` settles within `ms` (it is not stopped when it does not). A close awaits a part's
 * background work (a copy's load, a pull) this way after the pool's end: work the end left
 * waiting on the pool can never settle, and with no socket or timer left a CLI would exit 13
 * (an unsettled top-level await) instead of closing.
 */
export async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Ends a pool opened by `openSharedPool` within `graceMs` (default 500 ms): pg's end sends
 * each connection's goodbye and waits for the server to close it, forever when the server
 * hangs; after the grace the sockets still open are destroyed (statements in flight fail,
 * the server rolls their transactions back when it sees the close). Never throws.
 */
export async function endSharedPool(pool: pg.Pool, graceMs = END_GRACE_MS): Promise<void> {
  if (pool.ending) return;
  const ended = pool.end().catch(() => {});
  if (await settles(ended, graceMs)) return;
  for (const c of pools.get(pool)?.clients ?? []) c.connection.stream.destroy();
  await settles(ended, END_GRACE_MS);
}

/**
 * A part's close, bounded by its pool's `closeTimeoutMs`: waits for `last` (its last
 * statements: the audit's last shipment, a heartbeat row's removal) until then, abandons it
 * after, and ends the pool (`endSharedPool`, within what is left of the bound, at most its
 * grace). Resolves whether `last` settled in time. Never throws.
 */
export async function closeSharedPool(pool: pg.Pool, last?: () => Promise<unknown>): Promise<boolean> {
  const ms = pools.get(pool)?.closeMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const deadline = Date.now() + ms;
  const work = last ? last() : null;
  const done = work ? await settles(work, ms) : true;
  await endSharedPool(pool, Math.max(0, Math.min(END_GRACE_MS, deadline - Date.now())));
  return done;
}

/**
 * Whether the server answered `err` (a pg DatabaseError, with its SQLSTATE): the connection
 * is then in a known state. Else (a timeout, a lost connection) it is not to be used again.
 */
export function serverAnswered(err: unknown): boolean {
  return typeof (err as { severity?: unknown } | null)?.severity === 'string';
}

/**
 * After a failed statement in a transaction on `client`: ROLLBACK when the server answered the
 * failure, so the connection can be reused; else none (it would wait out another timeout on a
 * server that does not answer): the connection is to be dropped, and the server rolls back
 * when it sees it closed. Returns what to give `release` (an error: drop the connection).
 */
export async function rollBack(client: pg.PoolClient, err: unknown): Promise<Error | undefined> {
  if (!serverAnswered(err)) return err instanceof Error ? err : new Error('statement failed');
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error('rollback failed');
  }
}

/**
 * What went wrong, in words safe to log: the SQLSTATE, the socket error code, or
 * `query_timeout` (never the server's message, which may name the user or the database).
 */
export function sqlState(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string') return e.code;
  if (e?.message === 'Query read timeout') return 'query_timeout';
  return err instanceof Error ? err.name : 'unknown';
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
