/**
 * @module verify-access
 * The access log's leaf format and the auditor's verifier of access-log bundles (issue 18;
 * README "The access log (issue 18)"): a pure, offline library like anchor/src/verify, whose
 * checkpoint, anchor and consistency checks it reuses. The one way into this folder.
 *
 * Rooms: `entry.ts` (the canonical access entry and its leaf hash, shared with the gateway's
 * io/access), `bundle.ts` (the bundle format), `verify.ts` (`verifyAccessBundle`),
 * `consent.ts` (`consentCoverage`, the consent hook built from the consent contract's grants),
 * `evidence-format.ts` (the saved chain evidence `vitaltrail-access-evidence/1`), `evidence.ts`
 * (its live fetch, the only network I/O), `with-evidence.ts` (a bundle checked against it, the
 * one path of the CLI, live or offline, and of the page), `browser.ts` (the auditor page's
 * entry, bundled by anchor/src/verify/build-browser with the disclosure verifier).
 */
export {
  ACCESS_BUNDLE_FORMAT,
  ACCESS_BUNDLE_LIMITS,
  type AccessBundle,
  type AccessCheckpoint,
  type AccessConsistency,
  type AccessFullItem,
  type AccessItem,
  type AccessMalformedItem,
  type AccessScope,
  type AccessWithheldItem,
  parseAccessBundle,
} from './bundle.js';
export {
  ACTION_SCOPE,
  CONSENT_SCOPE_ECG,
  CONSENT_SCOPE_VITALS,
  type ConsentCode,
  type ConsentCoverageRecord,
  consentCoverage,
  consentProblem,
} from './consent.js';
export {
  ACCESS_ACTIONS,
  ACCESS_ENTRY_VERSION,
  ACCESS_ROLES,
  type AccessAction,
  type AccessBasis,
  type AccessEntry,
  type AccessRole,
  accessEntryProblem,
  accessEntryText,
  accessLeafHash,
  decodeAccessEntry,
  encodeAccessEntry,
  MAX_BREAK_GLASS_REASON,
} from './entry.js';
export { fetchAccessEvidence } from './evidence.js';
export {
  ACCESS_EVIDENCE_FORMAT,
  ACCESS_EVIDENCE_LIMITS,
  type AccessEvidence,
  type AccessEvidenceCode,
  type AccessEvidenceConsent,
  AccessEvidenceError,
  accessEvidenceJson,
  parseAccessEvidence,
} from './evidence-format.js';
export {
  ACCESS_ENTRY_CODES,
  type AccessCheckpointCode,
  type AccessCheckpointResult,
  type AccessEntryCode,
  type AccessEntryResult,
  type AccessGap,
  type AccessReport,
  type ConsentCheck,
  type VerifyAccessOptions,
  verifyAccessBundle,
} from './verify.js';
export {
  type AccessEvidenceReport,
  accessScopeLine,
  bindAccessEvidence,
  citedConsentIds,
  verifyAccessEvidence,
} from './with-evidence.js';
