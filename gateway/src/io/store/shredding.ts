/**
 * @module io/store/shredding
 * Crypto-shredding under retention, recorded in the log (PROTOCOL.md §6: "An entry may be
 * reported as shredded only when the destruction of its data key is itself recorded in the
 * anchored log"). For every data key whose window ended at least the retention ago,
 * `shredExpired` writes, in one fsync'd transaction per key: the shredding record
 * (protocol/shred-record: device, window, retention, time, and the log positions and seqs
 * of the frames the key sealed) as a new leaf of the log, its row in `shred_records`, and
 * the destruction of every wrapped copy of the key. A crash leaves a key either destroyed
 * and recorded or neither. The record is anchored with the gateway's next checkpoint, and
 * `export` discloses it beside the shredded entries it covers (`shredRecordsCovering`).
 *
 * The log has one writer: the shred CLI holds the data directory's instance lock, so it
 * runs only while no gateway does (a running gateway refuses it with `data_dir_in_use`).
 * Secure-delete overwrites the freed bytes and a WAL checkpoint (TRUNCATE) removes the old
 * page images from the WAL.
 */
import { hashLeaf } from '../../../../anchor/src/log/index.js';
import { decodeShredRecord, encodeShredRecord, type ShredRecord } from '../../protocol/shred-record.js';
import {
  DEFAULT_KEY_WINDOW_MS,
  destroyDataKey,
  expiredDataKeys,
  leavesSealedUnder,
  SealedError,
} from './sealed.js';
import type { GatewayStore } from './store.js';

/** What `shredExpired` did. */
export interface ShredResult {
  /** Data keys destroyed. */
  keys: number;
  /** Shredding records appended to the log (one per destroyed key that sealed frames). */
  records: number;
  /** Frames whose data are now unreadable. */
  frames: number;
}

/**
 * Destroys the data keys of windows that ended at least `retentionMs` before `now`, each
 * with its shredding record in the log (module doc).
 * @param retentionMs whole milliseconds (the record holds integers)
 * @param windowMs the windows' length (as configured for the ring), whole milliseconds
 * @throws {TypeError} when `retentionMs` or `windowMs` is not a whole number >= 0 (> 0).
 * @throws {SealedError} `store_failed` when a write fails (the keys done so far stay done
 *   and recorded; the failing one is unchanged).
 * @example shredExpired(store, 30 * 86_400_000, Date.now())
 */
export function shredExpired(
  store: GatewayStore,
  retentionMs: number,
  now: number,
  windowMs: number = DEFAULT_KEY_WINDOW_MS,
): ShredResult {
  if (
    !Number.isSafeInteger(retentionMs) ||
    retentionMs < 0 ||
    !Number.isSafeInteger(windowMs) ||
    windowMs < 1
  )
    throw new TypeError('shredExpired: retentionMs and windowMs must be whole milliseconds');
  const db = store.db;
  const result: ShredResult = { keys: 0, records: 0, frames: 0 };
  const before = db.pragma('secure_delete', { simple: true }) as number;
  const insert = db.prepare(
    'INSERT INTO shred_records (leaf_index, key_id, dev, first_leaf, last_leaf, record) VALUES (?, ?, ?, ?, ?, ?)',
  );
  try {
    db.pragma('secure_delete = ON');
    for (const key of expiredDataKeys(store, now - retentionMs, windowMs)) {
      const leaves = leavesSealedUnder(store, key.id);
      if (leaves.length === 0) {
        if (db.transaction(() => destroyDataKey(store, key.id, now))()) result.keys++;
        continue;
      }
      const seqOf = store.seqsOfLeaves(leaves);
      const record: ShredRecord = {
        dev: key.dev,
        window: { start: key.windowStart, end: key.windowStart + windowMs },
        retentionMs,
        at: now,
        leaves,
        seqs: leaves.map((l) => {
          const seq = seqOf.get(l);
          if (seq === undefined)
            throw new SealedError('integrity_error', `sealed frame ${l} has no index row`);
          return seq;
        }),
      };
      const bytes = encodeShredRecord(record);
      store.appendLeaf(hashLeaf(bytes), (leafIndex) => {
        insert.run(leafIndex, key.id, key.dev, leaves[0], leaves.at(-1), bytes);
        destroyDataKey(store, key.id, now);
      });
      result.keys++;
      result.records++;
      result.frames += leaves.length;
    }
    if (result.keys > 0) db.pragma('wal_checkpoint(TRUNCATE)');
    return result;
  } catch (err) {
    if (err instanceof SealedError && err.code === 'integrity_error') throw err;
    throw new SealedError('store_failed', 'data keys could not be shredded', { cause: err });
  } finally {
    db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
  }
}

/** A shredding record of the log: where it is, its bytes and what it says. */
export interface StoredShredRecord {
  leafIndex: number;
  bytes: Uint8Array;
  record: ShredRecord;
}

/**
 * The shredding records of device `dev` that list any of `leaves` (the rows of an export),
 * in log order.
 */
export function shredRecordsCovering(
  store: GatewayStore,
  dev: string,
  leaves: ReadonlySet<number>,
): StoredShredRecord[] {
  if (leaves.size === 0) return [];
  // A loop, not Math.min(...leaves): a month of one device is millions of leaves, past the
  // argument limit of a spread call.
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const l of leaves) {
    if (l < lo) lo = l;
    if (l > hi) hi = l;
  }
  const rows = store.db
    .prepare(
      'SELECT leaf_index, record FROM shred_records WHERE dev = ? AND last_leaf >= ? AND first_leaf <= ? ORDER BY leaf_index',
    )
    .all(dev, lo, hi) as { leaf_index: number; record: Buffer }[];
  const out: StoredShredRecord[] = [];
  for (const r of rows) {
    const bytes = new Uint8Array(r.record);
    const record = decodeShredRecord(bytes);
    if (record.leaves.some((l) => leaves.has(l))) out.push({ leafIndex: r.leaf_index, bytes, record });
  }
  return out;
}
