/**
 * @module io/http/routes/auditor-routes
 * Serves the auditor page (issue 6 "an auditor page"; PROTOCOL.md §5; ARCHITECTURE.md
 * "Roles"), registered on the gateway's server through `HttpServerOptions.routes`:
 *
 * - `GET /auditor/` (and `/auditor/index.html`, `/auditor/style.css`, `/auditor/<module>.js`):
 *   the page from `dashboards/auditor/`, a whitelist listed at start-up (io/http/static-files).
 *   Its shared modules come from `/common/` (io/http/server, public: they hold no data).
 * - `GET /auditor/verifier.js`: the verifier bundle built by
 *   `node dist/anchor/src/verify/build-browser.js` into `dist/auditor/verifier.js`, which
 *   the page runs as a Web Worker (same origin, so the CSP's `default-src 'self'` admits it).
 * - `GET /auditor` redirects to `/auditor/`.
 *
 * Access: a session with role auditor or admin (401 `unauthenticated` without one, 403
 * `forbidden` for other roles). The page holds no data: the auditor picks a bundle and an
 * evidence file locally and the browser verifies them; nothing is uploaded. The gateway
 * serving the verifier is a trust point the auditor can remove: the same bundle checks
 * with `vitaltrail verify --anchors FILE`, or the page's files can be saved and opened
 * from any server they trust.
 */
import { join } from 'node:path';
import type { FastifyReply } from 'fastify';
import type { Role } from '../../identity/index.js';
import { HttpError } from '../errors.js';
import type { HttpAuth, HttpRoutes } from '../route-contract.js';
import { PROOF_ROLES } from '../route-roles.js';
import {
  checkoutFile,
  registerStaticFiles,
  STATIC_TYPES,
  sendStaticFile,
  staticFileTable,
} from '../static-files.js';

/** Roles that may open the auditor page (io/http/route-roles). */
export const AUDITOR_PAGE_ROLES: readonly Role[] = PROOF_ROLES;

export interface AuditorRoutesOptions {
  /** Directory with index.html, app.js (and its modules), style.css. Default: `dashboards/auditor` of the checkout. */
  pageDir?: string;
  /** The built verifier bundle. Default: `dist/auditor/verifier.js` of the checkout. */
  verifierFile?: string;
}

/**
 * The auditor page's routes.
 * @example
 * startHttpServer({ ..., routes: [auditorRoutes()] });
 */
export function auditorRoutes(opts: AuditorRoutesOptions = {}): HttpRoutes {
  return (app, auth: HttpAuth) => {
    const pageDir =
      opts.pageDir ?? checkoutFile(join('dashboards', 'auditor', 'index.html'))?.replace(/index\.html$/, '');
    const verifierFile = opts.verifierFile ?? checkoutFile(join('dist', 'auditor', 'verifier.js'));
    const send = async (path: string | undefined, type: string, reply: FastifyReply) => {
      if (path === undefined) throw new HttpError('not_found');
      return sendStaticFile(reply.header('cache-control', 'no-store'), { path, type });
    };

    app.get('/auditor', async (request, reply) => {
      auth.requireRole(request, reply, AUDITOR_PAGE_ROLES);
      return reply.redirect('/auditor/');
    });
    // Every plain .html/.js/.css file of the page directory, listed once (io/http/static-files).
    const pageFiles = pageDir === undefined ? new Map() : staticFileTable(pageDir, '/auditor/');
    pageFiles.delete('/auditor/verifier.js'); // always the built bundle below
    registerStaticFiles(app, pageFiles, {
      guard: (request, reply) => auth.requireRole(request, reply, AUDITOR_PAGE_ROLES),
      headers: { 'cache-control': 'no-store' },
    });
    app.get('/auditor/verifier.js', async (request, reply) => {
      auth.requireRole(request, reply, AUDITOR_PAGE_ROLES);
      return send(verifierFile, STATIC_TYPES['.js'] as string, reply);
    });
  };
}
