/**
 * @module verify
 * The auditor's verifier (PROTOCOL.md §5): a pure, offline library, and the one way into
 * `anchor/src/verify/` from outside it. Parse a disclosure bundle with `parseBundle`,
 * fetch the chain evidence of its logId (`fetchChainEvidence`, the only networked part),
 * then `verifyBundle` reports every entry and checkpoint with a code.
 *
 * Rooms: `bundle.ts` (the bundle format), `checkpoints.ts`, `entries.ts` and `sequences.ts`
 * (the checks, and the completeness of each device's chain), `hash-text.ts` (an entry's
 * `frameHash` and `prev` as text),
 * `verify.ts` (the report, sequence analysis and `verifyBundle`), `evidence-format.ts` and
 * `evidence.ts` (the chain evidence file and its fetch), `browser*.ts` and
 * `build-browser.ts` (the auditor page's bundle, which imports the files above directly,
 * never this barrel, so no node-only module reaches it).
 */
export {
  BUNDLE_LIMITS,
  BundleError,
  DISCLOSURE_FORMAT,
  type DisclosureBundle,
  type DisclosureCheckpoint,
  type DisclosureConsistency,
  type DisclosureDevice,
  type DisclosureEntry,
  type DisclosureFrameEntry,
  type DisclosureMalformedEntry,
  type DisclosureShreddedEntry,
  type DisclosureShredding,
  type DisclosureShreddingItem,
  type EntryBoundary,
  type Hex,
  parseBundle,
} from './bundle.js';
export {
  anchorBlockIndex,
  type CheckpointState,
  checkCheckpoints,
  checkpointCode,
  hexBytes,
} from './checkpoints.js';
export { type ChainEvidence, EVIDENCE_FORMAT, fetchChainEvidence, parseChainEvidence } from './evidence.js';
export { scopeLine } from './scope.js';
export {
  type AnchorRecord,
  analyseSequences,
  type BundleProblem,
  type BundleReport,
  type CertificateChecker,
  type CheckpointCode,
  type CheckpointResult,
  type DeviceRange,
  ENTRY_CODES,
  type EntryCode,
  type EntryResult,
  GENESIS_PREV,
  type LinkResult,
  logIdOf,
  type RegistryEvent,
  type SequenceGap,
  type SequenceInput,
  type SequenceReport,
  type SequenceSide,
  SHREDDING_CODES,
  type ShreddingCode,
  type ShreddingResult,
  sequenceInputs,
  type Verdict,
  type VerifyBundleOptions,
  verdictOf,
  verifyBundle,
} from './verify.js';
