/**
 * @module io/http/sessions
 * Server-side sessions of the gateway's HTTP API (ARCHITECTURE.md "Roles": "idle sessions
 * end"): random 32-byte ids held in an HttpOnly, SameSite=Strict cookie (RFC 6265 §4.1,
 * §5.4), ended by an idle timer, by logout, by a new login in the same browser or by
 * shutdown. Ending a session closes its live sockets with `WS_CLOSE_SESSION_ENDED`
 * (core/live-contract), so the page returns to the sign-in form.
 *
 * A wall display's session (role `display`, io/http/displays) has no idle timer: it lasts
 * until its enrolment is revoked (`endDisplay`), the browser signs in again, or shutdown.
 * At most `MAX_SESSIONS_PER_DISPLAY` live at once per display (the oldest ends), so a
 * screen that keeps re-exchanging its token cannot grow the store.
 *
 * Trust: the cookie is attacker-controlled; an id is looked up only when it has the exact
 * shape of one we issued.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { type SessionRole, WS_CLOSE_GOING_AWAY, WS_CLOSE_SESSION_ENDED } from '../../core/live-contract.js';
import type { User } from '../identity/index.js';
import { HttpError } from './errors.js';
import { WARD_READ_ROLES } from './route-roles.js';

export const SESSION_COOKIE = 'vt_session';
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Live sessions of one display at most; a new one ends the oldest. */
export const MAX_SESSIONS_PER_DISPLAY = 4;
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
}

/** `revoked`: the display's enrolment was revoked. */
export type SessionEndReason = 'idle' | 'logout' | 'replaced' | 'shutdown' | 'revoked';

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

  create(user: Pick<User, 'username' | 'role'>): Session {
    const id = randomBytes(32).toString('base64url');
    const timer = setTimeout(() => this.end(id, 'idle'), this.#idleMs);
    timer.unref();
    const s: Session = { id, username: user.username, role: user.role, timer, sockets: new Set() };
    this.#sessions.set(id, s);
    return s;
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
    if (s && touch) s.timer?.refresh();
    return s;
  }

  end(id: string, reason: SessionEndReason): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    if (s.timer) clearTimeout(s.timer);
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
