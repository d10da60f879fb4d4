/**
 * @module io/shared/pg-copy
 * Keeps an in-memory copy of a shared table current (issue 16), for a module that owns the
 * table and serves synchronous reads from its copy: io/shared/pg-users (accounts) and
 * io/shared/pg-bindings (admissions) both use it. The copy is loaded at start, reloaded
 * when PostgreSQL notifies a change on the table's channel (sent by its trigger on every
 * write, whoever makes it) and, as a fallback that makes a missed notification harmless,
 * whenever a poll every `pollMs` finds the table's signature (row count and largest change
 * number, io/shared/schema) different from the copy's. A lost listener connection is
 * re-opened by the poll, which then reloads (changes made while nobody listened). An owner
 * that must hold a change it learnt of by another way (io/shared/pg-settings: a clear another
 * gateway recorded because of it) makes the poll's check at once (`catchUp`).
 *
 * The owner supplies the two statements (`load`, `signature`); this module runs none.
 */
import type pg from 'pg';
import { PgListener } from './postgres.js';

export interface PgCopyOptions {
  pool: pg.Pool;
  /** The table's LISTEN/NOTIFY channel (io/shared/schema). */
  channel: string;
  /** Fallback poll interval, ms (a missed notification is seen within it). */
  pollMs: number;
  /** Reads the table into the owner's copy; resolves with the signature of what it read. */
  load: () => Promise<string>;
  /** The table's signature now (a cheap query); compared with the last load's. */
  signature: () => Promise<string>;
  /**
   * A notification with a payload on the channel (the table's trigger sends none): given to
   * the owner, no reload (io/shared/pg-settings: a nurse's ACVPU entry, never stored).
   */
  onPayload?: (payload: string) => void;
}

/** The listener, the poll and the coalesced reloads of one table's copy. */
export class PgCopy {
  readonly #o: PgCopyOptions;
  #signature = '';
  /** The last load, and the one queued after it (coalesced), if any. */
  #loading: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;
  readonly #listener: PgListener;
  #polling = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(o: PgCopyOptions) {
    this.#o = o;
    this.#listener = new PgListener({
      pool: o.pool,
      channel: o.channel,
      what: `the listener on ${o.channel}`,
      onNotification: (payload) => {
        if (payload && o.onPayload) o.onPayload(payload);
        else void this.refresh().catch(() => {});
      },
    });
  }

  /**
   * Listens, then loads (so no change falls between the two), then starts the poll.
   * @throws {SharedStateError} `shared_unavailable` when the channel cannot be listened to;
   *   whatever the first `load` throws
   */
  async start(): Promise<void> {
    await this.#listener.open();
    await this.refresh();
    this.#timer = setInterval(() => void this.#poll(), this.#o.pollMs);
    this.#timer.unref();
  }

  /** The signature of the last load. */
  signature(): string {
    return this.#signature;
  }

  /**
   * Reloads the copy; resolves once a load that began after this call ends (calls while one
   * is queued share it).
   */
  refresh(): Promise<void> {
    if (this.#queued) return this.#queued;
    const run = this.#loading.then(async () => {
      this.#queued = null;
      if (this.#closed) return;
      this.#signature = await this.#o.load();
    });
    this.#queued = run;
    this.#loading = run.catch(() => {});
    return run;
  }

  /**
   * Reloads now if the table's signature moved since the last load (a change whose
   * notification has not come yet, or was lost); resolves once the copy holds it.
   * @throws whatever the signature query or the load throws
   */
  async catchUp(): Promise<void> {
    if (this.#closed) return;
    if ((await this.#o.signature()) !== this.#signature) await this.refresh();
  }

  /** Ends the poll and the listener, and waits for a load under way. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#listener.close();
    await this.#loading;
  }

  /** The fallback: re-opens a lost listener, and reloads when the table's signature moved. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      if (!this.#listener.isOpen) {
        await this.#listener.open();
        await this.refresh(); // changes made while nobody listened
        return;
      }
      await this.catchUp();
    } catch {
      // Unreachable: the copy keeps serving; tried again at the next poll.
    } finally {
      this.#polling = false;
    }
  }
}
