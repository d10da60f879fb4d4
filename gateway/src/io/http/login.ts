/**
 * @module io/http/login
 * Sign-in and sign-out (ARCHITECTURE.md "Roles": every human user has their own account):
 *
 * - `POST /api/login` `{username,password}` → `MeDto` and a fresh session cookie.
 * - `POST /api/logout` → 204; ends the session and clears the cookie.
 * - `GET /api/me` → `MeDto` (core/live-contract), or 401 `unauthenticated`.
 *
 * Failed sign-ins back off per username (no timers: bookkeeping on the clock), so a
 * password cannot be guessed at speed. Trust: bodies are attacker-controlled,
 * schema-checked and never logged; failures are audited without the username.
 */
import type { FastifyInstance } from 'fastify';
import type { MeDto, UserRole } from '../../core/live-contract.js';
import type { Role, User, UserFile } from '../identity/index.js';
import { HttpError } from './errors.js';
import type { HttpAuditEvent } from './route-contract.js';
import {
  LIVE_ROLES,
  type Session,
  type SessionGuard,
  type SessionStore,
  sessionCookie,
  sessionIdOf,
} from './sessions.js';

/** Compile-time check: the contract's role names are io/identity/users' `Role`. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type RolesMatchContract = Assert<Same<Role, UserRole>>;

/** Failures allowed before any wait; then 1 s, 2 s, 4 s … up to 60 s. */
const FREE_FAILURES = 3;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/** Bound on remembered usernames, so random names cannot grow the map without limit. */
const THROTTLE_MAX_ENTRIES = 10_000;

/** Login backoff per username: pure bookkeeping on the caller's clock. */
export class LoginThrottle {
  readonly #failures = new Map<string, { count: number; until: number }>();
  readonly #inFlight = new Set<string>();

  /** Milliseconds to wait before `username` may try again; 0 when allowed now. */
  waitMs(username: string, now: number): number {
    // One verification at a time per username, so a parallel burst cannot skip the backoff.
    if (this.#inFlight.has(username)) return BACKOFF_BASE_MS;
    const f = this.#failures.get(username);
    return f && f.until > now ? f.until - now : 0;
  }

  begin(username: string): void {
    this.#inFlight.add(username);
  }

  end(username: string, ok: boolean, now: number): void {
    this.#inFlight.delete(username);
    if (ok) {
      this.#failures.delete(username);
      return;
    }
    const count = (this.#failures.get(username)?.count ?? 0) + 1;
    const delay =
      count <= FREE_FAILURES
        ? 0
        : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (count - FREE_FAILURES - 1));
    this.#failures.delete(username); // re-insert: Map order is then oldest-failure-first
    this.#failures.set(username, { count, until: now + delay });
    if (this.#failures.size > THROTTLE_MAX_ENTRIES) {
      const oldest = this.#failures.keys().next().value;
      if (oldest !== undefined) this.#failures.delete(oldest);
    }
  }
}

const LOGIN_BODY_SCHEMA = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export function meDto(s: Session): MeDto {
  return { username: s.username, role: s.role, live: LIVE_ROLES.has(s.role) };
}

export interface LoginRoutesDeps {
  users: UserFile;
  sessions: SessionStore;
  guard: SessionGuard;
  /** Add `Secure` to the cookie. */
  secure: boolean;
  audit: (event: HttpAuditEvent) => void;
}

/** Registers `/api/login`, `/api/logout` and `/api/me`. */
export function registerLoginRoutes(app: FastifyInstance, deps: LoginRoutesDeps): void {
  const { users, sessions, guard, secure, audit } = deps;
  const throttle = new LoginThrottle();

  app.post('/api/login', { schema: { body: LOGIN_BODY_SCHEMA } }, async (request, reply): Promise<MeDto> => {
    const { username, password } = request.body as { username: string; password: string };
    const wait = throttle.waitMs(username, Date.now());
    if (wait > 0) throw new HttpError('too_many_attempts', Math.ceil(wait / 1000));
    throttle.begin(username);
    let user: User | null = null;
    try {
      user = await users.authenticate(username, password);
    } finally {
      throttle.end(username, user !== null, Date.now());
    }
    if (!user) {
      audit({ type: 'login_failed', at: Date.now() });
      throw new HttpError('bad_credentials');
    }
    // A fresh id on every login (no session fixation); a session this browser held ends.
    const previous = sessionIdOf(request);
    if (previous !== undefined && sessions.get(previous, false)) sessions.end(previous, 'replaced');
    const s = sessions.create(user);
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
}
