/**
 * @module test/e2e/users-cli
 * `vitaltrail users add|list` through the built CLI: passwords from a file or stdin,
 * never argv; the account signs in (scrypt hash in the 0600 users file); the roles
 * include charge_nurse; errors exit 2 with `error: <code>: <reason>`.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

/** The built CLI with `stdin` piped in (as a script or a password manager would). */
const runWithStdin = (args: string[], stdin: string): Promise<CliResult> => runCli(args, { stdin });

describe('vitaltrail users', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const data = ['--data', tmp.dir];

  it('behavior: add from stdin and from a file; list shows names and roles, never hashes', async () => {
    const a = await runWithStdin(
      ['users', 'add', '--username', 'nurse.kim', '--role', 'nurse', ...data],
      'kim-secret-1\n',
    );
    expect(a).toMatchObject({ code: 0, stdout: 'added nurse.kim (nurse)\n' });
    const pwFile = join(tmp.dir, 'pw.txt');
    writeFileSync(pwFile, 'lee-secret-2\nignored second line\n', { mode: 0o600 });
    const b = await runCli([
      'users',
      'add',
      '--username',
      'charge.lee',
      '--role',
      'charge_nurse',
      '--password-file',
      pwFile,
      ...data,
    ]);
    expect(b).toMatchObject({ code: 0, stdout: 'added charge.lee (charge_nurse)\n' });

    const users = new UserFile(join(tmp.dir, 'gateway/users.json'));
    expect(statSync(users.path).mode & 0o777).toBe(0o600);
    expect(await users.authenticate('nurse.kim', 'kim-secret-1')).toMatchObject({ role: 'nurse' });
    expect(await users.authenticate('charge.lee', 'lee-secret-2')).toMatchObject({ role: 'charge_nurse' });

    const list = await runCli(['users', 'list', '--json', ...data]);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => [r.username, r.role])).toEqual([
      ['charge.lee', 'charge_nurse'],
      ['nurse.kim', 'nurse'],
    ]);
    expect(list.stdout).not.toContain('scrypt');
    const table = await runCli(['users', 'list', ...data]);
    expect(table.stdout).toMatch(/nurse\.kim\s+nurse\s+\d{4}-/);
    expect(table.stdout).toContain('2 user(s)');
  }, 30_000);

  it('error: a taken name, an empty password, an unknown role exit 2 with a coded message', async () => {
    const dup = await runWithStdin(
      ['users', 'add', '--username', 'nurse.kim', '--role', 'nurse', ...data],
      'x-secret-3-long\n',
    );
    expect(dup.code).toBe(2);
    expect(dup.stderr).toBe('error: user_exists: a user with this name already exists\n');
    const empty = await runWithStdin(
      ['users', 'add', '--username', 'nurse.new', '--role', 'nurse', ...data],
      '\n',
    );
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('error: password_missing: no password given on stdin or in the file\n');
    const role = await runCli(['users', 'add', '--username', 'x', '--role', 'root', ...data]);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('role must be one of admin, nurse, charge_nurse, auditor, doctor, patient');
    // A doctor without the clinician id it is registered under on the chain (issue 18).
    const doctor = await runCli(['users', 'add', '--username', 'x', '--role', 'doctor', ...data], {
      stdin: 'a-long-password-for-x-1\n',
    });
    expect(doctor.code).toBe(2);
    expect(doctor.stderr).toContain('--role doctor needs --clinician');
  }, 30_000);
});
