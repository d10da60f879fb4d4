/**
 * @module io/anchoring/checkpoints
 * The gateway's signed checkpoints and receipts (PROTOCOL.md §3; C2SP signed-note and
 * tlog-checkpoint): the Ed25519 checkpoint key in the data directory, the signed note of
 * every checkpoint in its own table, and the receipt of a reading (the first anchored
 * checkpoint that contains its leaf).
 *
 * Why a table of its own (`checkpoint_notes`, keyed by tree size) rather than a column of
 * `checkpoints`: the note is written in the same SQLite transaction as the outbox row, so
 * the two cannot diverge, and the shared schema (and its version) stays untouched.
 *
 * ```
 * DIR/gateway/checkpoint.key.pem   Ed25519 checkpoint key (PKCS#8 PEM, 0600), created on first start
 * ```
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { readPrivateKey, writePrivateKeyPem } from '../../../../anchor/src/kgc/index.js';
import { formatCheckpoint, formatVkey, signNote } from '../../../../anchor/src/log/index.js';
import type { DataPaths } from '../ops/index.js';
import type { CheckpointRow, GatewayStore } from '../store/index.js';

/** Where the checkpoint signing key lives in a data directory. */
export function checkpointKeyPath(paths: DataPaths): string {
  return join(paths.gatewayDir, 'checkpoint.key.pem');
}

/** Signs checkpoints of one log: the key name is the log's origin (PROTOCOL.md §3). */
export interface CheckpointSigner {
  origin: string;
  /** The C2SP verifier key string auditors pin. */
  vkey: string;
  /** The signed note of a checkpoint of this log. */
  sign(treeSize: number, root: Uint8Array): string;
}

/** A signer over an Ed25519 private key. */
export function createCheckpointSigner(origin: string, key: KeyObject): CheckpointSigner {
  const vkey = formatVkey(origin, key);
  return {
    origin,
    vkey,
    sign: (treeSize, rootHash) => signNote(formatCheckpoint({ origin, treeSize, rootHash }), origin, key),
  };
}

/**
 * Loads the checkpoint key of a data directory, creating it (Ed25519, 0600) on first use.
 * @throws {KeyFileError} `key_permissions` when group or others may read the file,
 *   `key_invalid` when it is not a PEM private key.
 * @throws {TypeError} when the key in the file is not Ed25519.
 * @example
 * const signer = loadCheckpointSigner(dataPaths(dir), 'vitaltrail/gw-1');
 */
export function loadCheckpointSigner(paths: DataPaths, origin: string): CheckpointSigner {
  const file = checkpointKeyPath(paths);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writePrivateKeyPem(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  }
  return createCheckpointSigner(origin, readPrivateKey(file));
}

/** A reading's receipt: the first anchored checkpoint whose tree contains its leaf. */
export interface Receipt {
  leafIndex: number;
  treeSize: number;
  txHash: string;
  blockNumber: number;
}

/** The signed notes of the checkpoints, and the store queries anchoring needs beyond store.ts. */
export class CheckpointNotes {
  readonly #store: GatewayStore;
  readonly #put: Statement;
  readonly #get: Statement;
  readonly #latest: Statement;

  constructor(store: GatewayStore) {
    this.#store = store;
    const db = store.db;
    this.#put = db.prepare('INSERT OR IGNORE INTO checkpoint_notes (tree_size, note) VALUES (?, ?)');
    this.#get = db.prepare('SELECT note FROM checkpoint_notes WHERE tree_size = ?').pluck();
    this.#latest = db.prepare(
      'SELECT tree_size AS treeSize, note FROM checkpoint_notes ORDER BY tree_size DESC LIMIT 1',
    );
  }

  /**
   * Writes a checkpoint (the outbox row) and its signed note in one transaction.
   * Does nothing when a checkpoint of that size exists.
   */
  addSigned(treeSize: number, root: Uint8Array, createdAt: number, signer: CheckpointSigner | null): void {
    const note = signer?.sign(treeSize, root);
    this.#store.db.transaction(() => {
      this.#store.addCheckpoint(treeSize, root, createdAt);
      if (note !== undefined) this.#put.run(treeSize, note);
    })();
  }

  /** The signed note of the checkpoint of `treeSize`, if one was signed. */
  note(treeSize: number): string | undefined {
    return this.#get.get(treeSize) as string | undefined;
  }

  /** The latest signed checkpoint. */
  latest(): { treeSize: number; note: string } | undefined {
    return this.#latest.get() as { treeSize: number; note: string } | undefined;
  }

  /** The receipt of leaf `leafIndex`, once a checkpoint containing it is anchored. */
  receipt(leafIndex: number): Receipt | undefined {
    const size = this.#store.checkpoints.firstAnchoredAbove(leafIndex);
    const c: CheckpointRow | undefined = size === undefined ? undefined : this.#store.getCheckpoint(size);
    if (!c || c.txHash === null || c.blockNumber === null) return undefined;
    return { leafIndex, treeSize: c.treeSize, txHash: c.txHash, blockNumber: c.blockNumber };
  }

  /**
   * Puts every checkpoint above `treeSize` back in the outbox (the chain lost their anchors:
   * a dev node restarted from older state). Returns how many were reopened.
   */
  reopenAbove(treeSize: number): number {
    return this.#store.checkpoints.reopenAbove(treeSize);
  }
}
