/**
 * @module cli/access
 * `vitaltrail export-access` (issue 18; `verify-access` is cli/verify-access): an access-log bundle (io/access/export;
 * anchor/src/verify-access/bundle has the format) of every access, or of one patient
 * pseudonym's, in an access-time range, each entry proven against an anchored checkpoint.
 * Hostile or mistyped input is a coded error, exit 2 (`time_range_invalid` for a bad
 * `--from`/`--to`, `output_path_invalid` for an unwritable `--out`, `bad_usage`).
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { Deployment } from '../../../anchor/src/ledger/index.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import { accessLogOrigin } from '../core/log-names.js';
import { AccessLog, exportAccessBundleToFile } from '../io/access/index.js';
import { checkpointKeyPath, loadCheckpointSigner } from '../io/anchoring/index.js';
import { checkOutputPath, dataPaths, readJson } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import { UsageError } from './errors.js';
import { checkTimeRange, timeOption } from './inputs.js';
import { registerVerifyAccessCommand } from './verify-access.js';
import { registerVerifyAccessFetchCommand } from './verify-access-fetch.js';

function pseudonymOption(value: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value))
    throw new InvalidArgumentError('a patient pseudonym is 0x-prefixed hex of 32 bytes');
  return value.toLowerCase();
}

function gatewayIdOption(value: string): string {
  if (!DEVICE_ID_PATTERN.test(value))
    throw new InvalidArgumentError('gateway ids are 1-64 chars of [A-Za-z0-9._-]');
  return value;
}

/**
 * Adds `export-access` and `verify-access` (cli/verify-access) to the program.
 * @example
 * registerAccessCommands(program, '.vitaltrail/demo');
 */
export function registerAccessCommands(program: Command, defaultDataDir: string): void {
  registerVerifyAccessCommand(program);
  registerVerifyAccessFetchCommand(program);
  program
    .command('export-access')
    .description(
      'write an access-log bundle (issue 18): every view or export of patient data in an access-time range, ' +
        "or one patient's (others' entries withheld), each proven against an anchored access checkpoint",
    )
    .requiredOption('--out <file>', 'output file (JSON, written with mode 0600)')
    .option(
      '--patient-pseudonym <hex>',
      "one patient's accesses: their pseudonym, 0x + 64 hex",
      pseudonymOption,
    )
    .option('--from <time>', 'from access time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--to <time>', 'to access time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--data <dir>', 'data directory', defaultDataDir)
    .option('--gateway-id <id>', 'gateway id', gatewayIdOption, DEFAULT_GATEWAY_ID)
    .action(
      (o: {
        out: string;
        patientPseudonym?: string;
        from?: number;
        to?: number;
        data: string;
        gatewayId: string;
      }) => {
        checkTimeRange(o.from, o.to);
        checkOutputPath(o.out); // before any work: a refused --out costs nothing
        const paths = dataPaths(o.data);
        const deployment = readJson<Deployment>(paths.deployment);
        if (!deployment)
          throw new UsageError('no chain deployment in the data directory (run the demo first)');
        if (!existsSync(checkpointKeyPath(paths)))
          throw new UsageError('no checkpoint key in the data directory: nothing was ever checkpointed');
        const vkey = loadCheckpointSigner(paths, accessLogOrigin(o.gatewayId)).vkey;
        const store = openStore(paths.db);
        try {
          const log = new AccessLog({ store, gatewayId: o.gatewayId });
          const r = exportAccessBundleToFile({
            log,
            deployment,
            vkey,
            out: o.out,
            ...(o.patientPseudonym !== undefined ? { patient: o.patientPseudonym } : {}),
            ...(o.from !== undefined ? { from: o.from } : {}),
            ...(o.to !== undefined ? { to: o.to } : {}),
          });
          process.stdout.write(
            `wrote ${r.entries} access entries (${r.withheld} withheld) to ${o.out}; checkpoints ${r.bundle.checkpoints
              .map((c) => c.treeSize)
              .join(', ')}\n`,
          );
          if (r.pendingAnchor > 0)
            process.stdout.write(
              `${r.pendingAnchor} newer access entr(ies) are not anchored yet and were left out\n`,
            );
        } finally {
          store.close();
        }
      },
    );
}
