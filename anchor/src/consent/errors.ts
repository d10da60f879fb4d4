/**
 * @module anchor/consent/errors
 * The consent contract's custom errors (README "Consent on chain (issue 18)") as `LedgerError`
 * codes: `not_kgc` when someone but the registration authority writes clinicians or patient
 * keys, `registry_rejected` for the other refusals of those writes, `consent_rejected` for every
 * refusal of a signed grant or revocation. The reason names the contract error (a constant of
 * our ABI, never input); `consentRefusalOf` returns that name to a caller that needs the rule
 * (a portal telling "wrong key" from "doctor suspended").
 */
import { LEDGER_ERROR_CODES, LedgerError, type LedgerErrorCode, toLedgerError } from '../ledger/index.js';

/** Every custom error of VitalTrailConsent, by name. */
export const CONSENT_CONTRACT_ERRORS = [
  'NotAuthority',
  'RegistryNotContract',
  'ZeroValue',
  'InvalidRole',
  'ClinicianAlreadyRegistered',
  'ClinicianNotRegistered',
  'ClinicianAlreadySuspended',
  'ClinicianNotSuspended',
  'PatientKeyUnchanged',
  'InvalidScope',
  'InvalidWindow',
  'InvalidDataRange',
  'PurposeTooLong',
  'UnknownPatient',
  'NotADoctor',
  'DoctorSuspended',
  'BadSignature',
  'ConsentExists',
  'UnknownConsent',
  'AlreadyRevoked',
] as const;

/** The name of a custom error of VitalTrailConsent. */
export type ConsentContractError = (typeof CONSENT_CONTRACT_ERRORS)[number];

const KNOWN: ReadonlySet<string> = new Set(CONSENT_CONTRACT_ERRORS);

/** Who sends a write: the registration authority (clinicians, patient keys) or a patient's signed message. */
export type ConsentWriteKind = 'authority' | 'patient';

/** The custom error name of the first contract revert in `err`'s cause chain, if any. */
function revertName(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 16; depth += 1) {
    if (e instanceof Error && e.name === 'ContractFunctionRevertedError') {
      return (e as { data?: { errorName?: string } }).data?.errorName;
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/**
 * Wraps a failure of a consent-contract call as a `LedgerError`: the contract's custom errors by
 * the rule above, anything else as `toLedgerError` does (`ledger_unavailable`,
 * `contract_missing`, `tx_failed`, or `fallback`). The original error is `cause`.
 */
export function toConsentError(
  err: unknown,
  action: string,
  kind: ConsentWriteKind,
  fallback: LedgerErrorCode = 'tx_failed',
): LedgerError {
  if (err instanceof LedgerError) return err;
  const name = revertName(err);
  if (name !== undefined && KNOWN.has(name)) {
    let code: LedgerErrorCode;
    if (name === 'NotAuthority') code = 'not_kgc';
    else code = kind === 'authority' ? 'registry_rejected' : 'consent_rejected';
    const why =
      code === 'not_kgc'
        ? `${LEDGER_ERROR_CODES.not_kgc} (contract error ${name})`
        : `contract error ${name}`;
    return new LedgerError(code, `${action}: ${why}`, { cause: err });
  }
  return toLedgerError(err, action, fallback);
}

/**
 * The consent contract's custom error behind `err` (a `LedgerError` from the consent client, or
 * a raw viem error), or null when it is not one of them.
 * @example
 * if (consentRefusalOf(err) === 'DoctorSuspended') reply(409, 'the doctor is suspended');
 */
export function consentRefusalOf(err: unknown): ConsentContractError | null {
  const name = revertName(err);
  return name !== undefined && KNOWN.has(name) ? (name as ConsentContractError) : null;
}
