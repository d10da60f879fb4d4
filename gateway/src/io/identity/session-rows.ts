/**
 * @module io/identity/session-rows
 * The dashboard sessions a gateway keeps beyond its memory (issue 16: "users and sessions"
 * in an existing engine; "the embedded default stays SQLite in the data dir"): the
 * `SessionShare` interface io/http/sessions uses, and its SQLite implementation over the
 * data dir's store, `SqliteSessions`, owner of the table `dashboard_sessions` (io/store/schema
 * version 7; every statement on it is here). A gateway group keeps the same rows in its
 * PostgreSQL (io/shared `PgSessions`, table `ward_sessions`); test/integration/
 * session-share-abstract.ts holds both to one behaviour.
 *
 * A lone gateway's sessions thus outlive a restart: a nurse signed in stays signed in
 * (within the idle timeout) when the gateway comes back on the same data dir, and a session
 * whose account changed meanwhile is refused (its account stamp, io/identity/users
 * `accountStamp`, no longer matches: io/http/server `accept`).
 *
 * A row holds the SHA-256 (hex) of the session id, never the id: a copy of the database does
 * not give a cookie. Rows are deleted at a sign-out, a replaced or idle session (`remove`),
 * and, at each sign-in, every row unused for `pruneAfterMs` (so the table does not grow with
 * sessions that were never signed out); a shutdown deletes nothing. `onRemoved` hears the
 * removals made through this instance (one process: there is no other gateway to tell).
 *
 * Trust: hashes come from a cookie (attacker-controlled, hashed by io/http/sessions) and are
 * checked against `SESSION_HASH_PATTERN` before any statement; a malformed one is never found
 * and never stored.
 */
import type Database from 'better-sqlite3';
import type { SessionRole } from '../../core/live-contract.js';
import type { GatewayStore } from '../store/index.js';
import { ROLES } from './users.js';

/** A stored session (a user's; a wall display's session is never stored). */
export interface SharedSessionRow {
  /** SHA-256 (hex) of the session id. */
  hash: string;
  username: string;
  role: SessionRole;
  /** io/identity/users `accountStamp` of the account at sign-in (or at its password change). */
  stamp: string;
  mustChange: boolean;
  createdAt: number;
  lastSeen: number;
}

/**
 * What io/http/sessions needs of the sessions kept beyond a gateway's memory: the data dir's
 * (`SqliteSessions`, a lone gateway) or a gateway group's (io/shared `PgSessions`).
 */
export interface SessionShare {
  /**
   * `sqlite`: this gateway's own (no other gateway reads them); `postgres`: the group's, which
   * other gateways read and end too.
   */
  readonly kind: 'sqlite' | 'postgres';
  /** Records (or updates: a password change) a session. */
  put(r: SharedSessionRow): Promise<void>;
  /** The session of `hash` if it was used within `idleMs` of `now`; null otherwise. */
  find(hash: string, now: number, idleMs: number): Promise<SharedSessionRow | null>;
  /** Marks a use; resolves with the session's last use across the group, or null if it ended. */
  touch(hash: string, at: number): Promise<number | null>;
  /** Ends a session for the group. */
  remove(hash: string): Promise<void>;
  /** Tells `fn` of every session another gateway (or this one) ended. */
  onRemoved(fn: (hash: string) => void): () => void;
}

/** SHA-256 in lower-case hex, as io/http/sessions hashes a session id. */
export const SESSION_HASH_PATTERN = /^[0-9a-f]{64}$/;
/** Default `pruneAfterMs`: well beyond the idle timeout (15 min by default, io/http/sessions). */
export const DEFAULT_SESSION_PRUNE_MS = 60 * 60_000;

export interface SqliteSessionsOptions {
  /**
   * A row unused for this long (ms) is deleted at the next sign-in. Longer than the idle
   * timeout, so that only sessions that ended anyway go (a held session's last use reaches
   * the table only every few seconds). Default `DEFAULT_SESSION_PRUNE_MS` (1 h).
   */
  pruneAfterMs?: number;
}

interface Row {
  id_hash: string;
  username: string;
  role: string;
  stamp: string;
  must_change: number;
  created_at: number;
  last_seen: number;
}

const isHash = (hash: unknown): hash is string => typeof hash === 'string' && SESSION_HASH_PATTERN.test(hash);
const isTime = (t: unknown): t is number => Number.isSafeInteger(t) && (t as number) >= 0;

/**
 * The sessions of one data dir, over the store's SQLite handle. Statements run at once (the
 * promise only carries their result or error), so nothing is left to write after a close.
 * @example
 * const rows = new SqliteSessions(store);
 * await rows.put({ hash, username: 'kim', role: 'nurse', stamp, mustChange: false, createdAt: now, lastSeen: now });
 * (await rows.find(hash, now, 15 * 60_000))?.username; // 'kim', also after a restart
 */
export class SqliteSessions implements SessionShare {
  readonly kind = 'sqlite' as const;
  readonly #pruneAfterMs: number;
  readonly #listeners = new Set<(hash: string) => void>();
  readonly #stmts: Record<'put' | 'find' | 'touch' | 'remove' | 'prune', Database.Statement>;
  #closed = false;

  /** @throws {RangeError} when `pruneAfterMs` is not a positive integer. */
  constructor(store: GatewayStore, opts: SqliteSessionsOptions = {}) {
    const pruneAfterMs = opts.pruneAfterMs ?? DEFAULT_SESSION_PRUNE_MS;
    if (!Number.isSafeInteger(pruneAfterMs) || pruneAfterMs <= 0) {
      throw new RangeError('SqliteSessions: pruneAfterMs must be a positive integer');
    }
    this.#pruneAfterMs = pruneAfterMs;
    const db = store.db;
    this.#stmts = {
      put: db.prepare(
        `INSERT INTO dashboard_sessions (id_hash, username, role, stamp, must_change, created_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id_hash) DO UPDATE SET stamp = excluded.stamp, must_change = excluded.must_change,
           last_seen = max(dashboard_sessions.last_seen, excluded.last_seen)`,
      ),
      find: db.prepare(
        `SELECT id_hash, username, role, stamp, must_change, created_at, last_seen FROM dashboard_sessions
         WHERE id_hash = ? AND last_seen > ?`,
      ),
      touch: db
        .prepare(
          'UPDATE dashboard_sessions SET last_seen = max(last_seen, ?) WHERE id_hash = ? RETURNING last_seen',
        )
        .pluck(),
      remove: db.prepare('DELETE FROM dashboard_sessions WHERE id_hash = ?'),
      prune: db.prepare('DELETE FROM dashboard_sessions WHERE last_seen <= ? RETURNING id_hash').pluck(),
    };
  }

  /**
   * Records a session, or a password change of it (new stamp, `mustChange`; its last use only
   * grows); then deletes the rows unused for `pruneAfterMs` before `r.lastSeen`.
   * @throws {RangeError} when the hash, role or times are malformed (nothing is stored).
   */
  async put(r: SharedSessionRow): Promise<void> {
    this.#open();
    if (!isHash(r.hash)) throw new RangeError('SqliteSessions.put: hash must be 64 lower-case hex digits');
    if (!(ROLES as readonly string[]).includes(r.role)) throw new RangeError('SqliteSessions.put: role');
    if (!isTime(r.createdAt) || !isTime(r.lastSeen)) {
      throw new RangeError('SqliteSessions.put: createdAt and lastSeen must be epoch milliseconds');
    }
    this.#stmts.put.run(r.hash, r.username, r.role, r.stamp, r.mustChange ? 1 : 0, r.createdAt, r.lastSeen);
    const pruned = this.#stmts.prune.all(r.lastSeen - this.#pruneAfterMs) as string[];
    for (const hash of pruned) this.#tell(hash);
  }

  async find(hash: string, now: number, idleMs: number): Promise<SharedSessionRow | null> {
    this.#open();
    if (!isHash(hash)) return null;
    const row = this.#stmts.find.get(hash, now - idleMs) as Row | undefined;
    if (!row) return null;
    return {
      hash: row.id_hash,
      username: row.username,
      role: row.role as SessionRole,
      stamp: row.stamp,
      mustChange: row.must_change === 1,
      createdAt: row.created_at,
      lastSeen: row.last_seen,
    };
  }

  async touch(hash: string, at: number): Promise<number | null> {
    this.#open();
    if (!isHash(hash)) return null;
    const last = this.#stmts.touch.get(at, hash) as number | undefined;
    return last ?? null;
  }

  async remove(hash: string): Promise<void> {
    this.#open();
    if (!isHash(hash)) return;
    if (this.#stmts.remove.run(hash).changes > 0) this.#tell(hash);
  }

  onRemoved(fn: (hash: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Stops telling listeners; deletes nothing (a restart keeps the sessions). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }

  #open(): void {
    if (this.#closed) throw new TypeError('SqliteSessions: used after close()');
  }

  #tell(hash: string): void {
    for (const fn of this.#listeners) {
      try {
        fn(hash);
      } catch {
        // A listener's failure must not stop the others.
      }
    }
  }
}
