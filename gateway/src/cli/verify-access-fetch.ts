/**
 * @module cli/verify-access-fetch
 * `vitaltrail verify-access-fetch BUNDLE --rpc URL --consent ADDRESS --out FILE` (issue 18;
 * README "Offline: the access evidence file"): saves everything `verify-access` reads from the
 * chain for one access bundle, the `Anchored` events of its access log and the stored grant of
 * every consent it cites (or that there is none), as `vitaltrail-access-evidence/1`, so that
 * `vitaltrail verify-access BUNDLE --evidence FILE` and the auditor page verify with no
 * network and give the live run's report. As `verify-anchors-fetch` does for disclosure
 * bundles: read-only, no account. The file is written with mode 0600, never over a link.
 */
import type { Command } from 'commander';
import { accessEvidenceJson, parseAccessBundle } from '../../../anchor/src/verify-access/index.js';
import { checkOutputPath, writeOutputFile } from '../io/ops/index.js';
import { maxInputOption, readJsonCapped } from './verify.js';
import { address, liveAccessEvidence } from './verify-access.js';

/**
 * Fetches and writes the access evidence of one bundle; returns the summary line.
 * @throws {UsageError|VitalTrailError} exit 2: an unreadable or malformed bundle, a refused
 *   `--out`, `evidence_mismatch`, `ledger_unavailable`.
 * @example
 * await runVerifyAccessFetch({ file: 'access.json', rpcUrl, consent, out: 'access-evidence.json' });
 */
export async function runVerifyAccessFetch(p: {
  file: string;
  rpcUrl: string;
  consent: `0x${string}`;
  out: string;
  maxInputMiB: number;
}): Promise<string> {
  checkOutputPath(p.out); // before any work: a refused --out costs nothing
  const maxBytes = p.maxInputMiB * 1024 * 1024;
  const bundle = parseAccessBundle(readJsonCapped(p.file, maxBytes));
  const ev = await liveAccessEvidence(bundle, { rpcUrl: p.rpcUrl, consent: p.consent, maxBytes });
  writeOutputFile(p.out, accessEvidenceJson(ev));
  return (
    `wrote ${ev.anchors.length} anchor(s) of ${bundle.log.origin}, ${ev.consents.length} grant(s) and ` +
    `${ev.absent.length} cited consent(s) not on chain (chain ${ev.chainId}, head ${ev.head}) to ${p.out}\n`
  );
}

/**
 * Adds `verify-access-fetch` to the program.
 * @example
 * registerVerifyAccessFetchCommand(program);
 */
export function registerVerifyAccessFetchCommand(program: Command): void {
  program
    .command('verify-access-fetch')
    .description(
      'save the chain evidence of an access bundle for offline verification (verify-access --evidence, the auditor ' +
        'page): the Anchored events of its access log and the grant of every consent it cites (read-only)',
    )
    .argument('<bundle>', 'access bundle JSON file (`vitaltrail export-access`)')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the consortium chain')
    .requiredOption('--consent <address>', "the consent contract (the deployment's `consent`)", address)
    .requiredOption('--out <file>', 'output file (JSON, format vitaltrail-access-evidence/1, mode 0600)')
    .option(...maxInputOption())
    .action(async (file: string, o) => {
      process.stdout.write(
        await runVerifyAccessFetch({
          file,
          rpcUrl: o.rpc,
          consent: o.consent,
          out: o.out,
          maxInputMiB: o.maxInputMib,
        }),
      );
    });
}
