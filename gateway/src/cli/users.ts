/**
 * @module cli/users
 * `vitaltrail users add|list`: dashboard accounts in `DATA/gateway/users.json` (mode 0600)
 * (ARCHITECTURE.md "Roles": every human user has their own account; no shared logins).
 *
 * Secrets never go through argv (STYLE.md §8.3): the password of `users add` is read from
 * `--password-file FILE` or, without it, from standard input (first line; on a terminal a
 * prompt with echo off). New passwords follow a minimum policy: at least 12 characters, not
 * all of one class (`password_weak` otherwise). A running
 * gateway re-reads the file on every login, so a new account works at once.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { MIN_PASSWORD_LENGTH, passwordPolicyProblem } from '../core/passwords.js';
import { ROLES, type Role, USERNAME_PATTERN, UserFile } from '../io/identity/index.js';
import { dataPaths } from '../io/ops/index.js';
import { errorClass } from '../protocol/errors.js';
import { dataDirOption, readSecretLine } from './inputs.js';

export class UsersCliError extends errorClass<'users_cli'>('UsersCliError') {}

/** Reads all of stdin as UTF-8 (a password piped in); on a terminal, one line with echo off. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return readSecretLine('password: ');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The password policy of new accounts (`passwordPolicyProblem`, core/passwords.ts).
 * @throws {UsersCliError} `password_weak`.
 */
export function checkPasswordPolicy(password: string): string {
  const problem = passwordPolicyProblem(password);
  if (problem !== undefined)
    throw new UsersCliError(
      'password_weak',
      `the password is ${problem}; use at least ${MIN_PASSWORD_LENGTH} characters of two classes or more`,
    );
  return password;
}

/**
 * The first line of a password source, without its line ending.
 * @throws {UsersCliError} `password_missing` when the line is empty.
 * @example firstLine('s3cret\n') // 's3cret'
 */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (line.length === 0)
    throw new UsersCliError('password_missing', 'no password given on stdin or in the file');
  return line;
}

function usernameOption(value: string): string {
  if (!USERNAME_PATTERN.test(value))
    throw new InvalidArgumentError('usernames are 1-64 chars of [A-Za-z0-9._-]');
  return value;
}

function roleOption(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  }
  return value as Role;
}

/**
 * Registers `users add` and `users list` on the program.
 * @example registerUsersCommands(program); // vitaltrail users add --username kim --role nurse < pw.txt
 */
export function registerUsersCommands(program: Command, defaultDataDir = '.vitaltrail/demo'): void {
  const users = program
    .command('users')
    .description('dashboard accounts (roles: admin, nurse, charge_nurse, auditor)');
  users
    .command('add')
    .description(
      'create an account; the password is read from --password-file or from stdin (first line), never from argv',
    )
    .requiredOption('--username <name>', 'user name, 1-64 chars of [A-Za-z0-9._-]', usernameOption)
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, roleOption)
    .option('--password-file <file>', 'file whose first line is the password (default: read stdin)')
    .addOption(dataDirOption(defaultDataDir))
    .action(async (o: { username: string; role: Role; passwordFile?: string; data: string }) => {
      const password = checkPasswordPolicy(
        firstLine(o.passwordFile ? readFileSync(o.passwordFile, 'utf8') : await readStdin()),
      );
      await new UserFile(dataPaths(o.data).users).add(o.username, o.role, password);
      process.stdout.write(`added ${o.username} (${o.role})\n`);
    });
  users
    .command('list')
    .description('list accounts: user name, role, created (never password hashes)')
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) => {
      // Whitelist: the hash never leaves the file.
      const rows = new UserFile(dataPaths(o.data).users)
        .list()
        .map((u) => ({ username: u.username, role: u.role, createdAt: new Date(u.createdAt).toISOString() }));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${'USERNAME'.padEnd(24)} ${'ROLE'.padEnd(13)} CREATED\n`);
      for (const r of rows)
        process.stdout.write(`${r.username.padEnd(24)} ${r.role.padEnd(13)} ${r.createdAt}\n`);
      process.stdout.write(`${rows.length} user(s)\n`);
    });
}
