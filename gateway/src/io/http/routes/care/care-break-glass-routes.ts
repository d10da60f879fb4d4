/**
 * @module io/http/routes/care/care-break-glass-routes
 * Break-glass access (issue 18: "emergency, with a mandatory reason, possible for a configured
 * role, raises an alert to the charge nurse and the patient portal, and is marked as such").
 * Contract:
 * - `POST /api/care/patients/:patient/break-glass` (the care roles of `breakGlassRoles`,
 *   config `care.breakGlassRoles`, default doctors), body `{reason}` → 201
 *   `{patient, reason, at, until}`: for `breakGlassMinutes` (default 60) the user reads the
 *   patient's data through the care routes without a consent, each access marked
 *   `{type: 'break_glass', reason}` in the answer, the access log and the audit
 *   (io/http/routes/care/care-guard `authorize`; a consent that covers a request still serves it).
 *   The reason (core/break-glass): 400 `break_glass_reason_required` (absent or blank),
 *   `break_glass_reason_invalid` (over 500 code points, a control character). 403 `forbidden`
 *   for a role not given break-glass; 403 `clinician_suspended` for a doctor the registry bars,
 *   when the registry can be read (when it cannot, break-glass still opens: it is for the
 *   emergency in which nothing else works); 404 `not_found` for a pseudonym of no patient
 *   admitted here. Audited (`onBreakGlass`) before it is stored: a failed audit refuses it.
 *   The central station shows it (io/care/break-glass-alarms).
 * - `POST /api/care/break-glass` (the same roles), body `{patientId, reason}`: the same, by the
 *   hospital's patient id (what a doctor in an emergency knows); the answer names the pseudonym.
 * - `GET /api/care/break-glass` (doctor, patient) → `{openings: [{username, actor, patient,
 *   reason, at, until}]}`, newest first (at most 500): a patient's, every opening of their
 *   record (the patient portal shows them); anyone else's, the ones they made.
 */
import { breakGlassReason } from '../../../../core/break-glass.js';
import type { HttpRoutes } from '../../route-contract.js';
import { CARE_ROLES } from '../../route-roles.js';
import { type CareRoutesOptions, type CareUser, careGuard, PATIENT_PARAM } from './care-guard.js';

/** Default length of an opening, minutes (config `care.breakGlassMinutes`). */
export const DEFAULT_BREAK_GLASS_MINUTES = 60;

// `reason` is not required here: its absence is `break_glass_reason_required`, not a shape error.
const BREAK_GLASS_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 8000 } },
} as const;

const BY_ID_BODY = {
  type: 'object',
  required: ['patientId'],
  additionalProperties: false,
  properties: {
    patientId: { type: 'string', pattern: '^[A-Za-z0-9._:/-]{1,64}$' },
    reason: { type: 'string', maxLength: 8000 },
  },
} as const;

/**
 * The break-glass routes, for `startHttpServer({ routes })`.
 * @example routes: [careBreakGlassRoutes({ ...careOpts, breakGlass: new BreakGlassBook(store), breakGlassRoles: ['doctor'] })]
 */
export function careBreakGlassRoutes(opts: CareRoutesOptions): HttpRoutes {
  const { now, fail, subjectOf, guarded } = careGuard(opts);
  const minutes = opts.breakGlassMinutes ?? DEFAULT_BREAK_GLASS_MINUTES;

  /** Opens `patient`'s record for the user (the rules in the module doc). */
  const open = async (user: CareUser, patient: string, reason: unknown) => {
    const book = opts.breakGlass;
    if (!book || !(opts.breakGlassRoles ?? []).includes(user.role)) return fail('forbidden');
    const r = breakGlassReason(reason);
    if (!r.ok) return fail(r.code);
    const subject = subjectOf(user.username);
    if (user.role === 'doctor' && opts.consents) {
      let barred = false;
      try {
        barred = await opts.consents.doctorBarred(subject);
      } catch {
        // The registry cannot be read: the emergency goes on without it (README "Break-glass").
      }
      if (barred) return fail('clinician_suspended');
    }
    if ((await opts.patients.patientOf(patient)) === null) return fail('not_found');
    const at = now();
    const until = at + minutes * 60_000;
    opts.onBreakGlass?.({ username: user.username, patient, reason: r.reason, at, until });
    const actor = user.role === 'doctor' ? subject : user.username;
    book.open({ username: user.username, actor, role: user.role, patient, reason: r.reason, at, until });
    return { patient, reason: r.reason, at, until };
  };

  const postBreakGlass = guarded<{ Params: { patient: string }; Body: { reason?: string } | undefined }>(
    CARE_ROLES,
    (req, user) => open(user, req.params.patient.toLowerCase(), req.body?.reason),
    201,
  );
  // By the hospital's patient id, which is what a doctor in an emergency knows (the pseudonym
  // is computed here; the answer names it, so the page reads on with it).
  const postBreakGlassById = guarded<{ Body: { patientId: string; reason?: string } }>(
    CARE_ROLES,
    (req, user) => open(user, opts.patients.pseudonymOf(req.body.patientId), req.body.reason),
  );

  const getOpenings = guarded(CARE_ROLES, async (_req, user) => {
    const book = opts.breakGlass;
    if (!book) return { openings: [] };
    const who = user.role === 'patient' ? { patient: subjectOf(user.username) } : { username: user.username };
    const openings = book.of(who).map(({ username, actor, patient, reason, at, until }) => ({
      username,
      actor,
      patient,
      reason,
      at,
      until,
    }));
    return { openings };
  });

  return async (app, auth) => {
    app.post(
      '/api/care/patients/:patient/break-glass',
      { schema: { params: PATIENT_PARAM, body: BREAK_GLASS_BODY } },
      postBreakGlass(auth),
    );
    app.post('/api/care/break-glass', { schema: { body: BY_ID_BODY } }, postBreakGlassById(auth));
    app.get('/api/care/break-glass', getOpenings(auth));
  };
}
