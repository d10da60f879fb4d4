/**
 * @module io/store/rollups
 * Sealed per-window rollups (issue 14; ARCHITECTURE.md guarantee 4, "sealed at rest"): the
 * `rollups` table, how a row is sealed and opened, and the writer that keeps them in the
 * same transaction as the frames they aggregate.
 *
 * A row is the aggregate (core/rollup: per vital count, min, max, exact sum) of the frames
 * of one device in one window of device time `[window_start, window_start + res)`, res 1 or
 * 15 minutes, **that were sealed under one data key** (`key_id`). Its plaintext is sealed
 * under that same data key: AES-256-GCM (the data key's algorithm; NIST SP 800-38D) with a
 * fresh random 96-bit IV, stored as `IV || ciphertext || tag`, with the AAD
 * `vitaltrail-rollup/1:<dev>:<res>:<window_start>:<key_id>:<frames>`, so a row copied to
 * another device, window, resolution or key, or given another frame count, does not open.
 * Consequences of one row per (window, key):
 * - shredding a data key (io/store/shredding `shredExpired`) makes exactly the rollups of the
 *   frames it sealed unreadable: what stays readable is the aggregate of the frames that
 *   stay readable, as a raw read would find them;
 * - a window whose frames were sealed under several keys (an hour boundary of the gateway
 *   clock, a rotation, a frame arriving late under a newer key) has one row per key, merged
 *   on read; a late frame for an old window updates that window's row for the current key.
 *
 * The writer (io/ingest/rollup-writer `RollupWriter`) keeps the latest aggregates in memory and writes them behind
 * the group commits of io/ingest, every few seconds, in transactions of their own; after a
 * crash the rows count at most the frames stored, and the windows the crash left short are
 * found and torn (their rows removed, written again by the first trend that reads them). Its
 * keys are only those this process created or read back: no other writer touches their rows.
 * `frames` is kept in clear (the frame index already shows how many frames each minute
 * holds) so that readers can check, before using a row, that the rows of a window count
 * every frame the index holds for it
 * (io/queries). Rollup encryptions use the data key's IV budget: at most two per
 * frame, far below the 2^32 bound with the ring's 2^20 frames per key.
 */
import { createCipheriv, createDecipheriv, KeyObject } from 'node:crypto';
import { decodeRollup, encodeRollup, type WindowAgg } from '../../core/rollup.js';
import { SealedError } from './sealed.js';
import type { GatewayStore } from './store.js';

/** Bytes of a rollup's IV (96 bits, fresh per seal: what `sealRollup` is given). */
export const ROLLUP_IV_BYTES = 12;
const TAG_BYTES = 16;

/** AAD of one rollup row: its place (device, resolution, window, data key) and frame count. */
export function rollupAad(
  dev: string,
  res: number,
  windowStart: number,
  keyId: number,
  frames: number,
): Buffer {
  return Buffer.from(`vitaltrail-rollup/1:${dev}:${res}:${windowStart}:${keyId}:${frames}`);
}

/** A data key as node:crypto takes it (the KeyObject under a CryptoKey, kept per key). */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function keyObjectOf(key: CryptoKey | KeyObject): KeyObject {
  if (key instanceof KeyObject) return key;
  let k = keyObjects.get(key);
  if (!k) {
    k = KeyObject.from(key);
    keyObjects.set(key, k);
  }
  return k;
}

/** Seals a rollup under a data key: `iv || ciphertext || tag` (AES-256-GCM). */
export function sealRollup(
  key: CryptoKey | KeyObject,
  w: WindowAgg,
  aad: Uint8Array,
  iv: Uint8Array,
): Buffer {
  const c = createCipheriv('aes-256-gcm', keyObjectOf(key), iv, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  const body = c.update(encodeRollup(w));
  const tail = c.final();
  return Buffer.concat([iv, body, tail, c.getAuthTag()]);
}

/**
 * Opens a rollup sealed by `sealRollup`.
 * @throws {SealedError} `integrity_error` when any byte was altered, the row was moved
 * (another AAD), or the plaintext is not a rollup of `frames` frames. Never returns a wrong
 * aggregate.
 */
export function openRollup(
  key: CryptoKey | KeyObject,
  sealed: Uint8Array,
  aad: Uint8Array,
  frames: number,
): WindowAgg {
  try {
    if (sealed.length < ROLLUP_IV_BYTES + TAG_BYTES) throw new RangeError('sealed rollup too short');
    const d = createDecipheriv('aes-256-gcm', keyObjectOf(key), sealed.subarray(0, ROLLUP_IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const head = d.update(sealed.subarray(ROLLUP_IV_BYTES, sealed.length - TAG_BYTES));
    const tail = d.final();
    const w = decodeRollup(tail.length === 0 ? head : Buffer.concat([head, tail]));
    if (w.frames !== frames) throw new RangeError('rollup frame count does not match its row');
    return w;
  } catch (err) {
    throw new SealedError('integrity_error', 'a rollup does not authenticate', { cause: err });
  }
}

/** One stored row, as read. */
export interface RollupRow {
  windowStart: number;
  keyId: number;
  frames: number;
  sealed: Buffer;
}

/** The statements of the `rollups` table (its one owner, io/store/schema `TABLE_OWNERS`). */
export class RollupTable {
  readonly #stmts;

  constructor(store: GatewayStore) {
    const db = store.db;
    this.#stmts = {
      upsert: db.prepare(
        `INSERT INTO rollups (dev, res, window_start, key_id, frames, sealed) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (dev, res, window_start, key_id) DO UPDATE SET frames = excluded.frames, sealed = excluded.sealed`,
      ),
      insertNew: db.prepare(
        `INSERT INTO rollups (dev, res, window_start, key_id, frames, sealed) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (dev, res, window_start, key_id) DO NOTHING`,
      ),
      window: db
        .prepare('SELECT key_id, frames, sealed FROM rollups WHERE dev = ? AND res = ? AND window_start = ?')
        .raw(),
      deleteWindow: db.prepare('DELETE FROM rollups WHERE dev = ? AND res = ? AND window_start = ?'),
      range: db
        .prepare(
          `SELECT window_start, key_id, frames, sealed FROM rollups
           WHERE dev = ? AND res = ? AND window_start >= ? AND window_start < ? ORDER BY window_start, key_id`,
        )
        .raw(),
    };
  }

  upsert(dev: string, res: number, windowStart: number, keyId: number, frames: number, sealed: Buffer): void {
    this.#stmts.upsert.run(dev, res, windowStart, keyId, frames, sealed);
  }

  /** The rows of one window (every data key). */
  window(dev: string, res: number, windowStart: number): { keyId: number; frames: number; sealed: Buffer }[] {
    return (this.#stmts.window.all(dev, res, windowStart) as [number, number, Buffer][]).map(
      ([keyId, frames, sealed]) => ({ keyId, frames, sealed }),
    );
  }

  /** Removes every row of one window (all data keys). */
  deleteWindow(dev: string, res: number, windowStart: number): void {
    this.#stmts.deleteWindow.run(dev, res, windowStart);
  }

  /** Inserts a row unless one exists for its (dev, res, window, key); true when inserted. */
  insertNew(
    dev: string,
    res: number,
    windowStart: number,
    keyId: number,
    frames: number,
    sealed: Buffer,
  ): boolean {
    return this.#stmts.insertNew.run(dev, res, windowStart, keyId, frames, sealed).changes === 1;
  }

  /** Rows of `dev` at resolution `res` with from <= window_start < toExclusive, by window. */
  range(dev: string, res: number, from: number, toExclusive: number): Map<number, RollupRow[]> {
    const out = new Map<number, RollupRow[]>();
    for (const [windowStart, keyId, frames, sealed] of this.#stmts.range.all(dev, res, from, toExclusive) as [
      number,
      number,
      number,
      Buffer,
    ][]) {
      const row = { windowStart, keyId, frames, sealed };
      const list = out.get(windowStart);
      if (list) list.push(row);
      else out.set(windowStart, [row]);
    }
    return out;
  }
}
