/**
 * @module cli/verify
 * `vitaltrail verify`: the auditor's command. It reads one or more disclosure bundles,
 * takes the chain evidence (the `Anchored` events of each bundle's log and the registry's
 * device events, PROTOCOL.md §4) either live from `--rpc` or from a saved `--anchors` file,
 * and hands both to the offline verifier library (anchor/src/verify), which trusts nothing
 * in the bundle. Exit codes (`VERIFY_EXIT`): 0 VALID (every entry, checkpoint and
 * consistency proof verifies and every device's chain in the range is complete, both ends
 * proven), 1 INVALID (something does not verify), 2 verification could not run,
 * 3 INCOMPLETE (nothing failed, but a device's chain has a gap or an unproven end);
 * `--allow-gaps` turns 3 into 0 for a deliberately partial disclosure, and the report says so.
 * `--quiet` prints nothing on stdout (the exit code is the verdict; errors still go to stderr).
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { Hex } from '../../../anchor/src/ledger/index.js';
import {
  analyseSequences,
  type BundleReport,
  type ChainEvidence,
  type DeviceRange,
  type DisclosureBundle,
  fetchChainEvidence,
  parseBundle,
  parseChainEvidence,
  type SequenceReport,
  type SequenceSide,
  scopeLine,
  sequenceInputs,
  type Verdict,
  verdictOf,
  verifyBundle,
} from '../../../anchor/src/verify/index.js';
import { CliError, UsageError } from './errors.js';

/** Exit codes of `vitaltrail verify` by verdict (2: it could not run, thrown as a CliError). */
export const VERIFY_EXIT = { VALID: 0, INVALID: 1, INCOMPLETE: 3 } as const satisfies Record<Verdict, number>;

/** The exit code of a verdict; INCOMPLETE is accepted (0) with `allowGaps`. */
export function verifyExitCode(verdict: Verdict, allowGaps = false): number {
  return verdict === 'INCOMPLETE' && allowGaps ? 0 : VERIFY_EXIT[verdict];
}

/** The verdict line's text: an INCOMPLETE accepted with --allow-gaps says so. */
function verdictText(verdict: Verdict, allowGaps: boolean): string {
  return verdict === 'INCOMPLETE' && allowGaps ? 'INCOMPLETE (accepted with --allow-gaps)' : verdict;
}

/** Bundles with at least this many entries get a progress bar (on a TTY). */
const PROGRESS_MIN_ENTRIES = 1000;

function formatGaps(seq: SequenceReport, file?: (bundle: number | undefined) => string): string[] {
  const lines: string[] = [];
  const where = (s: SequenceSide) =>
    `${file ? `${file(s.bundle)} ` : ''}entry ${s.index} (seq ${s.seq}, leaf ${s.leafIndex}, ${s.ts === undefined ? 'shredded' : `ts ${isoTime(s.ts)}`})`;
  for (const d of seq.devices) lines.push(formatRange(d, where));
  for (const g of seq.gaps) {
    const what =
      g.kind === 'missing'
        ? `seq ${g.fromSeq}${g.toSeq > g.fromSeq ? `-${g.toSeq}` : ''} missing`
        : `seq ${g.fromSeq} does not chain to the frame before (prev mismatch)`;
    lines.push(`gap  ${g.dev}: ${what} between ${where(g.before)} and ${where(g.after)}`);
  }
  for (const c of seq.conflicts) {
    lines.push(`CONFLICT ${c.dev} seq ${c.seq}: different frames in entries ${c.indexes.join(', ')}`);
  }
  if (seq.duplicates > 0)
    lines.push(
      `${seq.duplicates} duplicate entr${seq.duplicates === 1 ? 'y' : 'ies'} counted once: ${seq.distinct} distinct readings`,
    );
  return lines;
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** One device's range: its frames and how each end is proven. */
function formatRange(d: DeviceRange, where: (s: SequenceSide) => string): string {
  const span =
    d.first && d.last
      ? `${d.frames} frame${d.frames === 1 ? '' : 's'}, seq ${d.first.seq}-${d.last.seq}`
      : 'no frame in the range';
  const start =
    d.start === 'genesis'
      ? "start proven (seq 1, the device's first frame)"
      : d.start === 'proven'
        ? `start proven by boundary ${where(d.before!)}`
        : 'start OPEN (no boundary frame before the range: an earlier frame may be withheld)';
  const end =
    d.end === 'proven'
      ? `end proven by boundary ${where(d.after!)}`
      : 'end OPEN (no boundary frame after the range: a later frame may be withheld)';
  return `range ${d.dev}: ${span}; ${start}; ${end}`;
}

/**
 * The human report: checkpoints, every entry that is not valid (all entries with
 * `verbose`), sequence gaps, and the verdict line.
 */
export function formatReport(report: BundleReport, verbose = false, allowGaps = false): string {
  const lines: string[] = [];
  for (const c of report.checkpoints) {
    lines.push(`checkpoint ${c.treeSize}: ${c.code}${c.reason ? ` (${c.reason})` : ''}`);
  }
  for (const l of report.links) {
    if (l.code !== 'valid') lines.push(`FAIL consistency ${l.from} -> ${l.to}: ${l.code} - ${l.reason}`);
  }
  for (const p of report.problems) {
    lines.push(`FAIL bundle: ${p.kind}${p.index !== undefined ? ` at entry ${p.index}` : ''} - ${p.reason}`);
  }
  for (const r of report.shreddings) {
    const what =
      r.dev !== undefined && r.window && r.at !== undefined && r.retentionMs !== undefined
        ? `${r.dev} window ${isoTime(r.window.start)}..${isoTime(r.window.end)}, key destroyed ${isoTime(r.at)} ` +
          `under a ${+(r.retentionMs / 86_400_000).toFixed(3)}-day retention, ${r.frames} frame(s)`
        : 'unparsed record';
    lines.push(
      `${r.code === 'valid' ? 'ok  ' : 'FAIL'} shredding record ${r.index} (leaf ${r.leafIndex}, ${what}): ${r.code}` +
        `${r.reason ? ` - ${r.reason}` : ''}`,
    );
  }
  for (const e of report.entries) {
    if (e.code === 'valid' && !verbose) continue;
    const who =
      e.dev !== undefined
        ? `${e.dev} seq ${e.seq}${e.ts !== undefined ? `, ts ${isoTime(e.ts)}` : e.code === 'shredded' ? ', shredded' : ''}`
        : 'unparsed frame';
    const mark = e.code === 'valid' ? 'ok  ' : e.code === 'shredded' ? 'shrd' : 'FAIL';
    lines.push(
      `${mark} entry ${e.index} (leaf ${e.leafIndex}, ${who}): ${e.code}${e.reason ? ` - ${e.reason}` : ''}`,
    );
  }
  lines.push(...formatGaps(report.sequence));
  if (!report.registryChecked) lines.push('note: the device registry was not checked (no registry events)');
  if (report.entries.length > 0 && !report.entries.some((e) => e.boundary !== undefined)) {
    lines.push(
      "note: the bundle carries no boundary frames (an older export, or a range up to each device's latest " +
        'anchored frame): only a range starting at seq 1 has a proven start, and no end is proven',
    );
  }
  const s = report.summary;
  const byCode = Object.entries(s.byCode)
    .filter(([c]) => c !== 'valid' && c !== 'shredded')
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  lines.push(
    `${s.valid}/${s.total} entries valid${s.shredded > 0 ? `, ${s.shredded} shredded (leaf hash proven, listed by an anchored shredding record)` : ''}` +
      `${s.invalid > 0 ? `; ${s.invalid} invalid (${byCode})` : ''}` +
      `; ${report.sequence.gaps.length} gap(s), ${report.sequence.openEnds} open end(s)` +
      `; verdict: ${verdictText(report.verdict, allowGaps)}`,
  );
  return `${lines.join('\n')}\n`;
}

/** A one-line progress bar on stderr; only when stderr is a terminal. */
function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    process.stderr.write(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done === total ? '\n' : ''}`,
    );
  };
}

/** Default cap on one input file of `verify` (bundle or chain evidence): 256 MiB. */
export const DEFAULT_MAX_INPUT_MIB = 256;

/**
 * Reads a file of at most `maxBytes`, checked on the open descriptor before reading, so an
 * oversized (attacker-supplied) bundle is refused without being read into memory.
 * @throws {CliError} `input_too_large` over the cap; {UsageError} when it cannot be read.
 */
function readCapped(file: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) {
      throw new CliError(
        'input_too_large',
        `an input file is larger than the cap of ${maxBytes} bytes (raise it with --max-input-mib)`,
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * A JSON input file read with `readCapped` (also `verify-access`'s).
 * @throws {CliError} `input_too_large`; {UsageError} when it cannot be read or parsed.
 */
export function readJsonCapped(file: string, maxBytes: number): unknown {
  const text = readCapped(file, maxBytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`cannot read ${file} as JSON`);
  }
}

function sameChain(ev: ChainEvidence, b: DisclosureBundle, file: string, fromFile: boolean): void {
  if (ev.chainId !== b.chain.chainId) {
    throw new CliError(
      'evidence_mismatch',
      `the chain evidence is of chain ${ev.chainId}, ${file} names chain ${b.chain.chainId}`,
    );
  }
  if (ev.contract.toLowerCase() !== b.chain.contract.toLowerCase()) {
    throw new CliError(
      'evidence_mismatch',
      `the chain evidence is of another anchors contract than ${file} names`,
    );
  }
  // A saved evidence file holds the anchors of the logs it was fetched for; none of this
  // bundle's log means it was fetched for another (a live read finds what there is).
  const logId = b.log.logId.toLowerCase();
  if (fromFile && !ev.anchors.some((a) => a.logId.toLowerCase() === logId)) {
    throw new CliError(
      'evidence_mismatch',
      `the chain evidence holds no anchor of ${file}'s log ${b.log.logId} (fetched for another log? verify-anchors-fetch --log-id)`,
    );
  }
}

export interface VerifyCliParameters {
  files: string[];
  rpcUrl?: string;
  anchorsFile?: string;
  json: boolean;
  verbose?: boolean;
  /** Nothing on stdout and no progress bar: the exit code alone is the verdict (scripts). */
  quiet?: boolean;
  /** Cap on each input file in MiB (default `DEFAULT_MAX_INPUT_MIB`, 256). */
  maxInputMiB?: number;
  /** Accept INCOMPLETE (exit 0) for a deliberately partial disclosure; default false. */
  allowGaps?: boolean;
}

/**
 * Runs `vitaltrail verify`; returns the exit code (`VERIFY_EXIT`: 0 VALID, 1 INVALID,
 * 3 INCOMPLETE, or 0 for INCOMPLETE with `allowGaps`).
 * @throws {UsageError|VitalTrailError} when it cannot run (exit 2).
 * @example
 * process.exitCode = await runVerify({ files: ['bundle.json'], rpcUrl: 'http://127.0.0.1:8545', json: false });
 */
export async function runVerify(p: VerifyCliParameters): Promise<number> {
  if ((p.rpcUrl === undefined) === (p.anchorsFile === undefined)) {
    throw new UsageError('give exactly one of --rpc URL (live) or --anchors FILE (offline)');
  }
  if (p.files.length === 0) throw new UsageError('no bundle file given');
  if (p.quiet && (p.json || p.verbose))
    throw new UsageError('--quiet prints nothing: not with --json or --verbose');
  const maxBytes = (p.maxInputMiB ?? DEFAULT_MAX_INPUT_MIB) * 1024 * 1024;
  const bundles = p.files.map((f) => parseBundle(readJsonCapped(f, maxBytes)));
  const contracts = new Set(bundles.map((b) => b.chain.contract.toLowerCase()));
  if (contracts.size > 1) throw new UsageError('the bundles name different anchors contracts');

  let evidence: ChainEvidence;
  if (p.anchorsFile !== undefined) {
    evidence = parseChainEvidence(readJsonCapped(p.anchorsFile, maxBytes));
  } else {
    try {
      evidence = await fetchChainEvidence({
        rpcUrl: p.rpcUrl!,
        contract: bundles[0]!.chain.contract as Hex,
        logIds: bundles.map((b) => b.log.logId as Hex),
      });
    } catch (err) {
      // One coded line (ledger_unavailable, contract_missing), never the client's dump.
      const { toLedgerError } = await import('../../../anchor/src/ledger/index.js');
      throw toLedgerError(err, `reading the chain evidence from ${p.rpcUrl}`, 'ledger_unavailable');
    }
  }
  for (const [i, b] of bundles.entries()) sameChain(evidence, b, p.files[i]!, p.anchorsFile !== undefined);

  const reports = bundles.map((b, i) =>
    verifyBundle(b, evidence.anchors, {
      registry: evidence.registryEvents,
      onProgress:
        !p.quiet && b.entries.length >= PROGRESS_MIN_ENTRIES
          ? progressBar(`verify ${p.files[i]}`)
          : undefined,
    }),
  );
  const allowGaps = p.allowGaps === true;
  const source = {
    source: p.rpcUrl !== undefined ? 'rpc' : 'file',
    head: evidence.head,
    fetchedAt: evidence.fetchedAt,
  };

  if (reports.length === 1) {
    const r = reports[0]!;
    if (!p.quiet)
      process.stdout.write(
        p.json
          ? `${JSON.stringify({ ...r, allowGaps, evidence: source }, null, 2)}\n`
          : `${scopeLine(bundles[0]!, r)}\n${formatReport(r, p.verbose, allowGaps)}`,
      );
    return verifyExitCode(r.verdict, allowGaps);
  }
  // Several bundles (e.g. one per gateway log): sequences are analysed across all of them,
  // an identical (dev, seq) counted once; one log may hold the frames another lacks.
  const sequence = analyseSequences(
    reports.flatMap((r, i) => sequenceInputs(r.entries, i)),
    bundles.flatMap((b) => b.devices.map((d) => d.dev)),
  );
  const integrity = reports.every((r) => r.integrity);
  const verdict = verdictOf(integrity, sequence);
  const ok = verdict === 'VALID';
  if (p.quiet) {
    // The exit code alone.
  } else if (p.json) {
    const out = {
      ok,
      verdict,
      integrity,
      allowGaps,
      bundles: reports.map((r, i) => ({ file: p.files[i], ...r })),
      sequence,
      evidence: source,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const parts = reports.map(
      (r, i) => `== ${p.files[i]}\n${scopeLine(bundles[i]!, r)}\n${formatReport(r, p.verbose)}`,
    );
    const across = formatGaps(sequence, (b) => p.files[b ?? 0]!);
    parts.push(`== across all bundles\n${across.join('\n')}\n`);
    parts.push(
      `${sequence.gaps.length} gap(s), ${sequence.openEnds} open end(s) across all bundles; verdict: ${verdictText(verdict, allowGaps)}\n`,
    );
    process.stdout.write(parts.join(''));
  }
  return verifyExitCode(verdict, allowGaps);
}

/**
 * `--max-input-mib` of `verify` and `verify-access[-fetch]` (the arguments of commander's `.option`).
 * @param inputs what the input files are, for the help text
 */
export function maxInputOption(inputs = '') {
  return [
    '--max-input-mib <n>',
    `refuse an input file ${inputs}larger than this, before reading it (default ${DEFAULT_MAX_INPUT_MIB})`,
    (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || n > 1_048_576)
        throw new InvalidArgumentError('--max-input-mib must be a number above 0, at most 1048576');
      return n;
    },
    DEFAULT_MAX_INPUT_MIB,
  ] as const;
}

/**
 * Adds `verify` to the program.
 * @example
 * registerVerifyCommand(program);
 */
export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'check every entry of disclosure bundles: signature, certificate chain to the KGC root, device key registered ' +
        'and unrevoked at the anchoring block, inclusion proof, consistency of the cited checkpoints, and their Anchored ' +
        'events; and that each device chain in the range is complete (boundary frames prove both ends). ' +
        'Exit 0 VALID, 1 INVALID, 2 could not run, 3 INCOMPLETE (a gap or an unproven end; 0 with --allow-gaps)',
    )
    .argument(
      '<bundles...>',
      'bundle JSON files (several: one per gateway log; sequences are analysed across them)',
    )
    .option('--rpc <url>', 'JSON-RPC URL of the consortium chain (live evidence)')
    .option('--anchors <file>', 'saved chain evidence from `vitaltrail verify-anchors-fetch` (offline)')
    .option('--json', 'print the report as JSON')
    .option('--verbose', 'list every entry, not only the failing ones')
    .option(
      '--quiet',
      'print nothing on stdout (for scripts): the exit code is the verdict; errors still go to stderr',
    )
    .option(
      '--allow-gaps',
      'accept an INCOMPLETE bundle (a deliberately partial disclosure): exit 0 instead of 3; the report says so',
    )
    .option(...maxInputOption('(bundle or --anchors) '))
    .action(async (files: string[], o) => {
      process.exitCode = await runVerify({
        files,
        rpcUrl: o.rpc,
        anchorsFile: o.anchors,
        json: Boolean(o.json),
        verbose: Boolean(o.verbose),
        quiet: Boolean(o.quiet),
        maxInputMiB: o.maxInputMib,
        allowGaps: Boolean(o.allowGaps),
      });
    });
}
