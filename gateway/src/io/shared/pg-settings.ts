/**
 * @module io/shared/pg-settings
 * The per-patient clinical settings of a gateway group in PostgreSQL (issue 16): the
 * io/clinical `SharedPatientSettings` on the table `ward_patient_settings` (io/shared/schema;
 * every statement on it is here). Reads come from a copy kept by io/shared/pg-copy
 * (LISTEN/NOTIFY `vitaltrail_settings` and a poll), so the alarm service reads a patient's
 * limits synchronously on every reading. A write changes the copy at once and reaches the
 * table in the background, in order; `flush()` tells the caller whether it did (a failed one
 * is undone at the next reload, here and everywhere). A device whose write is still on its
 * way keeps this gateway's value through reloads until it lands.
 *
 * A nurse's ACVPU entry is an observation, not configuration: it is sent to the other
 * gateways as a notification payload on the same channel and never written to a table.
 */
import type pg from 'pg';
import type { Consciousness } from '../../core/news2.js';
import type { ConsciousnessEntry, SharedPatientSettings } from '../clinical/index.js';
import { PgCopy } from './pg-copy.js';
import {
  CLOSE_GRACE_MS,
  closeSharedPool,
  openSharedPool,
  type SharedPostgresOptions,
  SharedStateError,
  settles,
  sqlState,
} from './postgres.js';
import { SETTINGS_CHANNEL } from './schema.js';

/** Default fallback poll of the table (ms). */
export const DEFAULT_SETTINGS_POLL_MS = 2000;
const LEVELS: readonly Consciousness[] = ['A', 'C', 'V', 'P', 'U'];
const DEV = /^[A-Za-z0-9._-]{1,64}$/;

export interface PgPatientSettingsOptions extends SharedPostgresOptions {
  /** This gateway (its own ACVPU entries are not reported back to it). */
  gatewayId: string;
  pollMs?: number;
}

/** A notification payload that is an ACVPU entry of another gateway, or null. */
function entryOf(payload: string, self: string): ConsciousnessEntry | null {
  try {
    const e = JSON.parse(payload) as Partial<ConsciousnessEntry> & { gw?: unknown };
    if (e.gw === self || typeof e.dev !== 'string' || !DEV.test(e.dev)) return null;
    if (!LEVELS.includes(e.level as Consciousness) || !Number.isSafeInteger(e.at)) return null;
    if (typeof e.by !== 'string' || e.by.length > 64) return null;
    return { dev: e.dev, level: e.level as Consciousness, at: e.at as number, by: e.by };
  } catch {
    return null;
  }
}

export class PgPatientSettings implements SharedPatientSettings {
  readonly #pool: pg.Pool;
  readonly #self: string;
  readonly #copy: PgCopy;
  #rows = new Map<string, string>();
  /** Writes on their way, per device. */
  readonly #pending = new Map<string, number>();
  #writes: Promise<void> = Promise.resolve();
  #failed: unknown = null;
  /** A write failed: the copy may hold what the table does not (reloaded at the next poll). */
  #stale = false;
  readonly #changeListeners = new Set<(dev: string) => void>();
  readonly #entryListeners = new Set<(e: ConsciousnessEntry) => void>();
  readonly #writeWatchers = new Set<(dev: string) => void>();
  #closed = false;

  private constructor(pool: pg.Pool, o: PgPatientSettingsOptions) {
    this.#pool = pool;
    this.#self = o.gatewayId;
    this.#copy = new PgCopy({
      pool,
      channel: SETTINGS_CHANNEL,
      pollMs: o.pollMs ?? DEFAULT_SETTINGS_POLL_MS,
      load: () => this.#load(),
      signature: async () => {
        if (this.#stale) return 'stale'; // a write failed: reload whatever the table says
        const r = await this.#pool.query<{ n: string; m: string }>(
          'SELECT count(*) AS n, coalesce(max(change_no), 0) AS m FROM ward_patient_settings',
        );
        return `pg:${r.rows[0]?.n}:${r.rows[0]?.m}`;
      },
      onPayload: (payload) => {
        const e = entryOf(payload, this.#self);
        if (!e) return;
        for (const fn of this.#entryListeners) {
          try {
            fn(e);
          } catch {
            // A listener's failure must not stop the others.
          }
        }
      },
    });
  }

  /**
   * Connects, migrates the shared schema, listens and loads the rows.
   * @throws {SharedStateError} `shared_unavailable`
   */
  static async open(o: PgPatientSettingsOptions): Promise<PgPatientSettings> {
    if (o.pollMs !== undefined && (!Number.isFinite(o.pollMs) || o.pollMs < 10))
      throw new RangeError('PgPatientSettings: pollMs must be >= 10');
    const pool = await openSharedPool(o);
    const s = new PgPatientSettings(pool, o);
    try {
      await s.#copy.start();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  settingsJson(dev: string): string | undefined {
    return this.#rows.get(dev);
  }

  putSettingsJson(dev: string, json: string, updatedBy: string, at: number): void {
    this.#rows.set(dev, json);
    for (const fn of this.#writeWatchers) fn(dev);
    this.#pending.set(dev, (this.#pending.get(dev) ?? 0) + 1);
    this.#writes = this.#writes.then(async () => {
      try {
        await this.#pool.query(
          `INSERT INTO ward_patient_settings (dev, settings, updated_by, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (dev) DO UPDATE SET settings = excluded.settings, updated_by = excluded.updated_by,
             updated_at = excluded.updated_at`,
          [dev, json, updatedBy, at],
        );
      } catch (err) {
        this.#failed ??= err;
        this.#stale = true;
      } finally {
        const n = (this.#pending.get(dev) ?? 1) - 1;
        if (n > 0) this.#pending.set(dev, n);
        else this.#pending.delete(dev);
      }
    });
  }

  async flush(): Promise<void> {
    await this.#writes;
    const failed = this.#failed;
    this.#failed = null;
    if (failed !== null) {
      void this.#copy.refresh().catch(() => {}); // back to the shared rows
      throw new SharedStateError(
        'shared_unavailable',
        `a settings change did not reach the group's database (${sqlState(failed)})`,
        { cause: failed },
      );
    }
  }

  settled(): Promise<void> {
    return this.#writes;
  }

  async catchUp(): Promise<void> {
    try {
      await this.#copy.catchUp();
    } catch (err) {
      throw new SharedStateError('shared_unavailable', `cannot read the shared settings (${sqlState(err)})`, {
        cause: err,
      });
    }
  }

  onChange(fn: (dev: string) => void): () => void {
    this.#changeListeners.add(fn);
    return () => this.#changeListeners.delete(fn);
  }

  shareConsciousness(e: ConsciousnessEntry): void {
    const payload = JSON.stringify({ gw: this.#self, dev: e.dev, level: e.level, at: e.at, by: e.by });
    this.#pool.query('SELECT pg_notify($1, $2)', [SETTINGS_CHANNEL, payload]).catch(() => {
      // Best effort, as the entry itself: the other gateways' NEWS2 stays partial without it.
    });
  }

  onConsciousness(fn: (e: ConsciousnessEntry) => void): () => void {
    this.#entryListeners.add(fn);
    return () => this.#entryListeners.delete(fn);
  }

  /**
   * Waits for the writes on their way (at most the pool's `closeTimeoutMs`: one not in by
   * then may or may not land), ends the listener, the poll and the pool. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const copy = this.#copy.close(); // a load under way ends with the pool (bounded)
    await closeSharedPool(this.#pool, () => this.#writes);
    this.#changeListeners.clear();
    this.#entryListeners.clear();
    await settles(copy, CLOSE_GRACE_MS);
  }

  private onWrite(fn: (dev: string) => void): () => void {
    this.#writeWatchers.add(fn);
    return () => this.#writeWatchers.delete(fn);
  }

  /** Reads the table into the copy; tells the listeners of every device whose row changed. */
  async #load(): Promise<string> {
    // Devices written here since this read began, or still on their way, keep this gateway's
    // value (the read may predate the write): the write's own notification brings the row.
    const written = new Set(this.#pending.keys());
    const stopWatching = this.onWrite((dev) => written.add(dev));
    let r: pg.QueryResult<{ dev: string; settings: string; n: string; m: string }>;
    try {
      r = await this.#pool.query(
        'SELECT dev, settings, count(*) OVER () AS n, max(change_no) OVER () AS m FROM ward_patient_settings',
      );
    } finally {
      stopWatching();
    }
    this.#stale = false;
    const next = new Map<string, string>();
    for (const row of r.rows) next.set(row.dev, row.settings);
    for (const dev of [...written, ...this.#pending.keys()]) {
      const mine = this.#rows.get(dev);
      if (mine !== undefined) next.set(dev, mine);
    }
    const changed = new Set<string>();
    for (const [dev, json] of next) if (this.#rows.get(dev) !== json) changed.add(dev);
    for (const dev of this.#rows.keys()) if (!next.has(dev)) changed.add(dev);
    this.#rows = next;
    for (const dev of changed) {
      for (const fn of this.#changeListeners) {
        try {
          fn(dev);
        } catch {
          // A listener's failure must not stop the copy.
        }
      }
    }
    return `pg:${r.rows[0]?.n ?? 0}:${r.rows[0]?.m ?? 0}`;
  }
}
