/**
 * @module cli/store
 * Commands of the sealed store (issue 4):
 * - `vitaltrail recipients add --kid KID --public-key FILE` | `list` | `rotate --kid OLD --new-kid NEW --public-key FILE`
 * - `vitaltrail export-fhir --device ID | --patient ID [--from] [--to] --out FILE
 *   [--data DIR | --config FILE]`: with a gateway's config file, its data directory and, in a
 *   group (`shared.postgres`), the group's admissions (io/shared `openBindingBook`), so an
 *   admission made through another gateway of the group names the patient's devices here too.
 *   Each gateway holds the readings it accepted: a group's full export is one per gateway.
 * - `vitaltrail shred --retention-days N` (crypto-shredding of expired windows)
 * Recipients are public keys: the gateway seals for them and never needs their private
 * keys. Rotation retires the old public key (no new data key is wrapped for it) and keeps
 * its private key where it was, so everything sealed before stays readable.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { Deployment } from '../../../anchor/src/ledger/index.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import { checkpointOrigin, logIdOf } from '../core/log-names.js';
import { checkOutputPath, dataPaths, lockDataDir, readJson, writeOutputFileFrom } from '../io/ops/index.js';
import { exportFhir } from '../io/outbound/index.js';
import { openBindingBook } from '../io/shared/index.js';
import {
  addRecipient,
  DEFAULT_KEY_WINDOW_MS,
  freeBytes,
  listRecipients,
  loadRecipientSecrets,
  openStore,
  readSnapshot,
  retireRecipient,
  shredExpired,
} from '../io/store/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import { DEVICE_ID_PATTERN, DEVICE_ID_RULE } from '../protocol/frame.js';
import { gatewayConfigOption, gatewaySourceOf } from './gateway-config.js';
import { checkTimeRange, dataDirOption, timeOption } from './inputs.js';

const KID = /^[A-Za-z0-9._-]{1,64}$/;

function kidOption(value: string): string {
  if (!KID.test(value)) throw new InvalidArgumentError('kids are 1-64 chars of [A-Za-z0-9._-]');
  return value;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/**
 * Registers `recipients`, `export-fhir` and `shred`.
 * @example registerStoreCommands(program); // vitaltrail recipients list --data .vitaltrail/demo
 */
export function registerStoreCommands(program: Command, defaultDataDir = '.vitaltrail/demo'): void {
  const recipients = program
    .command('recipients')
    .description('public keys every new data key is wrapped for (RSA-3072+ or EC P-256)');

  recipients
    .command('add')
    .description('add a recipient; new data keys (next window of each device) are wrapped for it too')
    .requiredOption('--kid <kid>', 'key id, 1-64 chars of [A-Za-z0-9._-]; never reused', kidOption)
    .requiredOption('--public-key <file>', 'PEM public key (SPKI) of the recipient')
    .addOption(dataDirOption(defaultDataDir))
    .action((o: { kid: string; publicKey: string; data: string }) => {
      addRecipient(dataPaths(o.data).recipientsDir, o.kid, readFileSync(o.publicKey, 'utf8'));
      process.stdout.write(`added recipient ${o.kid}\n`);
    });

  recipients
    .command('list')
    .description('list recipients: kid, algorithm, SPKI SHA-256, active/retired, private key on this host')
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) => {
      const rows = listRecipients(dataPaths(o.data).recipientsDir);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'KID'.padEnd(24)} ${'ALG'.padEnd(15)} ${'STATUS'.padEnd(8)} OPEN  SPKI-SHA256\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `${r.kid.padEnd(24)} ${r.alg.padEnd(15)} ${r.status.padEnd(8)} ${(r.canOpen ? 'yes' : 'no').padEnd(5)} ${r.fingerprint}\n`,
        );
      }
    });

  recipients
    .command('rotate')
    .description(
      'replace a recipient key: retire --kid (old data stays readable with its private key), add --new-kid',
    )
    .requiredOption('--kid <kid>', 'the recipient to retire', kidOption)
    .requiredOption('--new-kid <kid>', 'the replacement key id', kidOption)
    .requiredOption('--public-key <file>', 'PEM public key of the replacement')
    .addOption(dataDirOption(defaultDataDir))
    .action((o: { kid: string; newKid: string; publicKey: string; data: string }) => {
      const dir = dataPaths(o.data).recipientsDir;
      addRecipient(dir, o.newKid, readFileSync(o.publicKey, 'utf8'));
      retireRecipient(dir, o.kid);
      process.stdout.write(`retired ${o.kid}; new data keys are wrapped for ${o.newKid}\n`);
    });

  program
    .command('export-fhir')
    .description(
      'a FHIR R4 Bundle (collection) of vital-signs Observations, each with a Provenance (device, log leaf, anchored checkpoint)',
    )
    .option('--device <id>', 'one device')
    .option('--patient <id>', 'one patient: every device bound to them, within the binding periods')
    .option('--from <time>', 'start, device clock (ms or ISO 8601); default: the beginning', timeOption)
    .option('--to <time>', 'end, inclusive (ms or ISO 8601); default: now', timeOption)
    .requiredOption('--out <file>', 'where to write the Bundle JSON (mode 0600: it holds patient data)')
    .option('--gateway-id <id>', 'gateway id (names the log)', DEFAULT_GATEWAY_ID)
    .addOption(dataDirOption(defaultDataDir))
    .addOption(gatewayConfigOption("the group's admissions for --patient"))
    .action(
      async (o: {
        device?: string;
        patient?: string;
        from?: number;
        to?: number;
        out: string;
        gatewayId: string;
        data: string;
        config?: string;
      }) => {
        if ((o.device === undefined) === (o.patient === undefined)) {
          throw new VitalTrailError('bad_usage', 'give exactly one of --device and --patient');
        }
        if (o.device !== undefined && !DEVICE_ID_PATTERN.test(o.device)) {
          throw new VitalTrailError('bad_usage', DEVICE_ID_RULE);
        }
        checkTimeRange(o.from, o.to ?? Date.now());
        checkOutputPath(o.out);
        const { dataDir, gatewayId, postgres } = gatewaySourceOf(o);
        const paths = dataPaths(dataDir);
        const store = openStore(paths.db);
        const secrets = loadRecipientSecrets(paths.recipientsDir);
        const book = await openBindingBook({
          store,
          recipientsDir: paths.recipientsDir,
          secrets,
          postgres,
        }).catch((err: unknown) => {
          store.close();
          throw err;
        });
        try {
          const origin = store.getMeta('origin') ?? checkpointOrigin(gatewayId);
          // One snapshot for the count and the text, read again past 100,000 readings: what a
          // running gateway stores or shreds meanwhile is in neither.
          const r = await readSnapshot(store.db, async () => {
            const r = await exportFhir({
              store,
              bindings: book.bindings,
              secrets,
              log: { origin, logId: logIdOf(origin) },
              deployment: readJson<Deployment>(paths.deployment),
              ...(o.device !== undefined ? { dev: o.device } : { patientId: o.patient as string }),
              from: o.from ?? 0,
              to: o.to ?? Date.now(),
            });
            await writeOutputFileFrom(
              o.out,
              (async function* () {
                yield* r.text(2);
                yield '\n';
              })(),
            );
            return r;
          });
          process.stdout.write(
            `wrote ${r.observations} observations to ${o.out}` +
              (r.pendingAnchor > 0
                ? ` (${r.pendingAnchor} readings not anchored yet: no checkpoint in their Provenance)`
                : '') +
              (r.shredded > 0 ? ` (${r.shredded} readings shredded by retention)` : '') +
              '\n',
          );
        } finally {
          await book.close();
          store.close();
        }
      },
    );

  program
    .command('shred')
    .description(
      'crypto-shredding: destroy the data keys of windows older than the retention and the frames they sealed; the log and proofs stay',
    )
    .requiredOption('--retention-days <n>', 'keep windows that ended less than this many days ago', positive)
    .option(
      '--window-minutes <n>',
      'data-key window of the gateway (default 60)',
      positive,
      DEFAULT_KEY_WINDOW_MS / 60_000,
    )
    .addOption(dataDirOption(defaultDataDir))
    .action((o: { retentionDays: number; windowMinutes: number; data: string }) => {
      const paths = dataPaths(o.data);
      // Each shredding record is a new leaf of the log, which has one writer: a running
      // gateway holds this lock and the shred is refused (`data_dir_in_use`).
      const lock = lockDataDir(paths.gatewayDir);
      try {
        const store = openStore(paths.db);
        try {
          const r = shredExpired(store, Math.round(o.retentionDays * 86_400_000), Date.now(), {
            windowMs: Math.max(1, Math.round(o.windowMinutes * 60_000)),
          });
          // The ciphertexts were deleted after their keys: their pages are free for the frames to come.
          const free = freeBytes(store.db) / 1_048_576;
          process.stdout.write(
            `shredded ${r.keys} data keys (${r.frames} frames); appended ${r.records} shredding records to the log` +
              (r.records > 0 ? ', anchored with the next checkpoint once the gateway runs' : '') +
              `\ndeleted ${r.deleted} ciphertexts; ${free.toFixed(1)} MiB of the store are free for new frames\n`,
          );
        } finally {
          store.close();
        }
      } finally {
        lock.release();
      }
    });
}
