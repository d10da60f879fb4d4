/**
 * @module verify-access/with-evidence
 * An access-log bundle checked against its chain evidence (issue 18; README "Offline: the
 * access evidence file"): the one path of `vitaltrail verify-access`, live (the evidence just
 * fetched, `evidence.ts`) or offline (`--evidence FILE`), and of the auditor page, so all
 * three give the same report. Pure, no I/O.
 *
 * Binding (`bindAccessEvidence`, `evidence_mismatch` otherwise): the evidence is of the
 * bundle's chain id, anchors contract and access log; of the consent contract the auditor
 * pinned, when they did (the fetcher checked that it is a consent contract of the anchors
 * contract's registry); and it accounts for every consent the bundle's entries cite on this
 * chain (in `consents` or `absent`): evidence fetched for another bundle is refused, not read
 * as "no such grant".
 *
 * `accessScopeLine` is the first line of the CLI's human report ("what was verified"), shown
 * by the page too.
 */
import type { Hex } from '../ledger/index.js';
import type { AccessBundle } from './bundle.js';
import { consentCoverage } from './consent.js';
import { decodeAccessEntry } from './entry.js';
import { type AccessEvidence, AccessEvidenceError } from './evidence-format.js';
import { type AccessReport, verifyAccessBundle } from './verify.js';

/** The report of `verify-access --json`: the verifier's, and what it was checked against. */
export interface AccessEvidenceReport extends AccessReport {
  /** The consent contract the grants are of. */
  consentContract: Hex;
  /** Grants on chain among the consents the bundle cites. */
  grants: number;
  /** Consents the bundle cites on this chain that the contract does not hold. */
  absent: number;
  evidence: { source: 'rpc' | 'file'; head: number; fetchedAt: string };
}

/**
 * The distinct consent ids (lowercase) the bundle's disclosed entries cite on chain `chainId`:
 * what the evidence must account for. Entries that do not decode are skipped (the verifier
 * reports them `malformed`).
 * @example
 * const ids = citedConsentIds(bundle, bundle.chain.chainId);
 */
export function citedConsentIds(bundle: AccessBundle, chainId: number): Hex[] {
  const ids = new Set<Hex>();
  for (const item of bundle.entries) {
    if (!('entry' in item)) continue;
    const d = decodeAccessEntry(item.entry);
    if ('entry' in d && d.entry.basis.type === 'consent' && d.entry.basis.chainId === chainId)
      ids.add(d.entry.basis.consentId.toLowerCase() as Hex);
  }
  return [...ids];
}

const mismatch = (reason: string) => new AccessEvidenceError('evidence_mismatch', reason);

/**
 * Refuses evidence that is not this bundle's (module doc).
 * @param consent - the consent contract the auditor pins (`--consent`), if any.
 * @throws {AccessEvidenceError} `evidence_mismatch`.
 * @example
 * bindAccessEvidence(bundle, parseAccessEvidence(json), '0x…');
 */
export function bindAccessEvidence(bundle: AccessBundle, ev: AccessEvidence, consent?: Hex): void {
  if (ev.chainId !== bundle.chain.chainId)
    throw mismatch(`the evidence is of chain ${ev.chainId}, the bundle names chain ${bundle.chain.chainId}`);
  if (ev.contract.toLowerCase() !== bundle.chain.contract.toLowerCase())
    throw mismatch('the evidence is of another anchors contract than the bundle names');
  if (ev.logId.toLowerCase() !== bundle.log.logId.toLowerCase())
    throw mismatch("the evidence is of another log than the bundle's access log");
  if (consent !== undefined && ev.consent.toLowerCase() !== consent.toLowerCase())
    throw mismatch('the evidence is of another consent contract than --consent');
  const held = new Set([...ev.consents.map((c) => c.id.toLowerCase()), ...ev.absent]);
  if (citedConsentIds(bundle, ev.chainId).some((id) => !held.has(id)))
    throw mismatch(
      'the evidence does not account for every consent the bundle cites (fetched for another bundle?)',
    );
}

/**
 * Binds the evidence to the bundle, then verifies: `verifyAccessBundle` over the evidence's
 * anchors with `consentCoverage` over its grants.
 * @throws {AccessEvidenceError} `evidence_mismatch` (bindAccessEvidence).
 * @example
 * const report = verifyAccessEvidence(bundle, ev, { vkey, source: 'file' });
 */
export function verifyAccessEvidence(
  bundle: AccessBundle,
  ev: AccessEvidence,
  opts: { vkey?: string; consent?: Hex; source: 'rpc' | 'file' },
): AccessEvidenceReport {
  bindAccessEvidence(bundle, ev, opts.consent);
  const report = verifyAccessBundle(bundle, ev.anchors, {
    ...(opts.vkey !== undefined ? { vkey: opts.vkey } : {}),
    consentCheck: consentCoverage(ev.consents, ev.chainId),
  });
  return {
    ...report,
    consentContract: ev.consent,
    grants: ev.consents.length,
    absent: ev.absent.length,
    evidence: { source: opts.source, head: ev.head, fetchedAt: ev.fetchedAt },
  };
}

/**
 * What was verified: the first line of `vitaltrail verify-access` (and the page's).
 * @example
 * accessScopeLine(bundle, report); // "verified: access log vitaltrail/gw-1/access (0x…) on chain 31337, …"
 */
export function accessScopeLine(bundle: AccessBundle, r: AccessEvidenceReport): string {
  const blocks = bundle.checkpoints.map((c) => c.blockNumber);
  const cited = r.grants + r.absent;
  return (
    `verified: access log ${bundle.log.origin} (${bundle.log.logId}) on chain ${bundle.chain.chainId}, anchors contract ` +
    `${bundle.chain.contract}, consent contract ${r.consentContract} (${r.grants} of ${cited} cited consent(s) on chain); ` +
    `checkpoints of tree size ${bundle.checkpoints.map((c) => c.treeSize).join(', ') || 'none'}` +
    `${blocks.length > 0 ? ` anchored in block(s) ${Math.min(...blocks)}-${Math.max(...blocks)}` : ''}; ` +
    `leaves ${bundle.scope.fromIndex}-${bundle.scope.toIndex - 1}` +
    `${r.coversWholeLog ? ' (the whole anchored log)' : ''}; ` +
    `${r.vkeyPinned ? 'vkey pinned' : "vkey NOT pinned (the bundle's own)"}`
  );
}
