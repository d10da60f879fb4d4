/**
 * @module io/access/access-log
 * The access log (issue 18; README "The access log (issue 18)"): every view or export of a
 * patient's data, appended to an RFC 9162 Merkle log of its own, separate from the readings'
 * log, with origin `vitaltrail/<gatewayId>/access` and logId = SHA-256(origin). Leaves are
 * the canonical bytes of an access entry (anchor/src/verify-access/entry), leaf hash
 * SHA-256(0x00 || bytes); the tree and its proofs are anchor/src/log's, over the perfect-subtree
 * nodes of every fourth level (anchor/src/log/strata) kept in `access_nodes` exactly as the
 * readings' log keeps `log_nodes`.
 *
 * Durable: `append` is one SQLite transaction on the store's connection (WAL,
 * `synchronous=FULL`), committed and fsync'd before it returns, so a view is never served
 * unlogged. It refuses to run inside another transaction (a savepoint would not be durable
 * on return).
 *
 * Checkpoints: `access_checkpoints` is this log's anchoring outbox, with the signed note in
 * the same row (one insert, so row and note cannot diverge). The class is an io/anchoring
 * `AnchorableLog` and `AnchorableNotes`, so the same `Anchorer` and `Checkpointer` drive it,
 * signed with the gateway's checkpoint key under the access origin and anchored by the access
 * log's own ledger account (io/access/access-anchoring).
 *
 * Owner of the statements of `access_entries`, `access_nodes` and `access_checkpoints`
 * (io/store/schema `TABLE_OWNERS`).
 */

import type { Hex } from '../../../../anchor/src/ledger/index.js';
import {
  consistencyProof,
  inclusionProof,
  isKeptLevel,
  LogFrontier,
  type MerkleNode,
  type MerkleNodeReader,
  nodesForAppend,
  rootAt,
  StrataNodeReader,
} from '../../../../anchor/src/log/index.js';
import {
  type AccessEntry,
  accessLeafHash,
  decodeAccessEntry,
  encodeAccessEntry,
} from '../../../../anchor/src/verify-access/index.js';
import { accessLogOrigin, logIdOf } from '../../core/log-names.js';
import {
  type AnchorableLog,
  type AnchorableNotes,
  type CheckpointSigner,
  cutCheckpoint,
} from '../anchoring/index.js';
import {
  type CheckpointRow,
  type GatewayStore,
  type RawCheckpoint,
  StoreError,
  toCheckpoint,
} from '../store/index.js';

/** A stored access entry. */
export interface StoredAccessEntry {
  index: number;
  /** The canonical bytes (the leaf). */
  bytes: Uint8Array;
  leafHash: Uint8Array;
  entry: AccessEntry;
}

type RawEntry = { idx: number; entry: Buffer; leaf_hash: Buffer };

function toEntry(r: RawEntry): StoredAccessEntry {
  const decoded = decodeAccessEntry(new Uint8Array(r.entry));
  if ('problem' in decoded) throw new StoreError('integrity_error', 'a stored access entry does not decode');
  return {
    index: r.idx,
    bytes: new Uint8Array(r.entry),
    leafHash: new Uint8Array(r.leaf_hash),
    entry: decoded.entry,
  };
}

export interface AccessLogOptions {
  /** The gateway's store: the access log lives in the same SQLite file and connection. */
  store: GatewayStore;
  /** Every entry must name this gateway. */
  gatewayId: string;
  /** Signs the access log's checkpoints (origin `vitaltrail/<gatewayId>/access`). Default: unsigned. */
  signer?: CheckpointSigner;
}

/** The gateway's access log: append, read, prove, checkpoint (module doc). */
export class AccessLog implements MerkleNodeReader, AnchorableLog, AnchorableNotes {
  readonly gatewayId: string;
  readonly origin: string;
  readonly logId: Hex;
  readonly #store: GatewayStore;
  readonly #signer: CheckpointSigner | undefined;
  readonly #s;
  /**
   * The tree's right edge as this connection last committed it, so an append reads no node
   * back (anchor/src/log/frontier). Only committed nodes go in: a node once committed never
   * changes, so an append by another connection (a CLI beside the gateway) leaves it true,
   * and a sibling that connection wrote is read from the table (the frontier holds another index).
   */
  readonly #frontier = new LogFrontier(this);
  /** The tree's nodes from its kept levels (anchor/src/log/strata), as the readings' log. */
  readonly #nodes = new StrataNodeReader(
    { readStratum: (level, first, count) => this.#s.stratum.all(level, first, first + count) as Buffer[] },
    () => new StoreError('not_found', 'an access log node is missing'),
    () => !this.#store.db.inTransaction,
  );
  /** AnchorableLog: the outbox reads the anchorer needs beyond the row accessors. */
  readonly checkpoints: { anchoredNewestFirst(): Iterable<CheckpointRow> };

  constructor(o: AccessLogOptions) {
    this.gatewayId = o.gatewayId;
    this.origin = accessLogOrigin(o.gatewayId);
    this.logId = logIdOf(this.origin);
    if (o.signer && o.signer.origin !== this.origin)
      throw new TypeError('AccessLog: the signer must sign under the access origin');
    this.#store = o.store;
    this.#signer = o.signer;
    const db = o.store.db;
    this.#s = {
      // Leaf indices are dense from 0: the next one is max + 1 (the rowid's index, no scan).
      size: db.prepare('SELECT coalesce(max(idx) + 1, 0) FROM access_entries').pluck(),
      putEntry: db.prepare(
        'INSERT INTO access_entries (idx, entry, leaf_hash, at, patient) VALUES (?, ?, ?, ?, ?)',
      ),
      getEntry: db.prepare('SELECT idx, entry, leaf_hash FROM access_entries WHERE idx = ?'),
      range: db.prepare(
        'SELECT idx, entry, leaf_hash, patient FROM access_entries WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      ofPatient: db.prepare(
        'SELECT idx, entry, leaf_hash FROM access_entries WHERE patient = ? AND idx >= ? ORDER BY idx LIMIT ?',
      ),
      latestOfPatient: db.prepare(
        'SELECT idx, entry, leaf_hash FROM access_entries WHERE patient = ? ORDER BY idx DESC LIMIT ?',
      ),
      before: db.prepare(
        'SELECT idx, entry, leaf_hash FROM access_entries WHERE idx < ? ORDER BY idx DESC LIMIT ?',
      ),
      firstAtOrAfter: db.prepare('SELECT min(idx) FROM access_entries WHERE at >= ?').pluck(),
      lastAtOrBefore: db.prepare('SELECT max(idx) FROM access_entries WHERE at <= ?').pluck(),
      stratum: db
        .prepare('SELECT hash FROM access_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx')
        .pluck(),
      putNode: db.prepare('INSERT INTO access_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      addCheckpoint: db.prepare(
        'INSERT OR IGNORE INTO access_checkpoints (tree_size, root, created_at, note) VALUES (?, ?, ?, ?)',
      ),
      lastCheckpoint: db.prepare('SELECT * FROM access_checkpoints ORDER BY tree_size DESC LIMIT 1'),
      getCheckpoint: db.prepare('SELECT * FROM access_checkpoints WHERE tree_size = ?'),
      note: db.prepare('SELECT note FROM access_checkpoints WHERE tree_size = ?').pluck(),
      pending: db.prepare(`SELECT * FROM access_checkpoints WHERE state = 'pending' ORDER BY tree_size`),
      anchored: db.prepare(`SELECT * FROM access_checkpoints WHERE state = 'anchored' ORDER BY tree_size`),
      anchoredNewestFirst: db.prepare(
        `SELECT * FROM access_checkpoints WHERE state = 'anchored' ORDER BY tree_size DESC`,
      ),
      latestAnchored: db.prepare(
        `SELECT * FROM access_checkpoints WHERE state = 'anchored' ORDER BY tree_size DESC LIMIT 1`,
      ),
      firstAnchoredAbove: db
        .prepare(
          `SELECT tree_size FROM access_checkpoints WHERE state = 'anchored' AND tree_size > ? ORDER BY tree_size LIMIT 1`,
        )
        .pluck(),
      markAnchored: db.prepare(
        `UPDATE access_checkpoints SET tx_hash = ?, block_number = ?, anchored_at = ?, state = 'anchored' WHERE tree_size = ?`,
      ),
      markSuperseded: db.prepare(
        `UPDATE access_checkpoints SET state = 'superseded', tx_hash = NULL, block_number = NULL, anchored_at = NULL
         WHERE tree_size = ?`,
      ),
      reopenAbove: db.prepare(
        `UPDATE access_checkpoints SET state = 'pending', tx_hash = NULL, block_number = NULL, anchored_at = NULL
         WHERE state IN ('anchored', 'superseded') AND tree_size > ?`,
      ),
    };
    const newestFirst = this.#s.anchoredNewestFirst;
    this.checkpoints = {
      *anchoredNewestFirst() {
        for (const r of newestFirst.iterate() as IterableIterator<RawCheckpoint>) yield toCheckpoint(r);
      },
    };
  }

  /**
   * Number of entries (leaves), read from the file each time: several `AccessLog`s on one
   * store (the anchorer's, the routes', a CLI reader in another process) agree.
   */
  get size(): number {
    return this.#s.size.get() as number;
  }

  /**
   * Appends one access entry, durably: committed and fsync'd before it returns.
   * @returns the entry's leaf index and its RFC 9162 leaf hash.
   * @throws {TypeError} when `entry` is not a valid access entry, names another gateway, or
   *   the connection is inside another transaction (misuse).
   * @throws {StoreError} `store_failed` when the write fails; nothing is then changed.
   * @example
   * const { index } = access.append({ v: 1, at: Date.now(), gateway: 'gw-1', actor: 'alice', role: 'nurse',
   *   patient: pseudonym, dev: 'wr-0001', action: 'readings', dataFrom, dataUntil, basis: { type: 'ward' } });
   */
  append(entry: AccessEntry): { index: number; leafHash: Uint8Array } {
    const bytes = encodeAccessEntry(entry); // throws TypeError on an invalid entry
    if (entry.gateway !== this.gatewayId)
      throw new TypeError('AccessLog.append: the entry names another gateway');
    const db = this.#store.db;
    if (db.inTransaction) throw new TypeError('AccessLog.append must not run inside another transaction');
    const leafHash = accessLeafHash(bytes);
    let index: number;
    let nodes: MerkleNode[] = [];
    try {
      // IMMEDIATE: the write lock is taken before the next index is read.
      index = db
        .transaction(() => {
          const i = this.size;
          this.#s.putEntry.run(i, bytes, leafHash, entry.at, entry.patient);
          nodes = nodesForAppend(i, leafHash, this.#frontier);
          for (const n of nodes) if (isKeptLevel(n.level)) this.#s.putNode.run(n.level, n.index, n.hash);
          return i;
        })
        .immediate();
    } catch (err) {
      throw new StoreError('store_failed', 'the access entry could not be written', { cause: err });
    }
    this.#frontier.remember(nodes); // committed
    return { index, leafHash };
  }

  /** The entry at leaf `index`, or undefined beyond the log. */
  entry(index: number): StoredAccessEntry | undefined {
    const r = this.#s.getEntry.get(index) as RawEntry | undefined;
    return r ? toEntry(r) : undefined;
  }

  /**
   * Entries of leaf indices [from, to) in order, with their patient pseudonym (what the
   * export reads; read one at a time, so no other statement may run until the iteration ends).
   */
  *range(
    from: number,
    to: number,
  ): Generator<{ index: number; bytes: Uint8Array; leafHash: Uint8Array; patient: string }> {
    type Row = RawEntry & { patient: string };
    for (const r of this.#s.range.iterate(from, to) as IterableIterator<Row>) {
      yield {
        index: r.idx,
        bytes: new Uint8Array(r.entry),
        leafHash: new Uint8Array(r.leaf_hash),
        patient: r.patient,
      };
    }
  }

  /** Up to `limit` entries about one patient pseudonym from leaf `fromIndex` on (a patient's "who saw my data"). */
  entriesOf(patient: string, fromIndex = 0, limit = 1000): StoredAccessEntry[] {
    return (this.#s.ofPatient.all(patient, fromIndex, limit) as RawEntry[]).map(toEntry);
  }

  /**
   * The newest `limit` entries about a patient pseudonym, or by an actor (a doctor's clinician
   * id, a user name), newest first. An actor's are found by reading back from the end, at most
   * `scanLimit` entries (default 100,000), since no index holds actors.
   */
  latest(
    filter: { patient?: string; actor?: string },
    limit: number,
    scanLimit = 100_000,
  ): StoredAccessEntry[] {
    if (filter.patient !== undefined)
      return (this.#s.latestOfPatient.all(filter.patient.toLowerCase(), limit) as RawEntry[]).map(toEntry);
    const actor = filter.actor?.toLowerCase();
    const out: StoredAccessEntry[] = [];
    let next = this.size;
    for (let scanned = 0; next > 0 && out.length < limit && scanned < scanLimit; ) {
      const rows = this.#s.before.all(next, 1000) as RawEntry[];
      if (rows.length === 0) break;
      for (const r of rows) {
        const e = toEntry(r);
        if (actor === undefined || e.entry.actor.toLowerCase() === actor) out.push(e);
        if (out.length === limit) break;
      }
      scanned += rows.length;
      next = (rows.at(-1) as RawEntry).idx;
    }
    return out;
  }

  /** The smallest leaf index with `at >= time`, or undefined. */
  firstIndexAtOrAfter(time: number): number | undefined {
    return (this.#s.firstAtOrAfter.get(time) as number | null) ?? undefined;
  }

  /** The largest leaf index with `at <= time`, or undefined. */
  lastIndexAtOrBefore(time: number): number | undefined {
    return (this.#s.lastAtOrBefore.get(time) as number | null) ?? undefined;
  }

  // --- the tree (anchor/src/log over access_nodes) --------------------------------------

  /** MerkleNodeReader over the persisted perfect subtrees; `not_found` beyond the log. */
  getNode(level: number, index: number): Uint8Array {
    return new Uint8Array(this.#nodes.getNode(level, index));
  }

  root(size = this.size): Uint8Array {
    return rootAt(this, size);
  }

  inclusionProof(leafIndex: number, treeSize: number): Uint8Array[] {
    return inclusionProof(this, leafIndex, treeSize);
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return consistencyProof(this, size1, size2);
  }

  // --- checkpoints: the access log's anchoring outbox --------------------------------------

  /**
   * Cuts a signed checkpoint of the current log into the outbox if the log grew since the
   * last one (the anchorer of io/access/access-anchoring does this every interval).
   * @returns the new checkpoint, or undefined when the log did not grow.
   */
  checkpoint(now = Date.now()): CheckpointRow | undefined {
    return cutCheckpoint({
      store: this,
      notes: this,
      ...(this.#signer ? { signer: this.#signer } : {}),
      now,
    });
  }

  addCheckpoint(treeSize: number, root: Uint8Array, createdAt: number): void {
    this.#s.addCheckpoint.run(treeSize, root, createdAt, null);
  }

  /** AnchorableNotes: the checkpoint row and its signed note, one insert. */
  addSigned(treeSize: number, root: Uint8Array, createdAt: number, signer: CheckpointSigner | null): void {
    this.#s.addCheckpoint.run(treeSize, root, createdAt, signer ? signer.sign(treeSize, root) : null);
  }

  /** The signed note of the checkpoint of `treeSize`, if it was signed. */
  note(treeSize: number): string | undefined {
    return (this.#s.note.get(treeSize) as string | null | undefined) ?? undefined;
  }

  lastCheckpoint(): CheckpointRow | undefined {
    const r = this.#s.lastCheckpoint.get() as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  getCheckpoint(treeSize: number): CheckpointRow | undefined {
    const r = this.#s.getCheckpoint.get(treeSize) as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  pendingCheckpoints(): CheckpointRow[] {
    return (this.#s.pending.all() as RawCheckpoint[]).map(toCheckpoint);
  }

  anchoredCheckpoints(): CheckpointRow[] {
    return (this.#s.anchored.all() as RawCheckpoint[]).map(toCheckpoint);
  }

  latestAnchored(): CheckpointRow | undefined {
    const r = this.#s.latestAnchored.get() as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  /** The smallest anchored checkpoint holding leaf `leafIndex` (tree size > index). */
  firstAnchoredAbove(leafIndex: number): number | undefined {
    return this.#s.firstAnchoredAbove.get(leafIndex) as number | undefined;
  }

  markAnchored(treeSize: number, txHash: string, blockNumber: number, at: number): void {
    this.#s.markAnchored.run(txHash, blockNumber, at, treeSize);
  }

  markSuperseded(treeSize: number): void {
    this.#s.markSuperseded.run(treeSize);
  }

  reopenAbove(treeSize: number): number {
    return this.#s.reopenAbove.run(treeSize).changes;
  }
}
