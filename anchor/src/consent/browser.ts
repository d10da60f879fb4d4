/**
 * @module anchor/consent/browser
 * Entry point of the patient portal's key and signing bundle (issue 18; README "The patient
 * portal and the doctor's page"): `build-browser.ts` bundles it with esbuild into
 * `dist/care/consent.js`, an IIFE that defines `globalThis.VitalTrailConsent` for the pages
 * (dashboards/patient). Everything a patient signs is signed here, in the browser, with the key
 * only the patient can open (keystore.ts); the gateway relays what comes out
 * (`POST /api/care/consents`, `…/revoke`, `PUT /api/care/me/key`) and never sees the key.
 *
 * - the key proof: EIP-191 `signMessage` over `patientKeyProofMessage(pseudonym, address)`;
 * - a grant: EIP-712 `Consent` (CONSENT_TYPES) under `consentDomain(chainId, contract)`, with a
 *   random 64-bit nonce, its uint fields as decimal strings for the JSON body, and its id
 *   (`consentIdOf`: what the contract will return);
 * - a revocation: EIP-712 `Revocation{consentId}` (REVOCATION_TYPES).
 * Pure but for WebCrypto's random numbers; viem only. Failures are coded `ConsentKeyError`s.
 */
import type { Hex } from 'viem';
import type { PrivateKeyAccount } from 'viem/accounts';
import {
  ConsentKeyError,
  createKey,
  importKey,
  KEYSTORE_ITERATIONS,
  type Keystore,
  MIN_PASSPHRASE_CHARS,
  openKeystore,
  parseKeystore,
} from './keystore.js';
import {
  CONSENT_TYPES,
  type ConsentMessage,
  consentDomain,
  consentIdOf,
  consentRuleBroken,
  PURPOSE_MAX_BYTES,
  patientKeyProofMessage,
  REVOCATION_TYPES,
  SCOPE_ALL,
  SCOPE_ECG,
  SCOPE_VITALS,
} from './typed-data.js';

/** The chain and contract a grant is signed for (`GET /api/care/me` → `chain`). */
export interface ConsentChain {
  chainId: number;
  consent: Hex;
}

/** A grant as the portal's form gives it: times in ms since the Unix epoch. */
export interface GrantTerms {
  patient: Hex;
  doctor: Hex;
  scope: number;
  dataFrom: number;
  /** 0 = open end. */
  dataUntil: number;
  validFrom: number;
  validUntil: number;
  purpose: string;
}

/** `Consent` as the JSON body of `POST /api/care/consents` carries it: uints as decimal strings. */
export interface ConsentMessageJson {
  patient: Hex;
  doctor: Hex;
  scope: number;
  dataFrom: string;
  dataUntil: string;
  validFrom: string;
  validUntil: string;
  purpose: string;
  nonce: string;
}

/** A signed grant, ready for `POST /api/care/consents` (`{message, signature}`), and its id. */
export interface SignedGrant {
  message: ConsentMessageJson;
  signature: Hex;
  consentId: Hex;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

function toBigint(name: string, v: number): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ConsentKeyError('grant_invalid', `${name} must be a whole number of ms, not negative`);
  return BigInt(v);
}

/** A random 64-bit nonce (WebCrypto). */
function randomNonce(): bigint {
  const w = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(w[0] as number) << 32n) | BigInt(w[1] as number);
}

/**
 * The EIP-712 message of `terms`, with a fresh nonce.
 * @throws {ConsentKeyError} `grant_invalid` naming the field, or the contract rule it breaks
 *   (`InvalidScope`, `InvalidWindow`, `InvalidDataRange`, `PurposeTooLong`).
 */
export function grantMessage(terms: GrantTerms, nonce: bigint = randomNonce()): ConsentMessage {
  if (typeof terms !== 'object' || terms === null) throw new ConsentKeyError('grant_invalid', 'no grant');
  for (const k of ['patient', 'doctor'] as const)
    if (typeof terms[k] !== 'string' || !BYTES32.test(terms[k]))
      throw new ConsentKeyError('grant_invalid', `${k} must be 0x and 64 hex digits`);
  if (typeof terms.purpose !== 'string') throw new ConsentKeyError('grant_invalid', 'purpose must be text');
  const m: ConsentMessage = {
    patient: terms.patient.toLowerCase() as Hex,
    doctor: terms.doctor.toLowerCase() as Hex,
    scope: terms.scope,
    dataFrom: toBigint('dataFrom', terms.dataFrom),
    dataUntil: toBigint('dataUntil', terms.dataUntil),
    validFrom: toBigint('validFrom', terms.validFrom),
    validUntil: toBigint('validUntil', terms.validUntil),
    purpose: terms.purpose,
    nonce,
  };
  let rule: string | null;
  try {
    rule = consentRuleBroken(m);
  } catch (err) {
    throw new ConsentKeyError('grant_invalid', (err as Error).message);
  }
  if (rule !== null) throw new ConsentKeyError('grant_invalid', rule);
  return m;
}

/** The JSON form of a message (uints as decimal strings). */
export function messageJson(m: ConsentMessage): ConsentMessageJson {
  return {
    patient: m.patient,
    doctor: m.doctor,
    scope: m.scope,
    dataFrom: m.dataFrom.toString(),
    dataUntil: m.dataUntil.toString(),
    validFrom: m.validFrom.toString(),
    validUntil: m.validUntil.toString(),
    purpose: m.purpose,
    nonce: m.nonce.toString(),
  };
}

/**
 * The proof for `PUT /api/care/me/key`: the key's EIP-191 signature over
 * `patientKeyProofMessage(patient, address)`.
 */
export async function signKeyProof(
  account: PrivateKeyAccount,
  patient: Hex,
): Promise<{ address: Hex; proof: Hex }> {
  const proof = await account.signMessage({ message: patientKeyProofMessage(patient, account.address) });
  return { address: account.address, proof };
}

/**
 * Signs a grant of `terms` for the consent contract of `chain`.
 * @throws {ConsentKeyError} `grant_invalid`; TypeError/RangeError from `consentDomain` on a bad chain.
 * @example
 * const { message, signature } = await signGrant(account, me.chain, terms);
 * await requestJson('/api/care/consents', 'POST', { message, signature });
 */
export async function signGrant(
  account: PrivateKeyAccount,
  chain: ConsentChain,
  terms: GrantTerms,
  nonce?: bigint,
): Promise<SignedGrant> {
  const domain = consentDomain(chain.chainId, chain.consent);
  const message = grantMessage(terms, nonce);
  const signature = await account.signTypedData({
    domain,
    types: CONSENT_TYPES,
    primaryType: 'Consent',
    message,
  });
  return { message: messageJson(message), signature, consentId: consentIdOf(domain, message) };
}

/**
 * Signs the revocation of `consentId` (EIP-712 `Revocation`) for `POST …/revoke` `{signature}`.
 * @throws {ConsentKeyError} `grant_invalid` when `consentId` is not 32-byte hex.
 */
export async function signRevocation(
  account: PrivateKeyAccount,
  chain: ConsentChain,
  consentId: Hex,
): Promise<Hex> {
  if (typeof consentId !== 'string' || !BYTES32.test(consentId))
    throw new ConsentKeyError('grant_invalid', 'consentId must be 0x and 64 hex digits');
  return account.signTypedData({
    domain: consentDomain(chain.chainId, chain.consent),
    types: REVOCATION_TYPES,
    primaryType: 'Revocation',
    message: { consentId: consentId.toLowerCase() as Hex },
  });
}

/**
 * Opens `keystore` and checks that it is the key registered on chain (`expected`, when given).
 * @throws {ConsentKeyError} those of `openKeystore`, and `keystore_mismatch` when the key is
 *   not the registered one.
 */
export async function unlock(
  keystore: unknown,
  passphrase: string,
  expected?: Hex | null,
): Promise<PrivateKeyAccount> {
  const { account } = await openKeystore(keystore, passphrase);
  if (expected && account.address.toLowerCase() !== expected.toLowerCase())
    throw new ConsentKeyError('keystore_mismatch', 'this key is not the one registered for you on the chain');
  return account;
}

/** What the bundle puts on `globalThis.VitalTrailConsent`. */
export const VitalTrailConsent = {
  createKey,
  importKey,
  unlock,
  parseKeystore,
  signKeyProof,
  signGrant,
  signRevocation,
  grantMessage,
  messageJson,
  consentIdOf,
  consentDomain,
  patientKeyProofMessage,
  ConsentKeyError,
  SCOPE_VITALS,
  SCOPE_ECG,
  SCOPE_ALL,
  PURPOSE_MAX_BYTES,
  MIN_PASSPHRASE_CHARS,
  KEYSTORE_ITERATIONS,
} as const;

/** The type of `globalThis.VitalTrailConsent` (the pages' JSDoc imports it). */
export type VitalTrailConsentApi = typeof VitalTrailConsent;
export type { Keystore };

(globalThis as { VitalTrailConsent?: VitalTrailConsentApi }).VitalTrailConsent = VitalTrailConsent;
