/**
 * @module anchor/consent/typed-data
 * The EIP-712 typed data of the consent contract (README "Consent on chain (issue 18)";
 * EIP-712, https://eips.ethereum.org/EIPS/eip-712): the domain, the `Consent` and `Revocation`
 * types, the consent id (the EIP-712 digest the contract computes), and clinician ids.
 *
 * Pure and browser-safe (viem only, no node: imports): the patient portal signs with the same
 * definitions, `account.signTypedData({ domain, types: CONSENT_TYPES, primaryType: 'Consent',
 * message })`. No PHI: a patient is a 32-byte pseudonym (a keyed hash of the patient id under the gateway's
 * secret pseudonym key, gateway core/pseudonym: random-looking to anyone without it), a doctor the SHA-256 of a key or
 * an account; the one free text is `purpose`, chosen by the patient.
 */
import { type Hex, hashTypedData, hexToBytes, isHex, sha256 } from 'viem';

/** EIP-712 domain name of VitalTrailConsent. */
export const CONSENT_DOMAIN_NAME = 'VitalTrailConsent';
/** EIP-712 domain version of VitalTrailConsent. */
export const CONSENT_DOMAIN_VERSION = '1';

/** Scope bit: vital signs (the `obs` of PROTOCOL.md §1). */
export const SCOPE_VITALS = 1;
/** Scope bit: ECG waveforms (the `wf` of PROTOCOL.md §1). */
export const SCOPE_ECG = 2;
/** Both scopes. */
export const SCOPE_ALL = SCOPE_VITALS | SCOPE_ECG;
/** The longest `purpose` the contract accepts, in UTF-8 bytes. */
export const PURPOSE_MAX_BYTES = 200;

/** EIP-712 `Consent`, field for field as the contract's `CONSENT_TYPEHASH`. */
export const CONSENT_TYPES = {
  Consent: [
    { name: 'patient', type: 'bytes32' },
    { name: 'doctor', type: 'bytes32' },
    { name: 'scope', type: 'uint8' },
    { name: 'dataFrom', type: 'uint64' },
    { name: 'dataUntil', type: 'uint64' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
    { name: 'purpose', type: 'string' },
    { name: 'nonce', type: 'uint256' },
  ],
} as const;

/** EIP-712 `Revocation`, as the contract's `REVOCATION_TYPEHASH`. */
export const REVOCATION_TYPES = {
  Revocation: [{ name: 'consentId', type: 'bytes32' }],
} as const;

/** The EIP-712 domain of one deployed consent contract. */
export interface ConsentDomain {
  name: typeof CONSENT_DOMAIN_NAME;
  version: typeof CONSENT_DOMAIN_VERSION;
  chainId: number;
  verifyingContract: Hex;
}

/** A grant as the patient signs it (EIP-712 `Consent`). Times are ms since the Unix epoch. */
export interface ConsentMessage {
  /** The patient's pseudonym: 32 bytes that reveal nothing without the gateway's pseudonym key (gateway core/pseudonym). */
  patient: Hex;
  /** The doctor's clinician id (`clinicianIdOf`). */
  doctor: Hex;
  /** Bits: `SCOPE_VITALS` 1, `SCOPE_ECG` 2 (3 both). */
  scope: number;
  /** Start of the history range the doctor may read (device time, ms). */
  dataFrom: bigint;
  /** End of that range (device time, ms); 0n = open end. */
  dataUntil: bigint;
  /** When the consent may first be used (ms). */
  validFrom: bigint;
  /** When it stops being usable (ms); above `validFrom`. */
  validUntil: bigint;
  /** Free text of at most 200 UTF-8 bytes chosen by the patient, e.g. "cardiology follow-up". */
  purpose: string;
  /** Chosen by the signer; makes two otherwise equal grants distinct. */
  nonce: bigint;
}

/** A revocation as the patient signs it (EIP-712 `Revocation`). */
export interface RevocationMessage {
  consentId: Hex;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const UINT64_MAX = 2n ** 64n - 1n;
const UINT256_MAX = 2n ** 256n - 1n;

/**
 * The domain of the consent contract at `verifyingContract` on chain `chainId`.
 * @throws {TypeError|RangeError} on a chain id that is not a positive safe integer, or a malformed address.
 * @example
 * const domain = consentDomain(deployment.chainId, deployment.consent);
 */
export function consentDomain(chainId: number, verifyingContract: Hex): ConsentDomain {
  if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId))
    throw new TypeError('chainId must be a safe integer');
  if (chainId < 1) throw new RangeError('chainId must be ≥ 1');
  if (typeof verifyingContract !== 'string' || !ADDRESS.test(verifyingContract))
    throw new TypeError('verifyingContract must be a 0x address');
  return {
    name: CONSENT_DOMAIN_NAME,
    version: CONSENT_DOMAIN_VERSION,
    chainId,
    verifyingContract,
  };
}

function assertUint(name: string, value: unknown, max: bigint): void {
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  if (value < 0n || value > max) throw new RangeError(`${name} is out of range`);
}

/**
 * Checks that `m` can be encoded as EIP-712 `Consent` (types and ranges of every field). The
 * contract's own rules (scope 1-3, validUntil above validFrom, dataUntil 0 or not before
 * dataFrom, purpose ≤ 200 bytes, a registered unsuspended doctor) are the contract's to judge:
 * `consentRuleBroken` mirrors the first four for a form that wants to say so before signing.
 * @throws {TypeError|RangeError} naming the field (never its value).
 */
export function assertConsentMessage(m: ConsentMessage): void {
  if (typeof m !== 'object' || m === null) throw new TypeError('consent message must be an object');
  for (const k of ['patient', 'doctor'] as const) {
    if (typeof m[k] !== 'string' || !BYTES32.test(m[k])) throw new TypeError(`${k} must be 32-byte 0x hex`);
  }
  if (typeof m.scope !== 'number' || !Number.isInteger(m.scope))
    throw new TypeError('scope must be an integer');
  if (m.scope < 0 || m.scope > 255) throw new RangeError('scope is out of range');
  for (const k of ['dataFrom', 'dataUntil', 'validFrom', 'validUntil'] as const)
    assertUint(k, m[k], UINT64_MAX);
  if (typeof m.purpose !== 'string') throw new TypeError('purpose must be a string');
  assertUint('nonce', m.nonce, UINT256_MAX);
}

/** The contract rules a message can break on its own, by their contract error names. */
export type ConsentRule = 'InvalidScope' | 'InvalidWindow' | 'InvalidDataRange' | 'PurposeTooLong';

/**
 * The first contract rule `m` breaks by itself, in the contract's order, or null when it breaks
 * none (the contract still checks the patient key, the doctor and the signature).
 */
export function consentRuleBroken(m: ConsentMessage): ConsentRule | null {
  assertConsentMessage(m);
  if (m.scope < 1 || m.scope > SCOPE_ALL) return 'InvalidScope';
  if (m.validUntil <= m.validFrom) return 'InvalidWindow';
  if (m.dataUntil !== 0n && m.dataUntil < m.dataFrom) return 'InvalidDataRange';
  if (new TextEncoder().encode(m.purpose).length > PURPOSE_MAX_BYTES) return 'PurposeTooLong';
  return null;
}

/**
 * The consent id: the EIP-712 digest of `message` under `domain`
 * (`keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(Consent))`), exactly what the contract's
 * `grant` returns and emits, and what the patient's key signs.
 * @throws {TypeError|RangeError} when `message` cannot be encoded.
 * @example
 * const id = consentIdOf(consentDomain(31337, consentAddress), message);
 */
export function consentIdOf(domain: ConsentDomain, message: ConsentMessage): Hex {
  assertConsentMessage(message);
  return hashTypedData({ domain, types: CONSENT_TYPES, primaryType: 'Consent', message });
}

/** The EIP-712 digest a revocation of `consentId` signs (what the contract recovers from). */
export function revocationDigestOf(domain: ConsentDomain, consentId: Hex): Hex {
  if (typeof consentId !== 'string' || !BYTES32.test(consentId))
    throw new TypeError('consentId must be 32-byte 0x hex');
  return hashTypedData({
    domain,
    types: REVOCATION_TYPES,
    primaryType: 'Revocation',
    message: { consentId },
  });
}

/**
 * The text a patient's new key signs (EIP-191 personal message) to prove, when it is registered
 * for `patient`, that whoever registers it holds it: both hex values lower-case, one per line.
 * Pure; no validation beyond the types (the gateway checks the shapes before it compares).
 * @example
 * patientKeyProofMessage(pseudonym, account.address)
 * // 'VitalTrail patient key\npatient: 0xab…\naddress: 0x12…'
 */
export function patientKeyProofMessage(patient: Hex, address: Hex): string {
  return `VitalTrail patient key\npatient: ${patient.toLowerCase()}\naddress: ${address.toLowerCase()}`;
}

/**
 * A clinician id: SHA-256 of the bytes that name the clinician, as 0x hex. Pass the DER
 * SubjectPublicKeyInfo of their KGC-issued key (bytes, or 0x hex), or their account address
 * (0x + 40 hex: the id is SHA-256 of its 20 bytes, so case does not matter). SHA-256 is viem's,
 * which is @noble/hashes.
 * @throws {TypeError} on an empty input or a string that is not 0x hex of whole bytes.
 * @example
 * clinicianIdOf(cert.publicKey.rawData) // a KGC-issued key
 * clinicianIdOf('0x70997970C51812dc3A010C7d01b50e0d17dc79C8') // an account
 */
export function clinicianIdOf(input: Uint8Array | Hex): Hex {
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input;
  else if (typeof input === 'string' && isHex(input, { strict: true }) && input.length % 2 === 0)
    bytes = hexToBytes(input);
  else throw new TypeError('input must be bytes or 0x hex of whole bytes');
  if (bytes.length === 0) throw new TypeError('input must not be empty');
  return sha256(bytes);
}
