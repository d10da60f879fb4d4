/**
 * @module io/shared/pg-users
 * The dashboard accounts of a gateway group in the shared PostgreSQL database (issue 16: "a
 * user created once logs in on both"): `PgUserDirectory` implements io/identity
 * `UserDirectory`, as the embedded users file does, with the same errors and the same
 * password hashing (core/passwords scrypt). Owner of the table `users` (io/shared/schema).
 *
 * Reads are synchronous, from an in-memory copy of the table kept current by
 * io/shared/pg-copy (as io/shared/pg-bindings keeps its own): loaded at open, reloaded when
 * PostgreSQL notifies a change (`LISTEN vitaltrail_users`, sent by the table's trigger on
 * every write, whoever makes it) and, as a fallback that makes a missed notification
 * harmless, whenever a poll every `pollMs` (2 s) finds the table's signature (row count and
 * largest change number, io/shared/schema) different from the copy's. `signature()` is the
 * copy's, so io/http/sessions `createAccountSync` ends the sessions of an account disabled,
 * removed or re-passworded on any gateway of the group within its own interval of this
 * gateway seeing the change. Writes go to PostgreSQL and reload the copy before they
 * resolve, so the writer sees its own write.
 *
 * While the database is unreachable the copy keeps serving sign-ins and session checks
 * (the accounts as last seen), writes fail with `shared_unavailable`, and the listener is
 * re-opened by the poll once it is back. A row that breaks the record rules (a manual edit)
 * makes `list`, `find` and `get` throw `users_corrupt`, as a corrupt users file does, until
 * it is fixed.
 *
 * Trust: rows are written by gateways, but parsed defensively. Passwords are never logged,
 * nor sent to the database in clear; error reasons carry no user name, URL or password.
 */
import type pg from 'pg';
import { hashPassword, type ScryptDerive, verifyPassword } from '../../core/passwords.js';
import {
  type AddOptions,
  checkSubject,
  DUMMY_HASH,
  isRole,
  type PasswordOptions,
  ROLES,
  type Role,
  USERNAME_PATTERN,
  type User,
  type UserDirectory,
  UserFileError,
  withFlags,
} from '../identity/index.js';
import { PgCopy } from './pg-copy.js';
import {
  CLOSE_GRACE_MS,
  closeSharedPool,
  openSharedPool,
  type SharedPostgresOptions,
  SharedStateError,
  settles,
  sqlState,
} from './postgres.js';
import { USERS_CHANNEL } from './schema.js';

/** How often the table's signature is compared with the copy's. */
export const DEFAULT_USERS_POLL_MS = 2000;

export interface PgUserDirectoryOptions extends SharedPostgresOptions {
  /** Fallback poll interval (a missed notification is seen within it). Default 2 s. */
  pollMs?: number;
}

interface UserRow {
  username: unknown;
  role: unknown;
  password_hash: unknown;
  created_at: unknown;
  disabled: unknown;
  must_change: unknown;
  subject: unknown;
}

const COLUMNS = 'username, role, password_hash, created_at, disabled, must_change, subject';

/** A row as io/identity `User`, or `users_corrupt`. */
function userOf(r: UserRow): User {
  const createdAt = typeof r.created_at === 'string' ? Number(r.created_at) : r.created_at;
  if (
    typeof r.username !== 'string' ||
    !USERNAME_PATTERN.test(r.username) ||
    !isRole(r.role) ||
    typeof r.password_hash !== 'string' ||
    typeof createdAt !== 'number' ||
    !Number.isSafeInteger(createdAt) ||
    typeof r.disabled !== 'boolean' ||
    typeof r.must_change !== 'boolean' ||
    (r.subject !== null && typeof r.subject !== 'string')
  ) {
    throw new UserFileError('users_corrupt', 'a row of the shared users table is not a valid account');
  }
  const subject = r.subject ?? undefined;
  try {
    checkSubject(r.role, subject, 'a row of the shared users table');
  } catch (err) {
    throw new UserFileError('users_corrupt', (err as Error).message);
  }
  const base = {
    username: r.username,
    role: r.role,
    passwordHash: r.password_hash,
    createdAt,
    ...(subject !== undefined ? { subject } : {}),
  };
  return withFlags(base, r.disabled, r.must_change);
}

const byUsername = (a: User, b: User): number =>
  a.username < b.username ? -1 : a.username > b.username ? 1 : 0;

/**
 * The accounts of a gateway group, in PostgreSQL. Open with `PgUserDirectory.open`, and
 * `close()` when done (it ends the pool, the listener and the poll).
 */
export class PgUserDirectory implements UserDirectory {
  readonly #pool: pg.Pool;
  readonly #copy: PgCopy;
  #users = new Map<string, User>();
  #signature = 'pg:none';
  /** Set while the table holds a row that is no valid account. */
  #failure: UserFileError | null = null;
  #closed = false;

  private constructor(pool: pg.Pool, pollMs: number) {
    this.#pool = pool;
    this.#copy = new PgCopy({
      pool,
      channel: USERS_CHANNEL,
      pollMs,
      load: () => this.#load(),
      signature: async () => {
        const r = await this.#query<{ n: string; m: string }>(
          'SELECT count(*) AS n, coalesce(max(change_no), 0) AS m FROM users',
          [],
        );
        const row = r.rows[0];
        return row ? `pg:${row.n}:${row.m}` : this.#signature;
      },
    });
  }

  /**
   * Connects, migrates the shared schema, listens for changes and loads the accounts.
   * @throws {SharedStateError} `shared_unavailable` when the database cannot be used
   * @throws {UserFileError} `users_corrupt` when a row is no valid account
   * @example const users = await PgUserDirectory.open({ url: 'postgres://vitaltrail@db/vitaltrail', password });
   */
  static async open(o: PgUserDirectoryOptions): Promise<PgUserDirectory> {
    const pollMs = o.pollMs ?? DEFAULT_USERS_POLL_MS;
    if (!Number.isFinite(pollMs) || pollMs < 10)
      throw new RangeError('PgUserDirectory: pollMs must be >= 10');
    const pool = await openSharedPool(o);
    const dir = new PgUserDirectory(pool, pollMs);
    try {
      await dir.#copy.start(); // listens before the load: no change falls between the two
      if (dir.#failure) throw dir.#failure;
    } catch (err) {
      await dir.close();
      throw err;
    }
    return dir;
  }

  list(): User[] {
    if (this.#failure) throw this.#failure;
    return [...this.#users.values()].map((u) => ({ ...u }));
  }

  get(username: string): User | undefined {
    const u = this.find(username);
    return u?.disabled ? undefined : u;
  }

  find(username: string): User | undefined {
    if (this.#failure) throw this.#failure;
    const u = this.#users.get(username);
    return u ? { ...u } : undefined;
  }

  /** `pg:<rows>:<largest change number>` of the copy (changes at every write). */
  signature(): string {
    return this.#signature;
  }

  async add(username: string, role: Role, password: string, opts: AddOptions = {}): Promise<void> {
    if (typeof username !== 'string' || !USERNAME_PATTERN.test(username)) {
      throw new TypeError('PgUserDirectory.add: username must be 1-64 chars of [A-Za-z0-9._-]');
    }
    if (!isRole(role)) throw new TypeError(`PgUserDirectory.add: role must be one of ${ROLES.join(', ')}`);
    checkSubject(role, opts.subject, 'PgUserDirectory.add');
    if (this.#users.has(username))
      throw new UserFileError('user_exists', 'a user with this name already exists');
    const passwordHash = await hashPassword(password);
    const r = await this.#write(
      `INSERT INTO users (username, role, password_hash, created_at, must_change, subject)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING RETURNING username`,
      [username, role, passwordHash, Date.now(), opts.mustChange === true, opts.subject ?? null],
    );
    if (r.rowCount === 0) throw new UserFileError('user_exists', 'a user with this name already exists');
  }

  /**
   * Copies an account as another directory holds it (its password hash, role, creation time,
   * disabled and must-change flags: `vitaltrail shared import`), unless the name is taken.
   * @returns false when an account of that name exists already (it is left as it is)
   */
  async importAccount(u: User): Promise<boolean> {
    if (!USERNAME_PATTERN.test(u.username) || !isRole(u.role))
      throw new TypeError('PgUserDirectory.importAccount: not a valid account');
    checkSubject(u.role, u.subject, 'PgUserDirectory.importAccount');
    const r = await this.#write(
      `INSERT INTO users (username, role, password_hash, created_at, disabled, must_change, subject)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING RETURNING username`,
      [
        u.username,
        u.role,
        u.passwordHash,
        u.createdAt,
        u.disabled === true,
        u.mustChangePassword === true,
        u.subject ?? null,
      ],
    );
    return r.rowCount === 1;
  }

  disable(username: string): Promise<boolean> {
    return this.#setDisabled(username, true);
  }

  enable(username: string): Promise<boolean> {
    return this.#setDisabled(username, false);
  }

  async remove(username: string): Promise<void> {
    const r = await this.#write('DELETE FROM users WHERE username = $1 RETURNING username', [username]);
    if (r.rowCount === 0) throw new UserFileError('user_not_found', 'no user with this name');
  }

  async setPassword(username: string, password: string, opts: PasswordOptions = {}): Promise<User> {
    // Asked of the database, not the copy: an account added a moment ago on another gateway counts.
    if (!(await this.#exists(username))) throw new UserFileError('user_not_found', 'no user with this name');
    const passwordHash = await hashPassword(password);
    const r = await this.#write<UserRow>(
      `UPDATE users SET password_hash = $2, must_change = $3 WHERE username = $1 RETURNING ${COLUMNS}`,
      [username, passwordHash, opts.mustChange === true],
    );
    const row = r.rows[0];
    if (row === undefined) throw new UserFileError('user_not_found', 'no user with this name');
    return userOf(row);
  }

  async authenticate(username: string, password: string, derive?: ScryptDerive): Promise<User | null> {
    if (typeof username !== 'string' || typeof password !== 'string') return null;
    // As UserFile: unknown names cost the same scrypt work; a disabled account is checked.
    let user = USERNAME_PATTERN.test(username) ? this.find(username) : undefined;
    if (!user && USERNAME_PATTERN.test(username)) {
      // An account created through another gateway a moment ago may not have reached this
      // copy yet (its notification is on the way): read the table once more (coalesced with
      // any reload under way) before answering that there is no such account.
      await this.refresh().catch(() => undefined);
      user = this.find(username);
    }
    if (!user) {
      await verifyPassword(password, DUMMY_HASH, derive);
      return null;
    }
    return (await verifyPassword(password, user.passwordHash, derive)) ? user : null;
  }

  /**
   * Reloads the copy from the table; resolves once a load that began after this call ends
   * (calls while one is queued share it).
   * @throws {SharedStateError} `shared_unavailable` when the table cannot be read
   */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#copy.refresh();
  }

  /** Ends the poll, the listener and the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const copy = this.#copy.close(); // a load under way ends with the pool (bounded)
    await closeSharedPool(this.#pool);
    await settles(copy, CLOSE_GRACE_MS);
  }

  async #setDisabled(username: string, disabled: boolean): Promise<boolean> {
    const r = await this.#write(
      'UPDATE users SET disabled = $2 WHERE username = $1 AND disabled <> $2 RETURNING username',
      [username, disabled],
    );
    if (r.rowCount !== 0) return true;
    if (!(await this.#exists(username))) throw new UserFileError('user_not_found', 'no user with this name');
    return false;
  }

  async #exists(username: string): Promise<boolean> {
    const r = await this.#query('SELECT 1 FROM users WHERE username = $1', [username]);
    return r.rowCount !== 0;
  }

  /** One change, then the copy reloaded (the writer sees its own write). */
  async #write<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    const r = await this.#query<R>(sql, params);
    await this.refresh();
    return r;
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw closedError();
    try {
      return await this.#pool.query<R>(sql, params);
    } catch (err) {
      throw new SharedStateError(
        'shared_unavailable',
        `the shared users table cannot be used (${sqlState(err)})`,
        { cause: err },
      );
    }
  }

  /** Reads the table into the copy; returns the copy's signature (unchanged when a row is bad). */
  async #load(): Promise<string> {
    const r = await this.#query<UserRow & { change_no: string }>(
      `SELECT ${COLUMNS}, change_no FROM users`,
      [],
    );
    let users: User[];
    try {
      users = r.rows.map(userOf).sort(byUsername);
    } catch (err) {
      this.#failure = err as UserFileError;
      return this.#signature;
    }
    let max = 0n;
    for (const row of r.rows) if (BigInt(row.change_no) > max) max = BigInt(row.change_no);
    this.#users = new Map(users.map((u) => [u.username, u]));
    this.#signature = `pg:${r.rows.length}:${max}`;
    this.#failure = null;
    return this.#signature;
  }
}

function closedError(): SharedStateError {
  return new SharedStateError('shared_unavailable', 'the shared users directory is closed');
}
