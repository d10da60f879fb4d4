/**
 * @module log/proof
 * Verification of RFC 9162 Merkle inclusion proofs (§2.1.3.2) and consistency proofs
 * (§2.1.4.2), after transparency-dev/merkle `proof/verify.go`: the proof length must be
 * exact, `index < size`, every hash 32 bytes, and a consistency proof from the empty
 * tree is refused (it proves nothing). Pure and synchronous.
 *
 * Trust: proofs, hashes, indices and sizes usually come from a disclosure bundle or a
 * gateway the verifier does not trust. Anything that does not verify, including an
 * index or size that is not a non-negative safe integer (-1, NaN, 1.5), becomes
 * `MerkleError` with code `bad_inclusion_proof` / `bad_consistency_proof`; only
 * arguments of the wrong JavaScript type are misuse (TypeError). Messages never repeat
 * the input values.
 *
 * Tree sizes are JavaScript numbers up to 2^53 - 1. Bit operations on them are done on
 * two 32-bit halves, since `>>`, `^` and `&` would truncate to 32 bits.
 */
import type { ErrorGroupCode } from '../../../gateway/src/protocol/error-codes.js';
import { errorClass } from '../../../gateway/src/protocol/errors.js';
import { bytesEqual, HASH_SIZE, hashChildren } from './hash.js';

export type MerkleErrorCode = ErrorGroupCode<'merkle'>;

/** A Merkle proof that does not verify; `reason` says which rule it broke. */
export class MerkleError extends errorClass<'merkle'>('MerkleError') {}

// ---------------------------------------------------------------------------
// Argument checks shared with tree.ts and memory.ts (not re-exported by index.ts).

/**
 * @internal Checks a leaf index or tree size.
 * @throws {TypeError} when `value` is not a number.
 * @throws {RangeError} when it is not a non-negative safe integer (NaN, -1, 1.5, 2^53).
 */
export function checkCount(fn: string, name: string, value: unknown): asserts value is number {
  checkNumber(fn, name, value);
  if (!isCount(value)) throw new RangeError(`${fn}: ${name} must be a non-negative safe integer`);
}

/** A non-negative safe integer: a possible leaf index or tree size. */
function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** @throws {TypeError} when `value` is not a number (verification checks the range itself). */
function checkNumber(fn: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${fn}: ${name} must be a number`);
}

/** @internal @throws {TypeError} when `value` is not a Uint8Array. */
export function checkBytes(fn: string, name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${fn}: ${name} must be a Uint8Array`);
}

/** @internal @throws {TypeError} when `proof` is not an array of Uint8Array. */
function checkProof(fn: string, proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new TypeError(`${fn}: proof must be an array`);
  for (const h of proof) {
    if (!(h instanceof Uint8Array)) throw new TypeError(`${fn}: proof must hold only Uint8Array hashes`);
  }
}

// ---------------------------------------------------------------------------
// Bit helpers on safe integers (0 <= n < 2^53).

const TWO_32 = 2 ** 32;

function popcount32(x: number): number {
  let v = x >>> 0;
  let c = 0;
  while (v !== 0) {
    v &= v - 1;
    c++;
  }
  return c;
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** @internal Number of bits needed to write `n` (Go `bits.Len64`); 0 for 0. */
export function bitLength(n: number): number {
  const high = Math.floor(n / TWO_32);
  return high > 0 ? 64 - Math.clz32(high) : 32 - Math.clz32(n >>> 0);
}

/** @internal `a XOR b` without truncation to 32 bits. */
function xor(a: number, b: number): number {
  const high = (Math.floor(a / TWO_32) ^ Math.floor(b / TWO_32)) >>> 0;
  return high * TWO_32 + ((a ^ b) >>> 0);
}

function popcount(n: number): number {
  return popcount32(Math.floor(n / TWO_32)) + popcount32(n >>> 0);
}

/** Trailing zero bits of `n` > 0 (Go `bits.TrailingZeros64`). */
function trailingZeros(n: number): number {
  const low = n >>> 0;
  return low !== 0 ? ctz32(low) : 32 + ctz32(Math.floor(n / TWO_32));
}

/** `n >> k` without truncation to 32 bits. */
function shr(n: number, k: number): number {
  return Math.floor(n / 2 ** k);
}

/** Bit `k` of `n`. */
function bitAt(n: number, k: number): number {
  return shr(n, k) % 2;
}

// ---------------------------------------------------------------------------
// RFC 9162 §2.1.3.2, in the decomposed form of transparency-dev/merkle.

/**
 * Splits the inclusion proof of leaf `index` in a tree of `size` into `inner` hashes
 * (below the level where the paths to `index` and to `size - 1` meet) and `border`
 * hashes (left siblings above it).
 */
function decompInclProof(index: number, size: number): { inner: number; border: number } {
  const inner = bitLength(xor(index, size - 1));
  return { inner, border: popcount(shr(index, inner)) };
}

/** Chains `proof[from, to)` as siblings of the path of `index`: left or right by bit. */
function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], from: number, to: number, index: number) {
  let acc = seed;
  for (let i = from; i < to; i++) {
    const h = proof[i]!;
    acc = bitAt(index, i - from) === 0 ? hashChildren(acc, h) : hashChildren(h, acc);
  }
  return acc;
}

/** Like `chainInner`, but only the left siblings: the path to the older tree's root. */
function chainInnerRight(
  seed: Uint8Array,
  proof: readonly Uint8Array[],
  from: number,
  to: number,
  index: number,
): Uint8Array {
  let acc = seed;
  for (let i = from; i < to; i++) {
    if (bitAt(index, i - from) === 1) acc = hashChildren(proof[i]!, acc);
  }
  return acc;
}

/** Chains `proof[from, to)` as left siblings. */
function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[], from: number, to: number) {
  let acc = seed;
  for (let i = from; i < to; i++) acc = hashChildren(proof[i]!, acc);
  return acc;
}

function allHashSized(hashes: readonly Uint8Array[]): boolean {
  return hashes.every((h) => h.length === HASH_SIZE);
}

/**
 * Computes the root that an inclusion proof implies (RFC 9162 §2.1.3.2).
 * @param index - the leaf's 0-based index; must be `< size`.
 * @param size - the tree size the proof is for.
 * @param leafHash - `hashLeaf(data)`, 32 bytes.
 * @param proof - the audit path, leaf level first, exactly as long as the tree shape needs.
 * @throws {MerkleError} `bad_inclusion_proof` when index or size is not a non-negative
 *   integer, `index >= size`, a hash is not 32 bytes, or the proof length is wrong.
 * @throws {TypeError} on arguments of the wrong type.
 * @example
 * const root = rootFromInclusionProof(17, 1024, hashLeaf(frame), proof);
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  const fn = 'rootFromInclusionProof';
  checkNumber(fn, 'index', index);
  checkNumber(fn, 'size', size);
  checkBytes(fn, 'leafHash', leafHash);
  checkProof(fn, proof);
  if (!isCount(index) || !isCount(size)) {
    throw new MerkleError('bad_inclusion_proof', 'leaf index and tree size must be non-negative integers');
  }
  // RFC 9162 §2.1.3.2 step 1: "If leaf_index is greater than or equal to tree_size, then stop and fail".
  if (index >= size) throw new MerkleError('bad_inclusion_proof', 'leaf index is beyond the tree size');
  if (leafHash.length !== HASH_SIZE)
    throw new MerkleError('bad_inclusion_proof', 'leaf hash is not 32 bytes');
  if (!allHashSized(proof)) throw new MerkleError('bad_inclusion_proof', 'a proof hash is not 32 bytes');
  const { inner, border } = decompInclProof(index, size);
  // RFC 9162 §2.1.3.2 step 6: "fail the proof verification if ... p is not empty" (exact length).
  if (proof.length !== inner + border) {
    throw new MerkleError('bad_inclusion_proof', 'proof length does not fit the leaf index and tree size');
  }
  // RFC 9162 §2.1.3.2 steps 2-5: fold the path from the leaf up.
  const res = chainInner(leafHash, proof, 0, inner, index);
  return chainBorderRight(res, proof, inner, proof.length);
}

/**
 * Verifies that `leafHash` is leaf `index` of the tree of `size` with `root`
 * (RFC 9162 §2.1.3.2).
 * @throws {MerkleError} `bad_inclusion_proof` on any mismatch (see `rootFromInclusionProof`).
 * @throws {TypeError} on arguments of the wrong type.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkBytes('verifyInclusion', 'root', root);
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  if (!bytesEqual(computed, root)) {
    throw new MerkleError('bad_inclusion_proof', 'the proof does not lead to the given root');
  }
}

/**
 * Verifies that the tree of `size2` with `root2` extends the tree of `size1` with
 * `root1` (RFC 9162 §2.1.4.2). With `size1 === size2` the proof must be empty and the
 * roots equal; a proof from `size1 === 0` always fails (it would prove nothing).
 * @throws {MerkleError} `bad_consistency_proof` on any mismatch, including sizes that
 *   are not non-negative integers.
 * @throws {TypeError} on arguments of the wrong type.
 * @example
 * verifyConsistency(512, 1024, proof, root512, root1024);
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  const fn = 'verifyConsistency';
  checkNumber(fn, 'size1', size1);
  checkNumber(fn, 'size2', size2);
  checkProof(fn, proof);
  checkBytes(fn, 'root1', root1);
  checkBytes(fn, 'root2', root2);
  const fail = (reason: string) => new MerkleError('bad_consistency_proof', reason);
  if (!isCount(size1) || !isCount(size2)) throw fail('tree sizes must be non-negative integers');
  if (size2 < size1) throw fail('size2 is smaller than size1');
  if (size1 === 0) throw fail('a consistency proof from the empty tree proves nothing');
  if (size1 === size2) {
    if (proof.length !== 0) throw fail('sizes are equal but the proof is not empty');
    if (!bytesEqual(root1, root2)) throw fail('sizes are equal but the roots differ');
    return;
  }
  // RFC 9162 §2.1.4.2 step 1: "If consistency_path is an empty array, stop and fail".
  if (proof.length === 0) throw fail('the proof is empty');
  if (!allHashSized(proof)) throw fail('a proof hash is not 32 bytes');
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE) throw fail('a root is not 32 bytes');

  const { inner: fullInner, border } = decompInclProof(size1 - 1, size2);
  const shift = trailingZeros(size1);
  const inner = fullInner - shift; // shift < fullInner since size1 < size2
  // RFC 9162 §2.1.4.2 step 2: "If first is an exact power of 2, then prepend first_hash".
  const seedIsRoot1 = size1 === 2 ** shift;
  const seed = seedIsRoot1 ? root1 : proof[0]!;
  const start = seedIsRoot1 ? 0 : 1;
  if (proof.length !== start + inner + border) {
    throw fail('proof length does not fit the two tree sizes');
  }
  // RFC 9162 §2.1.4.2 steps 3-6: the rest of the proof is a suffix of the inclusion
  // proof of leaf size1 - 1 in the tree of size2, starting at level `shift`.
  const mask = shr(size1 - 1, shift);
  const end = start + inner;
  let hash1 = chainInnerRight(seed, proof, start, end, mask);
  hash1 = chainBorderRight(hash1, proof, end, proof.length);
  if (!bytesEqual(hash1, root1)) throw fail('the proof does not lead to root1');
  let hash2 = chainInner(seed, proof, start, end, mask);
  hash2 = chainBorderRight(hash2, proof, end, proof.length);
  if (!bytesEqual(hash2, root2)) throw fail('the proof does not lead to root2');
}
