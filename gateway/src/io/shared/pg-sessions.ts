/**
 * @module io/shared/pg-sessions
 * The dashboard sessions of a gateway group in PostgreSQL (issue 16: "users and sessions"
 * shared; "one URL for nurses, either gateway may answer"): the table `ward_sessions`
 * (io/shared/schema; every statement on it is here). A nurse signed in through one gateway
 * is signed in on all of them, so a reverse proxy may send each request to any gateway, and a
 * gateway's loss costs her no sign-in.
 *
 * A row holds the SHA-256 of the session id (never the id: reading the table does not give a
 * cookie), the user, role, the account stamp at sign-in (io/identity `accountStamp`, so an
 * account changed since is refused by every gateway), whether a password change is due, and
 * when the session was created and last used. Gateways keep their own in-memory sessions
 * (io/http/sessions) and use the table for what they do not hold (`find`), to tell each other
 * of use (`touch`, at most every few seconds per session: the idle time is the group's) and
 * of an end (`remove`: sign-out, replaced, idle), which every gateway hears at once
 * (`NOTIFY vitaltrail_sessions` with the hash as payload, sent by a trigger) and at the latest
 * at its next `touch` of that session.
 */
import type pg from 'pg';
import type { SessionRole } from '../../core/live-contract.js';
import type { SessionShare, SharedSessionRow } from '../identity/index.js';
import { PgCopy } from './pg-copy.js';
import {
  CLOSE_GRACE_MS,
  closeSharedPool,
  openSharedPool,
  type SharedPostgresOptions,
  settles,
  sharedQuery,
} from './postgres.js';
import { SESSIONS_CHANNEL } from './schema.js';

/** The interface and row live with the SQLite implementation (io/identity/session-rows). */
export type { SessionShare, SharedSessionRow };

const HASH = /^[0-9a-f]{64}$/;
/** Default fallback poll of the listener (it re-opens a lost one). */
const POLL_MS = 2000;

export class PgSessions implements SessionShare {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #copy: PgCopy;
  readonly #listeners = new Set<(hash: string) => void>();
  #closed = false;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
    // Only the listener of the copy is used (the payload is the hash of an ended session);
    // nothing is copied: sessions are looked up when needed.
    this.#copy = new PgCopy({
      pool,
      channel: SESSIONS_CHANNEL,
      pollMs: POLL_MS,
      load: async () => '',
      signature: async () => '',
      onPayload: (payload) => {
        if (!HASH.test(payload)) return;
        for (const fn of this.#listeners) {
          try {
            fn(payload);
          } catch {
            // A listener's failure must not stop the others.
          }
        }
      },
    });
  }

  /** @throws {SharedStateError} `shared_unavailable` */
  static async open(o: SharedPostgresOptions): Promise<PgSessions> {
    const pool = await openSharedPool(o);
    const s = new PgSessions(pool);
    try {
      await s.#copy.start();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  async put(r: SharedSessionRow): Promise<void> {
    await this.#query(
      `INSERT INTO ward_sessions (id_hash, username, role, stamp, must_change, created_at, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id_hash) DO UPDATE SET stamp = excluded.stamp, must_change = excluded.must_change,
         last_seen = greatest(ward_sessions.last_seen, excluded.last_seen)`,
      [r.hash, r.username, r.role, r.stamp, r.mustChange, r.createdAt, r.lastSeen],
    );
  }

  async find(hash: string, now: number, idleMs: number): Promise<SharedSessionRow | null> {
    const r = await this.#query(
      `SELECT id_hash, username, role, stamp, must_change, created_at, last_seen FROM ward_sessions
       WHERE id_hash = $1 AND last_seen > $2`,
      [hash, now - idleMs],
    );
    const row = r.rows[0];
    if (!row) return null;
    return {
      hash: row.id_hash as string,
      username: row.username as string,
      role: row.role as SessionRole,
      stamp: row.stamp as string,
      mustChange: row.must_change as boolean,
      createdAt: Number(row.created_at),
      lastSeen: Number(row.last_seen),
    };
  }

  async touch(hash: string, at: number): Promise<number | null> {
    const r = await this.#query(
      'UPDATE ward_sessions SET last_seen = greatest(last_seen, $2) WHERE id_hash = $1 RETURNING last_seen',
      [hash, at],
    );
    return r.rows[0] ? Number(r.rows[0].last_seen) : null;
  }

  async remove(hash: string): Promise<void> {
    await this.#query('DELETE FROM ward_sessions WHERE id_hash = $1', [hash]);
  }

  /** Forgets sessions idle for longer than `idleMs` (any gateway may; run at sign-ins). */
  async sweep(now: number, idleMs: number): Promise<void> {
    await this.#query('DELETE FROM ward_sessions WHERE last_seen <= $1', [now - idleMs]);
  }

  onRemoved(fn: (hash: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const copy = this.#copy.close(); // the listener only: ends with the pool (bounded)
    await closeSharedPool(this.#pool);
    await settles(copy, CLOSE_GRACE_MS);
  }

  #query(sql: string, params: unknown[]): Promise<pg.QueryResult<Record<string, unknown>>> {
    return sharedQuery(this.#pool, "the group's sessions", sql, params);
  }
}
