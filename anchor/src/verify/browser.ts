/**
 * @module verify/browser
 * Entry point of the auditor page's verifier bundle (issue 6 "an auditor page";
 * PROTOCOL.md §5). It exposes the SAME parser and verifier the CLI runs
 * (`parseBundle`, `parseChainEvidence`, `verifyBundle`) on `globalThis.VitalTrailVerifier`;
 * `build-browser.ts` bundles it with `node:crypto` aliased to `browser-crypto.ts`.
 *
 * Trust: both documents are attacker-controlled (the page reads them from files the
 * auditor picks); failures become a thrown `BundleError` (cannot run) or per-entry codes.
 */
import { decodeFrame, OBSERVATIONS, type ObservationKey } from '../../../gateway/src/protocol/frame.js';
import { BundleError, type DisclosureEntry, parseBundle } from './bundle.js';
import { type ChainEvidence, parseChainEvidence } from './evidence-format.js';
import { type BundleReport, ENTRY_CODES, verifyBundle } from './verify.js';

/** One reading of an entry, for the page's chart (device clock, scaled value). */
export interface EntryReading {
  index: number;
  dev: string;
  ts: number;
  obs: Partial<Record<ObservationKey, number>>;
}

/** The report as `vitaltrail verify --anchors FILE --json` prints it, and the readings to chart. */
export interface PageResult {
  report: BundleReport & { evidence: { source: 'file'; head: number; fetchedAt: string } };
  readings: EntryReading[];
}

/** The CLI's rule: the evidence must be of the bundle's chain and anchors contract. */
function sameChain(ev: ChainEvidence, chainId: number, contract: string): void {
  if (ev.chainId !== chainId) throw new BundleError('malformed', 'the chain evidence is of another chain');
  if (ev.contract.toLowerCase() !== contract.toLowerCase()) {
    throw new BundleError('malformed', 'the chain evidence is of another anchors contract');
  }
}

/** Readings of the entries whose frame decodes (whatever their verdict: the page colours them). */
function readingsOf(entries: readonly DisclosureEntry[]): EntryReading[] {
  const out: EntryReading[] = [];
  entries.forEach((e, index) => {
    if (e.shredded === true || typeof e.frame !== 'string') return;
    try {
      const f = decodeFrame(new Uint8Array(Buffer.from(e.frame, 'base64')));
      const obs: EntryReading['obs'] = {};
      for (const [k, v] of Object.entries(f.body.obs ?? {})) {
        const def = OBSERVATIONS[k as ObservationKey];
        if (def && typeof v === 'number') obs[k as ObservationKey] = v * def.scale;
      }
      out.push({ index, dev: f.body.dev, ts: f.body.ts, obs });
    } catch {
      // not decodable: its entry is reported malformed; nothing to chart
    }
  });
  return out;
}

/**
 * Parses and verifies a bundle against a saved evidence file, as `vitaltrail verify
 * BUNDLE --anchors FILE --json` does.
 * @throws {BundleError} `malformed` when either document is not of its format, or the
 *   evidence is of another chain or contract (the CLI exits 2 there).
 * @example
 * const { report } = VitalTrailVerifier.verifyDocuments(JSON.parse(b), JSON.parse(a));
 */
export function verifyDocuments(bundleJson: unknown, evidenceJson: unknown): PageResult {
  const bundle = parseBundle(bundleJson);
  const evidence = parseChainEvidence(evidenceJson);
  sameChain(evidence, bundle.chain.chainId, bundle.chain.contract);
  const report = verifyBundle(bundle, evidence.anchors, { registry: evidence.registryEvents });
  return {
    report: { ...report, evidence: { source: 'file', head: evidence.head, fetchedAt: evidence.fetchedAt } },
    readings: readingsOf(bundle.entries),
  };
}

(globalThis as Record<string, unknown>).VitalTrailVerifier = Object.freeze({
  verifyDocuments,
  ENTRY_CODES,
});
