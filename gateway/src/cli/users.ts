/**
 * @module cli/users
 * `vitaltrail users add|list|disable|enable|remove|reset-password`: dashboard accounts in
 * `DATA/gateway/users.json` (mode 0600) (ARCHITECTURE.md "Roles": every human user has
 * their own account; no shared logins).
 *
 * `add` and `reset-password` make the user choose their own password at the next sign-in
 * (`mustChangePassword`; `add --no-must-change` for an account whose holder typed the
 * password themselves): the administrator who set it knows it, and it travelled to the
 * user out of band. A running gateway ends every session of a disabled or removed
 * account, or one whose password was reset, within about a second (io/http/sessions
 * `createAccountSync`); each change is appended to the audit log as `cli:<os user>`
 * (`user_added`, `user_disabled`, `user_enabled`, `user_removed`, `password_reset`).
 *
 * Secrets never go through argv (STYLE.md §8.3): the password of `users add` is read from
 * `--password-file FILE` or, without it, from standard input (first line; on a terminal a
 * prompt with echo off). New passwords follow a minimum policy: at least 12 characters, not
 * all of one class (`password_weak` otherwise). A running
 * gateway re-reads the file on every login, so a new account works at once.
 *
 * Where the accounts are: `--data DIR` (default `.vitaltrail/demo`), that data directory's
 * users file; or `--config FILE`, a gateway's configuration: the PostgreSQL directory its
 * group shares when the file names `shared.postgres` (io/shared: one account for every
 * gateway of the group; running gateways see a change within about a second by
 * notification, 2 s at worst), else the users file of its `dataDir`. Either way the audit
 * line goes to that data directory's audit log.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile, sharedOptionsFromConfig } from '../app/config.js';
import { MIN_PASSWORD_LENGTH, passwordPolicyProblem } from '../core/passwords.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../core/pseudonym.js';
import {
  CLINICIAN_ID_ROLES,
  ROLES,
  type Role,
  SUBJECT_PATTERN,
  USERNAME_PATTERN,
  type User,
  type UserDirectory,
} from '../io/identity/index.js';
import { type AuditEventType, AuditLog, dataPaths, keyFile } from '../io/ops/index.js';
import { openUserDirectory } from '../io/shared/index.js';
import { PATIENT_ID_PATTERN } from '../io/store/index.js';
import { errorClass } from '../protocol/errors.js';
import { cliActor } from './displays.js';
import { UsageError } from './errors.js';
import { readSecretLine, requireDataDir } from './inputs.js';

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

/** `--data DIR` or `--config FILE` (see the module doc). */
interface StoreFlags {
  data?: string;
  config?: string;
}

/**
 * Runs `fn` on the accounts the flags name (module doc), closing them after.
 * @throws {ConfigError} `config_invalid` for a bad config file; {CliError} `data_dir_missing`;
 *   {SharedStateError} `shared_unavailable` when the shared database cannot be used
 */
async function withUsers<T>(
  o: StoreFlags,
  defaultDataDir: string,
  fn: (users: UserDirectory, dataDir: string) => Promise<T> | T,
): Promise<T> {
  let dataDir = o.data ?? defaultDataDir;
  let postgres: NonNullable<ReturnType<typeof sharedOptionsFromConfig>>['postgres'] | undefined;
  if (o.config !== undefined) {
    const cfg = loadConfigFile(o.config);
    dataDir = cfg.values.dataDir as string;
    postgres = sharedOptionsFromConfig(cfg)?.postgres;
  }
  // A mistyped directory must not become a new, empty users file (as cli/main checks --data).
  requireDataDir(dataDir);
  const dir = await openUserDirectory({ usersPath: dataPaths(dataDir).users, postgres });
  try {
    return await fn(dir.users, dataDir);
  } finally {
    await dir.close();
  }
}

/** `--data` (no default here: cli/main checks a given one; `withUsers` the default) and `--config`. */
function storeOptions(cmd: Command, defaultDataDir: string): Command {
  return cmd
    .addOption(
      new Option('--data <dir>', `data directory (default: "${defaultDataDir}")`).conflicts('config'),
    )
    .option(
      '--config <file>',
      "a gateway config file: the group's shared accounts when it names shared.postgres, else its dataDir's",
    );
}

/**
 * Runs one change of the accounts and appends its audit line (`user` = `cli:<os user>`,
 * `detail` = `user <name>`) to the data directory's audit log. The change stands if the
 * audit line fails; that failure is then thrown (exit 2), as `vitaltrail displays` does.
 */
async function audited<T>(
  users: UserDirectory,
  data: string,
  event: AuditEventType,
  username: string,
  change: (users: UserDirectory) => Promise<T>,
): Promise<T> {
  const paths = dataPaths(data);
  const result = await change(users);
  const audit = new AuditLog(paths.gatewayDir);
  audit.append(event, { user: cliActor(), detail: `user ${username}` });
  audit.closeOrThrow();
  return result;
}

/** The password of `add` and `reset-password`: `--password-file`, else stdin (a prompt on a terminal). */
async function readNewPassword(passwordFile: string | undefined): Promise<string> {
  return checkPasswordPolicy(
    firstLine(passwordFile ? readFileSync(passwordFile, 'utf8') : await readStdin()),
  );
}

/** An account's state for `users list`: `disabled`, `must-change` or `active`. */
function statusOf(u: User): string {
  return u.disabled ? 'disabled' : u.mustChangePassword ? 'must-change' : 'active';
}

/**
 * The subject of a `doctor` (`--clinician`), a nurse or charge nurse (`--clinician`, optional) or `patient` (`--patient`, its pseudonym under the
 * data dir's pseudonym key, made at the first use) account; none for the other roles.
 * @throws {UsageError} when the role's option is missing or another role's is given
 */
function subjectOf(
  o: { role: Role; clinician?: string; patient?: string },
  dataDir: string,
): string | undefined {
  if (o.clinician !== undefined && o.role !== 'doctor' && !CLINICIAN_ID_ROLES.includes(o.role))
    throw new UsageError('--clinician is for --role doctor, nurse or charge_nurse');
  if (o.patient !== undefined && o.role !== 'patient')
    throw new UsageError('--patient is for --role patient');
  if (o.role === 'doctor') {
    const id = o.clinician?.toLowerCase();
    if (id === undefined || !SUBJECT_PATTERN.test(id))
      throw new UsageError(
        '--role doctor needs --clinician, 0x and 64 hex digits (the id in the chain registry)',
      );
    return id;
  }
  if (o.clinician !== undefined) {
    const id = o.clinician.toLowerCase();
    if (!SUBJECT_PATTERN.test(id))
      throw new UsageError('--clinician is 0x and 64 hex digits (the id in the chain registry)');
    return id;
  }
  if (o.role === 'patient') {
    if (o.patient === undefined || !PATIENT_ID_PATTERN.test(o.patient))
      throw new UsageError('--role patient needs --patient, the patient id (1-64 chars of [A-Za-z0-9._:/-])');
    return pseudonymOf(keyFile(dataPaths(dataDir).pseudonymKey, PSEUDONYM_KEY_BYTES), o.patient);
  }
  return undefined;
}

function roleOption(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  }
  return value as Role;
}

/**
 * Registers `users add|list|disable|enable|remove|reset-password` on the program.
 * @example registerUsersCommands(program); // vitaltrail users add --username kim --role nurse < pw.txt
 */
export function registerUsersCommands(program: Command, defaultDataDir = '.vitaltrail/demo'): void {
  const users = program.command('users').description(`dashboard accounts (roles: ${ROLES.join(', ')})`);
  const store = (cmd: Command): Command => storeOptions(cmd, defaultDataDir);
  store(
    users
      .command('add')
      .description(
        'create an account; the password is read from --password-file or from stdin (first line), never from argv',
      )
      .requiredOption('--username <name>', 'user name, 1-64 chars of [A-Za-z0-9._-]', usernameOption)
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, roleOption)
      .option('--password-file <file>', 'file whose first line is the password (default: read stdin)')
      .option('--must-change', 'the user chooses a new password at first sign-in (default)', true)
      .option('--no-must-change', 'keep this password (the account holder typed it themselves)')
      .option(
        '--clinician <id>',
        "a clinician id in the chain's registry (0x and 64 hex digits): required for --role doctor, optional for nurse and charge_nurse (a suspension on the chain then bars the account)",
      )
      .option(
        '--patient <id>',
        "the patient a patient account is for (required for --role patient): stored as the patient's pseudonym, never the id",
      ),
  ).action(
    async (
      o: StoreFlags & {
        username: string;
        role: Role;
        passwordFile?: string;
        mustChange: boolean;
        clinician?: string;
        patient?: string;
      },
    ) => {
      const password = await readNewPassword(o.passwordFile);
      await withUsers(o, defaultDataDir, (dir, data) => {
        const subject = subjectOf(o, data);
        return audited(dir, data, 'user_added', o.username, (u) =>
          u.add(o.username, o.role, password, {
            mustChange: o.mustChange,
            ...(subject !== undefined ? { subject } : {}),
          }),
        );
      });
      process.stdout.write(`added ${o.username} (${o.role})\n`);
      if (o.mustChange) process.stderr.write(`${o.username} chooses a new password at first sign-in\n`);
    },
  );
  store(
    users
      .command('disable')
      .description(
        'disable an account: no sign-in; its sessions on a running gateway end within about a second',
      )
      .requiredOption('--username <name>', 'the account', usernameOption),
  ).action(async (o: StoreFlags & { username: string }) => {
    const changed = await withUsers(o, defaultDataDir, (dir, data) =>
      audited(dir, data, 'user_disabled', o.username, (u) => u.disable(o.username)),
    );
    process.stdout.write(changed ? `disabled ${o.username}\n` : `${o.username} was disabled already\n`);
  });
  store(
    users
      .command('enable')
      .description('enable a disabled account again (with its old password)')
      .requiredOption('--username <name>', 'the account', usernameOption),
  ).action(async (o: StoreFlags & { username: string }) => {
    const changed = await withUsers(o, defaultDataDir, (dir, data) =>
      audited(dir, data, 'user_enabled', o.username, (u) => u.enable(o.username)),
    );
    process.stdout.write(changed ? `enabled ${o.username}\n` : `${o.username} was enabled already\n`);
  });
  store(
    users
      .command('remove')
      .description('remove an account; its sessions on a running gateway end within about a second')
      .requiredOption('--username <name>', 'the account', usernameOption),
  ).action(async (o: StoreFlags & { username: string }) => {
    await withUsers(o, defaultDataDir, (dir, data) =>
      audited(dir, data, 'user_removed', o.username, (u) => u.remove(o.username)),
    );
    process.stdout.write(`removed ${o.username}\n`);
  });
  store(
    users
      .command('reset-password')
      .description(
        'set a new password (from --password-file or stdin, never argv); the user must choose their own at the next sign-in, and their sessions end',
      )
      .requiredOption('--username <name>', 'the account', usernameOption)
      .option('--password-file <file>', 'file whose first line is the password (default: read stdin)'),
  ).action(async (o: StoreFlags & { username: string; passwordFile?: string }) => {
    await withUsers(o, defaultDataDir, async (dir, data) => {
      // Before the password is asked for: a typo in the name costs no prompt.
      if (!dir.find(o.username)) throw new UsersCliError('user_not_found', 'no user with this name');
      const password = await readNewPassword(o.passwordFile);
      await audited(dir, data, 'password_reset', o.username, (u) =>
        u.setPassword(o.username, password, { mustChange: true }),
      );
    });
    process.stdout.write(`reset the password of ${o.username}; they choose a new one at the next sign-in\n`);
  });
  store(
    users
      .command('list')
      .description(
        "list accounts: user name, role, created, status, a doctor's clinician id or a patient's pseudonym (never password hashes)",
      )
      .option('--json', 'print JSON'),
  ).action(async (o: StoreFlags & { json?: boolean }) => {
    // Whitelist: the hash never leaves the store.
    const rows = (await withUsers(o, defaultDataDir, (dir) => dir.list())).map((u) => ({
      username: u.username,
      role: u.role,
      createdAt: new Date(u.createdAt).toISOString(),
      status: statusOf(u),
      // A doctor's clinician id or a patient's pseudonym (issue 18): identifiers, no PHI.
      ...(u.subject !== undefined ? { subject: u.subject } : {}),
    }));
    if (o.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${'USERNAME'.padEnd(24)} ${'ROLE'.padEnd(13)} ${'CREATED'.padEnd(24)} STATUS\n`);
    for (const r of rows)
      process.stdout.write(
        `${r.username.padEnd(24)} ${r.role.padEnd(13)} ${r.createdAt.padEnd(24)} ${r.status}\n`,
      );
    process.stdout.write(`${rows.length} user(s)\n`);
  });
}
