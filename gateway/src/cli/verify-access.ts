/**
 * @module cli/verify-access
 * `vitaltrail verify-access` (issue 18: "the auditor's check … reports for every access whether
 * a consent valid at that block covered it, or a break-glass reason stands; exit codes as
 * `verify`"; README "Verifying an access bundle: `vitaltrail verify-access`"). It reads an
 * access-log bundle (anchor/src/verify-access/bundle) under the input cap of `verify` and its
 * chain evidence: live from `--rpc` (anchor/src/verify-access `fetchAccessEvidence`: the
 * anchors of its log, or those of a saved `--anchors` file of `verify-anchors-fetch`, and the
 * grant of every consent it cites from the consent contract `--consent`), or offline from a
 * saved `--evidence` file of `verify-access-fetch` (`vitaltrail-access-evidence/1`, no network).
 * Both run the one pure path, `verifyAccessEvidence` (the evidence bound to the bundle, then
 * `verifyAccessBundle` with `consentCoverage`), so they give the same report.
 *
 * The consent contract must belong to the same consortium as the anchors contract: a
 * VitalTrailConsent contract (its ERC-5267 EIP-712 domain) of the same chain whose
 * `registry()` is the one the anchors contract names (`evidence_mismatch` otherwise, checked
 * when the evidence is fetched), so a bundle cannot be checked against a contract its gateway
 * controls. Exit codes (`VERIFY_ACCESS_EXIT`): 0 VALID, 1 INVALID, 2 could not run (bad usage,
 * an unreadable, malformed or oversized input, evidence of another chain, log or bundle, the
 * chain unreachable), as `verify`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { Hex } from '../../../anchor/src/ledger/index.js';
import { type ChainEvidence, parseChainEvidence } from '../../../anchor/src/verify/index.js';
import {
  type AccessBundle,
  type AccessEvidence,
  type AccessEvidenceReport,
  accessScopeLine,
  fetchAccessEvidence,
  parseAccessBundle,
  parseAccessEvidence,
  verifyAccessEvidence,
} from '../../../anchor/src/verify-access/index.js';
import { CliError, UsageError } from './errors.js';
import { DEFAULT_MAX_INPUT_MIB, maxInputOption, readJsonCapped } from './verify.js';

/** Exit codes of `vitaltrail verify-access` by verdict (2: it could not run, thrown). */
export const VERIFY_ACCESS_EXIT = { VALID: 0, INVALID: 1 } as const;

const isoTime = (ms: number): string => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};

/** The human report: what was verified, every failing checkpoint, link, problem, entry and gap, the verdict. */
export function formatAccessReport(bundle: AccessBundle, r: AccessEvidenceReport): string {
  const lines = [accessScopeLine(bundle, r)];
  for (const c of r.checkpoints)
    if (c.code !== 'valid')
      lines.push(`FAIL checkpoint ${c.treeSize}: ${c.code}${c.reason ? ` - ${c.reason}` : ''}`);
  for (const l of r.links)
    if (l.code !== 'valid') lines.push(`FAIL consistency ${l.from} -> ${l.to}: ${l.code} - ${l.reason}`);
  for (const problem of r.problems) lines.push(`FAIL bundle: ${problem}`);
  for (const e of r.entries) {
    if (e.code === 'valid' || e.code === 'withheld') continue;
    const what = e.entry
      ? `, ${isoTime(e.entry.at)} ${e.entry.action} by ${e.entry.role} under ${e.entry.basis.type}`
      : '';
    lines.push(
      `FAIL entry ${e.index} (leaf ${e.leafIndex ?? '?'}${what}): ${e.code}${e.reason ? ` - ${e.reason}` : ''}`,
    );
  }
  for (const g of r.gaps)
    lines.push(
      `FAIL leaves ${g.from}-${g.to}: ${g.code} - no entry, full or withheld, for these leaf indices`,
    );
  const counts = Object.entries(r.counts)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  lines.push(`${r.entries.length} entries (${counts || 'none'}); verdict: ${r.verdict}`);
  return `${lines.join('\n')}\n`;
}

export interface VerifyAccessCliParameters {
  file: string;
  rpcUrl?: string;
  anchorsFile?: string;
  /** A saved `vitaltrail-access-evidence/1` file (`verify-access-fetch`): offline, no network. */
  evidenceFile?: string;
  /** The consent contract the auditor trusts (the deployment's `consent`); needed live, checked against the evidence offline. */
  consent?: Hex;
  /** Accepted for compatibility: the cited grants are read by id, from no particular block. */
  consentFromBlock?: number;
  /** The access log's vkey the auditor pins (default: the bundle's, reported not pinned). */
  vkey?: string;
  json: boolean;
  /** Cap on each input file in MiB (default `DEFAULT_MAX_INPUT_MIB`, 256). */
  maxInputMiB?: number;
}

/** A saved `vitaltrail-anchors/1` file must hold anchors of the bundle's log: `evidence_mismatch`. */
function anchorsOfLog(ev: ChainEvidence, b: AccessBundle): ChainEvidence {
  if (!ev.anchors.some((a) => a.logId.toLowerCase() === b.log.logId.toLowerCase()))
    throw new CliError(
      'evidence_mismatch',
      "the chain evidence holds no anchor of the bundle's access log (verify-anchors-fetch --log-id <bundle log.logId>)",
    );
  return ev;
}

/**
 * The access evidence of `bundle`, read live (`--rpc`, with `--anchors` for saved anchors).
 * @throws {UsageError|VitalTrailError} as `runVerifyAccess`.
 */
export async function liveAccessEvidence(
  bundle: AccessBundle,
  p: { rpcUrl: string; consent: Hex; anchorsFile?: string; maxBytes: number },
): Promise<AccessEvidence> {
  const anchors =
    p.anchorsFile === undefined
      ? undefined
      : anchorsOfLog(parseChainEvidence(readJsonCapped(p.anchorsFile, p.maxBytes)), bundle);
  return fetchAccessEvidence({
    rpcUrl: p.rpcUrl,
    bundle,
    consent: p.consent,
    ...(anchors ? { anchors } : {}),
  });
}

/**
 * Runs `vitaltrail verify-access`; returns the exit code (`VERIFY_ACCESS_EXIT`).
 * @throws {UsageError|VitalTrailError} when it cannot run (exit 2).
 * @example
 * process.exitCode = await runVerifyAccess({ file: 'access.json', evidenceFile: 'access-evidence.json', json: false });
 */
export async function runVerifyAccess(p: VerifyAccessCliParameters): Promise<number> {
  if (p.evidenceFile !== undefined && (p.rpcUrl !== undefined || p.anchorsFile !== undefined))
    throw new UsageError('give --evidence FILE (offline) or --rpc URL (live), not both');
  if (p.evidenceFile === undefined && p.rpcUrl === undefined)
    throw new UsageError(
      'give --rpc URL (the consents and anchors read live) or --evidence FILE (saved by verify-access-fetch)',
    );
  if (p.evidenceFile === undefined && p.consent === undefined)
    throw new UsageError(
      "give --consent ADDRESS (the deployment's consent contract) to read the grants live",
    );
  const maxBytes = (p.maxInputMiB ?? DEFAULT_MAX_INPUT_MIB) * 1024 * 1024;
  const bundle = parseAccessBundle(readJsonCapped(p.file, maxBytes));
  const evidence =
    p.evidenceFile !== undefined
      ? parseAccessEvidence(readJsonCapped(p.evidenceFile, maxBytes))
      : await liveAccessEvidence(bundle, {
          rpcUrl: p.rpcUrl!,
          consent: p.consent!,
          maxBytes,
          ...(p.anchorsFile !== undefined ? { anchorsFile: p.anchorsFile } : {}),
        });
  const report = verifyAccessEvidence(bundle, evidence, {
    ...(p.vkey !== undefined ? { vkey: p.vkey } : {}),
    ...(p.consent !== undefined ? { consent: p.consent } : {}),
    source: p.evidenceFile !== undefined ? 'file' : 'rpc',
  });
  process.stdout.write(p.json ? `${JSON.stringify(report, null, 2)}\n` : formatAccessReport(bundle, report));
  return VERIFY_ACCESS_EXIT[report.verdict];
}

/** Commander's parser of `--consent`. */
export const address = (value: string): Hex => {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value))
    throw new InvalidArgumentError('--consent must be an address (0x + 40 hex)');
  return value as Hex;
};

/**
 * Adds `verify-access` to the program.
 * @example
 * registerVerifyAccessCommand(program);
 */
export function registerVerifyAccessCommand(program: Command): void {
  program
    .command('verify-access')
    .description(
      'check an access-log bundle (issue 18): every entry proven in the anchored access log, no index missing, and ' +
        'every access under a consent covered by a grant on chain in force at its time (patient, doctor, window, ' +
        'revocation, scope, data range). Exit 0 VALID, 1 INVALID, 2 could not run',
    )
    .argument('<bundle>', 'access bundle JSON file (`vitaltrail export-access`)')
    .option(
      '--rpc <url>',
      'JSON-RPC URL of the consortium chain (the consents, and the anchors unless --anchors)',
    )
    .option(
      '--anchors <file>',
      'saved chain evidence from `vitaltrail verify-anchors-fetch` (the anchors only; the consents still from --rpc)',
    )
    .option(
      '--evidence <file>',
      'saved access evidence from `vitaltrail verify-access-fetch` (anchors and cited grants): offline, no --rpc',
    )
    .option(
      '--consent <address>',
      "the consent contract (the deployment's `consent`): required with --rpc; with --evidence, the file must be of it",
      address,
    )
    .option(
      '--consent-from-block <n>',
      'accepted for compatibility (the grants the bundle cites are read by id)',
      (v: string) => {
        if (!/^[0-9]{1,15}$/.test(v))
          throw new InvalidArgumentError('--consent-from-block must be a block number');
        return Number(v);
      },
    )
    .option('--vkey <vkey>', "the access log's verifier key (default: the bundle's own, reported not pinned)")
    .option('--json', 'print the report as JSON')
    .option(...maxInputOption())
    .action(async (file: string, o) => {
      process.exitCode = await runVerifyAccess({
        file,
        rpcUrl: o.rpc,
        anchorsFile: o.anchors,
        evidenceFile: o.evidence,
        consent: o.consent,
        ...(o.consentFromBlock !== undefined ? { consentFromBlock: o.consentFromBlock } : {}),
        ...(o.vkey !== undefined ? { vkey: o.vkey } : {}),
        json: Boolean(o.json),
        maxInputMiB: o.maxInputMib,
      });
    });
}
