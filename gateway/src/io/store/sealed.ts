/**
 * @module io/store/sealed
 * The sealed time-series store (issue 4; ARCHITECTURE.md guarantee 4, "sealed at rest").
 *
 * Key hierarchy:
 * - a **data key** per (device, time window): 32 random bytes for AES-256-GCM, made when
 *   the window's first frame arrives, rotated early after `maxFramesPerKey` frames (far
 *   below the 2^32 random-IV bound of NIST SP 800-38D §8.3) or when the recipient set
 *   changes. Before its first use it is written durably to `data_keys` as a **key
 *   envelope**: a General JSON JWE (RFC 7516 §7.2.1, jose) with enc A256GCM whose
 *   plaintext is the key, wrapped for every active recipient (RSA-OAEP-256 for RSA-3072,
 *   ECDH-ES+A256KW for P-256). The gateway needs only public keys for this.
 * - each **frame** is a flattened JWE, alg "dir", enc A256GCM, kid = data key id, with AAD
 *   `vitaltrail-frame/2:<dev>:<seq>:<leaf>:<key id>` rebuilt by the reader (see
 *   core/envelope `sealWithDataKey`). One row of `sealed_frames` per leaf: a frame is read
 *   with one primary-key lookup; its data key is unwrapped once per reader (cached).
 *
 * The skeleton's format (one JWE per batch, `batches.envelope`) stays readable: a batch
 * whose envelope is `SEALED_FRAMES_MARKER` has its frames in `sealed_frames`; any other
 * batch is opened whole, as the skeleton did.
 *
 * Crypto-shredding: `shredExpired` deletes every wrapped copy of the data keys of windows
 * older than the retention period (with SQLite `secure_delete`, then a WAL checkpoint so
 * no old page survives in the WAL); ciphertexts, frame index and log stay, so proofs of
 * other leaves still verify and these leaves read as `'shredded'`.
 */
import { decode } from 'cbor2';
import { hashLeaf } from '../../../../anchor/src/log/index.js';
import {
  createDataKey,
  EnvelopeError,
  importDataKey,
  openBatch,
  openWithDataKey,
  type Recipient,
  type RecipientSecret,
} from '../../core/envelope.js';
import { errorClass, VitalTrailError } from '../../protocol/errors.js';
import {
  decodeFrame,
  frameHash,
  isSafeFrame,
  type Observations,
  type SafeFrame,
} from '../../protocol/frame.js';
import type { FrameIndexRow, GatewayStore } from './store.js';

export class SealedError extends errorClass<'sealed'>('SealedError') {}

/** `batches.envelope` of a group commit whose frames are sealed one by one. */
export const SEALED_FRAMES_MARKER = 'vitaltrail-sealed-frames/2';
/** Frames a reader opens concurrently. */
const READ_CHUNK = 128;
/** Default data-key window: one hour of gateway clock. */
export const DEFAULT_KEY_WINDOW_MS = 3_600_000;
/** Default early rotation: 2^20 frames per data key (random 96-bit IVs allow 2^32). */
export const DEFAULT_MAX_FRAMES_PER_KEY = 1 << 20;

/** AAD binding a skeleton batch envelope to its batch id and first leaf index (format 1). */
export function batchAad(batchId: number, firstLeaf: number): Uint8Array {
  return new TextEncoder().encode(`vitaltrail-batch/1:${batchId}:${firstLeaf}`);
}

/** AAD of one sealed frame: its place in the store and its key (core/envelope). */
export function frameAad(dev: string, seq: number, leafIndex: number, keyId: number): Uint8Array {
  return new TextEncoder().encode(`vitaltrail-frame/2:${dev}:${seq}:${leafIndex}:${keyId}`);
}

/** AAD of a key envelope: binds it to its row, device and window. */
export function dataKeyAad(id: number, dev: string, windowStart: number): Uint8Array {
  return new TextEncoder().encode(`vitaltrail-data-key/1:${id}:${dev}:${windowStart}`);
}

interface OpenKey {
  id: number;
  key: CryptoKey;
  windowStart: number;
  uses: number;
  recipientsStamp: string;
}

export interface DataKeyRingOptions {
  /** Window of one data key, gateway clock. Default 1 h. */
  windowMs?: number;
  /** Rotate a data key early after this many frames. Default 2^20. */
  maxFramesPerKey?: number;
}

/**
 * The sealing side: hands out the current data key of a device, making (and durably
 * recording) a new one at a window boundary, after `maxFramesPerKey` frames, or when the
 * recipient set has changed. Holds raw keys only in memory, as non-extractable CryptoKeys.
 */
export class DataKeyRing {
  readonly #recipients: () => readonly Recipient[];
  readonly #windowMs: number;
  readonly #maxUses: number;
  readonly #open = new Map<string, OpenKey>();
  readonly #insert;
  readonly #insertFrame;
  #nextId: number;

  constructor(
    store: GatewayStore,
    recipients: readonly Recipient[] | (() => readonly Recipient[]),
    opts: DataKeyRingOptions = {},
  ) {
    this.#recipients = typeof recipients === 'function' ? recipients : () => recipients;
    this.#windowMs = opts.windowMs ?? DEFAULT_KEY_WINDOW_MS;
    this.#maxUses = opts.maxFramesPerKey ?? DEFAULT_MAX_FRAMES_PER_KEY;
    if (!(this.#windowMs > 0)) throw new RangeError('DataKeyRing: windowMs must be positive');
    if (!Number.isInteger(this.#maxUses) || this.#maxUses < 1 || this.#maxUses > 2 ** 32 - 1) {
      throw new RangeError('DataKeyRing: maxFramesPerKey must be an integer from 1 to 2^32-1');
    }
    this.#insert = store.db.prepare(
      'INSERT INTO data_keys (id, dev, window_start, created_at, envelope) VALUES (?, ?, ?, ?, ?)',
    );
    this.#insertFrame = store.db.prepare(
      'INSERT INTO sealed_frames (leaf_index, key_id, jwe) VALUES (?, ?, ?)',
    );
    this.#nextId =
      ((store.db.prepare('SELECT max(id) FROM data_keys').pluck().get() as number | null) ?? 0) + 1;
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /**
   * Stores the sealed frame of leaf `leafIndex` (a JWE under data key `keyId`); to be run
   * inside the store's commit of that leaf (`GatewayStore.commitBatch`'s `alsoInTransaction`).
   */
  putSealedFrame(leafIndex: number, keyId: number, jwe: string): void {
    this.#insertFrame.run(leafIndex, keyId, jwe);
  }

  /**
   * Reserves one use of the current data key of `dev` at gateway time `now`.
   * @throws {SealedError} `store_failed` when a new key could not be recorded durably.
   */
  async take(dev: string, now: number): Promise<{ id: number; key: CryptoKey }> {
    const recipients = this.#recipients();
    const stamp = recipients.map((r) => r.kid).join('\u0000');
    const windowStart = Math.floor(now / this.#windowMs) * this.#windowMs;
    let k = this.#open.get(dev);
    if (!k || k.windowStart !== windowStart || k.uses >= this.#maxUses || k.recipientsStamp !== stamp) {
      k = await this.#create(dev, windowStart, now, recipients, stamp);
      this.#open.set(dev, k);
    }
    k.uses += 1;
    return { id: k.id, key: k.key };
  }

  /** Forgets every open key: the next frame of each device gets a fresh one. */
  rotateAll(): void {
    this.#open.clear();
  }

  async #create(
    dev: string,
    windowStart: number,
    now: number,
    recipients: readonly Recipient[],
    recipientsStamp: string,
  ): Promise<OpenKey> {
    // Reserved synchronously: concurrent creations never share an id.
    const id = this.#nextId++;
    const { key, envelope } = await createDataKey(recipients, dataKeyAad(id, dev, windowStart));
    try {
      // Durable before first use: its own fsync'd transaction (synchronous=FULL).
      this.#insert.run(id, dev, windowStart, now, envelope);
    } catch (err) {
      throw new SealedError('store_failed', 'a data key could not be recorded', { cause: err });
    }
    return { id, key, windowStart, uses: 0, recipientsStamp };
  }
}

/** What a read yields per row: the frame's COSE bytes, or that its data key was destroyed. */
export type FrameRead = Uint8Array | 'shredded';

/**
 * The reading side: opens frames of both formats with a recipient's private key. Each
 * data key and each skeleton batch is unwrapped once per reader (bounded caches). Every
 * frame is checked against the index (frame hash) and the log (leaf hash).
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
      frame: store.db.prepare('SELECT key_id, jwe FROM sealed_frames WHERE leaf_index = ?'),
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
  async read(rows: readonly FrameIndexRow[]): Promise<FrameRead[]> {
    const out: FrameRead[] = [];
    // Chunks in flight: jose decrypts on libuv's pool while this thread hashes and checks.
    for (let i = 0; i < rows.length; i += READ_CHUNK) {
      out.push(...(await Promise.all(rows.slice(i, i + READ_CHUNK).map((r) => this.#readOne(r)))));
    }
    return out;
  }

  async #readOne(row: FrameIndexRow): Promise<FrameRead> {
    const sealed = this.#stmts.frame.get(row.leafIndex) as { key_id: number; jwe: string } | undefined;
    let bytes: Uint8Array;
    if (sealed) {
      const key = await this.#dataKey(sealed.key_id, row.dev);
      if (key === 'shredded') return 'shredded';
      try {
        bytes = await openWithDataKey(
          sealed.jwe,
          key,
          String(sealed.key_id),
          frameAad(row.dev, row.seq, row.leafIndex, sealed.key_id),
        );
      } catch (err) {
        throw new SealedError('integrity_error', `entry ${row.leafIndex} does not authenticate`, {
          cause: err,
        });
      }
    } else {
      const envelope = this.#batchEnvelope(row.batchId);
      if (envelope === undefined || envelope === SEALED_FRAMES_MARKER) {
        throw new SealedError('integrity_error', `entry ${row.leafIndex} has no sealed frame`);
      }
      const frames = await this.#batch(row.batchId);
      const b = frames[row.batchPos];
      if (!b)
        throw new SealedError('integrity_error', `stored batch ${row.batchId} lacks entry ${row.leafIndex}`);
      bytes = b;
    }
    if (
      Buffer.compare(hashLeaf(bytes), this.#store.getNode(0, row.leafIndex)) !== 0 ||
      Buffer.compare(frameHash(bytes), row.hash) !== 0
    ) {
      throw new SealedError('integrity_error', `entry ${row.leafIndex} does not match the log`);
    }
    return bytes;
  }

  #dataKey(id: number, dev: string): Promise<CryptoKey | 'shredded'> {
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
    let result: CryptoKey | 'shredded';
    if (r.shredded_at !== null || r.envelope === null) {
      result = 'shredded';
    } else {
      if (r.dev !== dev) throw new SealedError('integrity_error', `data key ${id} belongs to another device`);
      let raw: Uint8Array;
      try {
        raw = await openBatch(r.envelope, this.#secrets, dataKeyAad(r.id, r.dev, r.window_start));
      } catch (err) {
        throw this.#opened(err, `data key ${id}`);
      }
      try {
        result = await importDataKey(raw);
      } catch (err) {
        throw new SealedError('integrity_error', `data key ${id} has the wrong shape`, { cause: err });
      } finally {
        raw.fill(0);
      }
    }
    return result;
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

/**
 * Opens the frames of `rows` with a fresh reader (keys unwrapped once for this call).
 * @throws {SealedError} as `SealedReader.read`.
 * @example
 * const frames = await readFrames(store, loadRecipientSecrets(dir), store.framesByDevice('wr-1', 0, now, store.size));
 */
export function readFrames(
  store: GatewayStore,
  secrets: readonly RecipientSecret[],
  rows: readonly FrameIndexRow[],
): Promise<FrameRead[]> {
  return new SealedReader(store, secrets).read(rows);
}

/**
 * Crypto-shredding: destroys every wrapped copy of the data keys whose window ended at
 * least `retentionMs` before `now`. Secure-delete overwrites the freed bytes and a WAL
 * checkpoint (TRUNCATE) removes the old page images from the WAL.
 * @param windowMs the windows' length (as configured for the ring)
 * @returns the number of data keys destroyed.
 * @throws {SealedError} `store_failed` when the update fails (nothing is then changed).
 */
export function shredExpired(
  store: GatewayStore,
  retentionMs: number,
  now: number,
  windowMs: number = DEFAULT_KEY_WINDOW_MS,
): number {
  const db = store.db;
  const before = db.pragma('secure_delete', { simple: true }) as number;
  try {
    db.pragma('secure_delete = ON');
    const n = db
      .prepare(
        'UPDATE data_keys SET envelope = NULL, shredded_at = ? WHERE shredded_at IS NULL AND window_start + ? <= ?',
      )
      .run(now, windowMs, now - retentionMs).changes;
    if (n > 0) db.pragma('wal_checkpoint(TRUNCATE)');
    return n;
  } catch (err) {
    throw new SealedError('store_failed', 'data keys could not be shredded', { cause: err });
  } finally {
    db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
  }
}

/** One decrypted reading with its place in the log. */
export interface StoredReading {
  dev: string;
  seq: number;
  ts: number;
  obs: Observations;
  bat?: number;
  leafIndex: number;
}

/**
 * A device's readings with from <= ts <= to (device clock), by seq, opened by `reader`.
 * Shredded entries are counted, not returned.
 * @throws {SealedError} as `SealedReader.read`.
 */
export async function readReadings(
  store: GatewayStore,
  reader: SealedReader,
  dev: string,
  from: number,
  to: number,
): Promise<{ readings: StoredReading[]; shredded: number }> {
  const rows = store.framesByDevice(dev, from, to, Number.MAX_SAFE_INTEGER);
  const frames = await reader.read(rows);
  const readings: StoredReading[] = [];
  let shredded = 0;
  frames.forEach((bytes, i) => {
    const row = rows[i] as FrameIndexRow;
    if (bytes === 'shredded') {
      shredded += 1;
      return;
    }
    let body: SafeFrame['body'];
    try {
      const frame = decodeFrame(bytes);
      // The gateway accepts no seq or ts from 2^53 on (core/acceptance): a stored one is damage.
      if (!isSafeFrame(frame)) throw new TypeError('seq or ts beyond 2^53-1');
      body = frame.body;
    } catch (err) {
      throw new SealedError('integrity_error', `entry ${row.leafIndex} does not decode`, { cause: err });
    }
    const r: StoredReading = {
      dev: body.dev,
      seq: body.seq,
      ts: body.ts,
      obs: body.obs,
      leafIndex: row.leafIndex,
    };
    if (body.bat !== undefined) r.bat = body.bat;
    readings.push(r);
  });
  return { readings, shredded };
}
