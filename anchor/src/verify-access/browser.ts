/**
 * @module verify-access/browser
 * The access-log side of the auditor page's verifier bundle (issue 18; README "The auditor
 * page"): `verifyAccessDocuments` parses an access bundle (`vitaltrail-access/1`) and its saved
 * evidence (`vitaltrail-access-evidence/1`) and runs the CLI's one path, `verifyAccessEvidence`,
 * so the page's report is `vitaltrail verify-access BUNDLE --evidence FILE --json`'s, and its
 * scope line the CLI's first line. anchor/src/verify/browser.ts (the worker) calls it when the
 * bundle's format is an access bundle's. Imports files, never the barrel (`index.ts` reaches
 * the network fetcher). Pure, synchronous: no signature to precheck (access entries are
 * proven by the Merkle tree and the Ed25519 checkpoint notes only).
 */
import { ACCESS_BUNDLE_FORMAT, parseAccessBundle } from './bundle.js';
import { parseAccessEvidence } from './evidence-format.js';
import { type AccessEvidenceReport, accessScopeLine, verifyAccessEvidence } from './with-evidence.js';

/** What the page renders for an access bundle. */
export interface AccessPageResult {
  kind: 'access';
  /** As `vitaltrail verify-access BUNDLE --evidence FILE --json` prints it. */
  report: AccessEvidenceReport;
  /** What was verified: the CLI's first line. */
  scope: string;
  /** Wall time of the verifier, ms (beside the report, never in it). */
  verifyMs: number;
}

/** True when a parsed JSON document says it is an access bundle. */
export function isAccessBundle(json: unknown): boolean {
  return (
    typeof json === 'object' &&
    json !== null &&
    (json as { format?: unknown }).format === ACCESS_BUNDLE_FORMAT
  );
}

/**
 * Parses and verifies an access bundle against its saved evidence, as `vitaltrail
 * verify-access BUNDLE --evidence FILE --json` does (no `--consent` pin: the page shows the
 * contract the evidence names, in the scope line).
 * @throws {BundleError} `malformed` (the bundle); {AccessEvidenceError} `malformed`,
 *   `evidence_mismatch` (the evidence): the CLI exits 2 there.
 * @example
 * const { report, scope } = verifyAccessDocuments(JSON.parse(bundleText), JSON.parse(evidenceText));
 */
export function verifyAccessDocuments(bundleJson: unknown, evidenceJson: unknown): AccessPageResult {
  const bundle = parseAccessBundle(bundleJson);
  const evidence = parseAccessEvidence(evidenceJson);
  const started = performance.now();
  const report = verifyAccessEvidence(bundle, evidence, { source: 'file' });
  return {
    kind: 'access',
    report,
    scope: accessScopeLine(bundle, report),
    verifyMs: Math.round(performance.now() - started),
  };
}
