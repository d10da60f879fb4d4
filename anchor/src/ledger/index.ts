/**
 * @module anchor/ledger
 * The ledger of PROTOCOL.md §4: interfaces and errors, the viem clients, the in-memory client,
 * deployment, and the embedded anvil dev node.
 */
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
export { deployContracts, isDeployed } from './deploy.js';
export { createMemoryLedger, type MemoryLedger } from './memory.js';
export { freePort } from './ports.js';
export {
  type AnchorParameters,
  type AnchorRecord,
  assertAddress,
  assertAnchorParameters,
  assertBytes32,
  assertDeviceId,
  assertSafeUint,
  type Deployment,
  type DeviceStatus,
  type Hex,
  LEDGER_ERROR_CODES,
  type LedgerClient,
  LedgerError,
  type LedgerErrorCode,
  type RegistryClient,
  toSafeNumber,
} from './types.js';
export {
  createReadClient,
  createViemLedger,
  createViemRegistry,
  fetchAnchors,
  toLedgerError,
} from './viem.js';
