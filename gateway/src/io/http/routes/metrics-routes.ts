/**
 * @module io/http/routes/metrics-routes
 * Operations endpoints of the gateway (issue "production shape"):
 * - `GET /metrics`: Prometheus text format (core/metrics). Counts, sizes and latencies
 *   only, never device payloads. Optionally protected by a bearer token (read from a file
 *   by the config, never from argv).
 * - `GET /livez`: 200 while the process serves HTTP (restart it when this fails).
 * - `GET /readyz`: 200 `{status:'ok'}` when the store commits (no failed commit since the
 *   last good one), the MQTT side is up (embedded listener bound, or at least one lane
 *   connected to the external broker) and anchoring makes progress; otherwise 503
 *   `{error:{code,reason}}` with the first reason of core/health: `not_ready` (store or
 *   MQTT; take it out of rotation, do not restart), `ledger_unavailable` (the chain does not
 *   answer, or the embedded node is being restarted), `anchoring_stalled` (the oldest
 *   checkpoint in the outbox is older than the stall threshold). Frames are still accepted
 *   while anchoring is degraded.
 *
 * The series are those of the registry in io/ops/metrics.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Readiness } from '../../../core/health.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../../core/metrics.js';
import type { GatewayMetrics } from '../../ops/index.js';
import { errorReply } from '../errors.js';
import type { HttpRoutes } from '../route-contract.js';

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The `/metrics`, `/livez` and `/readyz` routes.
 * @param opts.token when set, `/metrics` needs `Authorization: Bearer <token>` (401 otherwise)
 * @example
 * startHttpServer({ …, routes: [opsRoutes({ metrics, readiness: () => readiness(inputs()) })] });
 */
export function opsRoutes(opts: {
  metrics: GatewayMetrics;
  /** The verdict of core/health `readiness`. */
  readiness: () => Readiness;
  token?: string;
}): HttpRoutes {
  return (app) => {
    app.get('/livez', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return { status: 'ok' };
    });
    app.get('/readyz', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      const r = opts.readiness();
      if (r.ready) return { status: 'ok' };
      const e = errorReply(r.code);
      return reply.code(e.status).send(e.body);
    });
    app.get('/metrics', async (req, reply) => {
      reply.header('cache-control', 'no-store');
      if (opts.token !== undefined && !tokenMatches(req.headers.authorization, opts.token)) {
        // The registry's status, with this route's more specific fixed reason.
        const e = errorReply('unauthenticated', 'a metrics token is required');
        return reply.code(e.status).send(e.body);
      }
      reply.type(PROMETHEUS_CONTENT_TYPE);
      return opts.metrics.render();
    });
  };
}
