/**
 * @module io/store/checkpoint-table
 * The `checkpoints` table: the gateway's checkpoints, which double as the anchoring
 * outbox (ARCHITECTURE.md guarantee 5). Every statement on the table lives here; the
 * table itself is declared in store/schema.
 */
import type Database from 'better-sqlite3';

export interface CheckpointRow {
  treeSize: number;
  root: Uint8Array;
  createdAt: number;
  txHash: string | null;
  blockNumber: number | null;
  anchoredAt: number | null;
  state: 'pending' | 'anchored' | 'superseded';
}

/** A checkpoint row as SQLite returns it (also of io/access's `access_checkpoints`, same columns). */
export interface RawCheckpoint {
  state: 'pending' | 'anchored' | 'superseded';
  tree_size: number;
  root: Buffer;
  created_at: number;
  tx_hash: string | null;
  block_number: number | null;
  anchored_at: number | null;
}

/** The `CheckpointRow` of a raw row (shared with io/access, whose outbox has the same columns). */
export function toCheckpoint(r: RawCheckpoint): CheckpointRow {
  return {
    treeSize: r.tree_size,
    root: new Uint8Array(r.root),
    createdAt: r.created_at,
    txHash: r.tx_hash,
    blockNumber: r.block_number,
    anchoredAt: r.anchored_at,
    state: r.state,
  };
}

export class CheckpointTable {
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#stmts = {
      addCheckpoint: db.prepare(
        'INSERT OR IGNORE INTO checkpoints (tree_size, root, created_at) VALUES (?, ?, ?)',
      ),
      lastCheckpoint: db.prepare('SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1'),
      pendingCheckpoints: db.prepare(`SELECT * FROM checkpoints WHERE state = 'pending' ORDER BY tree_size`),
      markAnchored: db.prepare(
        `UPDATE checkpoints SET tx_hash = ?, block_number = ?, anchored_at = ?, state = 'anchored' WHERE tree_size = ?`,
      ),
      // A superseded checkpoint names no transaction: one it named was lost with its block.
      markSuperseded: db.prepare(
        `UPDATE checkpoints SET state = 'superseded', tx_hash = NULL, block_number = NULL, anchored_at = NULL
         WHERE tree_size = ?`,
      ),
      anchoredCheckpoints: db.prepare(
        `SELECT * FROM checkpoints WHERE state = 'anchored' ORDER BY tree_size`,
      ),
      anchoredNewestFirst: db.prepare(
        `SELECT * FROM checkpoints WHERE state = 'anchored' ORDER BY tree_size DESC`,
      ),
      latestAnchored: db.prepare(
        `SELECT * FROM checkpoints WHERE state = 'anchored' ORDER BY tree_size DESC LIMIT 1`,
      ),
      getCheckpoint: db.prepare('SELECT * FROM checkpoints WHERE tree_size = ?'),
      firstAnchoredAbove: db
        .prepare(
          `SELECT tree_size FROM checkpoints WHERE state = 'anchored' AND tree_size > ? ORDER BY tree_size LIMIT 1`,
        )
        .pluck(),
      reopenAbove: db.prepare(
        `UPDATE checkpoints SET state = 'pending', tx_hash = NULL, block_number = NULL, anchored_at = NULL
         WHERE state IN ('anchored', 'superseded') AND tree_size > ?`,
      ),
    };
  }

  /** Records a checkpoint durably (the outbox entry); nothing when that size exists. */
  add(treeSize: number, root: Uint8Array, createdAt: number): void {
    this.#stmts.addCheckpoint.run(treeSize, root, createdAt);
  }

  last(): CheckpointRow | undefined {
    const r = this.#stmts.lastCheckpoint.get() as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  get(treeSize: number): CheckpointRow | undefined {
    const r = this.#stmts.getCheckpoint.get(treeSize) as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  pending(): CheckpointRow[] {
    return (this.#stmts.pendingCheckpoints.all() as RawCheckpoint[]).map(toCheckpoint);
  }

  markAnchored(treeSize: number, txHash: string, blockNumber: number, at: number): void {
    this.#stmts.markAnchored.run(txHash, blockNumber, at, treeSize);
  }

  markSuperseded(treeSize: number): void {
    this.#stmts.markSuperseded.run(treeSize);
  }

  anchored(): CheckpointRow[] {
    return (this.#stmts.anchoredCheckpoints.all() as RawCheckpoint[]).map(toCheckpoint);
  }

  /**
   * The anchored checkpoints, newest first, read one row at a time (a long history is never
   * held in memory at once). No other statement may run on the connection until the
   * iteration ends.
   */
  *anchoredNewestFirst(): Generator<CheckpointRow> {
    for (const r of this.#stmts.anchoredNewestFirst.iterate() as IterableIterator<RawCheckpoint>) {
      yield toCheckpoint(r);
    }
  }

  latestAnchored(): CheckpointRow | undefined {
    const r = this.#stmts.latestAnchored.get() as RawCheckpoint | undefined;
    return r ? toCheckpoint(r) : undefined;
  }

  /** The smallest anchored checkpoint holding leaf `leafIndex` (tree size > index). */
  firstAnchoredAbove(leafIndex: number): number | undefined {
    return this.#stmts.firstAnchoredAbove.get(leafIndex) as number | undefined;
  }

  /**
   * Puts every checkpoint above `treeSize` back in the outbox (the chain lost their
   * anchors). Returns how many were reopened.
   */
  reopenAbove(treeSize: number): number {
    return this.#stmts.reopenAbove.run(treeSize).changes;
  }
}
