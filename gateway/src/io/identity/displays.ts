/**
 * @module io/identity/displays
 * Enrolled wall displays (issue 15; the central station of a ward, IEC 80001-1 "kiosk"):
 * a screen an admin enrols once, by name, and that then holds a long random token instead
 * of a user's sign-in. The token is 32 random bytes (base64url, 256 bits, as the session
 * ids of io/http/sessions) shown once at enrolment; the gateway keeps only its SHA-256 in
 * the `displays` table (io/store/schema version 5, this module its one owner), so a copy
 * of the database does not let a screen sign in. Revoking keeps the row: who enrolled it,
 * who revoked it, and when.
 *
 * A token is checked by looking up its hash (`byToken`): the comparison is on a digest
 * the caller cannot steer byte by byte, and the index lookup's timing tells nothing about
 * the token (RFC 6749 §10.10's guidance for bearer credentials, as for API keys).
 *
 * Trust: names and tokens come from an admin's request, a CLI argument or an unknown
 * browser; names are checked against `DISPLAY_NAME_PATTERN`, tokens against
 * `DISPLAY_TOKEN_PATTERN` before any lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { GatewayStore } from '../store/index.js';

/** A display name: 1-64 letters, digits, spaces and `._-#()/·`, starting with a letter or digit. */
export const DISPLAY_NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} ._#()/·-]{0,63}$/u;
/** A display token: base64url of 32 bytes. */
export const DISPLAY_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** A display id: 12 lowercase hex digits (short enough to type in `vitaltrail displays revoke`). */
export const DISPLAY_ID_PATTERN = /^[0-9a-f]{12}$/;
/** Who enrolled or revoked: a username, or `cli:<os user>`; printable, at most 80 characters. */
const ACTOR_PATTERN = /^[\x21-\x7e]{1,80}$/;

/**
 * An enrolled display as stored (the token is never kept, only its hash); the fields of
 * core/live-contract `DisplayDto` (io/http/displays checks the two agree).
 */
export interface DisplayRecord {
  id: string;
  name: string;
  createdAt: number;
  /** The admin's username, or `cli:<os user>`. */
  createdBy: string;
  revokedAt: number | null;
  revokedBy: string | null;
}

/** What `enrol` returns: the new display and its token, shown this once. */
export interface DisplayEnrolment {
  display: DisplayRecord;
  token: string;
}

/** The path a wall screen opens once: the token travels in the fragment, never in a request line. */
export function displayPath(token: string): string {
  return `/#display=${token}`;
}

function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

interface Row {
  id: string;
  name: string;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
  revoked_by: string | null;
}

const COLUMNS = 'id, name, created_at, created_by, revoked_at, revoked_by';

function recordOf(r: Row): DisplayRecord {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

function checkActor(by: string): void {
  if (typeof by !== 'string' || !ACTOR_PATTERN.test(by)) {
    throw new RangeError('DisplayRegistry: by must be 1-80 printable ASCII characters');
  }
}

/**
 * The enrolled displays of one data directory, over the store's SQLite handle. Several
 * processes may use the same file (a running gateway and `vitaltrail displays`): every
 * call reads the table afresh.
 * @example
 * const displays = new DisplayRegistry(store);
 * const { display, token } = displays.enrol('Station 7B', 'admin');
 * displays.byToken(token)?.id === display.id; // true until revoked
 */
export class DisplayRegistry {
  readonly #now: () => number;
  readonly #stmts;

  constructor(store: GatewayStore, now: () => number = Date.now) {
    this.#now = now;
    const db = store.db;
    this.#stmts = {
      insert: db.prepare(
        'INSERT INTO displays (id, name, token_sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?)',
      ),
      list: db.prepare(`SELECT ${COLUMNS} FROM displays ORDER BY created_at, id`),
      get: db.prepare(`SELECT ${COLUMNS} FROM displays WHERE id = ?`),
      byHash: db.prepare(`SELECT ${COLUMNS} FROM displays WHERE token_sha256 = ? AND revoked_at IS NULL`),
      revoke: db.prepare(
        'UPDATE displays SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
      ),
    };
  }

  /**
   * Enrols a display: a new id and token; only the token's SHA-256 is stored.
   * @throws {RangeError} when `name` does not match `DISPLAY_NAME_PATTERN` or `by` is not printable.
   */
  enrol(name: string, by: string): DisplayEnrolment {
    if (typeof name !== 'string' || !DISPLAY_NAME_PATTERN.test(name)) {
      throw new RangeError('DisplayRegistry: name must match DISPLAY_NAME_PATTERN');
    }
    checkActor(by);
    const token = randomBytes(32).toString('base64url');
    const id = randomBytes(6).toString('hex');
    const at = this.#now();
    this.#stmts.insert.run(id, name, tokenHash(token), at, by);
    return {
      display: { id, name, createdAt: at, createdBy: by, revokedAt: null, revokedBy: null },
      token,
    };
  }

  /** Every display, revoked ones included, oldest first. */
  list(): DisplayRecord[] {
    return (this.#stmts.list.all() as Row[]).map(recordOf);
  }

  /** The display with this id, or undefined. */
  get(id: string): DisplayRecord | undefined {
    if (typeof id !== 'string' || !DISPLAY_ID_PATTERN.test(id)) return undefined;
    const r = this.#stmts.get.get(id) as Row | undefined;
    return r ? recordOf(r) : undefined;
  }

  /** Whether the display exists and is not revoked. */
  isActive(id: string): boolean {
    const d = this.get(id);
    return d !== undefined && d.revokedAt === null;
  }

  /**
   * The active display that holds `token` (attacker-controlled), or undefined for a token of
   * the wrong shape, an unknown token or a revoked display.
   */
  byToken(token: unknown): DisplayRecord | undefined {
    if (typeof token !== 'string' || !DISPLAY_TOKEN_PATTERN.test(token)) return undefined;
    const r = this.#stmts.byHash.get(tokenHash(token)) as Row | undefined;
    return r ? recordOf(r) : undefined;
  }

  /**
   * Revokes a display: its token no longer signs in. `changed` is false when it was
   * revoked already (the first revocation's time and actor are kept).
   * @returns undefined when no display has this id.
   * @throws {RangeError} when `by` is not printable.
   */
  revoke(id: string, by: string): { display: DisplayRecord; changed: boolean } | undefined {
    checkActor(by);
    if (this.get(id) === undefined) return undefined;
    const changed = this.#stmts.revoke.run(this.#now(), by, id).changes === 1;
    return { display: this.get(id) as DisplayRecord, changed };
  }
}
