/**
 * @module io/store/sealed
 * The sealed time-series store (issue 4; ARCHITECTURE.md guarantee 4, "sealed at rest"): the
 * reading side (`SealedReader`), and the statements of its two tables for the sealing side
 * (io/data-keys/ring).
 *
 * Key hierarchy:
 * - a **data key** per (device, time window): 32 random bytes for AES-256-GCM, made before
 *   the window's first frame needs it (near the end of the window before, at the device's
 *   connection, or at the latest with that frame: io/data-keys), rotated early after `maxFramesPerKey` frames (far
 *   below the 2^32 random-IV bound of NIST SP 800-38D §8.3) or when the recipient set
 *   changes. Before its first use it is written durably to `data_keys` as a **key
 *   envelope**: a General JSON JWE (RFC 7516 §7.2.1, jose) with enc A256GCM whose
 *   plaintext is the key, wrapped for every active recipient (RSA-OAEP-256 for RSA-3072,
 *   ECDH-ES+A256KW for P-256). The gateway needs only public keys for this.
 * - each **frame** is a COSE_Encrypt0 (core/cose-encrypt0) under the data key of its row's
 *   `key_id`, external AAD `vitaltrail-frame/2:<dev>:<seq>:<leaf>:<key id>` (core/sealed-aad
 *   `frameAad`). Rows from before schema 11 hold a flattened JWE text (alg "dir", kid = key
 *   id, the same AAD; core/envelope `sealWithDataKey`); the reader tells them by type.
 * - each **rollup** (issue 14, io/store/rollups) is sealed under the data key of the frames
 *   it aggregates, so shredding that key hides the rollup too.
 *
 * The skeleton's format (one JWE per batch, `batches.envelope`) stays readable: a batch
 * whose envelope is `SEALED_FRAMES_MARKER` has its frames in `sealed_frames`; any other
 * batch is opened whole, as the skeleton did.
 *
 * Crypto-shredding (io/store/shredding `shredExpired`, with `destroyDataKey` here) deletes
 * every wrapped copy of the data keys of windows older than the retention period, each
 * with a shredding record in the log, then the ciphertexts they sealed (`sweepShredded`: each
 * row stays as a tombstone, its key id and an empty envelope, so its pages are freed for new
 * frames); the frame index and log stay, so proofs of other leaves still verify and these
 * leaves read as `'shredded'`, and the rollups sealed under those keys can no longer be
 * opened either.
 */
import type { KeyObject } from 'node:crypto';
import { decode } from 'cbor2';
import { leafHashEquals } from '../../../../anchor/src/log/index.js';
import { openEncrypt0 } from '../../core/cose-encrypt0.js';
import {
  EnvelopeError,
  importDataKey,
  keyObjectOf,
  openBatch,
  openExactFrameJwe,
  openWithDataKeySync,
  type RecipientSecret,
} from '../../core/envelope.js';
import { batchAad, dataKeyAad, frameAad } from '../../core/sealed-aad.js';
import { sha256Equals } from '../../protocol/digest.js';
import { errorClass, VitalTrailError } from '../../protocol/errors.js';
import { type OpenJob, packedJob } from '../reading/index.js';
import { splitInts } from './rows.js';
import type { FrameReadRow, GatewayStore } from './store.js';

export { batchAad, dataKeyAad, frameAad };

export class SealedError extends errorClass<'sealed'>('SealedError') {}

/** Default data-key window (io/data-keys/ring): one hour of gateway clock. */
export const DEFAULT_KEY_WINDOW_MS = 3_600_000;

/** `batches.envelope` of a group commit whose frames are sealed one by one. */
export const SEALED_FRAMES_MARKER = 'vitaltrail-sealed-frames/2';
/**
 * Frames a reader fetches with one statement per table (sealed rows, log leaves) and opens
 * in one go; between chunks it yields to the event loop, so a long read (a day of frames)
 * never holds up the ingest's acks for more than a chunk's few milliseconds.
 */
const READ_CHUNK = 1024;
/**
 * The statements that write data keys and sealed frames (this module owns `data_keys` and
 * `sealed_frames`), for io/data-keys/ring `DataKeyRing`.
 */
export function sealingStatements(store: GatewayStore) {
  const insertKey = store.db.prepare(
    'INSERT INTO data_keys (id, dev, window_start, created_at, envelope) VALUES (?, ?, ?, ?, ?)',
  );
  return {
    /** Records key rows `[id, dev, window_start, created_at, envelope]` in one transaction. */
    insertKeys: store.db.transaction((rows: readonly unknown[][]) => {
      for (const r of rows) insertKey.run(...r);
    }),
    insertFrame: store.db.prepare(
      'INSERT INTO sealed_frames (leaf_index, key_id, envelope) VALUES (?, ?, ?)',
    ),
    lastKeyId: () => (store.db.prepare('SELECT max(id) FROM data_keys').pluck().get() as number | null) ?? 0,
  };
}

/** A row of `sealed_frames`: a COSE_Encrypt0 (BLOB), or a JWE (TEXT) written before version 11. */
type SealedRow = { leaf_index: number; key_id: number; envelope: Uint8Array | string };

/** What a read yields per row: the frame's COSE bytes, or that its data key was destroyed. */
export type FrameRead = Uint8Array | 'shredded';

/** A read with the data key that sealed the frame (null: a skeleton batch, no data key). */
export interface OpenedFrame {
  frame: FrameRead;
  keyId: number | null;
}

/**
 * The reading side: opens frames of both formats with a recipient's private key. Each
 * data key and each skeleton batch is unwrapped once per reader (bounded caches). Every
 * frame is checked against the index (frame hash) and the log (leaf hash).
 *
 * Reads are batched (issue 14): per chunk one statement fetches the sealed rows and one the
 * log leaves, its data keys are unwrapped together, and each frame is opened synchronously
 * (core/cose-encrypt0; a format-2 JWE with core/envelope), here or on a read thread (`job`).
 */
export class SealedReader {
  readonly #store: GatewayStore;
  readonly #secrets: readonly RecipientSecret[];
  /** Promises, so that concurrent reads of one window unwrap its key once. */
  readonly #keys = new Map<number, Promise<CryptoKey | 'shredded'>>();
  readonly #batches = new Map<number, Promise<Uint8Array[]>>();
  readonly #stmts;

  constructor(store: GatewayStore, secrets: readonly RecipientSecret[]) {
    this.#store = store;
    this.#secrets = secrets;
    this.#stmts = {
      frames: store.db.prepare(
        'SELECT leaf_index, key_id, envelope FROM sealed_frames WHERE leaf_index IN (SELECT value FROM json_each(?))',
      ),
      // A chunk's rows as one row (`job`): in the chunk's order, their envelopes in one BLOB.
      packed: store.db
        .prepare(
          `SELECT count(*), count(*) FILTER (WHERE typeof(s.envelope) = 'blob'), group_concat(s.leaf_index, ','),
             group_concat(s.key_id, ','), group_concat(length(s.envelope), ','), CAST(group_concat(s.envelope, '') AS BLOB)
           FROM json_each(?) j JOIN sealed_frames s ON s.leaf_index = j.value`,
        )
        .raw(),
      key: store.db.prepare(
        'SELECT id, dev, window_start, envelope, shredded_at FROM data_keys WHERE id = ?',
      ),
    };
  }

  /**
   * Opens the frames of `rows` (index rows from the store), in order.
   * @throws {SealedError} `integrity_error` naming the entry or batch when any stored byte
   * does not authenticate or does not match the log; `no_recipient_key` when none of the
   * secrets opens it. Never returns a wrong frame.
   */
  async read(rows: readonly FrameReadRow[]): Promise<FrameRead[]> {
    return (await this.readDetailed(rows)).map((r) => r.frame);
  }

  /** As `read`, with the id of the data key that sealed each frame. */
  async readDetailed(rows: readonly FrameReadRow[]): Promise<OpenedFrame[]> {
    const out: OpenedFrame[] = [];
    for (let i = 0; i < rows.length; i += READ_CHUNK) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const chunk = rows.slice(i, i + READ_CHUNK);
      const { sealed, logLeaves, keys } = await this.#fetch(chunk);
      for (const row of chunk) {
        const s = sealed.get(row.leafIndex);
        const key = s ? keys.get(s.key_id) : undefined;
        if (s && key === 'shredded') {
          out.push({ frame: 'shredded', keyId: s.key_id });
          continue;
        }
        const bytes = s ? this.#open(row, s, key as CryptoKey) : await this.#fromBatch(row);
        const leaf = logLeaves.get(row.leafIndex) ?? this.#store.getNode(0, row.leafIndex);
        if (!leafHashEquals(bytes, leaf) || !sha256Equals(bytes, row.hash)) {
          throw new SealedError('integrity_error', `entry ${row.leafIndex} does not match the log`);
        }
        out.push({ frame: bytes, keyId: s ? s.key_id : null });
      }
    }
    return out;
  }

  /**
   * `chunk` as a job for a read thread (io/reading `openChunk`): its sealed rows in one row
   * (their envelopes one BLOB), frames under a shredded key counted apart. Undefined unless
   * every row is a COSE_Encrypt0 with its leaf hash read with it (else `read` opens or
   * refuses the chunk). @throws {SealedError} as `read`.
   */
  async job(chunk: readonly FrameReadRow[]): Promise<{ job: OpenJob; shredded: number } | undefined> {
    if (chunk.some((r) => r.leafHash === undefined)) return undefined;
    const leaves = chunk.map((r) => r.leafIndex).join(',');
    type Packed = [number, number, string | null, string | null, string | null, Buffer | null];
    const [n, blobs, order, ids, lengths, envelopes] = this.#stmts.packed.get(`[${leaves}]`) as Packed;
    const keyIds = splitInts(ids, n);
    const lens = splitInts(lengths, n);
    // Every row there, in the chunk's order (SQLite's join order is checked, not assumed).
    if (n !== chunk.length || blobs !== n || order !== leaves || !keyIds || !lens || !envelopes) return;
    if (lens.reduce((a, b) => a + b, 0) !== envelopes.length) return;
    const keys = await this.#dataKeys(chunk.map((r, i) => [keyIds[i] as number, r.dev]));
    const objects = new Map<number, KeyObject | 'shredded'>();
    for (const [id, k] of keys) objects.set(id, k === 'shredded' ? k : keyObjectOf(k));
    return packedJob(chunk as readonly Required<FrameReadRow>[], keyIds, lens, envelopes, objects);
  }

  /** A chunk's sealed rows and log leaves (one statement each) and its data keys, unwrapped together. */
  async #fetch(chunk: readonly FrameReadRow[]) {
    const leaves = JSON.stringify(chunk.map((r) => r.leafIndex));
    const sealed = new Map<number, SealedRow>();
    for (const r of this.#stmts.frames.all(leaves) as SealedRow[]) sealed.set(r.leaf_index, r);
    // The log's leaf hashes, unless every row came with its own (`framesToRead`).
    const missing = chunk.filter((r) => r.leafHash === undefined).map((r) => r.leafIndex);
    const logLeaves = missing.length > 0 ? this.#store.leafHashes(missing) : new Map<number, Uint8Array>();
    for (const r of chunk) if (r.leafHash !== undefined) logLeaves.set(r.leafIndex, r.leafHash);
    const used: [number, string][] = [];
    for (const row of chunk) {
      const s = sealed.get(row.leafIndex);
      if (s) used.push([s.key_id, row.dev]);
    }
    return { sealed, logLeaves, keys: await this.#dataKeys(used) };
  }

  /** The data keys of `used` (key id, device), unwrapped together, each once per reader. */
  async #dataKeys(used: readonly [number, string][]): Promise<Map<number, CryptoKey | 'shredded'>> {
    const wanted = new Map<number, string>();
    for (const [id, dev] of used) if (!wanted.has(id)) wanted.set(id, dev);
    const keys = new Map<number, CryptoKey | 'shredded'>();
    await Promise.all(
      [...wanted].map(async ([id, dev]) => {
        keys.set(id, await this.dataKey(id, dev));
      }),
    );
    return keys;
  }

  /**
   * One sealed frame: a COSE_Encrypt0 (BLOB), or the JWE text of a row of format 2. Such a
   * JWE as this gateway wrote it (protected header exactly `{"alg":"dir","enc":"A256GCM",
   * "kid":"<key id>"}`, canonical base64url) is opened with one AES-256-GCM decipher and no
   * per-frame header parse (RFC 7516 §5.2: the AAD is `ASCII(protected) || '.' ||
   * BASE64URL(aad)`); any other text goes to core/envelope `openWithDataKeySync`, which
   * opens or refuses it.
   */
  #open(row: FrameReadRow, s: SealedRow, key: CryptoKey): Uint8Array {
    const aad = frameAad(row.dev, row.seq, row.leafIndex, s.key_id);
    try {
      if (typeof s.envelope !== 'string') return openEncrypt0(s.envelope, keyObjectOf(key), aad);
      return (
        openExactFrameJwe(s.envelope, key, String(s.key_id), aad) ??
        openWithDataKeySync(s.envelope, key, String(s.key_id), aad)
      );
    } catch (err) {
      throw new SealedError('integrity_error', `entry ${row.leafIndex} does not authenticate`, {
        cause: err,
      });
    }
  }

  /** A frame of a skeleton batch (one JWE per batch). */
  async #fromBatch(row: FrameReadRow): Promise<Uint8Array> {
    const envelope = this.#batchEnvelope(row.batchId);
    if (envelope === undefined || envelope === SEALED_FRAMES_MARKER) {
      throw new SealedError('integrity_error', `entry ${row.leafIndex} has no sealed frame`);
    }
    const frames = await this.#batch(row.batchId);
    const b = frames[row.batchPos];
    if (!b)
      throw new SealedError('integrity_error', `stored batch ${row.batchId} lacks entry ${row.leafIndex}`);
    return b;
  }

  /**
   * Data key `id` of device `dev`, unwrapped once per reader, or `'shredded'` once its
   * wrapped copies were destroyed.
   * @throws {SealedError} `integrity_error` when it is missing, belongs to another device
   * or does not authenticate; `no_recipient_key` when none of the secrets opens it.
   */
  dataKey(id: number, dev: string): Promise<CryptoKey | 'shredded'> {
    const hit = this.#keys.get(id);
    if (hit) return hit;
    if (this.#keys.size >= 4096) this.#keys.clear();
    const p = this.#unwrap(id, dev);
    this.#keys.set(id, p);
    return p;
  }

  async #unwrap(id: number, dev: string): Promise<CryptoKey | 'shredded'> {
    const r = this.#stmts.key.get(id) as
      | { id: number; dev: string; window_start: number; envelope: string | null; shredded_at: number | null }
      | undefined;
    if (!r) throw new SealedError('integrity_error', `data key ${id} is missing`);
    if (r.shredded_at !== null || r.envelope === null) return 'shredded';
    if (r.dev !== dev) throw new SealedError('integrity_error', `data key ${id} belongs to another device`);
    let raw: Uint8Array;
    try {
      raw = await openBatch(r.envelope, this.#secrets, dataKeyAad(r.id, r.dev, r.window_start));
    } catch (err) {
      throw this.#opened(err, `data key ${id}`);
    }
    try {
      return await importDataKey(raw);
    } catch (err) {
      throw new SealedError('integrity_error', `data key ${id} has the wrong shape`, { cause: err });
    } finally {
      raw.fill(0);
    }
  }

  /** The envelope of stored batch `batchId`, or undefined when there is no such batch. */
  #batchEnvelope(batchId: number): string | undefined {
    try {
      return this.#store.getBatch(batchId).envelope;
    } catch (err) {
      if (err instanceof VitalTrailError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  #batch(batchId: number): Promise<Uint8Array[]> {
    const hit = this.#batches.get(batchId);
    if (hit) return hit;
    if (this.#batches.size >= 256) this.#batches.clear();
    const p = this.#openBatch(batchId);
    this.#batches.set(batchId, p);
    return p;
  }

  async #openBatch(batchId: number): Promise<Uint8Array[]> {
    const b = this.#store.getBatch(batchId);
    let plain: Uint8Array;
    try {
      plain = await openBatch(b.envelope, this.#secrets, batchAad(b.id, b.firstLeaf));
    } catch (err) {
      throw this.#opened(err, `stored batch ${batchId}`);
    }
    let frames: unknown;
    try {
      frames = decode(plain);
    } catch (err) {
      throw new SealedError('integrity_error', `stored batch ${batchId} does not decode`, { cause: err });
    }
    if (
      !Array.isArray(frames) ||
      frames.length !== b.frameCount ||
      !frames.every((f) => f instanceof Uint8Array)
    ) {
      throw new SealedError('integrity_error', `stored batch ${batchId} has the wrong shape`);
    }
    return frames as Uint8Array[];
  }

  #opened(err: unknown, what: string): SealedError {
    if (err instanceof EnvelopeError && err.code === 'no_recipient_key') {
      return new SealedError('no_recipient_key', `no configured private key opens ${what}`, { cause: err });
    }
    return new SealedError('integrity_error', `${what} does not authenticate`, { cause: err });
  }
}

/** A data key whose window ended at least the retention ago, not destroyed yet. */
export interface ExpiredDataKey {
  id: number;
  dev: string;
  windowStart: number;
}

/**
 * The data keys whose window (of `windowMs`) ended at or before `cutoff`, not yet shredded,
 * oldest window first: at most `limit`. Read through the partial index of the keys not yet
 * destroyed (schema 14), so the keys destroyed before are never passed again.
 */
export function expiredDataKeys(
  store: GatewayStore,
  cutoff: number,
  windowMs: number,
  limit = Number.MAX_SAFE_INTEGER,
): ExpiredDataKey[] {
  return (
    store.db
      .prepare(
        `SELECT id, dev, window_start FROM data_keys INDEXED BY data_keys_unshredded
         WHERE shredded_at IS NULL AND window_start <= @last ORDER BY window_start, id LIMIT @limit`,
      )
      .all({ last: cutoff - windowMs, limit }) as { id: number; dev: string; window_start: number }[]
  ).map((r) => ({ id: r.id, dev: r.dev, windowStart: r.window_start }));
}

/** The log positions of the frames sealed under data key `keyId`, ascending. */
export function leavesSealedUnder(store: GatewayStore, keyId: number): number[] {
  return store.db
    .prepare(
      'SELECT leaf_index FROM sealed_frames INDEXED BY sealed_frames_key WHERE key_id = ? ORDER BY leaf_index',
    )
    .pluck()
    .all(keyId) as number[];
}

/**
 * Destroys every wrapped copy of data key `id` (inside the caller's transaction: the
 * shredding record of io/store/shredding is written with it). Run with `secure_delete` on.
 * The ciphertexts it sealed go later, in log order (`sweepShredded`).
 * @returns whether a key was destroyed (false: already shredded).
 */
export function destroyDataKey(store: GatewayStore, id: number, now: number): boolean {
  return (
    store.db
      .prepare('UPDATE data_keys SET envelope = NULL, shredded_at = ? WHERE id = ? AND shredded_at IS NULL')
      .run(now, id).changes > 0
  );
}

/** `meta` key: the log position below which no frame of a destroyed key holds its ciphertext. */
const SWEPT_TO = 'shred_swept_to';
/** Log positions a sweep takes per transaction. */
const SWEEP_SPAN = 8192;

/**
 * Empties the sealed frames of destroyed keys, in log order from where the last sweep
 * stopped, spans of at most 8,192 positions a transaction (the caller's `secure_delete`
 * applies), `maxSpan` positions in all; it stops at the first frame whose key is not
 * destroyed yet. Each row is deleted and written again as a tombstone (its key id, an empty
 * envelope: it reads as shredded by its key, as before), so its pages go to SQLite's free
 * list for later commits: a row merely shortened would leave its pages as they were. In log
 * order, not key by key: a window's keys share their pages (a ward's devices interleave in
 * every commit), so a key at a time would write each page of the window once per key.
 * @returns the ciphertexts deleted, and whether the sweep stopped at `maxSpan` with more to see
 */
export function sweepShredded(store: GatewayStore, maxSpan: number): { deleted: number; more: boolean } {
  const db = store.db;
  const last = db.prepare('SELECT max(leaf_index) FROM sealed_frames').pluck().get() as number | null;
  const emptied = db.prepare(
    `DELETE FROM sealed_frames WHERE leaf_index >= @from AND leaf_index < @to AND length(envelope) > 0
       AND EXISTS (SELECT 1 FROM data_keys WHERE data_keys.id = sealed_frames.key_id AND data_keys.shredded_at IS NOT NULL)
     RETURNING leaf_index, key_id`,
  );
  const tombstone = db.prepare(
    `INSERT INTO sealed_frames (leaf_index, key_id, envelope) VALUES (@leaf_index, @key_id, X'')`,
  );
  const firstLive = db
    .prepare(
      `SELECT min(sealed_frames.leaf_index) FROM sealed_frames JOIN data_keys ON data_keys.id = sealed_frames.key_id
        WHERE sealed_frames.leaf_index >= @from AND sealed_frames.leaf_index < @to AND data_keys.shredded_at IS NULL`,
    )
    .pluck();
  let at = Number(store.getMeta(SWEPT_TO) ?? 0);
  let deleted = 0;
  for (let spent = 0; last !== null && at <= last; ) {
    if (spent >= maxSpan) return { deleted, more: true };
    const span = { from: at, to: at + Math.min(SWEEP_SPAN, maxSpan - spent) };
    const live = db.transaction(() => {
      const rows = emptied.all(span);
      for (const r of rows) tombstone.run(r);
      deleted += rows.length;
      const stop = firstLive.get(span) as number | null;
      // Never past the last sealed frame: the frames to come are sealed after it.
      store.setMeta(SWEPT_TO, String(stop ?? Math.min(span.to, last + 1)));
      return stop;
    })();
    if (live !== null) break;
    spent += span.to - span.from;
    at = span.to;
  }
  return { deleted, more: false };
}
