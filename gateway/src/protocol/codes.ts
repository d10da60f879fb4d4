/**
 * @module protocol/codes
 * The registry of rejection codes of PROTOCOL.md §1 ("Acceptance rules"). Codes are
 * never reused or renamed; `test/unit/codes.test.ts` keeps this table, the README
 * and the types in sync.
 */

export const REJECTION_CODES = {
  malformed: 'the frame does not parse as a tagged COSE_Sign1 with a valid v1 body',
  identity_mismatch: 'kid, body dev and the transport identity are not the same device',
  unknown_device: 'no KGC certificate is known for this device',
  revoked_device: 'the device certificate has been revoked',
  expired_certificate: 'the device certificate is not valid at this time',
  bad_signature: 'the signature does not verify with the device certificate key',
  clock_skew: 'ts is more than 5 minutes ahead of the gateway clock',
  too_old: 'ts is older than the retention horizon',
  replay_conflict: 'different bytes were already accepted for this (dev, seq)',
  chain_mismatch: 'prev does not match the hash of the neighbouring accepted frame',
} as const;

export type RejectionCode = keyof typeof REJECTION_CODES;

export function isRejectionCode(code: string): code is RejectionCode {
  return Object.hasOwn(REJECTION_CODES, code);
}
