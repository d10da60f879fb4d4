/**
 * @module log
 * The RFC 9162 §2.1 Merkle log core of VitalTrail (PROTOCOL.md §3): hashing, proof
 * verification, proof generation over a node store, the levels a store keeps (strata), its frontier, an in-memory log, the
 * inclusion-path cache of the verifier, and C2SP signed checkpoint notes (PROTOCOL.md §3). Pure: no
 * files, sockets or timers (the notes use node:crypto's Ed25519).
 */

export { LogFrontier } from './frontier.js';
export {
  bytesEqual,
  EMPTY_ROOT,
  HASH_SIZE,
  hashChildren,
  hashLeaf,
  hashLeafPrefixed,
  leafHashEquals,
  RFC6962_LEAF_HASH_PREFIX,
  RFC6962_NODE_HASH_PREFIX,
} from './hash.js';
export { MemoryMerkleTree } from './memory.js';
export {
  type CheckpointBody,
  ED25519_ALG,
  ed25519KeyId,
  ed25519PrivateKeyFromSeed,
  ed25519PublicKeyFromRaw,
  formatCheckpoint,
  formatVkey,
  NOTE_ERROR_CODES,
  NoteError,
  type NoteErrorCode,
  type NoteSignature,
  type NoteVerifierKey,
  openCheckpoint,
  openNote,
  type ParsedNote,
  parseCheckpoint,
  parseNote,
  parseVkey,
  rawEd25519PublicKey,
  signNote,
} from './note.js';
export { InclusionPathCache } from './path-cache.js';
export {
  MerkleError,
  type MerkleErrorCode,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';
export {
  isKeptLevel,
  STRATA_CACHE_NODES,
  STRATUM_HEIGHT,
  StrataNodeReader,
  type StratumReader,
} from './strata.js';
export type { MerkleNode, MerkleNodeReader } from './tree.js';
export { consistencyProof, inclusionProof, nodesForAppend, rootAt } from './tree.js';
