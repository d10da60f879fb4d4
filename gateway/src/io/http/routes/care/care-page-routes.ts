/**
 * @module io/http/routes/care/care-page-routes
 * Serves the patient portal and the doctor's page (issue 18; README "The patient portal and
 * the doctor's page"), registered on the gateway's server through `HttpServerOptions.routes`
 * (app/care-steps):
 *
 * - `GET /patient/` (and `/patient/index.html`, `/patient/style.css`, `/patient/<module>.js`):
 *   the portal from `dashboards/patient/`, a whitelist listed at start-up (io/http/static-files);
 *   role `patient`. `GET /patient` redirects to `/patient/`.
 * - `GET /doctor/` and `/doctor/<page file>` from `dashboards/doctor/`; role `doctor`.
 *   `GET /doctor` redirects to `/doctor/`.
 * - `GET /care/consent.js`: the key and signing bundle built by
 *   `node dist/anchor/src/consent/build-browser.js` into `dist/care/consent.js`
 *   (`globalThis.VitalTrailConsent`); roles `patient` and `doctor`.
 * The pages' shared modules come from `/common/` (io/http/server, public: they hold no data).
 *
 * Access: 401 `unauthenticated` without a session (a patient or a doctor signs in on the
 * dashboard, `/`, which sends them here), 403 `forbidden` for other roles. The pages hold no
 * data of their own: they call the care routes (io/http/routes/care/care-routes and the consent
 * routes), which decide what each may see. `cache-control: no-store` on every answer.
 */
import { join } from 'node:path';
import type { Role } from '../../../identity/index.js';
import { HttpError } from '../../errors.js';
import type { HttpAuth, HttpRoutes } from '../../route-contract.js';
import { CARE_ROLES, DOCTOR_ROLES, PATIENT_ROLES } from '../../route-roles.js';
import {
  checkoutFile,
  registerStaticFiles,
  STATIC_TYPES,
  sendStaticFile,
  staticFileTable,
} from '../../static-files.js';

export interface CarePageRoutesOptions {
  /** The portal's directory. Default: `dashboards/patient` of the checkout. */
  patientDir?: string;
  /** The doctor's page's directory. Default: `dashboards/doctor` of the checkout. */
  doctorDir?: string;
  /** The built signing bundle. Default: `dist/care/consent.js` of the checkout. */
  consentBundle?: string;
}

/**
 * The patient portal's and the doctor's page's routes.
 * @example
 * startHttpServer({ ..., routes: [carePageRoutes()] });
 */
export function carePageRoutes(opts: CarePageRoutesOptions = {}): HttpRoutes {
  return (app, auth: HttpAuth) => {
    const page = (name: 'patient' | 'doctor', dir: string | undefined, roles: readonly Role[]) => {
      const pageDir =
        dir ?? checkoutFile(join('dashboards', name, 'index.html'))?.replace(/index\.html$/, '');
      app.get(`/${name}`, async (request, reply) => {
        auth.requireRole(request, reply, roles);
        return reply.redirect(`/${name}/`);
      });
      // Every plain .html/.js/.css file of the page directory, listed once (io/http/static-files).
      registerStaticFiles(app, pageDir === undefined ? new Map() : staticFileTable(pageDir, `/${name}/`), {
        guard: (request, reply) => auth.requireRole(request, reply, roles),
        headers: { 'cache-control': 'no-store' },
      });
    };
    page('patient', opts.patientDir, PATIENT_ROLES);
    page('doctor', opts.doctorDir, DOCTOR_ROLES);

    const bundle = opts.consentBundle ?? checkoutFile(join('dist', 'care', 'consent.js'));
    app.get('/care/consent.js', async (request, reply) => {
      auth.requireRole(request, reply, CARE_ROLES);
      if (bundle === undefined) throw new HttpError('not_found');
      reply.header('cache-control', 'no-store');
      return sendStaticFile(reply, { path: bundle, type: STATIC_TYPES['.js'] as string });
    });
  };
}
