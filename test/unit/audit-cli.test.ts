/**
 * @module test/unit/audit-cli
 * `vitaltrail audit rotate|verify` (gateway/src/cli/audit.ts) in-process on real files:
 * rotate archives the active file and says where the chain continues; verify checks every
 * file (exit 1 naming the file and line of a problem); `--from-file` starts at an archive
 * and says the chain before it is not checked; an unknown name is a usage error.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerAuditCommands } from '../../gateway/src/cli/audit.js';
import { UsageError } from '../../gateway/src/cli/errors.js';
import { AuditLog } from '../../gateway/src/io/ops/audit.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Runs `vitaltrail <args>` on a program holding only the audit commands: stdout and exit code. */
async function run(...args: string[]): Promise<{ out: string; exitCode: number | undefined }> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerAuditCommands(program, '.vitaltrail/demo');
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const before = process.exitCode;
  try {
    await program.parseAsync(['node', 'vitaltrail', ...args]);
    return { out, exitCode: process.exitCode as number | undefined };
  } finally {
    spy.mockRestore();
    process.exitCode = before;
  }
}

describe('vitaltrail audit', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let gatewayDir: string;
  const append = (count: number) => {
    const audit = new AuditLog(gatewayDir);
    for (let i = 0; i < count; i++) audit.append('login', { user: 'nurse' });
    audit.close();
  };

  beforeEach(() => {
    tmp = makeTempDir('vt-audit-cli-');
    gatewayDir = dataPaths(tmp.dir).gatewayDir;
  });
  afterEach(() => tmp.cleanup());

  it('behavior: rotate archives the active file; verify checks every file', async () => {
    expect((await run('audit', 'rotate', '--data', tmp.dir)).out).toBe(
      'nothing to rotate: audit.log holds no line\n',
    );
    append(5);
    expect((await run('audit', 'rotate', '--data', tmp.dir)).out).toBe(
      'rotated lines 1-5 into audit.log.0000000000000001-0000000000000005; audit.log continues at 6\n',
    );
    append(3);
    const json = JSON.parse((await run('audit', 'rotate', '--data', tmp.dir, '--json')).out);
    expect(json).toEqual({
      rotated: { name: 'audit.log.0000000000000006-0000000000000009', first: 6, last: 9, next: 10 },
    });
    expect(await run('audit', 'verify', '--data', tmp.dir)).toEqual({
      out: 'intact: 10 line(s) in 3 file(s)\n',
      exitCode: 0,
    });
  });

  it('error: a missing archive is reported with its file and line, exit 1; --from-file skips what was moved away', async () => {
    append(5);
    await run('audit', 'rotate', '--data', tmp.dir);
    append(3);
    await run('audit', 'rotate', '--data', tmp.dir);
    const [oldest, second] = readdirSync(gatewayDir)
      .filter((f) => /^audit\.log\.\d+-\d+$/.test(f))
      .sort() as [string, string];
    unlinkSync(join(gatewayDir, oldest));
    expect(await run('audit', 'verify', '--data', tmp.dir)).toEqual({
      out: `NOT INTACT: 5 line(s) in 2 file(s)\n  ${second} line 1: file_missing\n`,
      exitCode: 1,
    });
    expect(await run('audit', 'verify', '--data', tmp.dir, '--from-file', second)).toEqual({
      out: `intact: 5 line(s) in 2 file(s)\n  checked from ${second} (line n 6): the chain before it is not checked\n`,
      exitCode: 0,
    });
    const json = JSON.parse(
      (await run('audit', 'verify', '--data', tmp.dir, '--from-file', second, '--json')).out,
    );
    expect(json).toMatchObject({ ok: true, from: second, files: [{ name: second, first: 6, last: 9 }, {}] });
    await expect(run('audit', 'verify', '--data', tmp.dir, '--from-file', oldest)).rejects.toThrow(
      UsageError,
    );
  });
});
