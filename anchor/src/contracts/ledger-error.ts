/**
 * @module anchor/contracts/ledger-error
 * The error vocabulary of the ledger stack (PROTOCOL.md §4): `LedgerError`, its code
 * registry and the `Hex` type. It lives in the lowest room of that stack
 * (contracts ← ledger ← verify) because the contracts' own build throws it
 * (`artifacts_unavailable`) and the ledger clients map the contracts' reverts onto its
 * codes; `ledger/` re-exports it, so it is one class wherever it is caught. Pure.
 */
import { type ErrorGroupCode, meaningsOf } from '../../../gateway/src/protocol/error-codes.js';
import { errorClass } from '../../../gateway/src/protocol/errors.js';

/** 0x-prefixed hex string. */
export type Hex = `0x${string}`;

/** Every code a `LedgerError` can carry (the registry's `ledger` group, with its meanings); never reused or renamed. */
export const LEDGER_ERROR_CODES = meaningsOf('ledger');

export type LedgerErrorCode = ErrorGroupCode<'ledger'>;

/** A ledger failure. `reason` never holds input values; the underlying (viem) error is `cause`. */
export class LedgerError extends errorClass<'ledger'>('LedgerError') {}
