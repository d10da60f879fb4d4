/**
 * @module anchor/ledger
 * The ledger of PROTOCOL.md §4: interfaces and errors, the viem clients, the in-memory client,
 * deployment, and the embedded anvil dev node.
 */
// The ledger stack's errors, owned by contracts/.
export { type Hex, LEDGER_ERROR_CODES, LedgerError, type LedgerErrorCode } from '../contracts/index.js';
export {
  ANVIL_CHAIN_ID,
  ANVIL_DEV_KEY,
  type AnvilHandle,
  type AnvilStateOutcome,
  anvilBinaryPath,
  fundAccount,
  type StartAnvilOptions,
  startAnvil,
} from './anvil.js';
export { deployContracts, ensureConsentContract, isDeployed } from './deploy.js';
export { createMemoryLedger, type MemoryLedger } from './memory.js';
export { freePort } from './ports.js';
// The interfaces of PROTOCOL.md §4 and their records.
export type {
  AnchorParameters,
  AnchorRecord,
  BlockRef,
  Deployment,
  DeviceStatus,
  LedgerClient,
  RegistryClient,
} from './types.js';
// The argument checks every client shares.
export {
  assertAddress,
  assertAnchorParameters,
  assertBytes32,
  assertDeviceId,
  assertSafeUint,
  toSafeNumber,
} from './types.js';
export {
  createReadClient,
  createViemLedger,
  createViemRegistry,
  fetchAnchors,
  type ViemClientParameters,
} from './viem.js';
export { toLedgerError } from './viem-errors.js';
