/**
 * @module verify
 * The auditor's verifier (PROTOCOL.md §5): a pure, offline library. Parse a disclosure
 * bundle with `parseBundle`, fetch the `Anchored` events of its logId from the chain,
 * then `verifyBundle` reports every entry and checkpoint with a code.
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
  type DisclosureShreddedEntry,
  type Hex,
  parseBundle,
} from './bundle.js';
export {
  type AnchorRecord,
  analyseSequences,
  type BundleReport,
  type CertificateChecker,
  type CheckpointCode,
  type CheckpointResult,
  ENTRY_CODES,
  type EntryCode,
  type EntryResult,
  logIdOf,
  type RegistryEvent,
  type SequenceGap,
  type SequenceInput,
  type SequenceReport,
  type SequenceSide,
  sequenceInputs,
  type VerifyBundleOptions,
  verifyBundle,
} from './verify.js';
