/**
 * @module cli/shared-import
 * `vitaltrail shared import --config FILE [--dry-run] [--json]`: a lone gateway joins a group
 * (issue 16). What its data directory holds of the clinical state a group shares in PostgreSQL
 * is copied there once, so nothing a nurse set up is lost when the gateway starts with
 * `shared.postgres`:
 * - the dashboard accounts of its users file (password hashes as they are, role, disabled and
 *   must-change flags): an account whose name the group has already is left as the group has
 *   it and reported;
 * - its admissions, each device's whole history (admitted and discharged at the times they
 *   were, by `import`), for devices the group has no admission of; a device the group knows
 *   already is left alone and reported, and a history the group's rules refuse (the bed or the
 *   patient is taken in the group now) is reported with the rule's code, nothing of that
 *   device copied after the refusal;
 * - per-patient settings (limits, policies, SpO₂ scale, oxygen, standby), for devices the
 *   group has none for.
 * Alarm transitions and audit lines are not copied: they stay in the data directory's history
 * and audit log. Run it with the gateway stopped (it takes the data directory's lock) and
 * before it first starts in the group; running it again copies nothing twice. Every copied
 * item is audited in the data directory's audit log (`user_added`, `admission`, `discharge`,
 * `patient_settings`; `user` = `cli:<os user>`, detail `imported into the group`).
 */
import type { Command } from 'commander';
import { AlarmStore } from '../io/clinical/index.js';
import { UserFile } from '../io/identity/index.js';
import { AuditLog, dataPaths, lockDataDir } from '../io/ops/index.js';
import { PgBindings, PgPatientSettings, PgUserDirectory } from '../io/shared/index.js';
import { Bindings, loadRecipientSecrets, openStore, watchRecipients } from '../io/store/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import { cliActor } from './displays.js';
import { UsageError } from './errors.js';
import { type GatewaySource, gatewaySourceOf } from './gateway-config.js';

/** Who the copied admissions and settings name as having made them. */
const IMPORTED_BY = 'import';
const DETAIL = 'imported into the group';

/** What `shared import` did (or, with `dryRun`, would do) of one kind. */
export interface ImportCount {
  copied: string[];
  /** The group has it already: left as the group has it. */
  present: string[];
  /** Refused by the group's rules: `<item>: <code>`. */
  refused: string[];
}

export interface ImportReport {
  users: ImportCount;
  admissions: ImportCount;
  settings: ImportCount;
  dryRun: boolean;
}

const empty = (): ImportCount => ({ copied: [], present: [], refused: [] });

/**
 * Copies a data directory's accounts, admissions and settings into its group's PostgreSQL.
 * @throws {UsageError} when the source names no group; {VitalTrailError}
 *   `data_dir_in_use` while a gateway runs on the data directory; {SharedStateError}
 *   `shared_unavailable` when the database cannot be used
 */
export async function importIntoGroup(source: GatewaySource, dryRun = false): Promise<ImportReport> {
  const { postgres, gatewayId } = source;
  if (!postgres)
    throw new UsageError('the config file names no shared.postgres: there is no group to import into');
  const paths = dataPaths(source.dataDir);
  const lock = lockDataDir(paths.gatewayDir);
  const store = openStore(paths.db);
  const closers: (() => Promise<void>)[] = [];
  const log = dryRun ? null : new AuditLog(paths.gatewayDir);
  const actor = cliActor();
  const report: ImportReport = { users: empty(), admissions: empty(), settings: empty(), dryRun };
  try {
    // Accounts.
    const users = await PgUserDirectory.open(postgres);
    closers.push(() => users.close());
    for (const u of new UserFile(paths.users).list()) {
      if (users.find(u.username)) report.users.present.push(u.username);
      else if (dryRun || (await users.importAccount(u))) {
        report.users.copied.push(u.username);
        log?.append('user_added', { user: actor, detail: `user ${u.username} ${DETAIL}` });
      } else report.users.present.push(u.username);
    }

    // Admissions: each device's history, oldest first, for devices the group never admitted.
    const secrets = loadRecipientSecrets(paths.recipientsDir);
    const local = new Bindings(store, { secrets });
    const group = await PgBindings.open({
      ...postgres,
      recipients: watchRecipients(paths.recipientsDir),
      secrets,
    });
    closers.push(() => group.close());
    for (const dev of local.devices()) {
      if ((await group.history(dev)).length > 0) {
        report.admissions.present.push(dev);
        continue;
      }
      const history = await local.history(dev);
      try {
        for (const b of history) {
          if (!dryRun) {
            await group.admit(dev, b.patientId, b.bed, b.from, IMPORTED_BY);
            log?.append('admission', { dev, user: actor, detail: DETAIL });
            if (b.to !== null) {
              await group.discharge(dev, b.to, IMPORTED_BY);
              log?.append('discharge', { dev, user: actor, detail: DETAIL });
            }
          }
        }
        report.admissions.copied.push(`${dev} (${history.length})`);
      } catch (err) {
        if (!(err instanceof VitalTrailError) || err.code === 'shared_unavailable') throw err;
        report.admissions.refused.push(`${dev}: ${err.code}`);
      }
    }

    // Per-patient settings, for devices the group has none for.
    const settings = await PgPatientSettings.open({ ...postgres, gatewayId });
    closers.push(() => settings.close());
    for (const row of new AlarmStore(store).allSettings()) {
      if (settings.settingsJson(row.dev) !== undefined) {
        report.settings.present.push(row.dev);
        continue;
      }
      if (!dryRun) {
        settings.putSettingsJson(row.dev, row.settings, row.updatedBy, row.updatedAt);
        await settings.flush();
        log?.append('patient_settings', { dev: row.dev, user: actor, detail: DETAIL });
      }
      report.settings.copied.push(row.dev);
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    log?.close();
    store.close();
    lock.release();
  }
  log?.throwIfUnwritten(); // the copies stand; their audit lines did not: say so (exit 2)
  return report;
}

/** The report as an engineer reads it. */
function printReport(r: ImportReport): string {
  const verb = r.dryRun ? 'would copy' : 'copied';
  const line = (what: string, c: ImportCount) =>
    `${what}: ${verb} ${c.copied.length}${c.copied.length ? ` (${c.copied.join(', ')})` : ''}` +
    `; already in the group ${c.present.length}${c.present.length ? ` (${c.present.join(', ')})` : ''}` +
    `${c.refused.length ? `; refused ${c.refused.length} (${c.refused.join(', ')})` : ''}\n`;
  return line('accounts', r.users) + line('admissions', r.admissions) + line('patient settings', r.settings);
}

export function registerSharedCommands(program: Command): void {
  const shared = program
    .command('shared')
    .description(
      "a gateway group's shared PostgreSQL (shared.postgres): joining it with a lone gateway's state",
    );
  shared
    .command('import')
    .description(
      "copy the data directory's accounts, admissions and per-patient settings into the group's PostgreSQL " +
        '(what the group has already is left as it is); run once, with the gateway stopped, before it joins',
    )
    .requiredOption('--config <file>', 'the gateway config file, naming its dataDir and shared.postgres')
    .option('--dry-run', 'report what would be copied, copy nothing')
    .option('--json', 'print JSON')
    .action(async (o: { config: string; dryRun?: boolean; json?: boolean }) => {
      const report = await importIntoGroup(
        gatewaySourceOf({ config: o.config, data: '' }),
        o.dryRun === true,
      );
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : printReport(report));
      if (report.users.refused.length + report.admissions.refused.length + report.settings.refused.length > 0)
        process.exitCode = 1;
    });
}
