/**
 * @module io/http/route-contract
 * What the gateway's HTTP server (io/http/server) gives the modules that add routes and
 * live messages to it, and what it reports for the audit log. Types only, so the route
 * modules and the server's own parts (login, live socket) depend on this contract rather
 * than on the server.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClinicalMessage, LiveSnapshotExtras } from '../../core/live-contract.js';
import type { Role } from '../identity/index.js';

export type HttpAuditEvent =
  | { type: 'login' | 'logout' | 'session_expired' | 'ward_view' | 'live_view'; username: string; at: number }
  /** `username` as typed (truncated), `remote` the peer address; never the password. */
  | { type: 'login_failed'; username: string; remote: string; at: number };

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
