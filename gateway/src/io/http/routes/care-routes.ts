/**
 * @module io/http/routes/care-routes
 * The API of doctors and patients (issue 18). Contract:
 * - `GET /api/care/consents` (doctor, patient) → `{consents: CareConsentDto[]}`: every consent
 *   on the chain naming the doctor, or given by the patient, in force or not (`status`).
 * - `GET /api/care/patients` (doctor) → `{patients: [{patient, patientId, consents}]}`: the
 *   patients whose consent is in force for the doctor now (a patient admitted here: the
 *   pseudonym opened to the id through the admissions, io/care `PatientIndex`).
 * - `GET /api/care/patients/:patient/readings?from=ms&to=ms` (doctor, patient) →
 *   `{patient, from, to, basis, readings: [{dev, seq, ts, obs}]}`: the patient's readings from
 *   every device bound to them, each within its binding period. A patient reads only their own
 *   (`:patient` = their account's pseudonym, `basis: {type: 'self'}`, else 403 `forbidden`);
 *   a doctor only under a consent in force now that holds vitals and the whole range (io/care
 *   `ConsentBook`, core/consent-policy; `basis: {type: 'consent', consentId}`), else 403
 *   `consent_required`, `consent_out_of_scope` or `clinician_suspended`, or 503
 *   `ledger_unavailable` while the chain cannot be read.
 * - `GET /api/care/patients/:patient/trend?from=ms&to=ms&bucketMs=N` (doctor, patient) →
 *   `{patient, from, to, bucketMs, basis, devices: [{dev, from, to, series}]}`: the trend of each
 *   device bound to the patient within the range, cut to its binding period, on its own grid
 *   from the period's start (a bucket never holds another patient's readings); the same rules.
 * `:patient` is a pseudonym (`0x` + 64 hex), never a patient id. Every answer that carries
 * patient data is told to `onAccess` (who, role, whose data, what range, under what basis: the
 * access log) before it is sent, and every refused request for a patient's data to `onRefused`. The ward team's routes are io/http/routes/data-routes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsentRecord } from '../../../../../anchor/src/consent/index.js';
import { type ConsentTerms, inForce, SCOPE_VITALS } from '../../../core/consent-policy.js';
import type { RecipientSecret } from '../../../core/envelope.js';
import { vitalsOf } from '../../../core/trend.js';
import { VitalTrailError } from '../../../protocol/errors.js';
import type { Observations } from '../../../protocol/frame.js';
import { type ConsentBook, type PatientIndex, termsOf } from '../../care/index.js';
import type { UserDirectory } from '../../identity/index.js';
import {
  type BindingBook,
  type GatewayStore,
  readReadings,
  readTrend,
  SealedReader,
} from '../../store/index.js';
import { errorReply } from '../errors.js';
import type { HttpRoutes } from '../route-contract.js';
import { CARE_ROLES, DOCTOR_ROLES } from '../route-roles.js';

/** A consent as the doctor's and the patient's pages show it: its terms and more. */
export interface CareConsentDto extends ConsentTerms {
  purpose: string;
  grantTx: string | null;
  /** At the time of the request. */
  status: 'in_force' | 'not_yet' | 'expired' | 'revoked';
}

/** Why an access was allowed: the ward team's role, the patient's own, or a consent. */
export type AccessBasis = { type: 'self' } | { type: 'consent'; consentId: string };

/** One access to a patient's data (the access log's input). */
export interface CareAccess {
  at: number;
  /** The account's user name (the gateway's audit names it). */
  username: string;
  /** Who on the chain's terms: a doctor's clinician id, a patient's user name. */
  actor: string;
  role: 'doctor' | 'patient';
  patient: string;
  action: 'readings' | 'trend';
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
  /** Largest number of buckets of a trend. Default 10,000. */
  maxBuckets?: number;
  now?: () => number;
}

const PATIENT_PARAM = {
  type: 'object',
  required: ['patient'],
  properties: { patient: { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$' } },
} as const;
const RANGE_QUERY = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'integer', minimum: 0 },
    to: { type: 'integer', minimum: 0 },
    bucketMs: { type: 'integer', minimum: 1000 },
  },
} as const;

const CARE_CODES = [
  'bad_request',
  'forbidden',
  'not_found',
  'no_recipient_key',
  'consent_required',
  'consent_out_of_scope',
  'clinician_suspended',
  'ledger_unavailable',
] as const;
type CareCode = (typeof CARE_CODES)[number];

function statusOf(r: ConsentRecord, now: number): CareConsentDto['status'] {
  if (r.revokedAt !== null && r.revokedAt <= now) return 'revoked';
  if (now < Number(r.validFrom)) return 'not_yet';
  if (now >= Number(r.validUntil)) return 'expired';
  return 'in_force';
}

/** A chain record as the API shows it. */
export function consentDto(r: ConsentRecord, now: number): CareConsentDto {
  return { ...termsOf(r), purpose: r.purpose, grantTx: r.grantTx ?? null, status: statusOf(r, now) };
}

/**
 * The doctors' and patients' routes, for `startHttpServer({ routes })`.
 * @example startHttpServer({ ..., routes: [careRoutes({ store, bindings, secrets, users, patients, consents })] });
 */
export function careRoutes(opts: CareRoutesOptions): HttpRoutes {
  const now = opts.now ?? Date.now;
  const maxRangeMs = opts.maxRangeMs ?? 7 * 24 * 3600 * 1000;
  const maxBuckets = opts.maxBuckets ?? 10_000;
  const fail = (code: CareCode): never => {
    throw new VitalTrailError(code, code);
  };
  /** The caller's account subject (a doctor's clinician id, a patient's pseudonym). */
  const subjectOf = (username: string): string => {
    const s = opts.users.get(username)?.subject;
    return s === undefined ? fail('forbidden') : s.toLowerCase();
  };
  const guarded =
    <Q extends { Params?: unknown; Querystring?: unknown }>(
      roles: readonly ('doctor' | 'patient')[],
      fn: (
        req: FastifyRequest<Q>,
        user: { username: string; role: 'doctor' | 'patient' },
      ) => Promise<unknown>,
    ) =>
    (auth: Parameters<HttpRoutes>[1]) =>
    async (req: FastifyRequest<Q>, reply: FastifyReply) => {
      const user = auth.requireRole(req as FastifyRequest, reply, roles) as {
        username: string;
        role: 'doctor' | 'patient';
      };
      try {
        return await fn(req, user);
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
          const r = errorReply(err.code as CareCode);
          return reply.code(r.status).send(r.body);
        }
        throw err;
      }
    };

  const getConsents = guarded(CARE_ROLES, async (_req, user) => {
    const subject = subjectOf(user.username);
    if (!opts.consents) return fail('ledger_unavailable');
    const records = opts.consents.records(
      user.role === 'doctor' ? { doctor: subject } : { patient: subject },
    );
    const t = now();
    return { consents: records.map((r) => consentDto(r, t)) };
  });

  const getPatients = guarded(DOCTOR_ROLES, async (_req, user) => {
    const doctor = subjectOf(user.username);
    if (!opts.consents) return fail('ledger_unavailable');
    const t = now();
    const byPatient = new Map<string, CareConsentDto[]>();
    for (const r of opts.consents.records({ doctor })) {
      const dto = consentDto(r, t);
      if (!inForce(dto, t)) continue;
      byPatient.set(dto.patient, [...(byPatient.get(dto.patient) ?? []), dto]);
    }
    const patients = [];
    for (const [patient, consents] of byPatient) {
      const patientId = await opts.patients.patientOf(patient);
      if (patientId !== null) patients.push({ patient, patientId, consents });
    }
    return { patients };
  });

  type PatientRange = {
    Params: { patient: string };
    Querystring: { from: number; to: number; bucketMs?: number };
  };

  /**
   * Who may have `patient`'s vitals over [from, to]: the patient themselves, or a doctor under
   * a consent in force; then the patient's id and the basis. @throws {VitalTrailError} coded
   */
  const authorize = async (
    patient: string,
    from: number,
    to: number,
    user: { username: string; role: 'doctor' | 'patient' },
  ): Promise<{ patientId: string; basis: AccessBasis; subject: string }> => {
    if (to < from || to - from > maxRangeMs) return fail('bad_request');
    const subject = subjectOf(user.username);
    let basis: AccessBasis;
    if (user.role === 'patient') {
      if (subject !== patient) return fail('forbidden');
      basis = { type: 'self' };
    } else {
      if (!opts.consents) return fail('ledger_unavailable');
      const d = await opts.consents.decide({
        doctor: subject,
        patient,
        scope: SCOPE_VITALS,
        from,
        to,
        now: now(),
      });
      if (!d.allowed) return fail(d.code);
      basis = { type: 'consent', consentId: d.consent.id };
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
    user: { username: string; role: 'doctor' | 'patient' },
    a: { subject: string; basis: AccessBasis },
    patient: string,
    action: 'readings' | 'trend',
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

  const getReadings = guarded<PatientRange>(CARE_ROLES, async (req, user) => {
    const patient = req.params.patient.toLowerCase();
    const { from, to } = req.query;
    const a = await authorize(patient, from, to, user);
    const reader = new SealedReader(opts.store, opts.secrets);
    const readings: { dev: string; seq: number; ts: number; obs: Observations }[] = [];
    for (const p of await periodsOf(a.patientId, from, to))
      for (const r of (await readReadings(opts.store, reader, p.dev, p.from, p.to)).readings)
        readings.push({ dev: p.dev, seq: r.seq, ts: r.ts, obs: vitalsOf(r.obs) });
    readings.sort((p, q) => p.ts - q.ts || (p.dev < q.dev ? -1 : 1) || p.seq - q.seq);
    logged(user, a, patient, 'readings', from, to, readings.length);
    return { patient, from, to, basis: a.basis, readings };
  });

  // Per device and binding period, each on its own grid from the period's start: a bucket never
  // mixes in another patient's readings of the same device.
  const getTrend = guarded<PatientRange>(CARE_ROLES, async (req, user) => {
    const patient = req.params.patient.toLowerCase();
    const { from, to } = req.query;
    const bucketMs = req.query.bucketMs ?? 60_000;
    if ((to - from) / bucketMs > maxBuckets) return fail('bad_request');
    const a = await authorize(patient, from, to, user);
    const reader = new SealedReader(opts.store, opts.secrets);
    const devices = [];
    let count = 0;
    for (const p of await periodsOf(a.patientId, from, to)) {
      const t = await readTrend(opts.store, reader, p.dev, p.from, p.to, bucketMs);
      count += t.readings;
      devices.push({ ...p, series: t.series });
    }
    logged(user, a, patient, 'trend', from, to, count);
    return { patient, from, to, bucketMs, basis: a.basis, devices };
  });

  return async (app, auth) => {
    app.get('/api/care/consents', getConsents(auth));
    app.get('/api/care/patients', getPatients(auth));
    app.get(
      '/api/care/patients/:patient/readings',
      { schema: { params: PATIENT_PARAM, querystring: RANGE_QUERY } },
      getReadings(auth),
    );
    app.get(
      '/api/care/patients/:patient/trend',
      { schema: { params: PATIENT_PARAM, querystring: RANGE_QUERY } },
      getTrend(auth),
    );
  };
}
