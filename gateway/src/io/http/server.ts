/**
 * @module io/http/server
 * The gateway's HTTP/WebSocket server (ARCHITECTURE.md "live bus ──▶ nurse dashboard
 * (WebSocket)", "Roles"): serves the ward dashboard from `dashboards/ward/`, signs users
 * in with server-side sessions that end when idle, and streams the live hub to
 * authenticated sockets.
 *
 * Routes:
 * - `GET /`, `/index.html`, `/app.js`, `/style.css`: the dashboard (fixed whitelist of files).
 * - `POST /api/login` `{username,password}` → session cookie; `POST /api/logout`; `GET /api/me`.
 * - `GET /api/ward` → `{ward:{name}, now, patients}` (roles admin and nurse).
 * - `GET /healthz` → `{status:'ok', ...status()}`: public, never patient data.
 * - `GET /ws` (WebSocket, cookie auth at upgrade): `{"type":"snapshot",now,patients}`, then
 *   `{"type":"reading",...}` per hub reading; closed with 4401 when the session ends.
 *
 * Trust: everything in a request is attacker-controlled. Bodies are schema-checked, never
 * logged; responses are built from explicit field whitelists (STYLE.md §3); errors map to
 * `{error:{code,reason}}` with fixed reasons that never echo input.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { LiveHub, LiveReading, PatientTile } from '../../core/live.js';
import { VitalTrailError } from '../../protocol/errors.js';
import { OBSERVATIONS, type ObservationKey } from '../../protocol/frame.js';
import type { Role, User, UserFile } from '../identity/users.js';

/** HTTP error codes of this API, their status and their fixed, input-free reason. */
export const HTTP_ERRORS = {
  bad_request: { status: 400, reason: 'the request does not match the API' },
  unauthenticated: { status: 401, reason: 'sign in first' },
  bad_credentials: { status: 401, reason: 'wrong username or password' },
  forbidden: { status: 403, reason: 'this role may not see live patient data' },
  bad_origin: { status: 403, reason: 'cross-origin request refused' },
  not_found: { status: 404, reason: 'no such resource' },
  payload_too_large: { status: 413, reason: 'request body too large' },
  unsupported_media_type: { status: 415, reason: 'send application/json' },
  too_many_attempts: { status: 429, reason: 'too many failed sign-ins; wait and retry' },
  internal: { status: 500, reason: 'internal error' },
} as const;
export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends VitalTrailError<HttpErrorCode> {
  override readonly name = 'HttpError';
  readonly status: number;
  /** Seconds for a `Retry-After` header (429 only). */
  readonly retryAfterS: number | undefined;

  constructor(code: HttpErrorCode, retryAfterS?: number) {
    super(code, HTTP_ERRORS[code].reason);
    this.status = HTTP_ERRORS[code].status;
    this.retryAfterS = retryAfterS;
  }
}

export const SESSION_COOKIE = 'vt_session';
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Application close code: the session ended (idle expiry or logout); the page shows the login form. */
export const WS_CLOSE_SESSION_ENDED = 4401;
/** RFC 6455 §7.4.1 1001 going away (server shutdown); 1013 try again later (client too slow). */
export const WS_CLOSE_GOING_AWAY = 1001;
export const WS_CLOSE_TRY_AGAIN = 1013;
/** A socket with more than this queued is too slow to follow the ward; it is closed and reconnects. */
const WS_MAX_BUFFERED = 1024 * 1024;
const WS_PING_INTERVAL_MS = 30_000;
/** Roles that may see live vitals (ARCHITECTURE.md "Roles": auditors see no live PHI unless granted). */
export const LIVE_ROLES: ReadonlySet<Role> = new Set<Role>(['admin', 'nurse', 'charge_nurse']);

/**
 * CSP without 'unsafe-inline': the page has no inline scripts or styles (CSP Level 3).
 * connect-src lists ws:/wss: because CSP 'self' does not cover WebSocket schemes everywhere.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export type HttpAuditEvent =
  | { type: 'login' | 'logout' | 'session_expired' | 'ward_view' | 'live_view'; username: string; at: number }
  | { type: 'login_failed'; at: number };

export interface HttpServerOptions {
  hub: LiveHub;
  users: UserFile;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port chosen by the kernel. */
  port?: number;
  /** Directory holding index.html, app.js and style.css (dashboards/ward). */
  staticDir: string;
  /** A session ends after this long without an API request. Default 15 min. */
  sessionIdleMs?: number;
  /** Public, non-PHI health fields merged into `/healthz`, e.g. counts. */
  status?: () => Record<string, unknown>;
  /** Fastify request logging (method, URL, status; never bodies or cookies). Default false. */
  logger?: boolean;
  /** Ward name shown in the dashboard header. Default "Ward". */
  wardName?: string;
  /** Add `Secure` to the session cookie; set it when served over HTTPS (reverse proxy). Default false. */
  secureCookies?: boolean;
  /** Security events for the audit log (ARCHITECTURE.md invariant 7). Must not throw. */
  audit?: (event: HttpAuditEvent) => void;
  /** Route modules of other areas, registered after the dashboard's own routes. */
  routes?: readonly HttpRoutes[];
  /** More live messages (alarms, scores): `snapshot()` is merged into each socket's snapshot, `subscribe` messages go to every live socket. */
  liveExtras?: LiveExtras;
}

/** What route modules of other areas get to protect their routes (see `HttpServerOptions.routes`). */
export interface HttpAuth {
  /** The caller's session, or throws 401 `unauthenticated`. Counts as activity for idle expiry. */
  requireSession(request: FastifyRequest, reply: FastifyReply): { username: string; role: Role };
  /** As requireSession, and throws 403 `forbidden` unless the caller has one of `roles`. */
  requireRole(
    request: FastifyRequest,
    reply: FastifyReply,
    roles: readonly Role[],
  ): { username: string; role: Role };
}

/** A source of extra live messages (e.g. io/alarm-service). Messages are whitelisted DTOs with a `type`. */
export interface LiveExtras {
  snapshot(): Record<string, unknown>;
  subscribe(fn: (msg: { type: string }) => void): () => void;
}

/** Registers one area's routes (e.g. log proofs, queries, alarms) on the gateway's server. */
export type HttpRoutes = (app: FastifyInstance, auth: HttpAuth) => void | Promise<void>;

export interface HttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
  app: FastifyInstance;
}

// ---------------------------------------------------------------------------
// Response whitelists (STYLE.md §3): only these fields ever leave the gateway.

const OBSERVATION_KEYS = Object.keys(OBSERVATIONS) as ObservationKey[];

export interface ReadingDto {
  dev: string;
  seq: number;
  ts: number;
  obs: Partial<Record<ObservationKey, number>>;
  bat?: number;
  receivedAt: number;
}

export interface TileDto {
  dev: string;
  label: string;
  last: ReadingDto | null;
}

export function readingDto(r: LiveReading): ReadingDto {
  const obs: Partial<Record<ObservationKey, number>> = {};
  for (const k of OBSERVATION_KEYS) {
    const v = r.obs[k];
    if (typeof v === 'number' && Number.isFinite(v)) obs[k] = v;
  }
  const out: ReadingDto = { dev: r.dev, seq: r.seq, ts: r.ts, obs, receivedAt: r.receivedAt };
  if (typeof r.bat === 'number') out.bat = r.bat;
  return out;
}

export function tileDto(t: PatientTile): TileDto {
  return { dev: t.dev, label: t.label, last: t.last ? readingDto(t.last) : null };
}

// ---------------------------------------------------------------------------
// Login backoff: per username, no timers (pure bookkeeping on an injected clock).

/** Failures allowed before any wait; then 1 s, 2 s, 4 s … up to 60 s. */
const FREE_FAILURES = 3;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/** Bound on remembered usernames, so random names cannot grow the map without limit. */
const THROTTLE_MAX_ENTRIES = 10_000;

class LoginThrottle {
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

// ---------------------------------------------------------------------------
// Sessions: random 32-byte ids, server-side, ended by an idle timer.

interface Session {
  readonly id: string;
  readonly username: string;
  readonly role: Role;
  readonly timer: NodeJS.Timeout;
  readonly sockets: Set<WebSocket>;
}

type EndReason = 'idle' | 'logout' | 'replaced' | 'shutdown';

/** base64url of 32 bytes. */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #onEnd: (s: Session, reason: EndReason) => void;

  constructor(idleMs: number, onEnd: (s: Session, reason: EndReason) => void) {
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

  end(id: string, reason: EndReason): void {
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

  endAll(reason: EndReason): void {
    for (const id of [...this.#sessions.keys()]) this.end(id, reason);
  }

  get size(): number {
    return this.#sessions.size;
  }
}

// ---------------------------------------------------------------------------
// Cookies (RFC 6265 §4.1, §5.4).

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sessionCookie(value: string, secure: boolean, clear = false): string {
  // HttpOnly: no script access; SameSite=Strict: never sent on cross-site requests (CSRF).
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${clear ? '; Max-Age=0' : ''}${secure ? '; Secure' : ''}`;
}

/** RFC 6454 §7.3: a browser's Origin must name this host for state changes and upgrades. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true; // non-browser clients (no ambient cookies to abuse)
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false; // includes "null"
  }
}

// ---------------------------------------------------------------------------

const STATIC_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const LOGIN_BODY_SCHEMA = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

function meDto(s: Session): { username: string; role: Role; live: boolean } {
  return { username: s.username, role: s.role, live: LIVE_ROLES.has(s.role) };
}

function errorBody(code: HttpErrorCode): { error: { code: HttpErrorCode; reason: string } } {
  return { error: { code, reason: HTTP_ERRORS[code].reason } };
}

/** Maps any error to a known code; only codes and statuses, never messages, come from outside. */
function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { validation?: unknown; statusCode?: unknown };
  if (e?.validation !== undefined) return new HttpError('bad_request');
  switch (e?.statusCode) {
    case 400:
      return new HttpError('bad_request');
    case 404:
      return new HttpError('not_found');
    case 413:
      return new HttpError('payload_too_large');
    case 415:
      return new HttpError('unsupported_media_type');
    default:
      return new HttpError('internal');
  }
}

/**
 * Starts the HTTP/WebSocket server and begins listening.
 * @throws {TypeError} when `hub`, `users` or `staticDir` is missing.
 * @throws {RangeError} when `sessionIdleMs` is not a positive integer.
 * @example
 * const srv = await startHttpServer({ hub, users: new UserFile(usersPath), staticDir: 'dashboards/ward' });
 * console.log(srv.url); // http://127.0.0.1:41234
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { hub, users, staticDir } = opts;
  if (!hub) throw new TypeError('startHttpServer: hub is required');
  if (!users) throw new TypeError('startHttpServer: users is required');
  if (typeof staticDir !== 'string' || staticDir.length === 0) {
    throw new TypeError('startHttpServer: staticDir must be a non-empty string');
  }
  const idleMs = opts.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  if (!Number.isSafeInteger(idleMs) || idleMs <= 0) {
    throw new RangeError('startHttpServer: sessionIdleMs must be a positive integer');
  }
  const host = opts.host ?? '127.0.0.1';
  const wardName = opts.wardName ?? 'Ward';
  const secure = opts.secureCookies ?? false;
  const audit = (event: HttpAuditEvent): void => {
    try {
      opts.audit?.(event);
    } catch {
      // Auditing failures must not break the request path; the audit module reports its own.
    }
  };

  const throttle = new LoginThrottle();
  const liveSockets = new Map<WebSocket, { alive: boolean }>();
  const sessions = new SessionStore(idleMs, (s, reason) => {
    if (reason === 'idle') audit({ type: 'session_expired', username: s.username, at: Date.now() });
    else if (reason === 'logout') audit({ type: 'logout', username: s.username, at: Date.now() });
  });

  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 16 * 1024, forceCloseConnections: true });
  // JSON only: a cross-site form can post text/plain without a preflight.
  app.removeContentTypeParser('text/plain');
  await app.register(fastifyWebsocket, { options: { maxPayload: 4096 } });

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    const path = request.url.split('?', 1)[0] ?? '';
    reply.header('cache-control', path.startsWith('/api/') || path === '/healthz' ? 'no-store' : 'no-cache');
    const stateChanging = (request.method !== 'GET' && request.method !== 'HEAD') || request.headers.upgrade;
    if (stateChanging && !sameOrigin(request)) throw new HttpError('bad_origin');
  });

  app.setErrorHandler((err, request, reply) => {
    const httpErr = toHttpError(err);
    // Log the code only: messages of parser errors can quote the request body.
    if (httpErr.status >= 500) request.log.error({ code: httpErr.code, err }, 'request failed');
    if (httpErr.retryAfterS !== undefined) reply.header('retry-after', String(httpErr.retryAfterS));
    return reply.code(httpErr.status).send(errorBody(httpErr.code));
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody('not_found')));

  function requireSession(request: FastifyRequest, reply: FastifyReply, touch = true): Session {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    const s = sessions.get(id, touch);
    if (!s) {
      if (id !== undefined) reply.header('set-cookie', sessionCookie('', secure, true));
      throw new HttpError('unauthenticated');
    }
    return s;
  }

  function requireLive(request: FastifyRequest, reply: FastifyReply): Session {
    const s = requireSession(request, reply);
    if (!LIVE_ROLES.has(s.role)) throw new HttpError('forbidden');
    return s;
  }

  // --- static dashboard
  for (const [url, { file, type }] of Object.entries(STATIC_FILES)) {
    app.get(url, async (_request, reply) => {
      let body: Buffer;
      try {
        body = await readFile(join(staticDir, file));
      } catch {
        throw new HttpError('not_found');
      }
      return reply.type(type).send(body);
    });
  }
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());

  // --- health
  app.get('/healthz', async () => ({ status: 'ok', ...opts.status?.() }));

  // --- auth
  app.post('/api/login', { schema: { body: LOGIN_BODY_SCHEMA } }, async (request, reply) => {
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
    const previous = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (previous !== undefined && sessions.get(previous, false)) sessions.end(previous, 'replaced');
    const s = sessions.create(user);
    audit({ type: 'login', username: s.username, at: Date.now() });
    reply.header('set-cookie', sessionCookie(s.id, secure));
    return meDto(s);
  });

  app.post('/api/logout', async (request, reply) => {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (id !== undefined && sessions.get(id, false)) sessions.end(id, 'logout');
    reply.header('set-cookie', sessionCookie('', secure, true));
    return reply.code(204).send();
  });

  app.get('/api/me', async (request, reply) => {
    return meDto(requireSession(request, reply));
  });

  // --- live data
  app.get('/api/ward', async (request, reply) => {
    const s = requireLive(request, reply);
    audit({ type: 'ward_view', username: s.username, at: Date.now() });
    return { ward: { name: wardName }, now: Date.now(), patients: hub.snapshot().map(tileDto) };
  });

  app.get(
    '/ws',
    {
      websocket: true,
      // Runs before the upgrade: a refused socket gets a plain 401/403 and never opens.
      preValidation: async (request, reply) => {
        requireLive(request, reply);
      },
    },
    (socket, request) => {
      const s = sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE), false);
      if (!s) {
        socket.close(WS_CLOSE_SESSION_ENDED, 'session ended');
        return;
      }
      s.sockets.add(socket);
      liveSockets.set(socket, { alive: true });
      socket.on('pong', () => {
        const st = liveSockets.get(socket);
        if (st) st.alive = true;
      });
      socket.on('close', () => {
        s.sockets.delete(socket);
        liveSockets.delete(socket);
      });
      // Clients have nothing to say; incoming messages are ignored (maxPayload bounds them).
      audit({ type: 'live_view', username: s.username, at: Date.now() });
      socket.send(
        JSON.stringify({
          ...opts.liveExtras?.snapshot(),
          type: 'snapshot',
          ward: { name: wardName },
          now: Date.now(),
          patients: hub.snapshot().map(tileDto),
        }),
      );
    },
  );

  // One hub subscription for all sockets: each reading is serialised once.
  const unsubscribe = hub.subscribe((reading) => {
    if (liveSockets.size === 0) return;
    broadcast(JSON.stringify({ type: 'reading', ...readingDto(reading) }));
  });
  const unsubscribeExtras = opts.liveExtras?.subscribe((m) => {
    if (liveSockets.size > 0) broadcast(JSON.stringify(m));
  });
  function broadcast(msg: string): void {
    for (const socket of liveSockets.keys()) {
      if (socket.readyState !== socket.OPEN) continue;
      if (socket.bufferedAmount > WS_MAX_BUFFERED) {
        socket.close(WS_CLOSE_TRY_AGAIN, 'too slow');
        continue;
      }
      socket.send(msg);
    }
  }

  // Dead peers (no pong for a whole interval) are dropped; the page then reconnects.
  const heartbeat = setInterval(() => {
    for (const [socket, st] of liveSockets) {
      if (!st.alive) {
        socket.terminate();
        continue;
      }
      st.alive = false;
      socket.ping();
    }
  }, WS_PING_INTERVAL_MS);
  heartbeat.unref();

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    unsubscribe();
    unsubscribeExtras?.();
    clearInterval(heartbeat);
    sessions.endAll('shutdown');
    await app.close();
  };

  const auth: HttpAuth = {
    requireSession: (request, reply) => {
      const s = requireSession(request, reply);
      return { username: s.username, role: s.role };
    },
    requireRole: (request, reply, roles) => {
      const s = requireSession(request, reply);
      if (!roles.includes(s.role)) throw new HttpError('forbidden');
      return { username: s.username, role: s.role };
    },
  };
  for (const register of opts.routes ?? []) await register(app, auth);

  try {
    await app.listen({ host, port: opts.port ?? 0 });
  } catch (err) {
    await close();
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${port}`, port, close, app };
}
