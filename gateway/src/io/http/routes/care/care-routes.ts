/**
 * @module io/http/routes/care/care-routes
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
 *   `ledger_unavailable` while the chain cannot be read. With `&limit=N` (1-10,000) only the N
 *   latest readings of the range, read from its last hours alone, and `total`: the frames the
 *   range holds (from the index; shredded ones included): what a page showing the last rows
 *   and a count needs, without a day of readings (~11 MB at 1 Hz) read and sent. Without it,
 *   a range holding more than `maxReadings` frames (100,000 by default, on all the patient's
 *   devices) is refused with 422 `too_many_readings` before a frame is opened; a long answer
 *   is sent in slices of the event loop's time (io/outbound `slicedJson`).
 * - `GET /api/care/patients/:patient/trend?from=ms&to=ms&bucketMs=N` (doctor, patient) →
 *   `{patient, from, to, bucketMs, basis, devices: [{dev, from, to, series}]}`: the trend of each
 *   device bound to the patient within the range, cut to its binding period, on its own grid
 *   from the period's start (a bucket never holds another patient's readings); the same rules.
 * In a gateway group (`group`), readings and trend hold every gateway's readings (and the answer
 * names them, `sources: {gateways, missing}`): this gateway authorizes and answers for what it
 * stored, then asks the others, which authorize again and answer for theirs
 * (io/http/routes/care/care-group); each gateway logs what it served.
 * `:patient` is a pseudonym (`0x` + 64 hex), never a patient id. Every answer that carries
 * patient data is told to `onAccess` (who, role, whose data, what range, under what basis: the
 * access log) before it is sent, and every refused request for a patient's data to `onRefused`. The ward team's routes are io/http/routes/data-routes.
 */
import type { ConsentRecord } from '../../../../../../anchor/src/consent/index.js';
import { type ConsentTerms, inForce } from '../../../../core/consent-policy.js';
import { vitalsOf } from '../../../../core/trend.js';
import type { Observations } from '../../../../protocol/frame.js';
import { termsOf } from '../../../care/index.js';
import { slicedJson } from '../../../outbound/index.js';
import {
  countReadings,
  DEFAULT_MAX_READINGS,
  readReadings,
  readTrend,
  TooManyReadings,
} from '../../../queries/index.js';
import { SealedReader } from '../../../store/index.js';
import type { HttpRoutes } from '../../route-contract.js';
import { CARE_ROLES, DOCTOR_ROLES } from '../../route-roles.js';
import { withPeers } from '../peer-fanout.js';
import { mergeDeviceTrends, mergeRows } from './care-group.js';
import { type CareRoutesOptions, careGuard, PATIENT_PARAM } from './care-guard.js';

export type { AccessBasis, CareAccess, CareRoutesOptions } from './care-guard.js';

/** A consent as the doctor's and the patient's pages show it: its terms and more. */
export interface CareConsentDto extends ConsentTerms {
  purpose: string;
  grantTx: string | null;
  /** At the time of the request. */
  status: 'in_force' | 'not_yet' | 'expired' | 'revoked';
}

const RANGE_QUERY = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'integer', minimum: 0 },
    to: { type: 'integer', minimum: 0 },
    bucketMs: { type: 'integer', minimum: 1000 },
    limit: { type: 'integer', minimum: 1, maximum: 10_000 },
  },
} as const;

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
  const { now, fail, subjectOf, guarded, authorize, periodsOf, logged } = careGuard(opts);
  const maxBuckets = opts.maxBuckets ?? 10_000;
  const maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS;

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
    Querystring: { from: number; to: number; bucketMs?: number; limit?: number };
  };

  const getReadings = guarded<PatientRange>(CARE_ROLES, async (req, user, reply) => {
    const patient = req.params.patient.toLowerCase();
    const { from, to, limit } = req.query;
    const a = await authorize(patient, from, to, user);
    const reader = new SealedReader(opts.store, opts.secrets);
    let readings: { dev: string; seq: number; ts: number; obs: Observations }[] = [];
    let total = 0;
    // The bound is on the answer: frames read so far count (shredded ones included), except
    // with `limit`, where each period's latest N are cut to N in all below.
    let held = 0;
    for (const p of await periodsOf(a.patientId, from, to)) {
      const maxRows = limit === undefined ? maxReadings - held : maxReadings;
      const got = await readReadings(opts.store, reader, p.dev, p.from, p.to, { last: limit, maxRows });
      for (const r of got.readings) readings.push({ dev: p.dev, seq: r.seq, ts: r.ts, obs: vitalsOf(r.obs) });
      held += got.readings.length + got.shredded;
      if (limit !== undefined) total += await countReadings(opts.store, p.dev, p.from, p.to);
    }
    readings.sort((p, q) => p.ts - q.ts || (p.dev < q.dev ? -1 : 1) || p.seq - q.seq);
    if (limit !== undefined) readings = readings.slice(-limit);
    const mine = { patient, from, to, basis: a.basis, readings, ...(limit !== undefined ? { total } : {}) };
    const answer = await withPeers(opts.group, req, mine, (m, theirs) => {
      const all = mergeRows([m.readings, ...theirs.map((t) => t.readings)]);
      // Each gateway kept within the bound; together they may not (each stored a share).
      if (limit === undefined && all.length > maxReadings) throw new TooManyReadings(maxReadings);
      if (limit === undefined) return { ...m, readings: all };
      // Each gateway counted the frames it stored (a redelivery stored twice counts twice).
      return { ...m, readings: all.slice(-limit), total: theirs.reduce((n, t) => n + (t.total ?? 0), total) };
    });
    // Logged once the answer stands (a group's merged answer past the bound is refused unlogged), before it is sent.
    logged(user, a, patient, 'readings', from, to, readings.length);
    return slicedJson(answer, 'readings', reply);
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
    return withPeers(
      opts.group,
      req,
      { patient, from, to, bucketMs, basis: a.basis, devices },
      (mine, theirs) => ({
        ...mine,
        devices: mergeDeviceTrends([mine.devices, ...theirs.map((t) => t.devices)]),
      }),
    );
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
