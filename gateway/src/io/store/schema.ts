/**
 * @module io/store/schema
 * The gateway's SQLite database as a whole: its schema version, the one module that owns
 * each table's statements (`TABLE_OWNERS`, kept so by `test/unit/store-schema.test.ts`),
 * and `migrate`, which brings an older data directory up to the version with the
 * migrations of io/store/migrations (the one place a table or index is declared).
 *
 * A migration runs in one transaction with the version bump, so a crash leaves the file
 * at the old version or the new one, never between. A file newer than this code is
 * refused (`store_failed`), never downgraded. And two things of the file as a whole:
 * `freeBytes`, its free pages, and `readSnapshot`, one consistent view of it for a reader of
 * its own (the export commands).
 */
import type Database from 'better-sqlite3';
import { VitalTrailError } from '../../protocol/errors.js';
import { META, MIGRATIONS } from './migrations.js';

/** The schema version this code writes and reads: that of the last migration. */
export const SCHEMA_VERSION: number = (MIGRATIONS.at(-1) as { version: number }).version;

/** Every table, with the module that owns its statements (paths from gateway/src/io/). */
export const TABLE_OWNERS = {
  meta: 'store/store.ts',
  devices: 'store/store.ts',
  batches: 'store/store.ts',
  frames: 'store/store.ts',
  log_nodes: 'store/store.ts',
  checkpoints: 'store/checkpoint-table.ts',
  rejections: 'store/store.ts',
  data_keys: 'store/sealed.ts',
  sealed_frames: 'store/sealed.ts',
  rollups: 'store/rollups.ts',
  shred_records: 'store/shredding.ts',
  device_certificates: 'identity/device-history.ts',
  outbound_cursors: 'interfaces/delivery-state.ts',
  outbound_dead_letters: 'interfaces/delivery-state.ts',
  bindings: 'store/bindings.ts',
  checkpoint_notes: 'anchoring/checkpoints.ts',
  dashboard_patient_settings: 'clinical/alarm-store.ts',
  dashboard_alarm_events: 'clinical/alarm-store.ts',
  dashboard_alarms: 'clinical/local-alarm-ledger.ts',
  dashboard_sessions: 'identity/session-rows.ts',
  displays: 'identity/displays.ts',
  access_entries: 'access/access-log.ts',
  access_nodes: 'access/access-log.ts',
  access_checkpoints: 'access/access-log.ts',
  care_patient_keys: 'care/patient-keys.ts',
  care_break_glass: 'care/break-glass.ts',
} as const;

export type TableName = keyof typeof TABLE_OWNERS;

/** What `migrate` did: the file's version before and after. */
export interface MigrationReturnType {
  from: number;
  to: number;
}

/** The schema version recorded in the file (0 for a new, empty file). */
export function schemaVersionOf(db: Database.Database): number {
  db.exec(META);
  const v: unknown = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get();
  return v === undefined ? 0 : Number(v);
}

/**
 * Brings `db` to `SCHEMA_VERSION`, one migration per transaction.
 * @throws {VitalTrailError} `store_failed` when the file is of a newer (or unreadable) version.
 * @example
 * migrate(new Database(path)); // { from: 1, to: 3 } for a first-release data directory
 */
export function migrate(db: Database.Database): MigrationReturnType {
  const from = schemaVersionOf(db);
  if (!Number.isSafeInteger(from) || from < 0 || from > SCHEMA_VERSION) {
    throw new VitalTrailError('store_failed', `unsupported store schema version ${from}`);
  }
  const setVersion = db.prepare(
    `INSERT INTO meta (key, value) VALUES ('schema_version', ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  for (const m of MIGRATIONS) {
    if (m.version <= from) continue;
    db.transaction(() => {
      if (typeof m.sql === 'string') db.exec(m.sql);
      else m.sql(db);
      setVersion.run(String(m.version));
    }).immediate();
  }
  return { from, to: SCHEMA_VERSION };
}

/**
 * Bytes of the file's free pages: what deletes freed (crypto-shredding's ciphertexts,
 * io/store/sealed `sweepShredded`), written again by later commits before the file grows.
 * The file never shrinks by them.
 */
export function freeBytes(db: Database.Database): number {
  return (
    (db.pragma('freelist_count', { simple: true }) as number) *
    (db.pragma('page_size', { simple: true }) as number)
  );
}

/**
 * Runs `read` on one snapshot of the database: a read transaction held from its first read
 * to its end, so every statement of `read` sees the file as it was then, whatever a running
 * gateway commits meanwhile (frames stored, keys shredded), as pg_dump's snapshot does. For
 * a connection of the caller's own (the `export` and `export-fhir` commands): a running
 * gateway's connection writes, and its commits would join the transaction. While it is held
 * the WAL cannot be checkpointed past it, so it grows by what the gateway writes meanwhile.
 * `read` must not write. @throws {VitalTrailError} `store_failed` when a transaction is open.
 */
export async function readSnapshot<T>(db: Database.Database, read: () => Promise<T>): Promise<T> {
  if (db.inTransaction)
    throw new VitalTrailError('store_failed', 'a read snapshot needs a connection of its own');
  db.exec('BEGIN');
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // the snapshot starts at a first read
    return await read();
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
  }
}
