/**
 * @module io/http/login
 * Sign-in and sign-out (ARCHITECTURE.md "Roles": every human user has their own account):
 *
 * - `POST /api/login` `{username,password}` → `MeDto` and a fresh session cookie.
 * - `POST /api/logout` → 204; ends the session and clears the cookie.
 * - `GET /api/me` → `MeDto` (core/live-contract), or 401 `unauthenticated`; a wall display's
 *   session (io/http/displays) answers role `display` and its `display` {id, name}; a user
 *   who must choose a new password gets `mustChangePassword: true`.
 * - `POST /api/password` `{current,next}` → `MeDto`: the signed-in user's own password change
 *   (401 `bad_credentials` for a wrong `current`, 400 `password_weak` or
 *   `password_unchanged` for `next`). It clears `mustChangePassword`, keeps this session
 *   and ends the account's other sessions. Until then io/http/server answers every other
 *   session route 403 `password_change_required`.
 *
 * A disabled account (io/identity/users) is refused with 403 `account_disabled`, and only
 * after its password checked out, so the code tells nothing to someone who does not know it.
 *
 * Failed sign-ins back off per (username, address) and per address (io/http/login-throttle),
 * so a password cannot be guessed at speed and a guesser cannot lock the rightful user
 * out; passwords are checked on the password pool's own thread (io/identity/password-pool),
 * and when its bounded queue is full a sign-in is refused at once with 503 `login_busy`
 * (Retry-After), so a spray never takes the threads the ingest path needs.
 * Trust: bodies are attacker-controlled, schema-checked and never logged; a failure is
 * audited with the username as typed (truncated, control characters replaced) and the
 * remote address, never the password.
 */
import type { FastifyInstance } from 'fastify';
import type { MeDto, UserRole } from '../../core/live-contract.js';
import { passwordPolicyProblem } from '../../core/passwords.js';
import {
  accountStamp,
  type PasswordPool,
  type Role,
  type User,
  type UserDirectory,
} from '../identity/index.js';
import { HttpError } from './errors.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Assert, HttpAuditEvent, Same } from './route-contract.js';
import {
  LIVE_ROLES,
  type Session,
  type SessionGuard,
  type SessionStore,
  sessionCookie,
  sessionIdOf,
} from './sessions.js';

/** Compile-time check: the contract's role names are io/identity/users' `Role`. */
export type RolesMatchContract = Assert<Same<Role, UserRole>>;

const LOGIN_BODY_SCHEMA = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

const PASSWORD_BODY_SCHEMA = {
  type: 'object',
  required: ['current', 'next'],
  additionalProperties: false,
  properties: {
    current: { type: 'string', minLength: 1, maxLength: 1024 },
    next: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export function meDto(s: Session): MeDto {
  const me: MeDto = { username: s.username, role: s.role, live: LIVE_ROLES.has(s.role) };
  if (s.display) me.display = { id: s.display.id, name: s.display.name };
  if (s.mustChangePassword) me.mustChangePassword = true;
  return me;
}

/** The longest username an audit line carries (the body schema's bound). */
const AUDIT_NAME_MAX = 64;

/** A typed username for the audit log: truncated, control characters replaced (no line tricks). */
export function auditName(username: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we replace
  return username.slice(0, AUDIT_NAME_MAX).replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

export interface LoginRoutesDeps {
  users: UserDirectory;
  /** Where passwords are hashed; its bound is the global limit on sign-ins being checked. */
  passwords: PasswordPool;
  throttle: LoginThrottle;
  sessions: SessionStore;
  guard: SessionGuard;
  /** Add `Secure` to the cookie. */
  secure: boolean;
  audit: (event: HttpAuditEvent) => void;
}

/**
 * The account as it is now, if `checked` (read before the scrypt work) still stands: a
 * disable, removal or reset that landed meanwhile wins (no session on a stale record).
 */
function stillCurrent(users: UserDirectory, checked: User): User | null {
  const now = users.find(checked.username);
  return now && accountStamp(now) === accountStamp(checked) ? now : null;
}

/** Registers `/api/login`, `/api/logout`, `/api/me` and `/api/password`. */
export function registerLoginRoutes(app: FastifyInstance, deps: LoginRoutesDeps): void {
  const { users, passwords, throttle, sessions, guard, secure, audit } = deps;

  /**
   * A password check under the sign-in throttle and the password pool's bound (the same
   * limits for a sign-in and for the current password of a change).
   * @throws {HttpError} `too_many_attempts`, `login_busy`.
   */
  async function checkPassword(username: string, password: string, address: string): Promise<User | null> {
    const wait = throttle.waitMs(username, address, Date.now());
    if (wait > 0) throw new HttpError('too_many_attempts', Math.ceil(wait / 1000));
    if (throttle.busy(username, address)) throw new HttpError('login_busy', 1);
    // Addresses with failures or checks in flight wait behind everyone else for the thread;
    // a clean one (priority 0) also has a reserved thread (io/identity/password-pool).
    const priority = throttle.priorityOf(address, Date.now());
    // Global bound: refuse at once rather than queue behind a spray.
    if (passwords.saturatedFor(priority)) throw new HttpError('login_busy', 1);
    throttle.begin(username, address);
    let user: User | null = null;
    try {
      user = await users.authenticate(username, password, passwords.deriveWithPriority(priority));
    } finally {
      throttle.end(username, address, user !== null, Date.now());
    }
    return user && stillCurrent(users, user);
  }

  app.post('/api/login', { schema: { body: LOGIN_BODY_SCHEMA } }, async (request, reply): Promise<MeDto> => {
    const { username, password } = request.body as { username: string; password: string };
    // The socket's peer (no proxy headers are trusted).
    const address = request.socket.remoteAddress ?? request.ip;
    const user = await checkPassword(username, password, address);
    if (!user) {
      audit({ type: 'login_failed', username: auditName(username), remote: address, at: Date.now() });
      throw new HttpError('bad_credentials');
    }
    if (user.disabled) {
      audit({
        type: 'login_failed',
        username: user.username,
        remote: address,
        at: Date.now(),
        detail: 'account_disabled',
      });
      throw new HttpError('account_disabled');
    }
    // A fresh id on every login (no session fixation); a session this browser held ends.
    const previous = sessionIdOf(request);
    if (previous !== undefined && sessions.get(previous, false)) sessions.end(previous, 'replaced');
    const s = sessions.create(user);
    await sessions.saved(s); // in a group: good on every gateway before the browser has it
    audit({ type: 'login', username: s.username, at: Date.now() });
    reply.header('set-cookie', sessionCookie(s.id, secure));
    return meDto(s);
  });

  app.post('/api/logout', async (request, reply) => {
    const id = sessionIdOf(request);
    if (id !== undefined && sessions.get(id, false)) sessions.end(id, 'logout');
    reply.header('set-cookie', sessionCookie('', secure, true));
    return reply.code(204).send();
  });

  app.get('/api/me', async (request, reply): Promise<MeDto> => meDto(guard.requireSession(request, reply)));

  app.post(
    '/api/password',
    { schema: { body: PASSWORD_BODY_SCHEMA } },
    async (request, reply): Promise<MeDto> => {
      const s = guard.requireSession(request, reply);
      // A wall display has no password (io/http/server refuses it already: route-roles).
      if (s.display) throw new HttpError('forbidden');
      const { current, next } = request.body as { current: string; next: string };
      const address = request.socket.remoteAddress ?? request.ip;
      const user = await checkPassword(s.username, current, address);
      if (!user) {
        audit({
          type: 'login_failed',
          username: s.username,
          remote: address,
          at: Date.now(),
          detail: 'password_change',
        });
        throw new HttpError('bad_credentials');
      }
      if (user.disabled) throw new HttpError('account_disabled');
      if (passwordPolicyProblem(next) !== undefined) throw new HttpError('password_weak');
      if (next === current) throw new HttpError('password_unchanged');
      const updated = await users.setPassword(user.username, next, { mustChange: false });
      // The session ended meanwhile (idle, sign-out, the account changed): it stays ended.
      if (sessions.get(s.id, false) !== s) throw new HttpError('unauthenticated');
      // This session goes on with the new password; the account's others end (`account`).
      s.stamp = accountStamp(updated);
      s.mustChangePassword = false;
      await sessions.saved(s); // the group's copy too (another gateway would refuse the old stamp)
      sessions.endUsersUnless((x) => x.username !== s.username || x.id === s.id, 'account');
      audit({ type: 'password_changed', username: s.username, at: Date.now() });
      return meDto(s);
    },
  );
}
