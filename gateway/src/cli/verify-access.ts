/**
 * @module cli/verify-access
 * `vitaltrail verify-access` (issue 18: "the auditor's check … reports for every access whether
 * a consent valid at that block covered it, or a break-glass reason stands; exit codes as
 * `verify`"; README "Verifying an access bundle: `vitaltrail verify-access`"). It reads an
 * access-log bundle (anchor/src/verify-access/bundle) under the input cap of `verify`, the
 * chain evidence of its logId (live from `--rpc` with anchor/src/verify `fetchChainEvidence`,
 * or a saved `--anchors` file of `verify-anchors-fetch`), and every grant of the consent
 * contract the auditor names (`--consent`, read live with anchor/src/consent `readConsents`:
 * the saved evidence format holds no consent events, so `--anchors` needs `--rpc` for them),
 * then runs `verifyAccessBundle` with `consentCoverage` as its consent hook.
 *
 * The consent contract must belong to the same consortium as the anchors contract: a
 * VitalTrailConsent contract (its ERC-5267 EIP-712 domain) of the same chain whose
 * `registry()` is the one the anchors contract names (`evidence_mismatch` otherwise), so a
 * bundle cannot be checked against a contract its gateway controls. Exit codes (`VERIFY_ACCESS_EXIT`): 0 VALID, 1 INVALID, 2 could not run
 * (bad usage, an unreadable or oversized input, evidence of another chain or log, the chain
 * unreachable), as `verify`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { CONSENT_DOMAIN_NAME, readConsents } from '../../../anchor/src/consent/index.js';
import { CONSENT_ABI } from '../../../anchor/src/contracts/index.js';
import { createReadClient, type Hex, toLedgerError } from '../../../anchor/src/ledger/index.js';
import {
  type ChainEvidence,
  fetchChainEvidence,
  parseChainEvidence,
} from '../../../anchor/src/verify/index.js';
import {
  type AccessBundle,
  type AccessReport,
  consentCoverage,
  parseAccessBundle,
  verifyAccessBundle,
} from '../../../anchor/src/verify-access/index.js';
import { CliError, UsageError } from './errors.js';
import { DEFAULT_MAX_INPUT_MIB, readJsonCapped } from './verify.js';

/** Exit codes of `vitaltrail verify-access` by verdict (2: it could not run, thrown). */
export const VERIFY_ACCESS_EXIT = { VALID: 0, INVALID: 1 } as const;

const isoTime = (ms: number): string => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};

/** The human report: what was verified, every failing checkpoint, link, problem, entry and gap, the verdict. */
export function formatAccessReport(
  bundle: AccessBundle,
  r: AccessReport,
  p: { consentContract: Hex; grants: number; chainId: number },
): string {
  const blocks = bundle.checkpoints.map((c) => c.blockNumber);
  const lines = [
    `verified: access log ${bundle.log.origin} (${bundle.log.logId}) on chain ${p.chainId}, anchors contract ` +
      `${bundle.chain.contract}, consent contract ${p.consentContract} (${p.grants} grant(s)); checkpoints of tree size ` +
      `${bundle.checkpoints.map((c) => c.treeSize).join(', ') || 'none'}` +
      `${blocks.length > 0 ? ` anchored in block(s) ${Math.min(...blocks)}-${Math.max(...blocks)}` : ''}; ` +
      `leaves ${bundle.scope.fromIndex}-${bundle.scope.toIndex - 1}` +
      `${r.coversWholeLog ? ' (the whole anchored log)' : ''}; ` +
      `${r.vkeyPinned ? 'vkey pinned' : "vkey NOT pinned (the bundle's own)"}`,
  ];
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
  /** The consent contract the auditor trusts (the deployment's `consent`). */
  consent: Hex;
  /** The block to read grants from (the deployment's `consentDeployBlock`; default 0). */
  consentFromBlock?: number;
  /** The access log's vkey the auditor pins (default: the bundle's, reported not pinned). */
  vkey?: string;
  json: boolean;
  /** Cap on each input file in MiB (default `DEFAULT_MAX_INPUT_MIB`, 256). */
  maxInputMiB?: number;
}

/** Evidence of another chain, contract or log than the bundle's: `evidence_mismatch`. */
function sameChain(ev: ChainEvidence, b: AccessBundle, fromFile: boolean): void {
  if (ev.chainId !== b.chain.chainId)
    throw new CliError(
      'evidence_mismatch',
      `the chain evidence is of chain ${ev.chainId}, the bundle names chain ${b.chain.chainId}`,
    );
  if (ev.contract.toLowerCase() !== b.chain.contract.toLowerCase())
    throw new CliError(
      'evidence_mismatch',
      'the chain evidence is of another anchors contract than the bundle names',
    );
  if (fromFile && !ev.anchors.some((a) => a.logId.toLowerCase() === b.log.logId.toLowerCase()))
    throw new CliError(
      'evidence_mismatch',
      "the chain evidence holds no anchor of the bundle's access log (verify-anchors-fetch --log-id <bundle log.logId>)",
    );
}

/**
 * The `--consent` address must hold a VitalTrailConsent contract of this chain (its ERC-5267
 * EIP-712 domain) whose `registry()` is the anchors contract's: else `evidence_mismatch`.
 * @throws {CliError|LedgerError} `evidence_mismatch` (also for an address without a contract), `ledger_unavailable`.
 */
async function checkConsentContract(
  reader: ReturnType<typeof createReadClient>,
  consent: Hex,
  chainId: number,
  registry: Hex,
): Promise<void> {
  const notConsent = new CliError(
    'evidence_mismatch',
    "the --consent address holds no VitalTrailConsent contract of the bundle's registry on this chain",
  );
  let domain: readonly unknown[];
  let itsRegistry: Hex;
  try {
    domain = (await reader.readContract({
      address: consent,
      abi: CONSENT_ABI,
      functionName: 'eip712Domain',
    })) as readonly unknown[];
    itsRegistry = (await reader.readContract({
      address: consent,
      abi: CONSENT_ABI,
      functionName: 'registry',
    })) as Hex;
  } catch (err) {
    const e = toLedgerError(
      err,
      `reading the consent contract from ${reader.transport.url ?? 'the RPC endpoint'}`,
      'ledger_unavailable',
    );
    if (e.code === 'ledger_unavailable') throw e;
    throw notConsent; // another contract (no such function), or none at the address
  }
  const [, name, , domainChainId, verifyingContract] = domain;
  if (
    name !== CONSENT_DOMAIN_NAME ||
    domainChainId !== BigInt(chainId) ||
    typeof verifyingContract !== 'string' ||
    verifyingContract.toLowerCase() !== consent.toLowerCase() ||
    itsRegistry.toLowerCase() !== registry.toLowerCase()
  )
    throw notConsent;
}

/**
 * Runs `vitaltrail verify-access`; returns the exit code (`VERIFY_ACCESS_EXIT`).
 * @throws {UsageError|VitalTrailError} when it cannot run (exit 2).
 * @example
 * process.exitCode = await runVerifyAccess({ file: 'access.json', rpcUrl, consent, json: false });
 */
export async function runVerifyAccess(p: VerifyAccessCliParameters): Promise<number> {
  if (p.rpcUrl === undefined)
    throw new UsageError(
      'give --rpc URL: the consents are read live (the saved --anchors evidence holds no consent events)',
    );
  const maxBytes = (p.maxInputMiB ?? DEFAULT_MAX_INPUT_MIB) * 1024 * 1024;
  const bundle = parseAccessBundle(readJsonCapped(p.file, maxBytes));
  const fromFile = p.anchorsFile !== undefined;
  const rpcUrl = p.rpcUrl;
  let evidence: ChainEvidence;
  if (fromFile) evidence = parseChainEvidence(readJsonCapped(p.anchorsFile!, maxBytes));
  else {
    try {
      evidence = await fetchChainEvidence({
        rpcUrl,
        contract: bundle.chain.contract,
        logIds: [bundle.log.logId],
      });
    } catch (err) {
      throw toLedgerError(err, `reading the chain evidence from ${rpcUrl}`, 'ledger_unavailable');
    }
  }
  sameChain(evidence, bundle, fromFile);

  const reader = createReadClient(rpcUrl);
  let chainId: number;
  try {
    chainId = await reader.getChainId();
  } catch (err) {
    throw toLedgerError(err, `reading the chain id from ${rpcUrl}`, 'ledger_unavailable');
  }
  if (chainId !== evidence.chainId)
    throw new CliError(
      'evidence_mismatch',
      `--rpc is chain ${chainId}, the chain evidence chain ${evidence.chainId}`,
    );
  await checkConsentContract(reader, p.consent, chainId, evidence.registry);
  const consents = await readConsents(reader, p.consent, p.consentFromBlock ?? 0, {});

  const report = verifyAccessBundle(bundle, evidence.anchors, {
    ...(p.vkey !== undefined ? { vkey: p.vkey } : {}),
    consentCheck: consentCoverage(consents, evidence.chainId),
  });
  const source = { source: fromFile ? 'file' : 'rpc', head: evidence.head, fetchedAt: evidence.fetchedAt };
  process.stdout.write(
    p.json
      ? `${JSON.stringify({ ...report, consentContract: p.consent, grants: consents.length, evidence: source }, null, 2)}\n`
      : formatAccessReport(bundle, report, { consentContract: p.consent, grants: consents.length, chainId }),
  );
  return VERIFY_ACCESS_EXIT[report.verdict];
}

const address = (value: string): Hex => {
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
      'saved chain evidence from `vitaltrail verify-anchors-fetch` (the anchors only)',
    )
    .requiredOption('--consent <address>', "the consent contract (the deployment's `consent`)", address)
    .option(
      '--consent-from-block <n>',
      "read grants from this block (the deployment's `consentDeployBlock`; default 0)",
      (v: string) => {
        if (!/^[0-9]{1,15}$/.test(v))
          throw new InvalidArgumentError('--consent-from-block must be a block number');
        return Number(v);
      },
    )
    .option('--vkey <vkey>', "the access log's verifier key (default: the bundle's own, reported not pinned)")
    .option('--json', 'print the report as JSON')
    .option(
      '--max-input-mib <n>',
      `refuse an input file larger than this, before reading it (default ${DEFAULT_MAX_INPUT_MIB})`,
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0 || n > 1_048_576)
          throw new InvalidArgumentError('--max-input-mib must be a number above 0, at most 1048576');
        return n;
      },
      DEFAULT_MAX_INPUT_MIB,
    )
    .action(async (file: string, o) => {
      process.exitCode = await runVerifyAccess({
        file,
        rpcUrl: o.rpc,
        anchorsFile: o.anchors,
        consent: o.consent,
        ...(o.consentFromBlock !== undefined ? { consentFromBlock: o.consentFromBlock } : {}),
        ...(o.vkey !== undefined ? { vkey: o.vkey } : {}),
        json: Boolean(o.json),
        maxInputMiB: o.maxInputMib,
      });
    });
}
