/**
 * @module verify/scope
 * What a bundle's verification covered, in one line an auditor can sign under (the first
 * line of `vitaltrail verify`'s human report, and the auditor page's `#scope`): the log, the
 * chain and contract, the checkpoints' tree sizes and anchoring blocks, the devices and the
 * device-clock time range of the valid readings. Pure; values come from the bundle (the
 * verdict says whether they verify) and from the report's valid entries.
 */
import type { DisclosureBundle } from './bundle.js';
import type { BundleReport } from './verify.js';

/** `lo-hi` of a list of numbers, `lo` when all are equal, `none` when empty. */
function span(xs: readonly number[]): string {
  if (xs.length === 0) return 'none';
  const lo = xs.reduce((a, x) => Math.min(a, x));
  const hi = xs.reduce((a, x) => Math.max(a, x));
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
}

/**
 * The scope line of one verified bundle.
 * @example
 * console.log(scopeLine(bundle, verifyBundle(bundle, anchors)));
 * // verified: log gw.example/log (0x…) on chain 31337, contract 0x…; checkpoints of tree size 4-16 …
 */
export function scopeLine(b: DisclosureBundle, r: Pick<BundleReport, 'entries'>): string {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const e of r.entries) {
    if (e.code !== 'valid' || e.ts === undefined) continue;
    from = Math.min(from, e.ts);
    to = Math.max(to, e.ts);
  }
  const devices = [...new Set(b.devices.map((d) => d.dev))].sort();
  const shown = devices.length > 5 ? `${devices.slice(0, 5).join(', ')}, …` : devices.join(', ');
  const readings =
    from <= to
      ? `readings of ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`
      : 'no valid reading';
  return (
    `verified: log ${b.log.origin} (${b.log.logId}) on chain ${b.chain.chainId}, contract ${b.chain.contract}; ` +
    `checkpoints of tree size ${span(b.checkpoints.map((c) => c.treeSize))} anchored in block(s) ` +
    `${span(b.checkpoints.map((c) => c.blockNumber))}; ${devices.length} device(s) (${shown}); ${readings}`
  );
}
