/**
 * @module io/shared/pg-listener
 * A connection of a module's own that `LISTEN`s on one channel of the shared database
 * (issue 16), for io/shared/pg-copy (the copies of the accounts, admissions, settings and
 * sessions) and io/shared/pg-alarms (the group's alarm events). The connection is taken
 * from the module's pool and held; when the server ends it (a restart, an operator, a cut
 * link) it is given back and the listener is closed until its owner's poll opens it again.
 *
 * One connection at most: calls to `open` while one is opening share it. An owner's poll
 * that comes round again before a slow connect ends (a loaded server, a slow link) must not
 * open a second one: the first would be lost still checked out of the pool, a slot gone for
 * good and a session that hears every notification twice.
 */
import type pg from 'pg';
import { type SharedStateError, unavailable } from './postgres.js';

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
