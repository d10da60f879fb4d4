/**
 * @module io/http/auditor-routes
 * Serves the auditor page (issue 6 "an auditor page"; PROTOCOL.md §5; ARCHITECTURE.md
 * "Roles"), registered on the gateway's server through `HttpServerOptions.routes`:
 *
 * - `GET /auditor/` (and `/auditor/index.html`, `/auditor/app.js`, `/auditor/style.css`):
 *   the page from `dashboards/auditor/`.
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
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Role } from '../identity/users.js';
import { type HttpAuth, HttpError, type HttpRoutes } from './server.js';

/** Roles that may open the auditor page. */
export const AUDITOR_PAGE_ROLES: readonly Role[] = ['auditor', 'admin'];

export interface AuditorRoutesOptions {
  /** Directory with index.html, app.js, style.css. Default: `dashboards/auditor` of the checkout. */
  pageDir?: string;
  /** The built verifier bundle. Default: `dist/auditor/verifier.js` of the checkout. */
  verifierFile?: string;
}

/** The nearest ancestor of this module that holds `rel` (the checkout root, from src or dist). */
function findUp(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 7; i++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return undefined;
}

const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/auditor/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/auditor/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/auditor/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/auditor/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * The auditor page's routes.
 * @example
 * startHttpServer({ ..., routes: [auditorRoutes()] });
 */
export function auditorRoutes(opts: AuditorRoutesOptions = {}): HttpRoutes {
  return (app, auth: HttpAuth) => {
    const pageDir =
      opts.pageDir ?? findUp(join('dashboards', 'auditor', 'index.html'))?.replace(/index\.html$/, '');
    const verifierFile = opts.verifierFile ?? findUp(join('dist', 'auditor', 'verifier.js'));
    const send = async (
      path: string | undefined,
      type: string,
      reply: Parameters<HttpAuth['requireRole']>[1],
    ) => {
      if (path === undefined) throw new HttpError('not_found');
      let body: Buffer;
      try {
        body = await readFile(path);
      } catch {
        throw new HttpError('not_found');
      }
      return reply.type(type).header('cache-control', 'no-store').send(body);
    };

    app.get('/auditor', async (request, reply) => {
      auth.requireRole(request, reply, AUDITOR_PAGE_ROLES);
      return reply.redirect('/auditor/');
    });
    for (const [url, { file, type }] of Object.entries(PAGE_FILES)) {
      app.get(url, async (request, reply) => {
        auth.requireRole(request, reply, AUDITOR_PAGE_ROLES);
        return send(pageDir === undefined ? undefined : join(pageDir, file), type, reply);
      });
    }
    app.get('/auditor/verifier.js', async (request, reply) => {
      auth.requireRole(request, reply, AUDITOR_PAGE_ROLES);
      return send(verifierFile, 'text/javascript; charset=utf-8', reply);
    });
  };
}
