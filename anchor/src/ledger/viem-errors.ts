/**
 * @module anchor/ledger/viem-errors
 * viem's failures as `LedgerError`s (STYLE.md §3): the contracts' custom errors decoded into
 * their codes, a node that cannot be reached as `ledger_unavailable`. viem's errors interpolate
 * request arguments and URLs, so they are kept only as `cause`; the reason is ours.
 */
import { LEDGER_ERROR_CODES, LedgerError, type LedgerErrorCode } from './types.js';

/** Custom errors of the contracts mapped to ledger error codes; the rest of the registry's are `registry_rejected`. */
const REVERT_CODES: Record<string, LedgerErrorCode> = {
  TreeSizeNotIncreasing: 'tree_size_not_increasing',
  NotActiveGateway: 'not_active_gateway',
  NotKgc: 'not_kgc',
  InvalidDeviceId: 'registry_rejected',
  ZeroValue: 'registry_rejected',
  KeyUnchanged: 'registry_rejected',
  KeyRevoked: 'registry_rejected',
  DeviceNotActive: 'registry_rejected',
  GatewayAlreadyRegistered: 'registry_rejected',
  UnknownGateway: 'registry_rejected',
  LogIdTaken: 'registry_rejected',
};

const UNAVAILABLE = new Set([
  'HttpRequestError',
  'TimeoutError',
  'SocketClosedError',
  'WebSocketRequestError',
  'WaitForTransactionReceiptTimeoutError',
]);

/** A viem error's name, if it is one. */
function errName(e: unknown): string | undefined {
  return e instanceof Error ? e.name : undefined;
}

/**
 * Wraps any failure of a viem call as a `LedgerError`; the original error becomes `cause`.
 * Custom errors of the contracts are decoded into their codes; `action` (a constant of ours)
 * prefixes the reason.
 */
export function toLedgerError(
  err: unknown,
  action: string,
  fallback: LedgerErrorCode = 'tx_failed',
): LedgerError {
  if (err instanceof LedgerError) return err;
  const chain: unknown[] = [];
  for (
    let e: unknown = err;
    e !== undefined && chain.length < 16;
    e = e instanceof Error ? e.cause : undefined
  ) {
    chain.push(e);
  }
  for (const e of chain) {
    if (errName(e) === 'ContractFunctionRevertedError') {
      const errorName = (e as { data?: { errorName?: string } }).data?.errorName;
      const code =
        errorName && Object.hasOwn(REVERT_CODES, errorName) ? REVERT_CODES[errorName]! : 'tx_failed';
      // The error name is a constant of our contract's ABI, never input.
      const why =
        code === 'registry_rejected' || code === 'tx_failed'
          ? `contract error ${errorName ?? 'unknown'}`
          : LEDGER_ERROR_CODES[code];
      return new LedgerError(code, `${action}: ${why}`, { cause: err });
    }
    if (errName(e) === 'ContractFunctionZeroDataError') {
      return new LedgerError('contract_missing', `${action}: ${LEDGER_ERROR_CODES.contract_missing}`, {
        cause: err,
      });
    }
  }
  if (chain.some((e) => UNAVAILABLE.has(errName(e) ?? ''))) {
    return new LedgerError('ledger_unavailable', `${action}: ${LEDGER_ERROR_CODES.ledger_unavailable}`, {
      cause: err,
    });
  }
  return new LedgerError(fallback, `${action}: ${LEDGER_ERROR_CODES[fallback]}`, { cause: err });
}
