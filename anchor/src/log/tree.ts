/**
 * @module log/tree
 * Proof generation for the RFC 9162 log (§2.1.2 tree hash, §2.1.3.1 inclusion path,
 * §2.1.4.1 consistency proof) over a store of perfect-subtree hashes. A node
 * `(level, index)` is the hash of the perfect subtree over leaves
 * `[index * 2^level, (index + 1) * 2^level)`; such nodes never change once complete,
 * so a store only ever appends them (`nodesForAppend`). Every function reads O(log n)
 * nodes and never needs the leaf list. Pure and synchronous: the reader is the only
 * I/O, and the gateway backs it with SQLite.
 *
 * Arguments here come from the log's owner, not from an attacker: misuse throws
 * TypeError / RangeError naming the parameter.
 */
import { EMPTY_ROOT, HASH_SIZE, hashChildren } from './hash.js';
import { bitLength, checkBytes, checkCount } from './proof.js';

/** Read access to the perfect-subtree hashes of a log. */
export interface MerkleNodeReader {
  /**
   * The hash of the perfect subtree over leaves `[index * 2^level, (index + 1) * 2^level)`.
   * @throws when the node is not stored (the caller asked beyond the log's size).
   */
  getNode(level: number, index: number): Uint8Array;
}

/** One perfect-subtree hash, as `nodesForAppend` hands it to the store. */
export interface MerkleNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

/** The largest power of two strictly below `n` (n >= 2): the split point k of RFC 9162 §2.1.1. */
function splitPoint(n: number): number {
  return 2 ** (bitLength(n - 1) - 1);
}

/**
 * MTH(D[begin:end]) for a range that is a subtree of the RFC 9162 tree shape, i.e.
 * `begin` is a multiple of a power of two >= `end - begin`: the range splits into
 * perfect subtrees of decreasing size (the set bits of its length), whose hashes fold
 * from the right. Reads at most log2(end - begin) + 1 nodes.
 */
function rangeHash(reader: MerkleNodeReader, begin: number, end: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = begin;
  while (pos < end) {
    let level = bitLength(end - pos) - 1;
    while (pos % 2 ** level !== 0) level--;
    parts.push(reader.getNode(level, pos / 2 ** level));
    pos += 2 ** level;
  }
  let acc = parts.pop()!;
  for (let part = parts.pop(); part !== undefined; part = parts.pop()) acc = hashChildren(part, acc);
  return acc;
}

/**
 * The nodes to persist when leaf number `size` (0-based) is appended to a log of `size`
 * leaves: the level-0 node, then each perfect node the new leaf completes, bottom up.
 * Reads one stored node per completed parent (its left sibling).
 * @throws {TypeError | RangeError} when `size` is not a count or `leafHash` is not 32 bytes.
 * @example
 * for (const n of nodesForAppend(size, hashLeaf(frame), reader)) insert.run(n.level, n.index, n.hash);
 */
export function nodesForAppend(size: number, leafHash: Uint8Array, reader: MerkleNodeReader): MerkleNode[] {
  const fn = 'nodesForAppend';
  checkCount(fn, 'size', size);
  checkBytes(fn, 'leafHash', leafHash);
  if (leafHash.length !== HASH_SIZE) throw new RangeError(`${fn}: leafHash must be 32 bytes`);
  if (size >= Number.MAX_SAFE_INTEGER) throw new RangeError(`${fn}: size must stay below 2^53 - 1`);
  let level = 0;
  let index = size;
  let hash: Uint8Array = leafHash.slice();
  const out: MerkleNode[] = [{ level, index, hash }];
  // A right child (odd index) completes its parent: RFC 9162 §2.1.1 MTH over a perfect range.
  while (index % 2 === 1) {
    hash = hashChildren(reader.getNode(level, index - 1), hash);
    level++;
    index = (index - 1) / 2;
    out.push({ level, index, hash });
  }
  return out;
}

/**
 * The root hash MTH(D[0:size]) of the log's first `size` leaves (RFC 9162 §2.1.1).
 * @returns a copy of `EMPTY_ROOT` for size 0.
 * @throws {TypeError | RangeError} when `size` is not a count.
 */
export function rootAt(reader: MerkleNodeReader, size: number): Uint8Array {
  checkCount('rootAt', 'size', size);
  return size === 0 ? EMPTY_ROOT.slice() : rangeHash(reader, 0, size);
}

/**
 * The inclusion proof PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf level first.
 * @throws {RangeError} when `index >= size` or either is not a count.
 * @example
 * verifyInclusion(i, n, leafHash, inclusionProof(reader, i, n), rootAt(reader, n));
 */
export function inclusionProof(reader: MerkleNodeReader, index: number, size: number): Uint8Array[] {
  const fn = 'inclusionProof';
  checkCount(fn, 'index', index);
  checkCount(fn, 'size', size);
  if (index >= size) throw new RangeError(`${fn}: index must be below size`);
  const path: Uint8Array[] = [];
  let begin = 0;
  let end = size;
  while (end - begin > 1) {
    const k = splitPoint(end - begin);
    if (index < begin + k) {
      // RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k
      path.push(rangeHash(reader, begin + k, end));
      end = begin + k;
    } else {
      // RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k
      path.push(rangeHash(reader, begin, begin + k));
      begin += k;
    }
  }
  return path.reverse();
}

/**
 * The consistency proof PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1). Empty when
 * `size1` is 0 or equals `size2` (nothing to prove; `verifyConsistency` refuses size1 = 0).
 * @throws {RangeError} when `size1 > size2` or either is not a count.
 */
export function consistencyProof(reader: MerkleNodeReader, size1: number, size2: number): Uint8Array[] {
  const fn = 'consistencyProof';
  checkCount(fn, 'size1', size1);
  checkCount(fn, 'size2', size2);
  if (size1 > size2) throw new RangeError(`${fn}: size1 must not exceed size2`);
  if (size1 === 0 || size1 === size2) return [];
  const proof: Uint8Array[] = [];
  let begin = 0;
  let end = size2;
  let m = size1;
  let whole = true; // the flag b of SUBPROOF: D[0:m] is a checkpoint the verifier already knows
  for (;;) {
    if (m === end - begin) {
      // RFC 9162 §2.1.4.1: SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
      if (!whole) proof.push(rangeHash(reader, begin, end));
      break;
    }
    const k = splitPoint(end - begin);
    if (m <= k) {
      // RFC 9162 §2.1.4.1: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) for m <= k
      proof.push(rangeHash(reader, begin + k, end));
      end = begin + k;
    } else {
      // RFC 9162 §2.1.4.1: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k
      proof.push(rangeHash(reader, begin, begin + k));
      begin += k;
      m -= k;
      whole = false;
    }
  }
  return proof.reverse();
}
