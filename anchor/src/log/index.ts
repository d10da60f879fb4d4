/**
 * @module log
 * The RFC 9162 §2.1 Merkle log core of VitalTrail (PROTOCOL.md §3): hashing, proof
 * verification, proof generation over a node store, and an in-memory log. Pure.
 */
export {
  bytesEqual,
  EMPTY_ROOT,
  HASH_SIZE,
  hashChildren,
  hashLeaf,
  hashLeafPrefixed,
  RFC6962_LEAF_HASH_PREFIX,
  RFC6962_NODE_HASH_PREFIX,
} from './hash.js';
export { MemoryMerkleTree } from './memory.js';
export {
  MerkleError,
  type MerkleErrorCode,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';
export {
  consistencyProof,
  inclusionProof,
  type MerkleNode,
  type MerkleNodeReader,
  nodesForAppend,
  rootAt,
} from './tree.js';
