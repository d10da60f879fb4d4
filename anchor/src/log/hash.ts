/**
 * @module log/hash
 * The hashing of RFC 9162 §2.1.1 (unchanged from RFC 6962 §2.1): SHA-256 with
 * domain-separation prefixes, so that a leaf can never be passed off as an interior
 * node (second-preimage resistance). Leaves of the VitalTrail log are the exact
 * COSE_Sign1 bytes of accepted frames (PROTOCOL.md §3). Pure: node:crypto only.
 */
import { sha256, sha256Equals } from '../../../gateway/src/protocol/digest.js';

/** RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export const RFC6962_LEAF_HASH_PREFIX = 0x00;
/** RFC 9162 §2.1.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])). */
export const RFC6962_NODE_HASH_PREFIX = 0x01;
/** Length in bytes of every hash of the log (SHA-256). */
export const HASH_SIZE = 32;

/** 0x01 || left || right for two 32-byte hashes, reused: hashing is synchronous. */
const NODE_INPUT = new Uint8Array(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = RFC6962_NODE_HASH_PREFIX;

/**
 * The hash of the empty tree, MTH({}) = SHA-256() (RFC 9162 §2.1.1).
 * Typed arrays cannot be frozen: never mutate it; `rootAt(reader, 0)` returns a copy.
 */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * The leaf hash SHA-256(0x00 || data) (RFC 9162 §2.1.1).
 * @throws {TypeError} when `data` is not a Uint8Array.
 * @example
 * const leaf = hashLeaf(frameBytes); // what the log appends for one accepted frame
 */
export function hashLeaf(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('hashLeaf: data must be a Uint8Array');
  return sha256(leafInput(data));
}

/** Whether `expected` is the leaf hash of `data` (as `hashLeaf`, compared in place). */
export function leafHashEquals(data: Uint8Array, expected: Uint8Array): boolean {
  if (!(data instanceof Uint8Array)) throw new TypeError('leafHashEquals: data must be a Uint8Array');
  return sha256Equals(leafInput(data), expected);
}

/** 0x00 || data, in a reused buffer for frame-sized data (hashing is synchronous). */
const LEAF_INPUT = new Uint8Array(1 + 16_384);
function leafInput(data: Uint8Array): Uint8Array {
  const input = data.length < LEAF_INPUT.length ? LEAF_INPUT : new Uint8Array(1 + data.length);
  input[0] = RFC6962_LEAF_HASH_PREFIX;
  input.set(data, 1);
  return input.subarray(0, 1 + data.length);
}

/**
 * `hashLeaf(input.subarray(1))` for an `input` whose first byte is already the leaf prefix
 * 0x00: a caller that can decode the leaf data one byte into its buffer (the verifier does,
 * from base64) saves hashLeaf's copy.
 * @throws {RangeError} when `input` is empty or does not start with 0x00.
 */
export function hashLeafPrefixed(input: Uint8Array): Uint8Array {
  if (!(input instanceof Uint8Array)) throw new TypeError('hashLeafPrefixed: input must be a Uint8Array');
  if (input[0] !== RFC6962_LEAF_HASH_PREFIX)
    throw new RangeError('hashLeafPrefixed: input must start with the leaf prefix 0x00');
  return sha256(input);
}

/**
 * The interior node hash SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
 * Does not check the lengths of its inputs: callers that take hashes from outside
 * check them first (see `proof.ts`).
 * @throws {TypeError} when `left` or `right` is not a Uint8Array.
 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!(left instanceof Uint8Array)) throw new TypeError('hashChildren: left must be a Uint8Array');
  if (!(right instanceof Uint8Array)) throw new TypeError('hashChildren: right must be a Uint8Array');
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    NODE_INPUT.set(left, 1);
    NODE_INPUT.set(right, 1 + HASH_SIZE);
    return sha256(NODE_INPUT);
  }
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = RFC6962_NODE_HASH_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/** Byte-wise equality. Hashes of the log are public, so no constant-time compare is needed. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
