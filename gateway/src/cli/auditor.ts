/**
 * @module cli/auditor
 * The auditor's commands (PROTOCOL.md §5): `export` (disclosure bundles of devices or of a
 * time range, streamed to a file; `--patient` reads the group's admissions with `--config`
 * of a group's gateway: cli/gateway-config), `verify` (offline verification against live or saved
 * chain evidence) and `verify-anchors-fetch` (save the chain evidence for offline use).
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { Deployment, Hex } from '../../../anchor/src/ledger/index.js';
import { fetchChainEvidence } from '../../../anchor/src/verify/index.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import { checkpointOrigin, logIdOf } from '../core/log-names.js';
import { checkOutputPath, dataPaths, readJson, writeOutputFile } from '../io/ops/index.js';
import { exportBundleToFile } from '../io/outbound/index.js';
import { openBindingBook } from '../io/shared/index.js';
import { loadRecipientSecrets, openStore, PATIENT_ID_PATTERN, readSnapshot } from '../io/store/index.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import { UsageError } from './errors.js';
import { gatewayConfigOption, gatewaySourceOf } from './gateway-config.js';
import { checkTimeRange, DEFAULT_DATA_DIR, deviceIdOption, timeOption } from './inputs.js';

/** A repeatable `--device`: each value checked by cli/inputs `deviceIdOption`. */
function deviceIdsOption(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), deviceIdOption(value)];
}

function patientIdOption(value: string): string {
  if (!PATIENT_ID_PATTERN.test(value))
    throw new InvalidArgumentError('patient ids are 1-64 chars of [A-Za-z0-9._:/-]');
  return value;
}

function gatewayIdOption(value: string): string {
  if (!DEVICE_ID_PATTERN.test(value))
    throw new InvalidArgumentError('gateway ids are 1-64 chars of [A-Za-z0-9._-]');
  return value;
}

function hexOption(bytes: number, what: string) {
  return (value: string): Hex => {
    if (!new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(value)) {
      throw new InvalidArgumentError(`${what} must be 0x-prefixed hex of ${bytes} bytes`);
    }
    return value as Hex;
  };
}

/** Export progress on stderr: a counter that rewrites its line, ended once complete. */
function exportProgress(done: number, total: number): void {
  process.stderr.write(`\rexported ${done}/${total}${done === total ? '\n' : ''}`);
}

/**
 * Adds `export` and `verify-anchors-fetch` to the program (`verify` is cli/verify's).
 * @example
 * registerAuditorCommands(program);
 */
export function registerAuditorCommands(program: Command): void {
  program
    .command('export')
    .description(
      'write a disclosure bundle (PROTOCOL.md §5) of one or more devices, or of every device in a time range; ' +
        'each entry is proven against the first anchored checkpoint covering it, with consistency proofs up to the latest',
    )
    .option('--device <id>', 'device id; repeat for several (default: every device)', deviceIdsOption)
    .option(
      '--patient <id>',
      "a patient's frames: every device bound to them, within each binding period (needs a recipient key in --data)",
      patientIdOption,
    )
    .requiredOption('--out <file>', 'output file (JSON, written with mode 0600; streamed)')
    .option('--from <time>', 'from device time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--to <time>', 'to device time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--gateway-id <id>', 'gateway id', gatewayIdOption, DEFAULT_GATEWAY_ID)
    .addOption(gatewayConfigOption("the group's admissions for --patient"))
    .action(async (o) => {
      if (o.device === undefined && o.patient === undefined && o.from === undefined && o.to === undefined) {
        throw new UsageError('give --device, --patient, or a time range (--from/--to) for every device');
      }
      if (o.device !== undefined && o.patient !== undefined)
        throw new UsageError('give --device or --patient, not both');
      checkTimeRange(o.from, o.to);
      checkOutputPath(o.out); // before any work: a refused --out costs nothing
      const { dataDir, gatewayId, postgres } = gatewaySourceOf(o);
      const paths = dataPaths(dataDir);
      const store = openStore(paths.db);
      try {
        const origin = checkpointOrigin(gatewayId);
        const secrets = loadRecipientSecrets(paths.recipientsDir);
        let periods: { dev: string; from: number; to: number | null }[] | undefined;
        if (o.patient !== undefined) {
          // In a group, the group's admissions: one made through another gateway counts here.
          const book = await openBindingBook({
            store,
            recipientsDir: paths.recipientsDir,
            secrets,
            postgres,
          });
          try {
            periods = await book.bindings.devicesOf(o.patient);
          } finally {
            await book.close();
          }
          if (periods.length === 0) throw new UsageError('no device was ever bound to this patient');
        }
        const deployment = readJson<Deployment>(paths.deployment);
        if (!deployment)
          throw new UsageError('no chain deployment in the data directory (run the demo first)');
        // One snapshot: what a running gateway commits or shreds meanwhile is not in it, so the
        // bundle's plan, its shredding records and its entries agree.
        const r = await readSnapshot(store.db, () =>
          exportBundleToFile({
            store,
            paths,
            deployment,
            origin,
            logId: logIdOf(origin),
            devices: o.device ?? [],
            periods,
            from: o.from,
            to: o.to,
            secrets,
            out: o.out,
            onProgress: exportProgress,
          }),
        );
        if (r.entries > 0 && process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(
          `wrote ${r.entries} entries to ${o.out} (${r.boundaries} boundary frame(s); checkpoints ${r.checkpoints.join(', ')})\n`,
        );
        if (r.shreddingPending > 0) {
          process.stdout.write(
            `${r.shreddingPending} shredding record(s) are not anchored yet: their shredded entries will verify malformed until an export after the next checkpoint\n`,
          );
        }
        if (r.shreddedUnrecorded > 0) {
          process.stdout.write(
            `${r.shreddedUnrecorded} entr${r.shreddedUnrecorded === 1 ? 'y was' : 'ies were'} shredded by the running gateway while the export ran: their records are not in it, so they will verify malformed; export again after the next checkpoint\n`,
          );
        }
        if (r.pendingAnchor > 0) {
          process.stdout.write(`${r.pendingAnchor} newer frame(s) are not anchored yet and were left out\n`);
        }
      } finally {
        store.close();
      }
    });

  program
    .command('verify-anchors-fetch')
    .description(
      'save the chain evidence for offline verification: every Anchored event of the given logs and every device ' +
        'registry event (read-only; no account needed)',
    )
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the consortium chain')
    .requiredOption(
      '--contract <address>',
      'VitalTrailAnchors contract address (the bundle’s chain.contract)',
      hexOption(20, '--contract'),
    )
    .requiredOption(
      '--log-id <logId>',
      'log id (the bundle’s log.logId); repeat for several logs',
      (v: string, prev: Hex[] | undefined) => [...(prev ?? []), hexOption(32, '--log-id')(v)],
    )
    .requiredOption('--out <file>', 'output file (JSON, format vitaltrail-anchors/1)')
    .action(async (o) => {
      checkOutputPath(o.out);
      const ev = await fetchChainEvidence({ rpcUrl: o.rpc, contract: o.contract, logIds: o.logId });
      writeOutputFile(o.out, `${JSON.stringify(ev, null, 1)}\n`);
      process.stdout.write(
        `wrote ${ev.anchors.length} anchors and ${ev.registryEvents.length} registry events (chain ${ev.chainId}, head ${ev.head}) to ${o.out}\n`,
      );
    });
}
