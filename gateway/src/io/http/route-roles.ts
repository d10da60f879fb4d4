/**
 * @module io/http/route-roles
 * Who may use which route: the one table (ARCHITECTURE.md "Roles"; README "Who may use
 * which route", checked against this table by test/integration/route-roles.test.ts, which
 * also calls every route as every role). Route modules take their role lists from here.
 *
 * - `nurse`: the ward's live and historical vitals, alarms, NEWS2 and limits; no proofs.
 * - `charge_nurse`: a nurse who also admits and discharges.
 * - `admin`: runs the gateway; everything.
 * - `auditor`: proofs and bundles, no live PHI.
 * - `doctor` (issue 18): no ward, alarm or proof route; a patient's data only through the care
 *   routes, under the patient's consent on chain (io/http/routes/care/care-routes).
 * - `patient` (issue 18): their own data and consents only, through the care routes.
 * - `display`: an enrolled wall display (io/http/displays), not a user: reads the ward
 *   overview (live socket, alarms, beds) and nothing else; never acknowledges, admits or
 *   opens a patient. For a display session this table is the rule itself: io/http/server
 *   refuses every route whose list lacks `display`, whatever the route module asks.
 *
 * A user who must choose a new password (io/identity/users `mustChangePassword`) may use
 * only `BEFORE_PASSWORD_CHANGE` and the routes that need no session until they have.
 *
 * Access `public` needs nothing; `session` any signed-in role; `token` the metrics bearer
 * token when one is configured (open otherwise); `signed` the alarm webhook's HMAC signature
 * (io/http/routes/webhook-routes; no session counts, and without a configured secret nothing).
 */
import type { SessionRole } from '../../core/live-contract.js';
import { ROLES, type Role } from '../identity/index.js';

/** Live and historical vitals, alarms, NEWS2 and limits. */
export const WARD_ROLES: readonly Role[] = ['admin', 'nurse', 'charge_nurse'];
/** The ward overview, read only: the ward roles and enrolled wall displays. */
export const WARD_READ_ROLES: readonly SessionRole[] = [...WARD_ROLES, 'display'];
/** Running the gateway: wall display enrolment. */
export const ADMIN_ROLES: readonly Role[] = ['admin'];
/** Admissions and discharges. */
export const ADMIT_ROLES: readonly Role[] = ['admin', 'charge_nurse'];
/** Proofs, checkpoints, anchoring status, receipts and the auditor's page. */
export const PROOF_ROLES: readonly Role[] = ['admin', 'auditor'];
/** A clinician outside the ward team (issue 18): patients' data only under their consent on chain. */
export const DOCTOR_ROLES: readonly ('doctor' | 'patient')[] = ['doctor'];
/** The consent-governed routes: doctors, and patients for their own data (io/http/routes/care/care-routes). */
export const CARE_ROLES: readonly ('doctor' | 'patient')[] = ['doctor', 'patient'];
/** A patient's own key, grants and revocations (io/http/routes/care/care-consent-routes). */
export const PATIENT_ROLES: readonly ('doctor' | 'patient')[] = ['patient'];
/** Every user account (a wall display is none): a user's own password. */
export const USER_ROLES: readonly Role[] = ROLES;

export type RouteAccess = 'public' | 'session' | 'token' | 'signed' | readonly SessionRole[];

/**
 * Every route of the dashboard server, `METHOD /path` as registered. `GET /<page file>`
 * stands for the ward page's static files, `GET /auditor/<page file>` for the auditor's,
 * `GET /patient/<page file>` and `GET /doctor/<page file>` for the patient portal's and the
 * doctor's page's (io/http/routes/care/care-page-routes).
 */
export const ROUTE_ROLES: Readonly<Record<string, RouteAccess>> = {
  'GET /<page file>': 'public',
  'GET /favicon.ico': 'public',
  'GET /healthz': 'public',
  'GET /livez': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'token',
  'POST /api/login': 'public',
  'POST /api/logout': 'public',
  'GET /api/me': 'session',
  'POST /api/password': USER_ROLES,
  'POST /api/display/session': 'public',
  'GET /api/displays': ADMIN_ROLES,
  'POST /api/displays': ADMIN_ROLES,
  'POST /api/displays/:id/revoke': ADMIN_ROLES,
  'GET /api/ward': WARD_READ_ROLES,
  'GET /ws': WARD_READ_ROLES,
  'GET /api/alarms': WARD_READ_ROLES,
  'POST /api/alarms/:id/ack': WARD_ROLES,
  'POST /api/outbound/webhook/ack': 'signed',
  'GET /api/patients/:dev': WARD_ROLES,
  'GET /api/patients/:dev/settings': WARD_ROLES,
  'PUT /api/patients/:dev/settings': WARD_ROLES,
  'POST /api/patients/:dev/standby': WARD_ROLES,
  'GET /api/patients/:dev/alarms': WARD_ROLES,
  'GET /api/bindings': WARD_ROLES,
  'GET /api/beds': WARD_READ_ROLES,
  'GET /api/devices/:dev/bindings': WARD_ROLES,
  'GET /api/devices/:dev/readings': WARD_ROLES,
  'GET /api/devices/:dev/trend': WARD_ROLES,
  'POST /api/admissions': ADMIT_ROLES,
  'GET /api/care/consents': CARE_ROLES,
  'GET /api/care/patients': DOCTOR_ROLES,
  'GET /api/care/patients/:patient/readings': CARE_ROLES,
  'GET /api/care/patients/:patient/trend': CARE_ROLES,
  // Break-glass: the care roles; only those of config care.breakGlassRoles open (else 403).
  'POST /api/care/patients/:patient/break-glass': CARE_ROLES,
  'POST /api/care/break-glass': CARE_ROLES,
  'GET /api/care/break-glass': CARE_ROLES,
  'GET /api/care/patients/:patient/ecg': CARE_ROLES,
  'GET /api/care/patients/:patient/fhir': CARE_ROLES,
  'GET /api/care/patients/:patient/bundle': CARE_ROLES,
  'GET /api/care/patients/:patient/bundle/parts': CARE_ROLES,
  'GET /api/care/me': CARE_ROLES,
  'PUT /api/care/me/key': PATIENT_ROLES,
  'GET /api/care/doctors': PATIENT_ROLES,
  'POST /api/care/consents': PATIENT_ROLES,
  'POST /api/care/consents/:consentId/revoke': PATIENT_ROLES,
  'GET /api/care/access': CARE_ROLES,
  'POST /api/discharges': ADMIT_ROLES,
  'GET /checkpoint': PROOF_ROLES,
  'GET /proof/inclusion': PROOF_ROLES,
  'GET /proof/consistency': PROOF_ROLES,
  'GET /anchoring': PROOF_ROLES,
  'GET /receipt': PROOF_ROLES,
  'GET /auditor': PROOF_ROLES,
  'GET /auditor/<page file>': PROOF_ROLES,
  'GET /patient': PATIENT_ROLES,
  'GET /patient/<page file>': PATIENT_ROLES,
  'GET /doctor': DOCTOR_ROLES,
  'GET /doctor/<page file>': DOCTOR_ROLES,
  'GET /care/consent.js': CARE_ROLES,
};

/** The session routes a user who must choose a new password may still use. */
export const BEFORE_PASSWORD_CHANGE: ReadonlySet<string> = new Set(['GET /api/me', 'POST /api/password']);

/**
 * Whether a user who must choose a new password may use the route `key`: the two of
 * `BEFORE_PASSWORD_CHANGE`, and those that take no session (public, metrics token,
 * webhook signature). Unknown keys: no.
 */
export function mayBeforePasswordChange(key: string): boolean {
  const access = ROUTE_ROLES[key];
  if (access === undefined) return false;
  return BEFORE_PASSWORD_CHANGE.has(key) || access === 'public' || access === 'token' || access === 'signed';
}

/**
 * The table's key of a registered route (`HEAD` routes fastify adds go with their `GET`).
 * @example
 * routeKey('GET', '/style.css', new Set(['/style.css'])); // 'GET /<page file>'
 */
export function routeKey(method: string, url: string, pageFiles: ReadonlySet<string>): string {
  const m = method === 'HEAD' ? 'GET' : method;
  if (`${m} ${url}` in ROUTE_ROLES) return `${m} ${url}`;
  if (m === 'GET' && url.startsWith('/auditor/')) return 'GET /auditor/<page file>';
  if (m === 'GET' && url.startsWith('/patient/')) return 'GET /patient/<page file>';
  if (m === 'GET' && url.startsWith('/doctor/')) return 'GET /doctor/<page file>';
  if (m === 'GET' && pageFiles.has(url)) return 'GET /<page file>';
  return `${m} ${url}`;
}
