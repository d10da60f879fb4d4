/**
 * @module protocol/codes
 * The rejection codes of PROTOCOL.md §1 ("Acceptance rules"): the `rejection` group of the
 * one registry (`error-codes.ts`), which holds their meanings. Codes are never reused or
 * renamed; `test/unit/codes.test.ts` keeps the registry, the README and the types in sync.
 */
import { ERROR_GROUPS, type ErrorGroupCode, meaningsOf } from './error-codes.js';

export const REJECTION_CODES = meaningsOf('rejection');

export type RejectionCode = ErrorGroupCode<'rejection'>;

export function isRejectionCode(code: string): code is RejectionCode {
  return (ERROR_GROUPS.rejection as readonly string[]).includes(code);
}
