/**
 * @module io/http/route-contract
 * What the gateway's HTTP server (io/http/server) gives the modules that add routes and
 * live messages to it, and what it reports for the audit log. Types only, so the route
 * modules and the server's own parts (login, live socket) depend on this contract rather
 * than on the server.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClinicalMessage, LiveSnapshotExtras, SessionRole } from '../../core/live-contract.js';

export type HttpAuditEvent =
  | {
      type: 'login' | 'logout' | 'session_expired' | 'ward_view' | 'live_view' | 'password_changed';
      username: string;
      at: number;
    }
  /**
   * `username` as typed (truncated), `remote` the peer address; never the password. `detail`
   * `account_disabled` (the right password of a disabled account) or `password_change` (a
   * wrong current password on `POST /api/password`).
   */
  | { type: 'login_failed'; username: string; remote: string; at: number; detail?: string }
  /**
   * A wall display (io/http/displays): `username` the admin who enrolled or revoked it, or
   * the display's own `display:<name>` for its sign-in; `detail` names the display
   * (`display <id> <name>`); never the token.
   */
  | { type: 'display_enrolled' | 'display_revoked'; username: string; detail: string; at: number }
  | { type: 'display_session'; username: string; detail: string; remote: string; at: number }
  /** A display token that is unknown, revoked or malformed; `remote` the peer address. */
  | { type: 'display_session_refused'; username: string; remote: string; at: number };

/** What route modules of other areas get to protect their routes (see `HttpServerOptions.routes`). */
export interface HttpAuth {
  /** The caller's session, or throws 401 `unauthenticated`. Counts as activity for idle expiry. */
  requireSession(request: FastifyRequest, reply: FastifyReply): { username: string; role: SessionRole };
  /**
   * As requireSession, and throws 403 `forbidden` unless the caller has one of `roles`. A
   * wall display's access is io/http/route-roles' table for the route, whatever `roles` says.
   */
  requireRole(
    request: FastifyRequest,
    reply: FastifyReply,
    roles: readonly SessionRole[],
  ): { username: string; role: SessionRole };
}

/** A source of extra live messages (e.g. io/clinical/alarm-service), typed by core/live-contract. */
export interface LiveExtras {
  snapshot(): LiveSnapshotExtras;
  subscribe(fn: (msg: ClinicalMessage) => void): () => void;
}

/** Registers one area's routes (e.g. log proofs, queries, alarms) on the gateway's server. */
export type HttpRoutes = (app: FastifyInstance, auth: HttpAuth) => void | Promise<void>;

/** True when `A` and `B` are the same type; with `Assert`, a compile-time check of one against the other. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compiles only for `true`: `type X = Assert<Same<ServerType, ContractType>>`. */
export type Assert<T extends true> = T;

/**
 * A client the gateway dropped for not taking what it is sent: a response it took none of
 * for the send timeout (`send_timeout`), or a live socket that did not answer a ping
 * (`no_pong`) or fell more than its bound behind (`too_slow`, io/http/live-socket).
 */
export interface DroppedClient {
  reason: 'send_timeout' | 'no_pong' | 'too_slow';
  /** The route's pattern (e.g. `/api/care/patients/:patient/fhir`): no ids, no query. */
  route: string;
  method: string;
  /** Bytes still held by the gateway for it when it was dropped. */
  unsent: number;
}
