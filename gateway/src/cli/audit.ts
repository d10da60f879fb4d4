/**
 * @module cli/audit
 * `vitaltrail audit verify` and `vitaltrail audit rotate` (issue 3; issue 16 "production
 * gaps"): the gateway's hash-chained audit log, DATA/gateway/audit.log and its archives
 * `audit.log.<first n>-<last n>` (io/ops/audit-rotation). Verify checks the one chain across
 * every archive, the active file and the head; rotate archives the active file now, under
 * the appenders' lock, so it is safe beside a running gateway.
 */
import type { Command } from 'commander';
import { type AuditReport, dataPaths, rotateAuditLog, verifyAuditLog } from '../io/ops/index.js';
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
    .option('--json', 'print JSON')
    .action((o: { data: string; fromFile?: string; json?: boolean }) => {
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
    });
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
