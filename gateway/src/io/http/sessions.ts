/**
 * @module io/http/sessions
 * Server-side sessions of the gateway's HTTP API (ARCHITECTURE.md "Roles": "idle sessions
 * end"): random 32-byte ids held in an HttpOnly, SameSite=Strict cookie (RFC 6265 §4.1,
 * §5.4), ended by an idle timer, by logout or by a new login in the same browser (a shutdown
 * ends only this process's hold of a user's session: see below). Ending a session closes its
 * live sockets with `WS_CLOSE_SESSION_ENDED` (core/live-contract), so the page returns to the
 * sign-in form.
 *
 * A wall display's session (role `display`, io/http/displays) has no idle timer: it lasts
 * until its enrolment is revoked (`endDisplay`), the browser signs in again, or shutdown.
 * At most `MAX_SESSIONS_PER_DISPLAY` live at once per display (the oldest ends), so a
 * screen that keeps re-exchanging its token cannot grow the store.
 *
 * A user's session also ends when its account changes (`account`): disabled, removed, its
 * role changed or its password reset or changed (the session's `stamp`, io/identity/users
 * `accountStamp`, no longer matches). `createAccountSync` checks the account store's
 * `signature()` (io/identity `UserDirectory`: the users file, or the PostgreSQL directory
 * the gateways of a group share, io/shared) before every request and every
 * `ACCOUNT_SYNC_MS` (1 s), so a change the CLI or another gateway makes closes the account's
 * live sockets within about a second of this gateway seeing it, and its next request is
 * already refused.
 *
 * In a gateway group (`shared`, io/shared/pg-sessions) a user's session is the group's: one
 * created here is recorded in the shared database (by the hash of its id); a cookie this
 * gateway does not know is looked up there (`resolve`, checked against the account as it is
 * now) and then held here too; a use is told to the group at most every `TOUCH_EVERY_MS`, so
 * the idle time is the group's (an idle timer here asks the group before ending); a sign-out,
 * a replaced or idle session ends on every gateway at once (the group's notification; at the
 * latest at this gateway's next touch of it). A shutdown ends the sessions here only: the
 * nurse goes on through another gateway. Wall displays' sessions stay their gateway's.
 *
 * A lone gateway keeps its users' sessions the same way in its data dir (io/identity
 * `SqliteSessions`, share `kind` `sqlite`), so they outlive a restart: a shutdown deletes no
 * row, and after the restart a cookie is resolved from the table as a group's would be,
 * against the account as it is now. A disabled or removed account's sessions end for the
 * store, group or data dir alike (`disabled`: their rows are removed), so enabling it again
 * brings none back. Being the table's one user, a lone gateway also deletes a row `accept`
 * refuses (an account changed while it was down). (In a group a gateway leaves such rows:
 * its copy may predate a password change made through another gateway, whose row holds the
 * new stamp.)
 *
 * Trust: the cookie is attacker-controlled; an id is looked up only when it has the exact
 * shape of one we issued.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { type SessionRole, WS_CLOSE_GOING_AWAY, WS_CLOSE_SESSION_ENDED } from '../../core/live-contract.js';
import {
  accountStamp,
  type SessionShare,
  type SharedSessionRow,
  type User,
  type UserDirectory,
} from '../identity/index.js';
import { HttpError } from './errors.js';
import { WARD_READ_ROLES } from './route-roles.js';

export const SESSION_COOKIE = 'vt_session';
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Live sessions of one display at most; a new one ends the oldest. */
export const MAX_SESSIONS_PER_DISPLAY = 4;
/** A shared session's use is told to the group at most this often (ms). */
export const TOUCH_EVERY_MS = 5000;
/** How often the users file is checked for changes made by another process (the CLI). */
export const ACCOUNT_SYNC_MS = 1000;
/**
 * Roles that may see live vitals (ARCHITECTURE.md "Roles": auditors see no live PHI unless
 * granted; a wall display sees the ward overview).
 */
export const LIVE_ROLES: ReadonlySet<SessionRole> = new Set<SessionRole>(WARD_READ_ROLES);

export interface Session {
  readonly id: string;
  /** A user's name, or `display:<name>` for a wall display. */
  readonly username: string;
  readonly role: SessionRole;
  /** The idle timer; null for a display, which never idles out. */
  readonly timer: NodeJS.Timeout | null;
  readonly sockets: Set<WebSocket>;
  /** The enrolled display this session belongs to (role `display` only). */
  readonly display?: { readonly id: string; readonly name: string };
  /** A user's `accountStamp` at sign-in (or at their own password change); none for a display. */
  stamp?: string;
  /** The user must choose a new password before anything but `GET /api/me` (io/http/server). */
  mustChangePassword: boolean;
}

/**
 * `revoked`: the display's enrolment was revoked; `disabled`: the user's account was
 * disabled or removed (ended for the group and the data dir too: enabling it again brings no
 * session back); `account`: the account changed (role, password); `elsewhere`: ended on
 * another gateway of the group (signed out, replaced or idle there; audited there).
 */
export type SessionEndReason =
  | 'idle'
  | 'logout'
  | 'replaced'
  | 'shutdown'
  | 'revoked'
  | 'disabled'
  | 'account'
  | 'elsewhere';

/** The sessions kept beyond memory (a group's, or a lone gateway's data dir), and which this gateway accepts. */
export interface SharedSessions {
  share: SessionShare;
  /** Whether a shared session may be used here (the account exists, is enabled, same stamp). */
  accept: (row: SharedSessionRow) => boolean;
}

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');
/** The ends a group hears of (the others are each gateway's own). */
const GROUP_ENDS: ReadonlySet<SessionEndReason> = new Set(['logout', 'replaced', 'idle', 'disabled']);

/** base64url of 32 bytes. */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #onEnd: (s: Session, reason: SessionEndReason) => void;
  readonly #shared: SharedSessions | null;
  /** Shared sessions held here: the hash of the id → the id; when each was last told. */
  readonly #byHash = new Map<string, string>();
  readonly #toldAt = new Map<string, number>();
  readonly #unsubscribe: () => void;

  constructor(
    idleMs: number,
    onEnd: (s: Session, reason: SessionEndReason) => void,
    shared: SharedSessions | null = null,
  ) {
    this.#idleMs = idleMs;
    this.#onEnd = onEnd;
    this.#shared = shared;
    this.#unsubscribe =
      shared?.share.onRemoved((hash) => {
        const id = this.#byHash.get(hash);
        if (id !== undefined) this.end(id, 'elsewhere');
      }) ?? (() => {});
  }

  /** A user's session, bound to the account as it is now (`accountStamp`); `saved` makes it the group's. */
  create(user: Pick<User, 'username' | 'role' | 'passwordHash' | 'mustChangePassword'>): Session {
    return this.#hold(randomBytes(32).toString('base64url'), {
      username: user.username,
      role: user.role,
      stamp: accountStamp(user),
      mustChangePassword: user.mustChangePassword === true,
    });
  }

  /**
   * Records a new session, or its new account stamp or password state, for the group;
   * resolves once recorded (the sign-in answers after it). Unrecorded (the database away),
   * the session stays this gateway's alone.
   */
  async saved(s: Session): Promise<void> {
    const share = this.#shared?.share;
    if (!share || s.display || s.stamp === undefined) return;
    const now = Date.now();
    const row = {
      hash: hashOf(s.id),
      username: s.username,
      role: s.role,
      stamp: s.stamp,
      mustChange: s.mustChangePassword,
    };
    await share.put({ ...row, createdAt: now, lastSeen: now }).catch(() => {});
  }

  /**
   * The session of a cookie: this gateway's, or (in a group) the group's, then held here too.
   * Refused when the account changed since (`accept`).
   */
  async resolve(id: string | undefined, touch: boolean): Promise<Session | undefined> {
    const local = this.get(id, touch);
    if (local || !this.#shared || id === undefined || !SESSION_ID_PATTERN.test(id)) return local;
    const row = await this.#shared.share.find(hashOf(id), Date.now(), this.#idleMs).catch(() => null);
    if (!row) return undefined;
    if (!this.#shared.accept(row)) {
      // Alone on the table: the account changed while the session was not held here (a restart).
      if (this.#shared.share.kind === 'sqlite') await this.#shared.share.remove(row.hash).catch(() => {});
      return undefined;
    }
    const held = this.#sessions.get(id);
    if (held) return held; // resolved by a request meanwhile
    return this.#hold(id, {
      username: row.username,
      role: row.role,
      stamp: row.stamp,
      mustChangePassword: row.mustChange,
    });
  }

  #hold(id: string, u: Pick<Session, 'username' | 'role' | 'stamp' | 'mustChangePassword'>): Session {
    const timer = setTimeout(() => this.#idle(id), this.#idleMs);
    timer.unref();
    const s: Session = { id, ...u, timer, sockets: new Set() };
    this.#sessions.set(id, s);
    if (this.#shared) this.#byHash.set(hashOf(id), id);
    return s;
  }

  /** The idle timer ran out: in a group, only if the session was idle on every gateway. */
  #idle(id: string): void {
    const s = this.#sessions.get(id);
    const share = this.#shared?.share;
    if (!s || !share) {
      this.end(id, 'idle');
      return;
    }
    share
      .find(hashOf(id), Date.now(), this.#idleMs)
      .then((row) => (row && this.#sessions.get(id) === s ? s.timer?.refresh() : this.end(id, 'idle')))
      .catch(() => this.end(id, 'idle'));
  }

  /** Tells the group of a use, at most every `TOUCH_EVERY_MS`; ends it here if it ended there. */
  #tell(s: Session): void {
    const share = this.#shared?.share;
    if (!share || s.display) return;
    const now = Date.now();
    if (now - (this.#toldAt.get(s.id) ?? 0) < TOUCH_EVERY_MS) return;
    this.#toldAt.set(s.id, now);
    share
      .touch(hashOf(s.id), now)
      .then((last) => {
        if (last === null) this.end(s.id, 'elsewhere');
      })
      .catch(() => {}); // the database away: the session goes on here
  }

  /**
   * A session of an enrolled display: role `display`, username `display:<name>`, no idle
   * timer. Beyond `MAX_SESSIONS_PER_DISPLAY` the display's oldest session ends (`replaced`).
   */
  createDisplay(display: { id: string; name: string }): Session {
    const mine = [...this.#sessions.values()].filter((x) => x.display?.id === display.id);
    for (const old of mine.slice(0, Math.max(0, mine.length - MAX_SESSIONS_PER_DISPLAY + 1))) {
      this.end(old.id, 'replaced');
    }
    const id = randomBytes(32).toString('base64url');
    const s: Session = {
      id,
      username: `display:${display.name}`,
      role: 'display',
      timer: null,
      sockets: new Set(),
      display: { id: display.id, name: display.name },
      mustChangePassword: false,
    };
    this.#sessions.set(id, s);
    return s;
  }

  /** Ends every session of a display (its sockets close with 4401); returns how many. */
  endDisplay(displayId: string, reason: SessionEndReason): number {
    let n = 0;
    for (const s of [...this.#sessions.values()]) {
      if (s.display?.id !== displayId) continue;
      this.end(s.id, reason);
      n++;
    }
    return n;
  }

  /**
   * Ends every user session (never a display's) that `keep` rejects, e.g. those of an
   * account that was disabled; returns how many.
   */
  endUsersUnless(keep: (s: Session) => boolean, reason: SessionEndReason): number {
    let n = 0;
    for (const s of [...this.#sessions.values()]) {
      if (s.display || keep(s)) continue;
      this.end(s.id, reason);
      n++;
    }
    return n;
  }

  /** The ids of the displays that have a live session. */
  displayIds(): Set<string> {
    const out = new Set<string>();
    for (const s of this.#sessions.values()) if (s.display) out.add(s.display.id);
    return out;
  }

  /** The live session for `id`; with `touch`, restarts its idle timer (a display has none). */
  get(id: string | undefined, touch: boolean): Session | undefined {
    if (id === undefined || !SESSION_ID_PATTERN.test(id)) return undefined;
    const s = this.#sessions.get(id);
    if (s && touch) {
      s.timer?.refresh();
      this.#tell(s);
    }
    return s;
  }

  end(id: string, reason: SessionEndReason): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    this.#toldAt.delete(id);
    if (this.#shared && !s.display) {
      const hash = hashOf(id);
      this.#byHash.delete(hash);
      const share = this.#shared.share;
      if (GROUP_ENDS.has(reason)) {
        share.remove(hash).catch(() => {});
      }
    }
    if (s.timer) clearTimeout(s.timer);
    for (const socket of s.sockets) {
      socket.close(reason === 'shutdown' ? WS_CLOSE_GOING_AWAY : WS_CLOSE_SESSION_ENDED, 'session ended');
    }
    s.sockets.clear();
    this.#onEnd(s, reason);
  }

  endAll(reason: SessionEndReason): void {
    if (reason === 'shutdown') this.#unsubscribe();
    for (const id of [...this.#sessions.keys()]) this.end(id, reason);
  }

  get size(): number {
    return this.#sessions.size;
  }
}

/** Keeps a store's user sessions in step with the users file (see the module doc). */
export interface AccountSync {
  /** Ends the sessions the users file no longer allows, if it changed; returns how many. */
  check(): number;
  stop(): void;
}

/**
 * Checks `users` for changes at every `check()` (one `stat` while it is unchanged) and every
 * `intervalMs`. A file that does not parse (an operator's bad edit) ends nothing: it is read
 * again until it parses, while sign-ins fail with `users_corrupt` meanwhile.
 * @example const sync = createAccountSync(sessions, users); app.addHook('onRequest', async () => { sync.check(); });
 */
export function createAccountSync(
  sessions: SessionStore,
  users: Pick<UserDirectory, 'signature' | 'list'>,
  intervalMs = ACCOUNT_SYNC_MS,
): AccountSync {
  let seen = users.signature();
  const check = (): number => {
    const now = users.signature();
    if (now === seen) return 0;
    let byName: Map<string, User>;
    try {
      byName = new Map(users.list().map((u) => [u.username, u]));
    } catch {
      return 0; // corrupt: keep what is signed in, try again next time
    }
    seen = now;
    // A disabled or removed account's sessions end everywhere: the account's state, read from
    // the directory, not a comparison with a stamp another gateway may have renewed already.
    const ended = sessions.endUsersUnless((s) => {
      const u = byName.get(s.username);
      return u !== undefined && !u.disabled;
    }, 'disabled');
    return (
      ended +
      sessions.endUsersUnless((s) => s.stamp === accountStamp(byName.get(s.username) as User), 'account')
    );
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

// ---------------------------------------------------------------------------
// Cookies (RFC 6265 §4.1, §5.4).

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(value: string, secure: boolean, clear = false): string {
  // HttpOnly: no script access; SameSite=Strict: never sent on cross-site requests (CSRF).
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${clear ? '; Max-Age=0' : ''}${secure ? '; Secure' : ''}`;
}

/** The session id a request's cookie names, if any. */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  return cookieValue(request.headers.cookie, SESSION_COOKIE);
}

/** Request guards over one store (see `HttpAuth` in io/http/server). */
export interface SessionGuard {
  /** The caller's session, or throws 401 `unauthenticated` (and clears a stale cookie). */
  requireSession(request: FastifyRequest, reply: FastifyReply, touch?: boolean): Session;
  /** As requireSession, and throws 403 `forbidden` unless the role may see live vitals. */
  requireLive(request: FastifyRequest, reply: FastifyReply): Session;
}

export function createSessionGuard(sessions: SessionStore, secure: boolean): SessionGuard {
  const requireSession = (request: FastifyRequest, reply: FastifyReply, touch = true): Session => {
    const id = sessionIdOf(request);
    const s = sessions.get(id, touch);
    if (!s) {
      if (id !== undefined) reply.header('set-cookie', sessionCookie('', secure, true));
      throw new HttpError('unauthenticated');
    }
    return s;
  };
  return {
    requireSession,
    requireLive(request, reply) {
      const s = requireSession(request, reply);
      if (!LIVE_ROLES.has(s.role)) throw new HttpError('forbidden');
      return s;
    },
  };
}
