/**
 * @module anchor/consent
 * Consent on chain (README "Consent on chain (issue 18)"): the EIP-712 typed data a patient
 * signs (pure, browser-safe: `typed-data.ts`), the client of the VitalTrailConsent contract
 * (clinicians, patient keys, grants and revocations), its records and its error mapping.
 * Deployment is the ledger's (`deployContracts`, `ensureConsentContract`).
 */
export {
  type ClinicianRecord,
  type ClinicianRole,
  type ConsentClient,
  type ConsentClientParameters,
  type ConsentTx,
  createConsentClient,
} from './client.js';
export {
  CONSENT_CONTRACT_ERRORS,
  type ConsentContractError,
  type ConsentWriteKind,
  consentRefusalOf,
  toConsentError,
} from './errors.js';
export { type ConsentFilter, type ConsentRecord, readConsent, readConsents } from './records.js';
export {
  assertConsentMessage,
  CONSENT_DOMAIN_NAME,
  CONSENT_DOMAIN_VERSION,
  CONSENT_TYPES,
  type ConsentDomain,
  type ConsentMessage,
  type ConsentRule,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  consentRuleBroken,
  PURPOSE_MAX_BYTES,
  patientKeyProofMessage,
  REVOCATION_TYPES,
  type RevocationMessage,
  revocationDigestOf,
  SCOPE_ALL,
  SCOPE_ECG,
  SCOPE_VITALS,
} from './typed-data.js';
