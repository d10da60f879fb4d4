/**
 * @module io/access
 * The access log (issue 18): every view or export of a patient's data, appended durably to a
 * second RFC 9162 log of the gateway (access-log.ts), checkpointed, signed and anchored like
 * the readings' log with its own ledger account (access-anchoring.ts), and exported as an
 * access-log bundle for an auditor or a patient (export.ts). The one way into this folder.
 */
export {
  type AccessAnchoring,
  type AccessAnchoringParameters,
  createAccessAnchoring,
} from './access-anchoring.js';
export { AccessLog, type AccessLogOptions, type StoredAccessEntry } from './access-log.js';
export {
  AccessExportError,
  type AccessExportParameters,
  type AccessExportResult,
  exportAccessBundle,
  exportAccessBundleToFile,
} from './export.js';
