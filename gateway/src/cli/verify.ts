/**
 * @module cli/verify
 * `vitaltrail verify`: the auditor's command. It reads a disclosure bundle, fetches
 * nothing but the `Anchored` events of the bundle's log from the chain (PROTOCOL.md §5),
 * and hands both to the offline verifier library (anchor/src/verify), which trusts
 * nothing in the bundle. Exit 0 when every entry and checkpoint verifies, 1 when any
 * does not, 2 when verification could not run.
 */
import { readFileSync } from 'node:fs';
import type { Hex } from '../../../anchor/src/ledger/types.js';
import { createReadClient, fetchAnchors } from '../../../anchor/src/ledger/viem.js';
import { parseBundle } from '../../../anchor/src/verify/bundle.js';
import { type BundleReport, verifyBundle } from '../../../anchor/src/verify/verify.js';
import { UsageError } from './errors.js';

export function formatReport(report: BundleReport): string {
  const lines: string[] = [];
  for (const c of report.checkpoints) {
    lines.push(`checkpoint ${c.treeSize}: ${c.code}${c.reason ? ` (${c.reason})` : ''}`);
  }
  for (const e of report.entries) {
    const who = e.dev !== undefined ? `${e.dev} seq ${e.seq}` : 'unparsed frame';
    const mark = e.code === 'valid' ? 'ok  ' : 'FAIL';
    lines.push(
      `${mark} entry ${e.index} (leaf ${e.leafIndex}, ${who}): ${e.code}${e.reason ? ` - ${e.reason}` : ''}`,
    );
  }
  const s = report.summary;
  const byCode = Object.entries(s.byCode)
    .filter(([c]) => c !== 'valid')
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  lines.push(
    `${s.valid}/${s.total} entries valid${s.invalid > 0 ? `; ${s.invalid} invalid (${byCode})` : ''}; ` +
      `verdict: ${report.ok ? 'VALID' : 'INVALID'}`,
  );
  return `${lines.join('\n')}\n`;
}

export async function runVerify(p: { file: string; rpcUrl: string; json: boolean }): Promise<number> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p.file, 'utf8'));
  } catch {
    throw new UsageError(`cannot read ${p.file} as JSON`);
  }
  const bundle = parseBundle(raw);
  const chainId = await createReadClient(p.rpcUrl).getChainId();
  if (chainId !== bundle.chain.chainId) {
    throw new UsageError(
      `the RPC endpoint serves chain ${chainId}, the bundle names chain ${bundle.chain.chainId}`,
    );
  }
  const anchors = await fetchAnchors({
    rpcUrl: p.rpcUrl,
    deployment: { anchors: bundle.chain.contract as Hex, deployBlock: 0 },
    logId: bundle.log.logId as Hex,
  });
  const report = verifyBundle(bundle, anchors);
  process.stdout.write(p.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.ok ? 0 : 1;
}
