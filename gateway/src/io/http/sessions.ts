/**
 * @module io/http/sessions
 * Server-side sessions of the gateway's HTTP API (ARCHITECTURE.md "Roles": "idle sessions
 * end"): random 32-byte ids held in an HttpOnly, SameSite=Strict cookie (RFC 6265 §4.1,
 * §5.4), ended by an idle timer, by logout, by a new login in the same browser or by
 * shutdown. Ending a session closes its live sockets with `WS_CLOSE_SESSION_ENDED`
 * (core/live-contract), so the page returns to the sign-in form.
 *
 * Trust: the cookie is attacker-controlled; an id is looked up only when it has the exact
 * shape of one we issued.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { WS_CLOSE_GOING_AWAY, WS_CLOSE_SESSION_ENDED } from '../../core/live-contract.js';
import type { Role, User } from '../identity/index.js';
import { HttpError } from './errors.js';
import { WARD_ROLES } from './route-roles.js';

export const SESSION_COOKIE = 'vt_session';
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Roles that may see live vitals (ARCHITECTURE.md "Roles": auditors see no live PHI unless granted). */
export const LIVE_ROLES: ReadonlySet<Role> = new Set<Role>(WARD_ROLES);

export interface Session {
  readonly id: string;
  readonly username: string;
  readonly role: Role;
  readonly timer: NodeJS.Timeout;
  readonly sockets: Set<WebSocket>;
}

export type SessionEndReason = 'idle' | 'logout' | 'replaced' | 'shutdown';

/** base64url of 32 bytes. */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #onEnd: (s: Session, reason: SessionEndReason) => void;

  constructor(idleMs: number, onEnd: (s: Session, reason: SessionEndReason) => void) {
    this.#idleMs = idleMs;
    this.#onEnd = onEnd;
  }

  create(user: User): Session {
    const id = randomBytes(32).toString('base64url');
    const timer = setTimeout(() => this.end(id, 'idle'), this.#idleMs);
    timer.unref();
    const s: Session = { id, username: user.username, role: user.role, timer, sockets: new Set() };
    this.#sessions.set(id, s);
    return s;
  }

  /** The live session for `id`; with `touch`, restarts its idle timer. */
  get(id: string | undefined, touch: boolean): Session | undefined {
    if (id === undefined || !SESSION_ID_PATTERN.test(id)) return undefined;
    const s = this.#sessions.get(id);
    if (s && touch) s.timer.refresh();
    return s;
  }

  end(id: string, reason: SessionEndReason): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    clearTimeout(s.timer);
    for (const socket of s.sockets) {
      socket.close(reason === 'shutdown' ? WS_CLOSE_GOING_AWAY : WS_CLOSE_SESSION_ENDED, 'session ended');
    }
    s.sockets.clear();
    this.#onEnd(s, reason);
  }

  endAll(reason: SessionEndReason): void {
    for (const id of [...this.#sessions.keys()]) this.end(id, reason);
  }

  get size(): number {
    return this.#sessions.size;
  }
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
