/**
 * @module verify-access/consent
 * Consent coverage of an access entry (issue 18: "reports for every access whether a consent
 * valid at that block covered it, or a break-glass reason stands"; README "Verifying an access
 * bundle: `vitaltrail verify-access`"): the `consentCheck` hook of `verifyAccessBundle`, built
 * from the grants the consent contract holds (anchor/src/consent `readConsents`). Pure, no
 * I/O: the caller reads the grants (live, over JSON-RPC) and the chain id of the evidence.
 *
 * An entry whose basis is `ward`, `self` or `break_glass` passes this check: the ward team and
 * the patient need no consent, and a break-glass entry's reason (1-500 code points) is already
 * required by the entry decoder (`decodeAccessEntry`: an entry without it is `malformed`).
 * An entry whose basis is `consent`, in this order (the first failure is its code):
 * 1. the consent is on the chain of the bundle's evidence: the basis names that chain id and a
 *    grant with that id is among the consent contract's `ConsentGranted` events   [`consent_not_found`]
 *    (a forged consent signature gives this: the contract refuses a grant whose signature does
 *    not recover to the patient's registered key; so does a consent of another chain);
 * 2. its patient is the entry's patient                                          [`consent_wrong_patient`]
 * 3. its doctor is the entry's actor (the doctor's clinician id)                 [`consent_wrong_doctor`]
 * 4. it was granted in a block at or before the block that anchored the entry,
 *    and it was in force at the entry's time `at`: `validFrom ≤ at < validUntil`,
 *    not revoked at or before `at` (`revokedAt ≤ at`), unless the revocation was
 *    mined in a later block than the one that anchored the entry (the access then
 *    provably came first: `revokedAt` is a block time, whole seconds on the chain's
 *    clock, `at` the gateway's clock in ms)                                       [`consent_not_in_force`]
 * 5. its scope holds the action (`SCOPE_VITALS` for `readings`, `trend` and `patient_view`,
 *    `SCOPE_ECG` for `ecg`, both for `fhir_export` and `bundle_export`) and its data range the
 *    entry's whole `[dataFrom, dataUntil]` (`dataFrom ≤ entry.dataFrom`, and `dataUntil` 0,
 *    open, or `entry.dataUntil ≤ dataUntil`)                                      [`consent_out_of_scope`]
 * The in-force and scope rules are those of the gateway (gateway/src/core/consent-policy.ts),
 * applied at the entry's time instead of the request's "now".
 *
 * Trust: the entries are attacker-controlled (a dishonest gateway writes them); the grants are
 * the chain's, as good as the RPC endpoint they came from. `at` is the gateway's clock: the
 * anchoring block bounds when the entry existed, not the `at` it claims. Reasons are fixed
 * texts, never an entry's or a grant's values.
 */
import type { AccessAction, AccessEntry } from './entry.js';
import type { AccessEntryCode, ConsentCheck } from './verify.js';

/** Scope bits of a consent (README "Typed data (EIP-712)"; anchor/src/consent `SCOPE_*`). */
export const CONSENT_SCOPE_VITALS = 1;
export const CONSENT_SCOPE_ECG = 2;

/** The scope bits an action needs. */
export const ACTION_SCOPE: Readonly<Record<AccessAction, number>> = {
  readings: CONSENT_SCOPE_VITALS,
  trend: CONSENT_SCOPE_VITALS,
  patient_view: CONSENT_SCOPE_VITALS,
  ecg: CONSENT_SCOPE_ECG,
  fhir_export: CONSENT_SCOPE_VITALS,
  bundle_export: CONSENT_SCOPE_VITALS | CONSENT_SCOPE_ECG,
};

/**
 * The fields of a grant this check reads: anchor/src/consent `ConsentRecord` is one (declared
 * here by shape so that the verifier does not import the consent contract's client). Times in
 * ms since the epoch; `dataUntil` 0n is an open end.
 */
export interface ConsentCoverageRecord {
  id: string;
  patient: string;
  doctor: string;
  scope: number;
  dataFrom: bigint;
  dataUntil: bigint;
  validFrom: bigint;
  validUntil: bigint;
  grantedAt: number;
  grantedBlock: number;
  revokedAt: number | null;
  revokedBlock: number | null;
}

export type ConsentCode = Extract<
  AccessEntryCode,
  | 'consent_not_found'
  | 'consent_wrong_patient'
  | 'consent_wrong_doctor'
  | 'consent_not_in_force'
  | 'consent_out_of_scope'
>;

/** Why a consent did not cover an entry, or undefined when it did (the rules of the module doc). */
export function consentProblem(
  c: ConsentCoverageRecord,
  entry: AccessEntry,
  anchoredBlock: number | undefined,
): { code: ConsentCode; reason: string } | undefined {
  if (c.patient.toLowerCase() !== entry.patient)
    return { code: 'consent_wrong_patient', reason: "the consent is another patient's" };
  if (c.doctor.toLowerCase() !== entry.actor)
    return { code: 'consent_wrong_doctor', reason: "the consent is another doctor's than the entry's actor" };
  const notInForce = (reason: string) => ({ code: 'consent_not_in_force' as const, reason });
  if (anchoredBlock === undefined)
    return notInForce('the entry has no anchoring block to compare the grant with');
  if (c.grantedBlock > anchoredBlock)
    return notInForce('the consent was not yet granted when the entry was anchored');
  const at = BigInt(entry.at);
  if (at < c.validFrom) return notInForce('the access is before the consent window');
  if (at >= c.validUntil) return notInForce('the access is after the consent window');
  // A revocation mined in a later block than the one anchoring the entry came after the access,
  // whatever the clocks say: block times have one-second resolution and are not the gateway's clock.
  const revokedBefore = c.revokedBlock === null || c.revokedBlock <= anchoredBlock;
  if (c.revokedAt !== null && c.revokedAt <= entry.at && revokedBefore)
    return notInForce('the consent was revoked at or before the access');
  const need = ACTION_SCOPE[entry.action];
  if ((c.scope & need) !== need)
    return { code: 'consent_out_of_scope', reason: 'the consent scope does not hold the action' };
  if (BigInt(entry.dataFrom) < c.dataFrom || (c.dataUntil !== 0n && BigInt(entry.dataUntil) > c.dataUntil))
    return { code: 'consent_out_of_scope', reason: 'the consent data range does not hold the data served' };
  return undefined;
}

/**
 * The consent hook for `verifyAccessBundle`: `consents` are the grants of the consent contract
 * on the chain `chainId` of the bundle's evidence (module doc).
 * @throws {TypeError} when `consents` is not an array or `chainId` not a positive safe integer.
 * @example
 * const consents = await readConsents(reader, deployment.consent, deployment.consentDeployBlock ?? 0, {});
 * verifyAccessBundle(bundle, evidence.anchors, { vkey, consentCheck: consentCoverage(consents, evidence.chainId) });
 */
export function consentCoverage(consents: readonly ConsentCoverageRecord[], chainId: number): ConsentCheck {
  if (!Array.isArray(consents)) throw new TypeError('consents must be an array');
  if (!Number.isSafeInteger(chainId) || chainId < 1)
    throw new TypeError('chainId must be a positive safe integer');
  const byId = new Map<string, ConsentCoverageRecord>();
  for (const c of consents) byId.set(c.id.toLowerCase(), c);
  return (entry, anchoredBlock) => {
    const basis = entry.basis;
    if (basis.type !== 'consent') return undefined;
    if (basis.chainId !== chainId)
      return { code: 'consent_not_found', reason: 'the consent names another chain than the evidence' };
    const c = byId.get(basis.consentId.toLowerCase());
    if (!c) return { code: 'consent_not_found', reason: 'the consent contract holds no grant with this id' };
    return consentProblem(c, entry, anchoredBlock);
  };
}
