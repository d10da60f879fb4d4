/**
 * @module io/http/displays
 * Wall displays (issue 15; a ward's central station): a screen enrolled once by an admin
 * (io/identity/displays) exchanges its token for a session of role `display`, which shows
 * the ward read-only and never idles out (io/http/sessions).
 *
 * - `POST /api/display/session` `{token}` (public) → `MeDto` and a session cookie; an
 *   unknown or revoked token → 401 `display_token_invalid`. Refusals back off per address
 *   as failed sign-ins do (io/http/login-throttle, an instance of their own, so they never
 *   slow a nurse's sign-in): past a few, 429 `too_many_attempts`, unaudited, so they cannot
 *   flood the audit log. A valid token is never held back.
 * - `GET /api/displays` (admin) → `{displays: DisplayDto[]}`.
 * - `POST /api/displays` `{name}` (admin) → 201 `DisplayEnrolmentDto`: the token and the
 *   path to open (`/#display=<token>`), shown this once.
 * - `POST /api/displays/:id/revoke` (admin) → `DisplayDto`; the display's sessions end at
 *   once (their sockets close with `WS_CLOSE_SESSION_ENDED`).
 *
 * `vitaltrail displays revoke` writes the same table from another process; every
 * `DISPLAY_SWEEP_MS` the displays with a live session are re-read and those revoked meanwhile
 * lose their sessions. Every enrolment, revocation and display sign-in is audited, never
 * the token. Trust: bodies and tokens are attacker-controlled, schema-checked, never logged.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DisplayDto, DisplayEnrolmentDto, MeDto } from '../../core/live-contract.js';
import { type DisplayRecord, type DisplayRegistry, displayPath } from '../identity/index.js';
import { HttpError } from './errors.js';
import { meDto } from './login.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Assert, HttpAuditEvent, Same } from './route-contract.js';
import { ADMIN_ROLES } from './route-roles.js';
import {
  type Session,
  type SessionGuard,
  type SessionStore,
  sessionCookie,
  sessionIdOf,
} from './sessions.js';

/** Compile-time check: the stored record is the contract's DTO, field for field. */
export type DisplayRecordMatchesContract = Assert<Same<DisplayRecord, DisplayDto>>;

/** How often revocations made by another process (the CLI) are picked up. */
export const DISPLAY_SWEEP_MS = 2000;
/** The throttle's key for display sign-ins (never the token: a failed token is not a name). */
const THROTTLE_KEY = 'display:';

const SESSION_BODY_SCHEMA = {
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: { token: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const ENROL_BODY_SCHEMA = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const REVOKE_PARAMS_SCHEMA = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** The whitelisted fields of a display (STYLE.md §3). */
export function displayDto(d: DisplayRecord): DisplayDto {
  return {
    id: d.id,
    name: d.name,
    createdAt: d.createdAt,
    createdBy: d.createdBy,
    revokedAt: d.revokedAt,
    revokedBy: d.revokedBy,
  };
}

const detailOf = (d: DisplayRecord): string => `display ${d.id} ${d.name}`;

export interface DisplayRoutesDeps {
  displays: DisplayRegistry;
  sessions: SessionStore;
  guard: SessionGuard;
  /** Refused tokens' backoff: not the sign-in form's instance. */
  throttle: LoginThrottle;
  /** Add `Secure` to the cookie. */
  secure: boolean;
  audit: (event: HttpAuditEvent) => void;
  /** Default `DISPLAY_SWEEP_MS`. */
  sweepMs?: number;
}

/** Registers the display routes and starts the revocation sweep; `stop()` ends it. */
export function registerDisplayRoutes(app: FastifyInstance, deps: DisplayRoutesDeps): { stop(): void } {
  const { displays, sessions, guard, throttle, secure, audit } = deps;

  const requireAdmin = (request: FastifyRequest, reply: FastifyReply): Session => {
    const s = guard.requireSession(request, reply);
    if (!ADMIN_ROLES.some((r) => r === s.role)) throw new HttpError('forbidden');
    return s;
  };

  app.post(
    '/api/display/session',
    { schema: { body: SESSION_BODY_SCHEMA } },
    async (request, reply): Promise<MeDto> => {
      const { token } = request.body as { token: string };
      const address = request.socket.remoteAddress ?? request.ip;
      const display = displays.byToken(token);
      if (!display) {
        // A valid token is never held back; refusals back off (and stop being audited) per address.
        const wait = throttle.waitMs(THROTTLE_KEY, address, Date.now());
        if (wait > 0) throw new HttpError('too_many_attempts', Math.ceil(wait / 1000));
        throttle.begin(THROTTLE_KEY, address);
        throttle.end(THROTTLE_KEY, address, false, Date.now());
        audit({ type: 'display_session_refused', username: 'display', remote: address, at: Date.now() });
        throw new HttpError('display_token_invalid');
      }
      // A fresh id every time (no fixation); a session this browser held ends.
      const previous = sessionIdOf(request);
      if (previous !== undefined && sessions.get(previous, false)) sessions.end(previous, 'replaced');
      const s = sessions.createDisplay(display);
      audit({
        type: 'display_session',
        username: s.username,
        detail: detailOf(display),
        remote: address,
        at: Date.now(),
      });
      reply.header('set-cookie', sessionCookie(s.id, secure));
      return meDto(s);
    },
  );

  app.get('/api/displays', async (request, reply): Promise<{ displays: DisplayDto[] }> => {
    requireAdmin(request, reply);
    return { displays: displays.list().map(displayDto) };
  });

  app.post(
    '/api/displays',
    { schema: { body: ENROL_BODY_SCHEMA } },
    async (request, reply): Promise<DisplayEnrolmentDto> => {
      const s = requireAdmin(request, reply);
      const { name } = request.body as { name: string };
      let enrolment: ReturnType<DisplayRegistry['enrol']>;
      try {
        enrolment = displays.enrol(name, s.username);
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError('bad_request');
        throw err;
      }
      const { display, token } = enrolment;
      audit({ type: 'display_enrolled', username: s.username, detail: detailOf(display), at: Date.now() });
      reply.code(201);
      return { ...displayDto(display), token, path: displayPath(token) };
    },
  );

  app.post(
    '/api/displays/:id/revoke',
    { schema: { params: REVOKE_PARAMS_SCHEMA } },
    async (request, reply): Promise<DisplayDto> => {
      const s = requireAdmin(request, reply);
      const { id } = request.params as { id: string };
      const done = displays.revoke(id, s.username);
      if (!done) throw new HttpError('not_found');
      if (done.changed) {
        audit({
          type: 'display_revoked',
          username: s.username,
          detail: detailOf(done.display),
          at: Date.now(),
        });
      }
      sessions.endDisplay(id, 'revoked');
      return displayDto(done.display);
    },
  );

  // Revocations by `vitaltrail displays revoke` (another process, same table).
  const sweep = setInterval(() => {
    for (const id of sessions.displayIds()) {
      try {
        if (!displays.isActive(id)) sessions.endDisplay(id, 'revoked');
      } catch {
        // A busy or failing store: try again next sweep; the session stays until then.
      }
    }
  }, deps.sweepMs ?? DISPLAY_SWEEP_MS);
  sweep.unref();

  return {
    stop() {
      clearInterval(sweep);
    },
  };
}
