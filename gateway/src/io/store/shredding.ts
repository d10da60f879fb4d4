/**
 * @module io/store/shredding
 * Crypto-shredding under retention, recorded in the log (PROTOCOL.md §6: "An entry may be
 * reported as shredded only when the destruction of its data key is itself recorded in the
 * anchored log"). For every data key whose window ended at least the retention ago, oldest
 * first, `shredExpired` writes, in one fsync'd transaction per batch of keys (256 by
 * default): each key's shredding record (protocol/shred-record: device, window, retention,
 * time, and the log positions and seqs of the frames the key sealed) as a new leaf of the
 * log, its row in `shred_records`, and the destruction of every wrapped copy of the key. A
 * crash leaves a key either destroyed and recorded or neither. Then the ciphertexts of the
 * destroyed keys are deleted, in log order (io/store/sealed `sweepShredded`: their space is
 * written again by later commits, so a store kept under retention stops growing by them;
 * those a crash or a bound left are deleted by the next call). The record is anchored with
 * the gateway's next checkpoint, and `export` discloses it beside the shredded entries it
 * covers (`shredRecordsCovering`). Each key and its frames are found by index (schema 14),
 * so the cost follows the keys destroyed, not the size of the store.
 *
 * The log has one writer: the shred CLI holds the data directory's instance lock, so it
 * runs only while no gateway does (a running gateway refuses it with `data_dir_in_use`),
 * and a running gateway shreds between its own commits (io/ingest/retention), in bounded
 * turns (`maxFrames`). Secure-delete overwrites the freed bytes; the CLI's WAL checkpoint
 * (TRUNCATE) removes the old page images from the WAL at once.
 */
import { hashLeaf } from '../../../../anchor/src/log/index.js';
import { decodeShredRecord, encodeShredRecord, type ShredRecord } from '../../protocol/shred-record.js';
import {
  DEFAULT_KEY_WINDOW_MS,
  destroyDataKey,
  type ExpiredDataKey,
  expiredDataKeys,
  leavesSealedUnder,
  SealedError,
  sweepShredded,
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
  /** Ciphertexts of destroyed keys deleted (their rows kept as tombstones). */
  deleted: number;
  /** Whether work remains (the call stopped at `maxKeys` or `maxFrames`). */
  more: boolean;
}

/** How much one call of `shredExpired` does, and how. */
export interface ShredOptions {
  /** The windows' length (as configured for the ring), whole milliseconds. Default 1 h. */
  windowMs?: number;
  /** Keys destroyed in one transaction (one fsync). Default 256. */
  keysPerCommit?: number;
  /** Keys destroyed by this call at most. Default: every expired key. */
  maxKeys?: number;
  /**
   * Frames listed by this call at most: a key is taken only while its frames fit, but the
   * call's first key always is (a running gateway's turn, io/ingest/retention); and log
   * positions the deletion of ciphertexts takes, at most. Default: no bound.
   */
  maxFrames?: number;
  /**
   * `false`: the keys and their records only; the caller deletes their ciphertexts
   * (`sweepExpired`), so that a failure there does not hide the keys destroyed (a running
   * gateway's turn counts and tells them first). Default `true`.
   */
  sweep?: boolean;
  /**
   * `truncate` (default): a WAL checkpoint (TRUNCATE) after, so the old page images leave the
   * WAL at once (the CLI, nothing else running); `none`: a running gateway's own checkpoints
   * recycle the WAL.
   */
  checkpoint?: 'truncate' | 'none';
}

const whole = (n: number | undefined, min: number): boolean =>
  n === undefined || (Number.isSafeInteger(n) && n >= min);

/**
 * Destroys the data keys of windows that ended at least `retentionMs` before `now`, each
 * with its shredding record in the log (module doc), oldest window first.
 * @param retentionMs whole milliseconds (the record holds integers)
 * @throws {TypeError} when `retentionMs` is not a whole number >= 0, or an option is not a
 *   whole number (`windowMs`, `keysPerCommit`, `maxKeys`, `maxFrames`: >= 1).
 * @throws {SealedError} `store_failed` when a write fails (the transactions done so far stay
 *   done and recorded; the failing one changes nothing).
 * @example shredExpired(store, 30 * 86_400_000, Date.now())
 */
export function shredExpired(
  store: GatewayStore,
  retentionMs: number,
  now: number,
  opts: ShredOptions = {},
): ShredResult {
  const { windowMs = DEFAULT_KEY_WINDOW_MS, keysPerCommit = 256, maxKeys, maxFrames } = opts;
  if (!whole(retentionMs, 0) || ![windowMs, keysPerCommit, maxKeys, maxFrames].every((n) => whole(n, 1)))
    throw new TypeError('shredExpired: retentionMs and the options must be whole numbers');
  const db = store.db;
  const cutoff = now - retentionMs;
  const result: ShredResult = { keys: 0, records: 0, frames: 0, deleted: 0, more: false };
  const insert = db.prepare(
    'INSERT INTO shred_records (leaf_index, key_id, dev, first_leaf, last_leaf, record) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const keysLeft = () => (maxKeys ?? Number.MAX_SAFE_INTEGER) - result.keys;
  const framesLeft = () => (maxFrames ?? Number.MAX_SAFE_INTEGER) - result.frames;
  try {
    return securely(db, () => {
      for (let bounded = false; !bounded; ) {
        const want = Math.min(keysPerCommit, keysLeft());
        const keys = want > 0 && framesLeft() > 0 ? expiredDataKeys(store, cutoff, windowMs, want) : [];
        if (keys.length === 0) break;
        // The keys whose frames fit what is left of `maxFrames` (the call's first key always).
        const done: { key: ExpiredDataKey; leaves: number[] }[] = [];
        let listed = 0;
        for (const key of keys) {
          const leaves = leavesSealedUnder(store, key.id);
          bounded = result.keys + done.length > 0 && listed + leaves.length > framesLeft();
          if (bounded) break;
          listed += leaves.length;
          done.push({ key, leaves });
        }
        const recorded = done
          .filter((d) => d.leaves.length > 0)
          .map((d) => ({ ...d, bytes: recordOf(store, d.key, d.leaves, retentionMs, now, windowMs) }));
        // One transaction: every record a leaf of the log and a row, every key destroyed.
        store.appendLeaves(
          recorded.map((d) => hashLeaf(d.bytes)),
          (firstLeaf) => {
            recorded.forEach((d, i) => {
              insert.run(firstLeaf + i, d.key.id, d.key.dev, d.leaves[0], d.leaves.at(-1), d.bytes);
            });
            for (const d of done) destroyDataKey(store, d.key.id, now);
          },
        );
        result.keys += done.length;
        result.records += recorded.length;
        result.frames += listed;
        if (keys.length < want) break; // no more expired keys
      }
      const swept =
        opts.sweep === false
          ? { deleted: 0, more: false }
          : sweepExpired(store, maxFrames ?? Number.MAX_SAFE_INTEGER);
      result.deleted = swept.deleted;
      result.more = swept.more || expiredDataKeys(store, cutoff, windowMs, 1).length > 0;
      if (result.keys + result.deleted > 0 && opts.checkpoint !== 'none')
        db.pragma('wal_checkpoint(TRUNCATE)');
      return result;
    });
  } catch (err) {
    if (err instanceof SealedError) throw err;
    throw new SealedError('store_failed', 'data keys could not be shredded', { cause: err });
  }
}

/**
 * Deletes the ciphertexts of destroyed keys (io/store/sealed `sweepShredded`, with
 * `secure_delete` on), over at most `maxSpan` log positions: `shredExpired`'s last step, or
 * a running gateway's turn after `shredExpired` with `sweep: false`.
 * @throws {SealedError} `store_failed` when a write fails (the spans done so far stay done).
 */
export function sweepExpired(store: GatewayStore, maxSpan: number): { deleted: number; more: boolean } {
  try {
    return securely(store.db, () => sweepShredded(store, maxSpan));
  } catch (err) {
    throw new SealedError(
      'store_failed',
      'the ciphertexts of destroyed keys could not be deleted (the keys destroyed so far stay destroyed and recorded; the next shred deletes them)',
      { cause: err },
    );
  }
}

/** `fn` with SQLite's `secure_delete` on (the bytes it frees overwritten), as it was after. */
function securely<T>(db: GatewayStore['db'], fn: () => T): T {
  const before = db.pragma('secure_delete', { simple: true }) as number;
  try {
    db.pragma('secure_delete = ON');
    return fn();
  } finally {
    db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
  }
}

/** The shredding record of `key`, which sealed the frames at `leaves` (ascending). */
function recordOf(
  store: GatewayStore,
  key: ExpiredDataKey,
  leaves: number[],
  retentionMs: number,
  now: number,
  windowMs: number,
): Uint8Array {
  const seqOf = store.seqsOfLeaves(leaves);
  const record: ShredRecord = {
    dev: key.dev,
    window: { start: key.windowStart, end: key.windowStart + windowMs },
    retentionMs,
    at: now,
    leaves,
    seqs: leaves.map((l) => {
      const seq = seqOf.get(l);
      if (seq === undefined) throw new SealedError('integrity_error', `sealed frame ${l} has no index row`);
      return seq;
    }),
  };
  return encodeShredRecord(record);
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
