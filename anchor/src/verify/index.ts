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
  type Hex,
  parseBundle,
} from './bundle.js';
export {
  type AnchorRecord,
  type BundleReport,
  type CertificateChecker,
  type CheckpointCode,
  type CheckpointResult,
  type EntryCode,
  type EntryResult,
  logIdOf,
  type VerifyBundleOptions,
  verifyBundle,
} from './verify.js';
