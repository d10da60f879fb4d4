/**
 * @module log/strata
 * Which nodes of an RFC 9162 tree a store keeps, and how it answers the others. A store
 * keeps the perfect-subtree hashes of every `STRATUM_HEIGHT`-th level only (levels 0, 4, 8,
 * …): a node in between is the root of the perfect subtree of at most 2^3 = 8 kept nodes
 * just below it, hashed up on demand (RFC 9162 §2.1.1). That is the storage of C2SP
 * tlog-tiles (tiles of height 8 keep the hashes of levels 0, 8, 16, … and compute the rest),
 * with a lower height: an append writes 1 + 1/16 + 1/256 + … ≈ 1.07 nodes instead of ~2,
 * and a proof's node costs at most one read of 8 adjacent rows and 7 hashes.
 *
 * The tree's shape, its roots and every proof are those of the full tree: only where the
 * hashes come from changes. Pure: the kept rows come from the caller's `StratumReader`.
 */
import { hashChildren } from './hash.js';
import type { MerkleNodeReader } from './tree.js';

/** Every this many levels a level is kept (0, 4, 8, …). */
export const STRATUM_HEIGHT = 4;

/**
 * Whether a store keeps the nodes of `level`: of an append's nodes (`nodesForAppend`) it
 * writes those, and its frontier remembers them all.
 */
export function isKeptLevel(level: number): boolean {
  return level % STRATUM_HEIGHT === 0;
}

/** Nodes above the leaves a reader keeps once read, at most (then it starts afresh). */
export const STRATA_CACHE_NODES = 4096;

/** Read access to the kept levels. */
export interface StratumReader {
  /**
   * The hashes of nodes `(level, first)` … `(level, first + count - 1)` of a kept level,
   * in index order: fewer when some are not stored (the caller asked beyond the log's size).
   */
  readStratum(level: number, first: number, count: number): Uint8Array[];
}

/**
 * Any node of the tree, over a store that keeps only the kept levels.
 * @example
 * const reader = new StrataNodeReader({ readStratum: (l, f, c) => rowsOf(l, f, c) });
 * inclusionProof(reader, leaf, size);
 */
export class StrataNodeReader implements MerkleNodeReader {
  readonly #stratum: StratumReader;
  readonly #missing: (level: number, index: number) => Error;
  readonly #cacheable: () => boolean;
  /**
   * The nodes above the leaves read so far, by level then index: the proofs of neighbouring
   * leaves (an export's) share all but their lowest nodes. A perfect node never changes once
   * committed, so only what `cacheable` allows is kept (a store: while no transaction is open).
   */
  readonly #cache: Map<number, Uint8Array>[] = [];
  #cached = 0;

  /**
   * @param missing - the error thrown when a kept node a node needs is not stored (by
   *   default a RangeError), so a store throws its own as it did for a missing row.
   * @param cacheable - whether a node read now may be kept: false while the rows it comes
   *   from could still be rolled back (by default none is kept).
   */
  constructor(
    stratum: StratumReader,
    missing = (level: number, index: number): Error =>
      new RangeError(`log node (${level}, ${index}) is missing`),
    cacheable = (): boolean => false,
  ) {
    this.#stratum = stratum;
    this.#missing = missing;
    this.#cacheable = cacheable;
  }

  getNode(level: number, index: number): Uint8Array {
    if (level === 0) return this.#read(0, index);
    const hit = this.#cache[level]?.get(index);
    if (hit !== undefined) return hit;
    const hash = this.#read(level, index);
    if (this.#cacheable()) {
      if (this.#cached >= STRATA_CACHE_NODES) {
        this.#cache.length = 0;
        this.#cached = 0;
      }
      let atLevel = this.#cache[level];
      if (atLevel === undefined) this.#cache[level] = atLevel = new Map();
      atLevel.set(index, hash);
      this.#cached++;
    }
    return hash;
  }

  #read(level: number, index: number): Uint8Array {
    const above = level % STRATUM_HEIGHT;
    const width = 2 ** above;
    const row = this.#stratum.readStratum(level - above, index * width, width);
    if (row.length !== width) throw this.#missing(level, index);
    // RFC 9162 §2.1.1 over a perfect range: pairs hash into their parents, level by level.
    for (let n = width; n > 1; n /= 2) {
      for (let i = 0; i < n / 2; i++) row[i] = hashChildren(row[2 * i]!, row[2 * i + 1]!);
    }
    return row[0]!;
  }
}
