/**
 * @module io/identity/users
 * Dashboard user accounts in one JSON file (mode 0600), e.g. `<dataDir>/gateway/users.json`
 * (ARCHITECTURE.md "Roles": every human user has their own account; no shared logins).
 *
 * File format (version 1):
 * `{"version":1,"users":[{"username","role","passwordHash","createdAt","disabled"?,"mustChangePassword"?,"subject"?}]}`.
 * `subject` (issue 18) names whom a `doctor` or `patient` account is on the consortium chain:
 * a doctor's clinician id in the chain's registry, a patient's pseudonym (io/identity
 * `pseudonymOf`), each `0x` and 64 lower-case hex digits; the other roles have none.
 * `disabled: true`: the account may not sign in (403 `account_disabled`) nor act through
 * the alarm routes that name a user (`get` does not return it); `mustChangePassword: true`:
 * after signing in the user may only read `GET /api/me` and choose a new password
 * (`POST /api/password`). Both are written only when true, so a file without them (older
 * gateways) loads as "enabled, no change required" and stays version 1.
 * The file is re-read on every call, so accounts added by the CLI while the gateway
 * runs are seen at once; writes go to a temp file that is renamed over the old one (a new
 * inode: `signature()` changes, which is how a running gateway notices a change made by
 * another process and ends the sessions it no longer allows, io/http/sessions).
 * Writers in two processes (the CLI and the gateway) are not locked against each other:
 * each read-modify-write is synchronous and short, but two at the same instant keep the
 * later one only.
 *
 * Trust: the file is written only by us, but it is parsed defensively; a corrupt file
 * is a coded error (`users_corrupt`), never a SyntaxError. Passwords are never logged
 * or stored in clear, except the one-off initial admin password file (mode 0600).
 *
 * `UserDirectory` is what the gateway and the CLI use of an account store: `UserFile` (the
 * embedded default, this file) and io/shared `PgUserDirectory` (PostgreSQL, shared by the
 * gateways of a group; issue 16) implement it, and one abstract suite runs against both
 * (test/integration/user-directory-abstract.ts). Reads are synchronous (sign-in and every
 * request's session check read them on the hot path); writes and `authenticate` are not.
 */

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  generatePassword,
  HASH_BYTES,
  hashPassword,
  SALT_BYTES,
  SCRYPT_PARAMS,
  type ScryptDerive,
  verifyPassword,
} from '../../core/passwords.js';
import { errorClass } from '../../protocol/errors.js';
import { ensureDir, writeSecret } from '../ops/index.js';

/**
 * Roles (ARCHITECTURE.md "Roles"): `admin` runs the gateway; `nurse` sees the ward's live
 * and historical vitals and acknowledges alarms (ward-scoped: one ward per gateway for
 * now); `charge_nurse` is a nurse who also admits and discharges patients and sets alarm
 * limits; `auditor` reads proofs and bundles, no live PHI. Issue 18: `doctor`, a clinician
 * outside the ward team (the patient's cardiologist), who sees a patient's data only under
 * the patient's consent on chain, with no ward or alarm rights; `patient`, who sees their
 * own data and grants or revokes doctors.
 */
export type Role = 'admin' | 'nurse' | 'charge_nurse' | 'auditor' | 'doctor' | 'patient';
export const ROLES: readonly Role[] = ['admin', 'nurse', 'charge_nurse', 'auditor', 'doctor', 'patient'];
/** The roles whose account names a `subject` on the chain. */
export const SUBJECT_ROLES: readonly Role[] = ['doctor', 'patient'];
/**
 * The ward team's clinicians, whose account may name a clinician id on the chain (issue 18:
 * nurses are registered there too, and a suspension there ends their sessions, io/care
 * `ClinicianBar`); without one the account is the gateway's alone.
 */
export const CLINICIAN_ID_ROLES: readonly Role[] = ['nurse', 'charge_nurse'];
/** A subject: a clinician id or a patient pseudonym, `0x` and 64 lower-case hex digits. */
export const SUBJECT_PATTERN = /^0x[0-9a-f]{64}$/;

export interface User {
  username: string;
  role: Role;
  passwordHash: string;
  createdAt: number;
  /** The account may not sign in; its sessions end. Absent: false. */
  disabled?: boolean;
  /** The user must choose a new password before using anything but `GET /api/me`. Absent: false. */
  mustChangePassword?: boolean;
  /** A doctor's or nurse's clinician id, or a patient's pseudonym (see the module doc). */
  subject?: string;
}

/** Options of `UserDirectory.add` and `UserDirectory.setPassword`. */
export interface PasswordOptions {
  /** Require the user to choose a new password at their next sign-in. Default false. */
  mustChange?: boolean;
}

/** Options of `UserDirectory.add`. */
export interface AddOptions extends PasswordOptions {
  /** Required for a `doctor` or `patient`, refused for the other roles (`SUBJECT_PATTERN`). */
  subject?: string;
}

/**
 * Checks a role's subject: present and well-formed for `doctor` and `patient`, optional for
 * `nurse` and `charge_nurse` (a clinician id), absent for the rest.
 * @throws {TypeError} naming what is wrong (`who`: the caller, for the message)
 */
export function checkSubject(role: Role, subject: string | undefined, who: string): void {
  const needs = SUBJECT_ROLES.includes(role);
  const may = needs || CLINICIAN_ID_ROLES.includes(role);
  if (needs && subject === undefined)
    throw new TypeError(`${who}: a ${role} account needs a subject, 0x and 64 lower-case hex digits`);
  if (subject !== undefined && !may) throw new TypeError(`${who}: a ${role} account has no subject`);
  if (subject !== undefined && !SUBJECT_PATTERN.test(subject))
    throw new TypeError(`${who}: a subject is 0x and 64 lower-case hex digits`);
}

/** Usernames: 1-64 chars of [A-Za-z0-9._-], like device ids (PROTOCOL.md §1). */
export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const USERS_FILE_VERSION = 1;

export class UserFileError extends errorClass<'users'>('UserFileError') {}

/**
 * Verified for unknown usernames so timing does not reveal which names exist: the same
 * scrypt parameters as real hashes, with random bytes as the "hash", so nothing matches.
 */
export const DUMMY_HASH = `scrypt$${SCRYPT_PARAMS.N}$${SCRYPT_PARAMS.r}$${SCRYPT_PARAMS.p}$${randomBytes(SALT_BYTES).toString('base64')}$${randomBytes(HASH_BYTES).toString('base64')}`;

export function isRole(x: unknown): x is Role {
  return typeof x === 'string' && (ROLES as readonly string[]).includes(x);
}

function parseUser(x: unknown): User {
  if (typeof x !== 'object' || x === null)
    throw new UserFileError('users_corrupt', 'a user record is not an object');
  const u = x as Record<string, unknown>;
  if (typeof u.username !== 'string' || !USERNAME_PATTERN.test(u.username)) {
    throw new UserFileError('users_corrupt', 'a user record has an invalid username');
  }
  if (!isRole(u.role)) throw new UserFileError('users_corrupt', 'a user record has an unknown role');
  if (typeof u.passwordHash !== 'string') {
    throw new UserFileError('users_corrupt', 'a user record has no password hash');
  }
  if (typeof u.createdAt !== 'number' || !Number.isSafeInteger(u.createdAt)) {
    throw new UserFileError('users_corrupt', 'a user record has an invalid createdAt');
  }
  for (const flag of ['disabled', 'mustChangePassword'] as const) {
    if (u[flag] !== undefined && typeof u[flag] !== 'boolean') {
      throw new UserFileError('users_corrupt', `a user record has a non-boolean ${flag}`);
    }
  }
  const subject = u.subject;
  if (subject !== undefined && typeof subject !== 'string')
    throw new UserFileError('users_corrupt', 'a user record has a non-string subject');
  try {
    checkSubject(u.role, subject, 'a user record');
  } catch (err) {
    throw new UserFileError('users_corrupt', (err as Error).message);
  }
  // Whitelist: unknown fields are dropped, never carried along.
  return withFlags(
    {
      username: u.username,
      role: u.role,
      passwordHash: u.passwordHash,
      createdAt: u.createdAt,
      ...(subject !== undefined ? { subject } : {}),
    },
    u.disabled === true,
    u.mustChangePassword === true,
  );
}

/** The record with its flags set only when true (the stored shape: absent means false). */
export function withFlags(base: User, disabled: boolean, mustChangePassword: boolean): User {
  const { disabled: _d, mustChangePassword: _m, ...rest } = base;
  return {
    ...rest,
    ...(disabled ? { disabled: true } : {}),
    ...(mustChangePassword ? { mustChangePassword: true } : {}),
  };
}

/**
 * What a session of `user` was granted on: its role and its password hash, digested. A
 * session whose stamp no longer matches its account (role changed, password reset or
 * changed) ends (io/http/sessions); the hash itself is never kept in a session.
 * @example accountStamp(user) === session.stamp // still the account it signed in as
 */
export function accountStamp(user: Pick<User, 'role' | 'passwordHash' | 'subject'>): string {
  // The subject only where there is one: the stamps of the older roles stay as they were.
  const subject = user.subject !== undefined ? `\0${user.subject}` : '';
  return createHash('sha256').update(`${user.role}\0${user.passwordHash}${subject}`).digest('base64url');
}

/**
 * An account store as the gateway and the CLI use it (see the module doc). Errors are
 * `UserFileError` with `users_corrupt`, `user_exists` or `user_not_found` whatever the store;
 * misuse is a `TypeError`/`RangeError` as documented on `UserFile`.
 */
export interface UserDirectory {
  /** All users, sorted by username. */
  list(): User[];
  /** The account if it may act (exists, not disabled). */
  get(username: string): User | undefined;
  /** The record, disabled or not. */
  find(username: string): User | undefined;
  /** Changes whenever any account changes (io/http/sessions `createAccountSync` watches it). */
  signature(): string;
  add(username: string, role: Role, password: string, opts?: AddOptions): Promise<void>;
  /** @returns false when it was disabled already. */
  disable(username: string): Promise<boolean>;
  /** @returns false when it was enabled already. */
  enable(username: string): Promise<boolean>;
  remove(username: string): Promise<void>;
  /** @returns the updated record. */
  setPassword(username: string, password: string, opts?: PasswordOptions): Promise<User>;
  /** The user (disabled or not) when the password matches; null otherwise, at the same cost. */
  authenticate(username: string, password: string, derive?: ScryptDerive): Promise<User | null>;
}

/**
 * The users file. Methods are synchronous reads of a small file, except the ones that
 * hash (`add`, `authenticate`). Writes from one instance are serialised.
 */
export class UserFile implements UserDirectory {
  readonly path: string;
  #writes: Promise<void> = Promise.resolve();

  /** @param path the JSON file; need not exist yet (then there are no users). */
  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0)
      throw new TypeError('UserFile: path must be a non-empty string');
    this.path = path;
  }

  /**
   * Reads all users, sorted by username.
   * @throws {UserFileError} `users_corrupt` when the file does not parse as a v1 users file.
   */
  list(): User[] {
    if (!existsSync(this.path)) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (err) {
      throw new UserFileError('users_corrupt', 'the users file is not valid JSON', { cause: err });
    }
    if (typeof doc !== 'object' || doc === null)
      throw new UserFileError('users_corrupt', 'the users file is not an object');
    const { version, users } = doc as Record<string, unknown>;
    if (version !== USERS_FILE_VERSION)
      throw new UserFileError('users_corrupt', 'unsupported users file version');
    if (!Array.isArray(users)) throw new UserFileError('users_corrupt', 'users must be an array');
    return users
      .map(parseUser)
      .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  }

  /**
   * The account `username` if it may act: it exists and is not disabled. Callers that
   * authorise by user name (the alarm webhook, PCD-05 acknowledgements) get nothing for a
   * disabled account.
   */
  get(username: string): User | undefined {
    const u = this.find(username);
    return u?.disabled ? undefined : u;
  }

  /** The record of `username`, disabled or not (the CLI, sign-in's `account_disabled`). */
  find(username: string): User | undefined {
    return this.list().find((u) => u.username === username);
  }

  /**
   * What identifies the file's current version without reading it: inode, size and mtime
   * (every write renames a new file in, so a change always gives a new inode); `absent`
   * when there is no file.
   */
  signature(): string {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'absent';
    }
  }

  /**
   * Creates an account; the password is hashed with scrypt before anything is written.
   * @param opts `mustChange`: the user must choose a new password at first sign-in (default false)
   * @throws {TypeError} when `username` breaks USERNAME_PATTERN or `role` is not a role.
   * @throws {RangeError} when `password` is empty or too long (see `hashPassword`).
   * @throws {UserFileError} `user_exists` when the username is taken.
   */
  async add(username: string, role: Role, password: string, opts: AddOptions = {}): Promise<void> {
    if (typeof username !== 'string' || !USERNAME_PATTERN.test(username)) {
      throw new TypeError('UserFile.add: username must be 1-64 chars of [A-Za-z0-9._-]');
    }
    if (!isRole(role)) throw new TypeError(`UserFile.add: role must be one of ${ROLES.join(', ')}`);
    checkSubject(role, opts.subject, 'UserFile.add');
    if (this.find(username)) throw new UserFileError('user_exists', 'a user with this name already exists');
    const passwordHash = await hashPassword(password);
    const base: User = {
      username,
      role,
      passwordHash,
      createdAt: Date.now(),
      ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
    };
    const user = withFlags(base, false, opts.mustChange === true);
    await this.#serial(() => {
      const users = this.list();
      // Checked again: another add may have landed while we were hashing.
      if (users.some((u) => u.username === username)) {
        throw new UserFileError('user_exists', 'a user with this name already exists');
      }
      users.push(user);
      this.#write(users);
    });
  }

  /**
   * Disables an account: it can no longer sign in, and a running gateway ends its sessions
   * (io/http/sessions). The record and its password stay, for `enable`.
   * @returns false when it was disabled already.
   * @throws {UserFileError} `user_not_found`.
   */
  disable(username: string): Promise<boolean> {
    return this.#update(username, (u) =>
      u.disabled ? null : withFlags(u, true, u.mustChangePassword === true),
    );
  }

  /**
   * Enables a disabled account again (with its old password).
   * @returns false when it was enabled already.
   * @throws {UserFileError} `user_not_found`.
   */
  enable(username: string): Promise<boolean> {
    return this.#update(username, (u) =>
      u.disabled ? withFlags(u, false, u.mustChangePassword === true) : null,
    );
  }

  /**
   * Removes an account; its name may be added again later, as a new account.
   * @throws {UserFileError} `user_not_found`.
   */
  async remove(username: string): Promise<void> {
    await this.#serial(() => {
      const users = this.list();
      const rest = users.filter((u) => u.username !== username);
      if (rest.length === users.length) throw new UserFileError('user_not_found', 'no user with this name');
      this.#write(rest);
    });
  }

  /**
   * Sets a new password (hashed with scrypt first). Its sessions signed in with the old
   * password end in a running gateway (the account's stamp changes, `accountStamp`).
   * @param opts `mustChange`: true for an administrator's reset (the user then chooses
   * their own); false when the user chose it. Default false.
   * @returns the updated record.
   * @throws {RangeError} when `password` is empty or too long (see `hashPassword`).
   * @throws {UserFileError} `user_not_found`.
   */
  async setPassword(username: string, password: string, opts: PasswordOptions = {}): Promise<User> {
    if (!this.find(username)) throw new UserFileError('user_not_found', 'no user with this name');
    const passwordHash = await hashPassword(password);
    let updated: User | undefined;
    await this.#update(username, (u) => {
      updated = withFlags({ ...u, passwordHash }, u.disabled === true, opts.mustChange === true);
      return updated;
    });
    return updated as User;
  }

  /**
   * Checks a username/password pair. Unknown users cost the same scrypt work as
   * known ones, so response time does not tell which usernames exist.
   * @param derive the scrypt implementation (the gateway's password pool); default node:crypto's
   * @returns the user (disabled or not: check `disabled`), or null when the name is unknown
   * or the password is wrong.
   */
  async authenticate(username: string, password: string, derive?: ScryptDerive): Promise<User | null> {
    if (typeof username !== 'string' || typeof password !== 'string') return null;
    // `find`: a disabled account is still checked, so sign-in can say `account_disabled`
    // (only to someone who knows its password).
    const user = USERNAME_PATTERN.test(username) ? this.find(username) : undefined;
    if (!user) {
      await verifyPassword(password, DUMMY_HASH, derive);
      return null;
    }
    return (await verifyPassword(password, user.passwordHash, derive)) ? user : null;
  }

  /** Runs one read-modify-write after the ones before it from this instance. */
  #serial<T>(fn: () => T): Promise<T> {
    const run = this.#writes.then(fn);
    this.#writes = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Replaces the record of `username` with `fn(record)`; `null` leaves the file alone.
   * @returns whether the file was written.
   */
  #update(username: string, fn: (u: User) => User | null): Promise<boolean> {
    return this.#serial(() => {
      const users = this.list();
      const i = users.findIndex((u) => u.username === username);
      const current = users[i];
      if (current === undefined) throw new UserFileError('user_not_found', 'no user with this name');
      const next = fn(current);
      if (next === null) return false;
      users[i] = next;
      this.#write(users);
      return true;
    });
  }

  #write(users: User[]): void {
    ensureDir(dirname(this.path));
    // Whole or not at all: a crash leaves the old file or the new one, never half of one.
    writeSecret(this.path, `${JSON.stringify({ version: USERS_FILE_VERSION, users }, null, 2)}\n`);
  }
}

/**
 * First start: when the account store has no users, creates `admin` with a generated
 * password and writes that password to `passwordPath` (mode 0600) for the operator
 * to read once. The password is never logged. With a store shared by several gateways
 * (io/shared), the first gateway to start creates the admin; one that loses the race
 * (`user_exists`) removes the password file it wrote, which names no account, and sees
 * the winner's admin.
 * @param users the store, or the path of a users file
 * @returns `{ created: true }` when the admin was created, `{ created: false }` when users existed.
 * @throws {UserFileError} `users_corrupt` when an existing users file does not parse.
 */
export async function ensureInitialAdmin(
  users: UserDirectory | string,
  passwordPath: string,
): Promise<{ created: boolean }> {
  const dir = typeof users === 'string' ? new UserFile(users) : users;
  if (dir.list().length > 0) return { created: false };
  const password = generatePassword();
  // Password file first: if adding the user then fails we hold a stale file, never a
  // locked-out admin whose password was lost.
  ensureDir(dirname(passwordPath));
  writeSecret(passwordPath, `${password}\n`);
  try {
    await dir.add('admin', 'admin', password);
  } catch (err) {
    if (!(err instanceof UserFileError && err.code === 'user_exists')) throw err;
    rmSync(passwordPath, { force: true }); // another gateway of the group made the admin
    return { created: false };
  }
  return { created: true };
}
