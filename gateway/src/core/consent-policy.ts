/**
 * @module core/consent-policy
 * Whether a doctor may read a patient's data (issue 18: "a doctor sees a patient's readings,
 * trends, FHIR export or bundle only under a consent that is active on chain at the time of
 * the request and covers the range asked; otherwise 403 with a code"). Pure: the caller
 * gives the consents the chain holds for this doctor and patient (anchor/src/consent
 * `ConsentRecord`, as the gateway's copy of the chain has them), whether the doctor is
 * suspended in the chain's registry, and the request.
 *
 * A consent covers a request when, at `now` (the gateway's clock, ms):
 * - it was granted to this doctor for this patient (the chain checked the patient's signature);
 * - it is in force: `validFrom ≤ now < validUntil`, and not revoked (`revokedAt` null, or
 *   later than `now`: a revocation counts from its block's time);
 * - its scope holds what is asked: `SCOPE_VITALS` for readings and trends, `SCOPE_ECG` for
 *   ECG strips (an export asks for both when it holds both);
 * - its data range holds the whole range asked: `dataFrom ≤ from` and (`dataUntil` 0, open,
 *   or `to ≤ dataUntil`). A range partly outside is refused, never silently cut: the doctor
 *   asks again within the consent.
 * Of several covering consents the one granted first is named (the access log records it).
 * Refusals, in the order checked: `clinician_suspended`, `consent_required` (no consent of
 * this doctor and patient in force now), `consent_out_of_scope` (consents in force, none
 * covering this scope and range).
 */

/** Scope bits of a consent (anchor/src/consent typed data). */
export const SCOPE_VITALS = 1;
export const SCOPE_ECG = 2;

/** A consent as the policy reads it (times in ms since the epoch; `dataUntil` 0: open end). */
export interface ConsentTerms {
  id: string;
  patient: string;
  doctor: string;
  scope: number;
  dataFrom: number;
  dataUntil: number;
  validFrom: number;
  validUntil: number;
  grantedAt: number;
  revokedAt: number | null;
}

/** A doctor's request for a patient's data. */
export interface DataRequest {
  doctor: string;
  patient: string;
  /** The scope bits asked for (`SCOPE_VITALS`, `SCOPE_ECG`, or both). */
  scope: number;
  from: number;
  to: number;
  now: number;
}

export type ConsentRefusal = 'clinician_suspended' | 'consent_required' | 'consent_out_of_scope';

export type ConsentDecision =
  | { allowed: true; consent: ConsentTerms }
  | { allowed: false; code: ConsentRefusal };

/** Whether `c` is in force at `now` (see the module doc). */
export function inForce(c: ConsentTerms, now: number): boolean {
  return c.validFrom <= now && now < c.validUntil && (c.revokedAt === null || c.revokedAt > now);
}

/** Whether `c` holds the scope and the whole range of `r`. */
export function covers(c: ConsentTerms, r: Pick<DataRequest, 'scope' | 'from' | 'to'>): boolean {
  return (
    (c.scope & r.scope) === r.scope && c.dataFrom <= r.from && (c.dataUntil === 0 || r.to <= c.dataUntil)
  );
}

/**
 * The decision for a doctor's request.
 * @example
 * decideAccess(req, consents, false) // { allowed: true, consent } or { allowed: false, code: 'consent_required' }
 */
export function decideAccess(
  r: DataRequest,
  consents: readonly ConsentTerms[],
  doctorSuspended: boolean,
): ConsentDecision {
  if (doctorSuspended) return { allowed: false, code: 'clinician_suspended' };
  const mine = consents
    .filter((c) => c.doctor === r.doctor && c.patient === r.patient && inForce(c, r.now))
    .sort((a, b) => a.grantedAt - b.grantedAt);
  if (mine.length === 0) return { allowed: false, code: 'consent_required' };
  const consent = mine.find((c) => covers(c, r));
  return consent ? { allowed: true, consent } : { allowed: false, code: 'consent_out_of_scope' };
}
