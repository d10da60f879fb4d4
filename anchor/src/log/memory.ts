/**
 * @module log/memory
 * An in-memory RFC 9162 log (§2.1) over the node store of `tree.ts`: the reference
 * implementation of `MerkleNodeReader` for tests, the simulator and small tools. It
 * keeps only perfect-subtree hashes (about 2n for n leaves), never the leaves.
 */
import { hashLeaf } from './hash.js';
import { checkCount } from './proof.js';
import { consistencyProof, inclusionProof, type MerkleNodeReader, nodesForAppend, rootAt } from './tree.js';

/**
 * @example
 * const tree = new MemoryMerkleTree();
 * const i = tree.appendData(frameBytes);
 * verifyInclusion(i, tree.size, hashLeaf(frameBytes), tree.inclusionProof(i), tree.root());
 */
export class MemoryMerkleTree implements MerkleNodeReader {
  /** levels[level][index] = hash of the perfect node (level, index). */
  readonly #levels: Uint8Array[][] = [];
  #size = 0;

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf by its hash (`hashLeaf(data)`) and returns its index.
   * @throws {TypeError | RangeError} when `leafHash` is not 32 bytes.
   */
  appendLeafHash(leafHash: Uint8Array): number {
    const index = this.#size;
    for (const node of nodesForAppend(index, leafHash, this)) {
      let level = this.#levels[node.level];
      if (level === undefined) {
        level = [];
        this.#levels[node.level] = level;
      }
      level[node.index] = node.hash;
    }
    this.#size = index + 1;
    return index;
  }

  /** Appends `hashLeaf(data)` and returns the leaf's index. */
  appendData(data: Uint8Array): number {
    return this.appendLeafHash(hashLeaf(data));
  }

  /**
   * The stored perfect node; a copy, so callers cannot alter the tree.
   * @throws {RangeError} when the node is not complete in this tree.
   */
  getNode(level: number, index: number): Uint8Array {
    checkCount('getNode', 'level', level);
    checkCount('getNode', 'index', index);
    const hash = this.#levels[level]?.[index];
    if (hash === undefined) throw new RangeError('getNode: no such node in this tree');
    return hash.slice();
  }

  /** The root hash of the first `size` leaves (default: all). */
  root(size: number = this.#size): Uint8Array {
    this.#checkSize('root', 'size', size);
    return rootAt(this, size);
  }

  /** The inclusion proof of leaf `index` in the tree of `size` (default: current size). */
  inclusionProof(index: number, size: number = this.#size): Uint8Array[] {
    this.#checkSize('inclusionProof', 'size', size);
    return inclusionProof(this, index, size);
  }

  /** The consistency proof from `size1` to `size2` (default: current size). */
  consistencyProof(size1: number, size2: number = this.#size): Uint8Array[] {
    this.#checkSize('consistencyProof', 'size2', size2);
    return consistencyProof(this, size1, size2);
  }

  #checkSize(fn: string, name: string, size: unknown): asserts size is number {
    checkCount(fn, name, size);
    if (size > this.#size) throw new RangeError(`${fn}: ${name} exceeds the tree size`);
  }
}
