/**
 * @module io/store/store
 * The gateway's durable store: one SQLite database in WAL mode with `synchronous=FULL`,
 * so a committed transaction is fsync'd before `commit()` returns (ARCHITECTURE.md
 * guarantee 1, "ack means durable"). It holds the group commits (`batches`), the frame
 * index (dev, seq, frame hash, prev, ts, leaf index: dedupe, chain checks, queries), the
 * RFC 9162 log as the perfect-subtree nodes of every fourth level (anchor/src/log/strata),
 * checkpoints (also the anchoring outbox), the device registry the KGC writes, and
 * rejection counts; the sealed frames are io/store/sealed's. Another process may open the
 * file (`kgc enroll` writes devices while the gateway runs): WAL allows one writer and
 * readers alongside; the busy timeout waits for the other writer rather than failing.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  consistencyProof,
  inclusionProof,
  isKeptLevel,
  LogFrontier,
  type MerkleNodeReader,
  nodesForAppend,
  rootAt,
  StrataNodeReader,
} from '../../../../anchor/src/log/index.js';
import { errorClass } from '../../protocol/errors.js';
import { CheckpointTable } from './checkpoint-table.js';
import {
  type BatchRow,
  type DeviceRow,
  type FrameIndexRow,
  type FrameKey,
  type FrameReadRow,
  type Neighbours,
  type NewBatch,
  type PackedReadRows,
  type RawAround,
  type RawBatch,
  type RawDevice,
  type RawFrame,
  type RawReadRow,
  type SeqGap,
  toBatch,
  toDevice,
  toFrame,
  toReadRow,
  unpackReadRows,
} from './rows.js';
import { migrate } from './schema.js';

export type { CheckpointRow } from './checkpoint-table.js';
export type { DeviceRow, FrameIndexRow, FrameReadRow, Neighbours, NewFrame, SeqGap } from './rows.js';

export class StoreError extends errorClass<'store'>('StoreError') {}

/** A device's last stored frame: what `neighbours` answers most frames from. */
type Tail = { seq: number; hash: Uint8Array };

/** Devices whose tails are kept before the cache is emptied (and refilled as frames come). */
const MAX_CACHED_TAILS = 100_000;
/** Frames `framesToRead` takes packed (one row; beyond, row by row: SQLite's 1e9-byte values). */
const MAX_PACKED_ROWS = 1_000_000;

/** What the WAL file is cut back to once it starts over (grown behind a long reader: a backup). */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * Opens (creating if needed) the store at `path`.
 * @example
 * const store = openStore(join(dataDir, 'gateway', 'gateway.db'));
 */
export function openStore(path: string): GatewayStore {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return new GatewayStore(new Database(path));
}

/** Each accepted frame's key of the store at `path`, opened read-only (io/store/scale-out), then closed. */
export function* readFrameKeys(path: string): Generator<FrameKey> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    yield* db.prepare('SELECT dev, seq, hash FROM frames').iterate() as Iterable<FrameKey>;
  } finally {
    db.close();
  }
}

export class GatewayStore implements MerkleNodeReader {
  readonly db: Database.Database;
  #size: number;
  /** Per device its highest stored seq and that frame's hash (null: none), once read. */
  readonly #tails = new Map<string, Tail | null>();
  readonly #stmts;
  /** The log's right edge: an append reads no node back, a root or proof ends on it (anchor/src/log/frontier). */
  readonly #frontier = new LogFrontier(this);
  /** The log's nodes from its kept levels (anchor/src/log/strata). */
  readonly #nodes = new StrataNodeReader(
    {
      readStratum: (level, first, count) => this.#stmts.stratum.all(level, first, first + count) as Buffer[],
    },
    (level, index) => new StoreError('not_found', `log node (${level}, ${index}) is missing`),
    () => !this.db.inTransaction,
  );
  /** The highest batch id committed (read once at open; only this instance writes batches). */
  #lastBatch: number;
  /** The anchoring outbox (store/checkpoint-table). */
  readonly checkpoints: CheckpointTable;

  constructor(db: Database.Database) {
    this.db = db;
    db.pragma('journal_mode = WAL');
    // FULL: every commit is fsync'd, WAL included; a PUBACK after commit() means on disk.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`); // else kept at its largest ever
    migrate(db);
    this.#stmts = {
      stratum: db
        .prepare('SELECT hash FROM log_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx')
        .pluck(),
      leafHashes: db
        .prepare(
          'SELECT idx, hash FROM log_nodes WHERE level = 0 AND idx IN (SELECT value FROM json_each(?))',
        )
        .raw(),
      putNode: db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      countLeaves: db.prepare('SELECT COALESCE(max(idx) + 1, 0) FROM log_nodes WHERE level = 0').pluck(),
      seqsOf: db
        .prepare('SELECT leaf_index, seq FROM frames WHERE leaf_index IN (SELECT value FROM json_each(?))')
        .raw(),
      getFrame: db.prepare('SELECT * FROM frames WHERE dev = ? AND seq = ?'),
      around: db.prepare('SELECT seq, hash, prev FROM frames WHERE dev = ? AND seq BETWEEN ? AND ?').raw(),
      tail: db.prepare('SELECT seq, hash FROM frames WHERE dev = ? ORDER BY seq DESC LIMIT 1'),
      insertFrame: db.prepare(
        `INSERT INTO frames (dev, seq, hash, prev, ts, accepted_at, leaf_index, batch_id, batch_pos)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, // positional: no object, no name lookups per frame
      ),
      insertBatch: db.prepare(
        'INSERT INTO batches (id, created_at, first_leaf, frame_count, envelope) VALUES (?, ?, ?, ?, ?)',
      ),
      maxBatch: db.prepare('SELECT coalesce(max(id), 0) FROM batches').pluck(),
      getBatch: db.prepare(
        'SELECT id, created_at, first_leaf, frame_count, envelope FROM batches WHERE id = ?',
      ),
      seqGaps: db.prepare(
        `SELECT prev_seq + 1 AS "from", seq - 1 AS "to" FROM (
           SELECT seq, COALESCE(LAG(seq) OVER (ORDER BY seq), 0) AS prev_seq FROM frames WHERE dev = ?
         ) WHERE seq > prev_seq + 1 ORDER BY seq LIMIT ?`,
      ),
      getDevice: db.prepare('SELECT * FROM devices WHERE dev = ?'),
      upsertDevice: db.prepare(
        `INSERT INTO devices (dev, cert_pem, spki_sha256, status, enrolled_at, updated_at)
         VALUES (@dev, @certPem, @spkiSha256, @status, @now, @now)
         ON CONFLICT (dev) DO UPDATE SET cert_pem = excluded.cert_pem, spki_sha256 = excluded.spki_sha256,
           status = excluded.status, updated_at = excluded.updated_at`,
      ),
      listDevices: db.prepare(
        `SELECT d.*, (SELECT max(seq) FROM frames f WHERE f.dev = d.dev) AS last_seq,
                (SELECT count(*) FROM frames f WHERE f.dev = d.dev) AS frame_count
         FROM devices d ORDER BY d.dev`,
      ),
      changed: db.prepare('SELECT dev, spki_sha256 AS spkiSha256, status FROM devices WHERE updated_at >= ?'),
      allDevices: db.prepare('SELECT * FROM devices ORDER BY dev'),
      framesByDevice: db.prepare(
        'SELECT * FROM frames WHERE dev = ? AND ts >= ? AND ts <= ? AND leaf_index < ? ORDER BY seq',
      ),
      framesFrom: db.prepare('SELECT * FROM frames WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?'),
      bySeq: db.prepare(
        'SELECT * FROM frames WHERE dev = ? AND seq BETWEEN ? AND ? AND leaf_index < ? ORDER BY seq',
      ),
      beside: db.prepare(
        `SELECT * FROM (SELECT * FROM frames WHERE dev = @dev AND seq < @lo AND leaf_index < @leaf ORDER BY seq DESC LIMIT 1)
         UNION ALL SELECT * FROM (SELECT * FROM frames WHERE dev = @dev AND seq > @hi AND leaf_index < @leaf ORDER BY seq LIMIT 1)`,
      ),
      lastSeqBefore: db
        .prepare('SELECT max(seq) FROM frames WHERE dev = ? AND ts < ? AND leaf_index < ?')
        .pluck(),
      // With each frame its leaf hash from the log (null when the log lacks it: damage).
      framesToRead: db
        .prepare(
          `SELECT f.seq, f.ts, f.leaf_index, f.hash, f.batch_id, f.batch_pos, n.hash FROM frames f
           LEFT JOIN log_nodes n ON n.level = 0 AND n.idx = f.leaf_index
           WHERE f.dev = ? AND f.ts >= ? AND f.ts <= ? ORDER BY f.seq`,
        )
        .raw(),
      // The same, packed into one row (io/store/rows `PackedReadRows`).
      framesToReadPacked: db
        .prepare(
          `SELECT count(*), count(*) FILTER (WHERE length(fh) = 32 AND length(nh) = 32), group_concat(seq, ','),
             group_concat(ts, ','), group_concat(li, ','), group_concat(bi, ','), group_concat(bp, ','),
             CAST(group_concat(fh, '') AS BLOB), CAST(group_concat(nh, '') AS BLOB)
           FROM (SELECT f.seq, f.ts, f.leaf_index li, f.hash fh, f.batch_id bi, f.batch_pos bp, n.hash nh
             FROM frames f LEFT JOIN log_nodes n ON n.level = 0 AND n.idx = f.leaf_index
             WHERE f.dev = ? AND f.ts >= ? AND f.ts <= ? ORDER BY f.seq)`,
        )
        .raw(),
      countFrames: db.prepare('SELECT count(*) FROM frames WHERE dev = ? AND ts >= ? AND ts < ?').pluck(),
      framesPerMinute: db
        .prepare(
          'SELECT ts / 60000 AS m, count(*) FROM frames WHERE dev = ? AND ts >= ? AND ts < ? GROUP BY m',
        )
        .raw(),
      bumpRejection: db.prepare(
        'INSERT INTO rejections (code, count) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET count = count + excluded.count',
      ),
      rejections: db.prepare('SELECT code, count FROM rejections ORDER BY code'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
    this.#size = this.#stmts.countLeaves.get() as number; // leaves are 0..n-1: a probe, not a count
    this.#lastBatch = this.#stmts.maxBatch.get() as number;
    this.checkpoints = new CheckpointTable(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // --- the log -----------------------------------------------------------------

  /** Number of leaves in the transparency log. */
  get size(): number {
    return this.#size;
  }

  /** MerkleNodeReader over the persisted perfect subtrees; `not_found` beyond the log. */
  getNode(level: number, index: number): Uint8Array {
    return new Uint8Array(this.#nodes.getNode(level, index));
  }

  /** The leaf hashes (level-0 nodes) of `leaves` that exist, by leaf index: one statement. */
  leafHashes(leaves: readonly number[]): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const [idx, hash] of this.#stmts.leafHashes.all(JSON.stringify(leaves)) as [number, Buffer][])
      out.set(idx, hash);
    return out;
  }

  root(size = this.#size): Uint8Array {
    return rootAt(this.#frontier, size).slice(); // copies: the frontier's and the reader's hashes stay theirs
  }

  inclusionProof(leafIndex: number, treeSize: number): Uint8Array[] {
    return inclusionProof(this.#frontier, leafIndex, treeSize).map((h) => h.slice());
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return consistencyProof(this.#frontier, size1, size2).map((h) => h.slice());
  }

  // --- frames ------------------------------------------------------------------

  getFrame(dev: string, seq: number): FrameIndexRow | undefined {
    const r = this.#stmts.getFrame.get(dev, seq) as RawFrame | undefined;
    return r ? toFrame(r) : undefined;
  }

  /**
   * What the chain rules (PROTOCOL.md §1) need of a frame's stored neighbours: the frames at
   * `seq` and `seq - 1` (their hashes) and at `seq + 1` (its `prev`). A frame past the
   * device's last stored one, the usual case, is answered from memory: each device's tail
   * (highest seq and its hash), read once and moved by every successful commit.
   */
  neighbours(dev: string, seq: number): Neighbours {
    const tail = this.#tailOf(dev);
    if (tail === null) return {};
    if (seq > tail.seq) return seq === tail.seq + 1 ? { before: { hash: tail.hash } } : {};
    const found: Neighbours = {};
    for (const [at, hash, prev] of this.#stmts.around.all(dev, seq - 1, seq + 1) as RawAround[])
      if (at === seq) found.same = { hash };
      else if (at < seq) found.before = { hash };
      else found.after = { prev };
    return found;
  }

  #tailOf(dev: string): Tail | null {
    let tail = this.#tails.get(dev);
    if (tail === undefined) {
      const r = this.#stmts.tail.get(dev) as { seq: number; hash: Buffer } | undefined;
      tail = r ? { seq: r.seq, hash: new Uint8Array(r.hash) } : null;
      if (this.#tails.size >= MAX_CACHED_TAILS) this.#tails.clear();
      this.#tails.set(dev, tail);
    }
    return tail;
  }

  /**
   * Appends one sealed batch and its frames to the store and the log, in one
   * transaction (fsync'd on return). Leaf indices follow acceptance order.
   * The envelope is produced by the caller for `nextBatchId()` and `size` as AAD.
   * `alsoInTransaction` runs inside the same transaction (e.g. the sealed frames and
   * rejection counts), so everything commits or nothing does. Must be the outermost
   * transaction: `size` moves only once the commit (and its fsync) succeeded.
   * @returns the leaf index of each frame, in order.
   * @throws {StoreError} `store_failed` when the write fails; nothing is then changed.
   */
  commitBatch(batch: NewBatch, alsoInTransaction?: () => void): number[] {
    const firstLeaf = this.#size;
    const run = this.db.transaction(() => {
      this.#stmts.insertBatch.run(batch.id, batch.createdAt, firstLeaf, batch.frames.length, batch.envelope);
      const leaves: number[] = [];
      let size = firstLeaf;
      batch.frames.forEach((f, pos) => {
        this.#putLeaf(size, f.leafHash);
        this.#stmts.insertFrame.run(f.dev, f.seq, f.hash, f.prev, f.ts, batch.createdAt, size, batch.id, pos);
        leaves.push(size);
        size += 1;
      });
      alsoInTransaction?.();
      return leaves;
    });
    try {
      const leaves = run();
      this.#size = firstLeaf + batch.frames.length;
      this.#lastBatch = Math.max(this.#lastBatch, batch.id);
      for (const f of batch.frames) {
        const tail = this.#tails.get(f.dev);
        if (tail === null || (tail !== undefined && f.seq > tail.seq))
          this.#tails.set(f.dev, { seq: f.seq, hash: f.hash });
      }
      return leaves;
    } catch (err) {
      throw new StoreError('store_failed', 'the batch could not be written', { cause: err });
    }
  }

  /**
   * Appends leaves that are not frames (shredding records, protocol/shred-record) to the log,
   * with `alsoInTransaction` (given the first one's index), in one fsync'd transaction; as
   * `commitBatch`, the outermost one, and never during a commit's flush: the log has one
   * writer (the shred CLI holds the instance lock; a gateway runs between its commits,
   * io/ingest `Ingest.betweenFlushes`).
   * @returns the first leaf's index.
   * @throws {StoreError} `store_failed`; nothing is then changed.
   */
  appendLeaves(leafHashes: readonly Uint8Array[], alsoInTransaction: (firstLeaf: number) => void): number {
    const first = this.#size;
    try {
      this.db.transaction(() => {
        for (const [i, h] of leafHashes.entries()) this.#putLeaf(first + i, h);
        alsoInTransaction(first);
      })();
    } catch (err) {
      throw new StoreError('store_failed', 'the leaves could not be written', { cause: err });
    }
    this.#size = first + leafHashes.length;
    return first;
  }

  /** `appendLeaves` of one leaf; @returns its index. */
  appendLeaf = (leafHash: Uint8Array, also: (leafIndex: number) => void): number =>
    this.appendLeaves([leafHash], also);

  /** Writes leaf `index` and the kept subtree roots it completes (in the caller's transaction). */
  #putLeaf(index: number, leafHash: Uint8Array): void {
    const nodes = nodesForAppend(index, leafHash, this.#frontier);
    for (const n of nodes) if (isKeptLevel(n.level)) this.#stmts.putNode.run(n.level, n.index, n.hash);
    this.#frontier.remember(nodes);
  }

  /** The seq of the frame at each of `leaves` (absent: no frame there). */
  seqsOfLeaves(leaves: readonly number[]): Map<number, number> {
    return new Map(this.#stmts.seqsOf.all(JSON.stringify(leaves)) as [number, number][]);
  }

  readonly nextBatchId = (): number => this.#lastBatch + 1;

  getBatch(id: number): BatchRow {
    const r = this.#stmts.getBatch.get(id) as RawBatch | undefined;
    if (!r) throw new StoreError('not_found', `batch ${id} is missing`);
    return toBatch(r);
  }

  /** Frames of a device with from <= ts <= to and leafIndex < beforeLeaf, by seq. */
  framesByDevice(dev: string, from: number, to: number, beforeLeaf: number): FrameIndexRow[] {
    return (this.#stmts.framesByDevice.all(dev, from, to, beforeLeaf) as RawFrame[]).map(toFrame);
  }

  /** Frames of `dev` with lo <= seq <= hi and leafIndex < beforeLeaf, by seq (an export's seq span). */
  framesBySeq(dev: string, lo: number, hi: number, beforeLeaf: number): FrameIndexRow[] {
    return (this.#stmts.bySeq.all(dev, lo, hi, beforeLeaf) as RawFrame[]).map(toFrame);
  }

  /** Of the frames of `dev` with leafIndex < beforeLeaf, the highest seq below `lo` and the lowest above `hi`. */
  framesBeside(dev: string, lo: number, hi: number, beforeLeaf: number): FrameIndexRow[] {
    return (this.#stmts.beside.all({ dev, lo, hi, leaf: beforeLeaf }) as RawFrame[]).map(toFrame);
  }

  /** The highest seq of `dev` with ts < `ts` and leafIndex < beforeLeaf; 0 when there is none. */
  lastSeqBefore(dev: string, ts: number, beforeLeaf: number): number {
    return (this.#stmts.lastSeqBefore.get(dev, ts, beforeLeaf) as number | null) ?? 0;
  }

  /** Up to `limit` frames from log position `leaf` on, in log order (the outbound interfaces' source). */
  framesFrom(leaf: number, limit: number): FrameIndexRow[] {
    return (this.#stmts.framesFrom.all(leaf, limit) as RawFrame[]).map(toFrame);
  }

  /**
   * As `framesByDevice` (no leaf bound), with only what a reader needs, one row per frame;
   * from `packFrom` frames on (a long read on the read threads) from one packed row, hashes
   * views of its BLOBs, unless it cannot be taken whole (io/store/rows `unpackReadRows`).
   */
  framesToRead(dev: string, from: number, to: number, packFrom = Number.POSITIVE_INFINITY): FrameReadRow[] {
    // (A LIMIT here would make SQLite walk the device's whole seq index instead of its ts range.)
    const n = packFrom <= MAX_PACKED_ROWS ? this.countFrames(dev, from, to + 1) : 0;
    const fits = n >= packFrom && n <= MAX_PACKED_ROWS;
    const pack = fits ? (this.#stmts.framesToReadPacked.get(dev, from, to) as PackedReadRows) : undefined;
    const rows = pack && unpackReadRows(dev, pack);
    return (
      rows ?? (this.#stmts.framesToRead.all(dev, from, to) as RawReadRow[]).map((r) => toReadRow(dev, r))
    );
  }

  /** How many frames of `dev` have from <= ts < toExclusive (device time): from the (dev, ts) index. */
  countFrames(dev: string, from: number, toExclusive: number): number {
    return this.#stmts.countFrames.get(dev, from, toExclusive) as number;
  }

  /**
   * How many frames of `dev` each minute of device time in [from, toExclusive) holds (minutes
   * without frames are absent), keyed by the minute's start: from the (dev, ts) index alone.
   * The rollups' coverage check (io/store/rollups).
   */
  framesPerMinute(dev: string, from: number, toExclusive: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const [m, n] of this.#stmts.framesPerMinute.all(dev, from, toExclusive) as [number, number][])
      out.set(m * 60_000, n);
    return out;
  }

  /**
   * The gaps of `dev` below its highest accepted seq, in ascending order (at most `limit`).
   * seq starts at 1, so frames accepted from seq 5 on leave the gap 1-4. Derived from the
   * frames index (PROTOCOL.md §1: "a seq above the next expected one is accepted and the
   * missing range is recorded as a gap"), so no extra state can drift: a gap closes when a
   * frame fills it.
   * @example
   * store.seqGaps('wr-0001'); // [{ from: 4, to: 6 }]
   */
  seqGaps(dev: string, limit = 1000): SeqGap[] {
    return this.#stmts.seqGaps.all(dev, limit) as SeqGap[];
  }

  upsertDevice(
    d: { dev: string; certPem: string; spkiSha256: string; status: 'active' | 'revoked' },
    now = Date.now(),
  ): void {
    this.#stmts.upsertDevice.run({ ...d, now });
  }

  getDevice(dev: string): DeviceRow | undefined {
    const r = this.#stmts.getDevice.get(dev) as RawDevice | undefined;
    return r ? toDevice(r) : undefined;
  }

  /** The devices whose rows were written (enrolled, re-enrolled, revoked) at or after `since` (ms): the key each holds, and its status. */
  devicesChangedSince(since: number): Pick<DeviceRow, 'dev' | 'spkiSha256' | 'status'>[] {
    return this.#stmts.changed.all(since) as Pick<DeviceRow, 'dev' | 'spkiSha256' | 'status'>[];
  }

  /** Every device row, by id; without `listDevices`' counts, which read every frame stored. */
  devices(): DeviceRow[] {
    return (this.#stmts.allDevices.all() as RawDevice[]).map(toDevice);
  }

  listDevices(): (DeviceRow & { lastSeq: number | null; frameCount: number })[] {
    return (
      this.#stmts.listDevices.all() as (RawDevice & { last_seq: number | null; frame_count: number })[]
    ).map((r) => ({ ...toDevice(r), lastSeq: r.last_seq, frameCount: r.frame_count }));
  }

  // --- checkpoints / anchoring outbox (the table's statements: store/checkpoint-table) ---
  /** Records a checkpoint of the current log size, durably (the outbox entry). */
  readonly addCheckpoint: CheckpointTable['add'] = (...a) => this.checkpoints.add(...a);
  readonly markAnchored: CheckpointTable['markAnchored'] = (...a) => this.checkpoints.markAnchored(...a);
  readonly lastCheckpoint = () => this.checkpoints.last();
  readonly getCheckpoint = (treeSize: number) => this.checkpoints.get(treeSize);
  readonly pendingCheckpoints = () => this.checkpoints.pending();
  readonly markSuperseded = (treeSize: number) => this.checkpoints.markSuperseded(treeSize);
  readonly anchoredCheckpoints = () => this.checkpoints.anchored();
  readonly latestAnchored = () => this.checkpoints.latestAnchored();

  // --- counters and meta -------------------------------------------------------
  countRejection(code: string, n = 1): void {
    this.#stmts.bumpRejection.run(code, n);
  }

  rejectionCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.#stmts.rejections.all() as { code: string; count: number }[]) out[r.code] = r.count;
    return out;
  }

  readonly getMeta = (key: string) => this.#stmts.getMeta.get(key) as string | undefined;
  readonly setMeta = (key: string, value: string): void => void this.#stmts.setMeta.run(key, value);
}
