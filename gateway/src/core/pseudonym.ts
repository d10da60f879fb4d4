/**
 * @module core/pseudonym
 * A patient's pseudonym (issue 18: "no PHI and no patient name on chain: the chain sees a
 * pseudonymous patient id"): what the consent contract, the access log and a patient's
 * account name a patient by, never the patient id itself.
 *
 * `pseudonymOf(key, patientId)` = `0x` + hex(HMAC-SHA256(key, "vitaltrail/patient-pseudonym/v1\0"
 * + patientId)), with `key` the 32 random bytes of the data directory's pseudonym key
 * (`DATA/gateway/pseudonym.key`, mode 0600; the same file on every gateway of a group, copied
 * with the group's bootstrap like the envelope recipients' keys). A keyed hash, not a plain
 * one: patient ids are short and guessable (a hospital's MRNs), so anyone could hash every
 * candidate and find the patient behind a pseudonym on the public chain; without the key they
 * cannot. The same patient always gets the same pseudonym, so a consent outlives a
 * re-admission; losing the key loses the link between the chain's consents and the patients.
 */
import { createHmac } from 'node:crypto';

/** Bytes of a pseudonym key. */
export const PSEUDONYM_KEY_BYTES = 32;
const DOMAIN = 'vitaltrail/patient-pseudonym/v1\0';

/**
 * The pseudonym of `patientId` under `key`: `0x` and 64 lower-case hex digits.
 * @throws {RangeError} when the key is not 32 bytes or the patient id is empty
 * @example pseudonymOf(key, 'P-0007') // '0x5f…' (always the same for this key and id)
 */
export function pseudonymOf(key: Uint8Array, patientId: string): string {
  if (key.length !== PSEUDONYM_KEY_BYTES) throw new RangeError('pseudonymOf: the key must be 32 bytes');
  if (patientId.length === 0) throw new RangeError('pseudonymOf: empty patient id');
  return `0x${createHmac('sha256', key)
    .update(DOMAIN + patientId, 'utf8')
    .digest('hex')}`;
}
