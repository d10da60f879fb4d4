/**
 * @module cli/audit
 * `vitaltrail audit verify` and `vitaltrail audit rotate` (issue 3; issue 16 "production
 * gaps"): the gateway's hash-chained audit log, DATA/gateway/audit.log and its archives
 * `audit.log.<first n>-<last n>` (io/ops/audit-rotation). Verify checks the one chain across
 * every archive, the active file and the head; rotate archives the active file now, under
 * the appenders' lock, so it is safe beside a running gateway.
 *
 * `audit verify --shared --config FILE` checks instead the audit chain a gateway group shares
 * in the PostgreSQL the config names (`shared.postgres`; io/shared/pg-audit, table
 * `ward_audit`): every row's hash recomputed from the first, ids and each gateway's `n`
 * without gaps; it prints each gateway's rows and the head. With `--cross-check` the config's
 * own gateway's file log (its dataDir) is compared with its rows too.
 */
import type { Command } from 'commander';
import { loadConfigFile, sharedOptionsFromConfig } from '../app/config.js';
import { type AuditReport, dataPaths, rotateAuditLog, verifyAuditLog } from '../io/ops/index.js';
import { type CrossCheckReport, type GroupAuditReport, PgAuditTrail } from '../io/shared/index.js';
import { UsageError } from './errors.js';
import { dataDirOption, requireDataDir } from './inputs.js';

function printReport(r: AuditReport): void {
  const files = r.files.length;
  process.stdout.write(`${r.ok ? 'intact' : 'NOT INTACT'}: ${r.lines} line(s) in ${files} file(s)\n`);
  if (r.from) {
    const first = r.files[0]?.first;
    process.stdout.write(
      `  checked from ${r.from}${first != null ? ` (line n ${first})` : ''}: the chain before it is not checked\n`,
    );
  }
  for (const p of r.problems) process.stdout.write(`  ${p.file} line ${p.line}: ${p.code}\n`);
}

function printShared(r: GroupAuditReport, cross: { gateway: string; report: CrossCheckReport } | null): void {
  const ok = r.ok && (cross?.report.ok ?? true);
  const out = [
    `${ok ? 'intact' : 'NOT INTACT'}: ${r.entries} row(s) of ${r.gateways.length} gateway(s) in ward_audit`,
  ];
  for (const g of r.gateways) out.push(`  ${g.gateway}: ${g.rows} row(s), n ${g.first}-${g.last}`);
  out.push(r.head ? `  head: id ${r.head.id} hash ${r.head.hash}` : '  head: none (no row)');
  for (const p of r.problems) out.push(`  ${p.where}: ${p.code}`);
  if (cross) {
    const c = cross.report;
    out.push(
      `  cross-check ${cross.gateway}: ${c.matched} of ${c.entries} row(s) match its file log; ${c.unshipped} line(s) not shipped yet`,
    );
    for (const p of c.problems) out.push(`  ${p.where}: ${p.code} against the file log`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** `audit verify --shared` (module doc); sets the exit code. */
async function verifyShared(o: { config?: string; crossCheck?: boolean; json?: boolean }): Promise<void> {
  if (o.config === undefined)
    throw new UsageError('--shared: give --config FILE (a gateway config naming shared.postgres)');
  const cfg = loadConfigFile(o.config);
  const pg = sharedOptionsFromConfig(cfg)?.postgres;
  if (!pg) throw new UsageError(`--shared: ${o.config} names no shared.postgres`);
  const trail = await PgAuditTrail.open(pg);
  try {
    const r = await trail.verify();
    const gateway = cfg.values.gatewayId as string;
    const cross = o.crossCheck
      ? {
          gateway,
          report: await trail.crossCheck(gateway, dataPaths(cfg.values.dataDir as string).gatewayDir),
        }
      : null;
    if (o.json)
      process.stdout.write(
        `${JSON.stringify({ shared: r, ...(cross ? { crossCheck: cross } : {}) }, null, 2)}\n`,
      );
    else printShared(r, cross);
    process.exitCode = r.ok && (cross?.report.ok ?? true) ? 0 : 1;
  } finally {
    await trail.close();
  }
}

/**
 * Adds `audit verify` and `audit rotate` to the program.
 * @example
 * registerAuditCommands(program, '.vitaltrail/demo');
 */
export function registerAuditCommands(program: Command, defaultDataDir: string): void {
  const audit = program.command('audit').description('the gateway audit log (DATA/gateway/audit.log*)');
  audit
    .command('verify')
    .description(
      'check the audit log hash chain across its rotated files, the active file and the head: exit 0 when ' +
        'intact, 1 when a line was edited, inserted, reordered or deleted, a file is missing, or the tail was truncated',
    )
    .addOption(dataDirOption(defaultDataDir))
    .option(
      '--from-file <name>',
      'start at this rotated file (audit.log.<first>-<last>) when older ones were moved away; the chain before it is not checked',
    )
    .option(
      '--shared',
      "check the gateway group's audit chain in PostgreSQL (ward_audit) instead; needs --config",
    )
    .option('--config <file>', 'with --shared: a gateway config file naming shared.postgres')
    .option('--cross-check', "with --shared: also compare the config's gateway's file log with its rows")
    .option('--json', 'print JSON')
    .action(
      async (o: {
        data: string;
        fromFile?: string;
        json?: boolean;
        shared?: boolean;
        config?: string;
        crossCheck?: boolean;
      }) => {
        if (o.shared) {
          if (o.fromFile !== undefined) throw new UsageError('--from-file: not with --shared');
          await verifyShared(o);
          return;
        }
        if (o.config !== undefined || o.crossCheck)
          throw new UsageError('--config, --cross-check: only with --shared');
        let r: AuditReport;
        try {
          r = verifyAuditLog(dataPaths(o.data).gatewayDir, o.fromFile ? { fromFile: o.fromFile } : {});
        } catch (err) {
          if (err instanceof RangeError)
            throw new UsageError(
              '--from-file: no audit file of that name in DATA/gateway (audit.log.<first>-<last>)',
            );
          throw err;
        }
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else printReport(r);
        process.exitCode = r.ok ? 0 : 1;
      },
    );
  audit
    .command('rotate')
    .description(
      'close the active audit file now as audit.log.<first>-<last> (mode 0600) and start a new one continuing the ' +
        'chain; safe beside a running gateway (config audit.rotateBytes rotates by size)',
    )
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) => {
      requireDataDir(o.data);
      const r = rotateAuditLog(dataPaths(o.data).gatewayDir);
      if (o.json) process.stdout.write(`${JSON.stringify({ rotated: r })}\n`);
      else if (!r) process.stdout.write('nothing to rotate: audit.log holds no line\n');
      else
        process.stdout.write(
          `rotated lines ${r.first}-${r.last} into ${r.name}; audit.log continues at ${r.next}\n`,
        );
    });
}
