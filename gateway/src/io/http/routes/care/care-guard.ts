/**
 * @module io/http/routes/care/care-guard
 * What every care route (io/http/routes/care/care-routes and its siblings) shares: the options,
 * the role guard that turns a coded refusal into its answer and tells `onRefused`, the
 * decision of who may read a patient's data over a range (the patient themselves, or a doctor
 * under a consent in force: core/consent-policy through io/care `ConsentBook`; failing those, a
 * break-glass opening of the user in force, io/care `BreakGlassBook`), the patient's
 * devices over a range, and the access record told to `onAccess` before an answer is sent.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SCOPE_VITALS } from '../../../../core/consent-policy.js';
import type { RecipientSecret } from '../../../../core/envelope.js';
import { VitalTrailError } from '../../../../protocol/errors.js';
import type { BreakGlassBook, ConsentBook, PatientIndex } from '../../../care/index.js';
import type { UserDirectory } from '../../../identity/index.js';
import type { BindingBook, GatewayStore } from '../../../store/index.js';
import { errorReply } from '../../errors.js';
import type { HttpRoutes } from '../../route-contract.js';
import type { CareGroup } from './care-group.js';

/** Why an access was allowed: the patient's own, a consent, or a break-glass opening in force. */
export type AccessBasis =
  | { type: 'self' }
  | { type: 'consent'; consentId: string }
  | { type: 'break_glass'; reason: string };

/** One access to a patient's data (the access log's input). */
export interface CareAccess {
  at: number;
  /** The account's user name (the gateway's audit names it). */
  username: string;
  /** Who on the chain's terms: a doctor's clinician id, a patient's user name. */
  actor: string;
  role: 'doctor' | 'patient';
  patient: string;
  /** The access log leaf's action (anchor/src/verify-access `AccessAction`). */
  action: 'readings' | 'trend' | 'ecg' | 'fhir_export' | 'bundle_export' | 'patient_view';
  dataFrom: number;
  dataUntil: number;
  basis: AccessBasis;
  count: number;
}

export interface CareRoutesOptions {
  store: GatewayStore;
  bindings: BindingBook;
  secrets: readonly RecipientSecret[];
  users: Pick<UserDirectory, 'get'>;
  patients: PatientIndex;
  /** The chain's consents; null without a consent contract (doctors then get 503). */
  consents: ConsentBook | null;
  /** Told of every access before its answer is sent; a throw refuses the answer (500). */
  onAccess?: (a: CareAccess) => void;
  /** Told of every refused request for a patient's data (who, whose, the code). Must not throw. */
  onRefused?: (r: { username: string; role: 'doctor' | 'patient'; patient: string; code: string }) => void;
  /** Largest range in one request. Default 7 days. */
  maxRangeMs?: number;
  /**
   * In a gateway group: this gateway's id and where the others are. A patient's readings,
   * trend and ECG then hold every gateway's (io/http/routes/care/care-group); absent: this one's.
   */
  group?: CareGroup;
  /** Largest number of buckets of a trend. Default 10,000. */
  maxBuckets?: number;
  /** Most frames a readings range may hold (`too_many_readings` past it). Default 100,000. */
  maxReadings?: number;
  /** The care roles that may open a patient's data in an emergency (break-glass). Default none. */
  breakGlassRoles?: readonly ('doctor' | 'patient')[];
  /** This gateway's break-glass openings (io/care); absent: none, and none can be made. */
  breakGlass?: BreakGlassBook;
  /** How long a break-glass opening lasts (minutes). Default 60. */
  breakGlassMinutes?: number;
  /** Told of every break-glass opening before it is stored (the audit); a throw refuses it (500). */
  onBreakGlass?: (o: {
    username: string;
    patient: string;
    reason: string;
    at: number;
    until: number;
  }) => void;
  now?: () => number;
}

export const PATIENT_PARAM = {
  type: 'object',
  required: ['patient'],
  properties: { patient: { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$' } },
} as const;

export const CARE_CODES = [
  'bad_request',
  'too_many_readings',
  'forbidden',
  'not_found',
  'no_recipient_key',
  'consent_required',
  'consent_out_of_scope',
  'clinician_suspended',
  'ledger_unavailable',
  'consent_rejected',
  'patient_key_exists',
  'registrar_unavailable',
  'break_glass_reason_required',
  'break_glass_reason_invalid',
] as const;
export type CareCode = (typeof CARE_CODES)[number];

/** A signed-in doctor or patient. */
export type CareUser = { username: string; role: 'doctor' | 'patient' };

/**
 * The shared parts of the care routes over one set of options.
 * @example const g = careGuard(opts); app.get('/api/care/x', g.guarded(CARE_ROLES, async (req, user) => ...)(auth));
 */
export function careGuard(opts: CareRoutesOptions) {
  const now = opts.now ?? Date.now;
  const maxRangeMs = opts.maxRangeMs ?? 7 * 24 * 3600 * 1000;
  /** Refuses with `code`; `reason` (never PHI) replaces the code's fixed reason in the answer. */
  const fail = (code: CareCode, reason?: string): never => {
    throw new VitalTrailError(code, reason ?? code);
  };
  /** The caller's account subject (a doctor's clinician id, a patient's pseudonym). */
  const subjectOf = (username: string): string => {
    const s = opts.users.get(username)?.subject;
    return s === undefined ? fail('forbidden') : s.toLowerCase();
  };
  const guarded =
    <Q extends { Params?: unknown; Querystring?: unknown; Body?: unknown }>(
      roles: readonly ('doctor' | 'patient')[],
      fn: (
        req: FastifyRequest<Q>,
        user: { username: string; role: 'doctor' | 'patient' },
        reply: FastifyReply,
      ) => Promise<unknown>,
      /** The status of a success: 201 for a route that creates something. Default 200. */
      status = 200,
    ) =>
    (auth: Parameters<HttpRoutes>[1]) =>
    async (req: FastifyRequest<Q>, reply: FastifyReply) => {
      const user = auth.requireRole(req as FastifyRequest, reply, roles) as {
        username: string;
        role: 'doctor' | 'patient';
      };
      try {
        const out = await fn(req, user, reply);
        reply.code(status);
        return out;
      } catch (err) {
        if (err instanceof VitalTrailError && (CARE_CODES as readonly string[]).includes(err.code)) {
          const patient = (req.params as { patient?: string } | undefined)?.patient;
          if (patient !== undefined)
            try {
              opts.onRefused?.({
                username: user.username,
                role: user.role,
                patient: patient.toLowerCase(),
                code: err.code,
              });
            } catch {
              // The audit sink must not change the answer.
            }
          const r = errorReply(err.code as CareCode, err.message !== err.code ? err.message : undefined);
          return reply.code(r.status).send(r.body);
        }
        throw err;
      }
    };

  /**
   * A break-glass opening of the user for `patient` in force now, as the basis, when the user's
   * role may break glass and the usual rule refused with `code` (not a suspension: a doctor
   * the registry suspended reads nothing, opening or not); else null.
   */
  const breakGlassBasis = (user: CareUser, patient: string, code: string): AccessBasis | null => {
    if (!['forbidden', 'consent_required', 'consent_out_of_scope', 'ledger_unavailable'].includes(code))
      return null;
    if (!(opts.breakGlassRoles ?? []).includes(user.role)) return null;
    const o = opts.breakGlass?.inForce(user.username, patient, now());
    return o ? { type: 'break_glass', reason: o.reason } : null;
  };

  /**
   * Who may have `patient`'s vitals over [from, to]: the patient themselves, or a doctor under
   * a consent in force; then the patient's id and the basis. Failing those, a break-glass
   * opening of the user in force (io/care/break-glass); a consent that covers the request
   * wins over it. @throws {VitalTrailError} coded
   */
  const authorize = async (
    patient: string,
    from: number,
    to: number,
    user: CareUser,
    scope: number = SCOPE_VITALS,
  ): Promise<{ patientId: string; basis: AccessBasis; subject: string }> => {
    if (to < from || to - from > maxRangeMs) return fail('bad_request');
    const subject = subjectOf(user.username);
    let basis: AccessBasis;
    try {
      if (user.role === 'patient') {
        if (subject !== patient) return fail('forbidden');
        basis = { type: 'self' };
      } else {
        if (!opts.consents) return fail('ledger_unavailable');
        const d = await opts.consents.decide({
          doctor: subject,
          patient,
          scope,
          from,
          to,
          now: now(),
        });
        if (!d.allowed) return fail(d.code);
        basis = { type: 'consent', consentId: d.consent.id };
      }
    } catch (err) {
      const glass = err instanceof VitalTrailError ? breakGlassBasis(user, patient, err.code) : null;
      if (!glass) throw err;
      basis = glass;
    }
    if (opts.secrets.length === 0) return fail('no_recipient_key');
    const patientId = await opts.patients.patientOf(patient);
    if (patientId === null) return fail('not_found');
    return { patientId, basis, subject };
  };

  /** The patient's devices over [from, to], each cut to its binding period. */
  const periodsOf = async (patientId: string, from: number, to: number) => {
    const out: { dev: string; from: number; to: number }[] = [];
    for (const period of await opts.bindings.devicesOf(patientId)) {
      const a = Math.max(from, period.from);
      const b = Math.min(to, period.to ?? Number.MAX_SAFE_INTEGER);
      if (a <= b && opts.store.getDevice(period.dev)) out.push({ dev: period.dev, from: a, to: b });
    }
    return out;
  };

  const logged = (
    user: CareUser,
    a: { subject: string; basis: AccessBasis },
    patient: string,
    action: CareAccess['action'],
    from: number,
    to: number,
    count: number,
  ) =>
    opts.onAccess?.({
      at: now(),
      username: user.username,
      actor: user.role === 'doctor' ? a.subject : user.username,
      role: user.role,
      patient,
      action,
      dataFrom: from,
      dataUntil: to,
      basis: a.basis,
      count,
    });

  return { now, fail, subjectOf, guarded, authorize, periodsOf, logged };
}
