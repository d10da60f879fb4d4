/**
 * @module io/http/server
 * The gateway's HTTP/WebSocket server (ARCHITECTURE.md "live bus ──▶ nurse dashboard
 * (WebSocket)", "Roles"): assembles the security headers, the error mapping, the pages'
 * static files, sign-in, the live socket and the route modules of other areas.
 *
 * Routes:
 * - `GET /`, `/index.html`, `/<module>.js`, `/style.css` (dashboards/ward) and
 *   `/common/<module>.js` (dashboards/common): the dashboard (io/http/static-files, a fixed
 *   whitelist listed at start-up).
 * - `POST /api/login` `{username,password}` → session cookie; `POST /api/logout`; `GET /api/me`;
 *   `POST /api/password` `{current,next}` (io/http/login, io/http/sessions). A user who must
 *   choose a new password gets 403 `password_change_required` from every route that needs a
 *   session but these two (checked here for every request, io/http/route-roles). A user's
 *   sessions end when the account store disables, removes or changes the account, also when
 *   another process (the CLI, another gateway of the group) changed it (io/http/sessions
 *   `createAccountSync`).
 * - `POST /api/display/session`, `GET|POST /api/displays`, `POST /api/displays/:id/revoke`:
 *   wall displays (io/http/displays), when `displays` is given. A display session may use
 *   only the routes io/http/route-roles gives role `display` (checked here for every request).
 * - `GET /api/ward` → `{ward:{name,clock}, now, patients}` (the ward roles and wall displays).
 * - `GET /healthz` → `{status:'ok', ...status()}` (the gateway's `status()` names its
 *   components and may say `status: 'degraded'`, core/health): public, never patient data
 *   nor counters that tell the ward's activity (log size, devices).
 * - `GET /ws` (io/http/live-socket): `{"type":"snapshot",now,patients}`, then
 *   `{"type":"reading",...}` per hub reading and a heartbeat on a quiet socket; closed with
 *   4401 when the session ends.
 * The message and DTO shapes are core/live-contract's.
 * With `tls` every route, the socket (`wss:`) and the operations routes of other areas
 * (`/livez`, `/readyz`, `/metrics`) are served over HTTPS on the one listener (RFC 9110 §4.2.2).
 *
 * Trust: everything in a request is attacker-controlled. Bodies are schema-checked, never
 * logged; responses are built from explicit field whitelists (STYLE.md §3); errors map to
 * `{error:{code,reason}}` with fixed reasons that never echo input (io/http/errors).
 */
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { LiveHub } from '../../core/live.js';
import type { ClockFormat, SessionRole, WardDto, WardResponse } from '../../core/live-contract.js';
import { accountStamp, type DisplayRegistry, PasswordPool, type UserDirectory } from '../identity/index.js';
import type { SessionShare, SharedSessionRow } from '../shared/index.js';
import { registerDisplayRoutes } from './displays.js';
import { errorBody, HttpError, toHttpError } from './errors.js';
import { registerLiveSocket, tileDto } from './live-socket.js';
import { registerLoginRoutes } from './login.js';
import { type LoginLimits, LoginThrottle } from './login-throttle.js';
import type { DroppedClient, HttpAuditEvent, HttpAuth, HttpRoutes, LiveExtras } from './route-contract.js';
import { mayBeforePasswordChange, ROUTE_ROLES, routeKey } from './route-roles.js';
import {
  createAccountSync,
  createSessionGuard,
  DEFAULT_SESSION_IDLE_MS,
  SessionStore,
  sessionIdOf,
} from './sessions.js';
import { mergeStaticTables, registerStaticFiles, staticFileTable } from './static-files.js';

export {
  type ReadingDto,
  type TileDto,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_SESSION_ENDED,
  WS_CLOSE_TRY_AGAIN,
} from '../../core/live-contract.js';
export { errorReply, HttpError, type HttpErrorCode } from './errors.js';
export { readingDto, tileDto } from './live-socket.js';
export type { HttpAuditEvent, HttpAuth, HttpRoutes, LiveExtras } from './route-contract.js';
export { DEFAULT_SESSION_IDLE_MS, LIVE_ROLES, SESSION_COOKIE } from './sessions.js';

/**
 * CSP without 'unsafe-inline': the pages have no inline scripts or styles (CSP Level 3).
 * Their ES modules load from 'self' (script-src falls back to default-src).
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

export interface HttpServerOptions {
  hub: LiveHub;
  /** The accounts (io/identity `UserDirectory`: the users file, or the group's shared one). */
  users: UserDirectory;
  /** Enrolled wall displays (io/identity/displays); without it the display routes are absent. */
  displays?: DisplayRegistry;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port chosen by the kernel. */
  port?: number;
  /** Directory holding index.html, app.js, the page's other modules and style.css (dashboards/ward). */
  staticDir: string;
  /** Modules shared by the pages, served under `/common/`. Default: `common` beside `staticDir`. */
  commonDir?: string;
  /** A user's session ends after this long without an API request (a display's never). Default 15 min. */
  sessionIdleMs?: number;
  /** A gateway group's shared sessions (io/shared PgSessions): a nurse signed in on one is on all. */
  sharedSessions?: SessionShare;
  /** Public health fields merged into `/healthz`: no PHI and no activity counters (log size, devices). */
  status?: () => Record<string, unknown>;
  /** Fastify request logging (method, URL, status; never bodies or cookies). Default false. */
  logger?: boolean;
  /** Ward name shown in the dashboard header. Default "Ward". */
  wardName?: string;
  /** Times of day on the ward pages. Default 24-hour. */
  wardClock?: ClockFormat;
  /**
   * Serve HTTPS (and the live socket as wss) with this certificate chain (PEM, leaf first)
   * and its private key, e.g. the gateway's KGC certificate (DATA/gateway/tls) or the
   * hospital's. `/livez`, `/readyz`, `/healthz` and `/metrics` are then HTTPS too (one
   * listener). Default: plain HTTP.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Add `Secure` to the session cookie (RFC 6265 §4.1.2.5). Default: on with `tls`, and
   * whenever `host` is not a loopback address (the page is then reached through TLS, e.g. a
   * reverse proxy); off on plain HTTP on loopback, where browsers treat http://127.0.0.1 as
   * a secure context anyway.
   */
  secureCookies?: boolean;
  /** Password-hashing threads (io/identity/password-pool). Default 1. */
  passwordThreads?: number;
  /** Sign-ins checked or waiting at once; beyond it 503 `login_busy`. Default 4. */
  passwordQueue?: number;
  /** Sign-in throttling limits (io/http/login-throttle); defaults `DEFAULT_LOGIN_LIMITS`. */
  loginLimits?: Partial<LoginLimits>;
  /** Security events for the audit log (ARCHITECTURE.md invariant 7). Must not throw. */
  audit?: (event: HttpAuditEvent) => void;
  /**
   * A response the client takes no byte of for this long is ended and its connection closed
   * (`registerSendTimeout` below). Default 60 s, nginx's `send_timeout`; 0: never.
   */
  sendTimeoutMs?: number;
  /** Told of each client dropped for not taking what it is sent (a response, a live socket). Must not throw. */
  onDropped?: (d: DroppedClient) => void;
  /** How often the live socket pings its clients (a client that does not answer is dropped). Default 30 s. */
  livePingMs?: number;
  /** Route modules of other areas, registered after the dashboard's own routes. */
  routes?: readonly HttpRoutes[];
  /** More live messages (alarms, scores): `snapshot()` is merged into each socket's snapshot, `subscribe` messages go to every live socket. */
  liveExtras?: LiveExtras;
  /**
   * Told of each look at the ward's live board (`GET /api/ward`, the live socket) before it is
   * answered (issue 18: the access log); a throw refuses it.
   */
  onWardView?: (s: { username: string; role: SessionRole }) => Promise<void>;
}

export interface HttpServer {
  /** `http://host:port`, or `https://host:port` with `tls`. */
  url: string;
  port: number;
  close(): Promise<void>;
  app: FastifyInstance;
}

/** True for `localhost` and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
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

/** The ward page's whitelist: its own directory at `/`, the shared modules at `/common/`. */
export function wardStaticFiles(staticDir: string, commonDir = join(staticDir, '..', 'common')) {
  return mergeStaticTables(staticFileTable(staticDir, '/'), staticFileTable(commonDir, '/common/'));
}

/**
 * The HTTPS options of the listener, checked before it is built: a certificate and a key
 * that do not parse or do not match are a `TypeError` naming `tls` (never the PEM text).
 */
function httpsOptions(tls: NonNullable<HttpServerOptions['tls']>): {
  cert: string | Buffer;
  key: string | Buffer;
} {
  const { cert, key } = tls;
  if (!cert || !key || cert.length === 0 || key.length === 0) {
    throw new TypeError('startHttpServer: tls needs a cert and a key');
  }
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new TypeError(
      'startHttpServer: tls.cert and tls.key must be a PEM certificate and its private key',
    );
  }
  return { cert, key };
}

/**
 * Starts the HTTP/WebSocket server and begins listening (HTTPS with `tls`).
 * @throws {TypeError} when `hub`, `users` or `staticDir` is missing, or `tls` is not a matching PEM certificate and key.
 * @throws {RangeError} when `sessionIdleMs` is not a positive integer.
 * @example
 * const srv = await startHttpServer({ hub, users: new UserFile(usersPath), staticDir: 'dashboards/ward' });
 * console.log(srv.url); // http://127.0.0.1:41234
 * const tls = { cert: readFileSync('DATA/gateway/tls/server.cert.pem'), key: readFileSync('DATA/gateway/tls/server.key.pem') };
 * (await startHttpServer({ hub, users, staticDir, tls })).url; // https://127.0.0.1:41235
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
  const ward: WardDto = { name: wardName, clock: opts.wardClock ?? '24h' };
  const https = opts.tls ? httpsOptions(opts.tls) : undefined;
  const secure = opts.secureCookies ?? (https !== undefined || !isLoopbackHost(host));
  const throttle = new LoginThrottle(opts.loginLimits);
  const passwords = new PasswordPool({
    ...(opts.passwordThreads !== undefined ? { threads: opts.passwordThreads } : {}),
    ...(opts.passwordQueue !== undefined ? { maxQueue: opts.passwordQueue } : {}),
  });
  const audit = (event: HttpAuditEvent): void => {
    try {
      opts.audit?.(event);
    } catch {
      // Auditing failures must not break the request path; the audit module reports its own.
    }
  };

  const share = opts.sharedSessions;
  // A session of the group is used here only for an account as it is now (stamp, role, enabled).
  const accept = (row: SharedSessionRow): boolean => {
    const u = users.get(row.username);
    return u !== undefined && !u.disabled && u.role === row.role && accountStamp(u) === row.stamp;
  };
  const sessions = new SessionStore(
    idleMs,
    (s, reason) => {
      if (reason === 'idle') audit({ type: 'session_expired', username: s.username, at: Date.now() });
      else if (reason === 'logout') audit({ type: 'logout', username: s.username, at: Date.now() });
    },
    share ? { share, accept } : null,
  );
  const guard = createSessionGuard(sessions, secure);
  // Changes of the users file (also by the CLI) end the sessions they no longer allow.
  const accounts = createAccountSync(sessions, users);

  const base = { logger: opts.logger ?? false, bodyLimit: 16 * 1024, forceCloseConnections: true };
  // The route modules take the plain-HTTP instance type; an HTTPS instance has the same API.
  const app = https ? (Fastify({ ...base, https }) as unknown as FastifyInstance) : Fastify(base);
  // JSON only: a cross-site form can post text/plain without a preflight.
  app.removeContentTypeParser('text/plain');
  await app.register(fastifyWebsocket, { options: { maxPayload: 4096 } });
  registerSendTimeout(app, {
    ms: opts.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
    ...(opts.onDropped ? { onStalled: opts.onDropped } : {}),
  });

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

  // Every route must be in the one role table (io/http/route-roles): fail closed at start.
  const wardFiles = wardStaticFiles(staticDir, opts.commonDir);
  const pageFiles = new Set(wardFiles.keys());
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const key = routeKey(method, route.url, pageFiles);
      if (!(key in ROUTE_ROLES)) throw new TypeError(`startHttpServer: ${key} is missing from ROUTE_ROLES`);
    }
  });

  // A wall display's access is the table's, route by route, whatever a route module checks.
  const displayMay = (request: FastifyRequest): boolean => {
    const url = request.routeOptions.url;
    if (url === undefined) return true; // no such route: answered 404
    const access = ROUTE_ROLES[routeKey(request.method, url, pageFiles)];
    if (access === undefined) return false;
    return typeof access === 'string' || access.includes('display');
  };
  app.addHook('onRequest', async (request) => {
    accounts.check(); // a disabled or changed account's session ends before it is looked up
    const s = await sessions.resolve(sessionIdOf(request), false); // in a group: also the group's
    if (s?.role === 'display' && !displayMay(request)) throw new HttpError('forbidden');
    // A user who must choose a new password: `GET /api/me`, `POST /api/password` and the
    // routes that need no session, nothing else.
    const url = request.routeOptions.url;
    if (
      s?.mustChangePassword &&
      url !== undefined &&
      !mayBeforePasswordChange(routeKey(request.method, url, pageFiles))
    ) {
      throw new HttpError('password_change_required');
    }
  });

  // --- static dashboard
  registerStaticFiles(app, wardFiles);
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());

  // --- health
  app.get('/healthz', async () => ({ status: 'ok', ...opts.status?.() }));

  // --- auth
  registerLoginRoutes(app, { users, passwords, throttle, sessions, guard, secure, audit });
  const displayRoutes = opts.displays
    ? registerDisplayRoutes(app, {
        displays: opts.displays,
        sessions,
        guard,
        throttle: new LoginThrottle(opts.loginLimits),
        secure,
        audit,
      })
    : undefined;

  // --- live data
  app.get('/api/ward', async (request, reply): Promise<WardResponse> => {
    const s = guard.requireLive(request, reply);
    audit({ type: 'ward_view', username: s.username, at: Date.now() });
    await opts.onWardView?.(s);
    return { ward, now: Date.now(), patients: hub.snapshot().map(tileDto) };
  });
  const live = registerLiveSocket(app, {
    hub,
    sessions,
    guard,
    ward,
    liveExtras: opts.liveExtras,
    ...(opts.onWardView ? { onWardView: opts.onWardView } : {}),
    ...(opts.onDropped ? { onDropped: opts.onDropped } : {}),
    ...(opts.livePingMs !== undefined ? { pingMs: opts.livePingMs } : {}),
    audit,
  });

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    live.stop();
    accounts.stop();
    displayRoutes?.stop();
    sessions.endAll('shutdown');
    await app.close();
    await passwords.close();
  };

  const auth: HttpAuth = {
    requireSession: (request, reply) => {
      const s = guard.requireSession(request, reply);
      return { username: s.username, role: s.role };
    },
    requireRole: (request, reply, roles) => {
      const s = guard.requireSession(request, reply);
      const allowed = s.role === 'display' ? displayMay(request) : roles.includes(s.role);
      if (!allowed) throw new HttpError('forbidden');
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
  return { url: `${https ? 'https' : 'http'}://${urlHost}:${port}`, port, close, app };
}

/** nginx's default `send_timeout`. */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000;

/**
 * The send timeout: a response the client stops taking is ended, as nginx's `send_timeout`
 * ends one. Once a response starts to be sent, its connection is closed when `ms` pass with
 * no byte of it taken by the client (no write completing, nothing read). A laptop asleep in
 * a download, or a client that reads the headers and never the body, would otherwise hold
 * the whole unsent body in the gateway's memory for as long as it keeps the connection open
 * (a 6-hour FHIR export is tens of MB). Only the sending is timed: a handler slow to build
 * its answer is not cut off, nor an idle keep-alive connection (Node's `keepAliveTimeout`
 * takes over once a response is sent whole), nor the live socket (an upgrade has no
 * response; the WebSocket library clears the socket's timeout, io/http/live-socket pings).
 */
function registerSendTimeout(
  app: FastifyInstance,
  o: { ms: number; onStalled?: (s: DroppedClient) => void },
): void {
  if (!(o.ms > 0)) return;
  app.addHook('onSend', async (request, reply, payload) => {
    const socket = request.raw.socket;
    const res = reply.raw;
    // `app.inject` has a stand-in socket with no timeout: nothing is sent over a network.
    if (!socket || socket.destroyed || typeof socket.setTimeout !== 'function') return payload;
    // Node's HTTP server emits `timeout` on the response in flight, and destroys the socket
    // itself only when nobody listens: this listener ends it, and tells it once.
    res.once('timeout', () => {
      o.onStalled?.({
        reason: 'send_timeout',
        route: request.routeOptions.url ?? '',
        method: request.method,
        unsent: socket.writableLength,
      });
      socket.destroy();
    });
    socket.setTimeout(o.ms);
    return payload;
  });
}
