/**
 * @module anchor/ledger/types
 * The ledger interfaces of PROTOCOL.md §4: the gateway's view (`LedgerClient`: anchor its own
 * checkpoints, read anchors) and the KGC's view (`RegistryClient`), their error codes, and the
 * argument checks every implementation shares. Pure: no I/O.
 */
import { type Hex, LedgerError } from '../contracts/index.js';

export { type Hex, LEDGER_ERROR_CODES, LedgerError, type LedgerErrorCode } from '../contracts/index.js';

/** One `Anchored` event as it sits on the chain. */
export interface AnchorRecord {
  logId: Hex;
  treeSize: number;
  rootHash: Hex;
  checkpointTime: number;
  txHash: Hex;
  blockNumber: number;
}

/** A block of the chain as the node has it now. */
export interface BlockRef {
  number: number;
  hash: Hex;
}

/** Where the contracts live; kept by the gateway after the one deployment. */
export interface Deployment {
  chainId: number;
  registry: Hex;
  anchors: Hex;
  /** Block of the registry deployment: event scans start here. */
  deployBlock: number;
  /**
   * The consent contract (README "Consent on chain (issue 18)"). Absent from deployments made
   * before it existed: `ensureConsentContract` adds it to one.
   */
  consent?: Hex;
  /** Block of the consent contract's deployment (its event scans start here); `deployBlock` when absent. */
  consentDeployBlock?: number;
}

/** The arguments of `anchor()` (PROTOCOL.md §4). */
export interface AnchorParameters {
  /** SHA-256 of the checkpoint origin line (PROTOCOL.md §3), 32 bytes. */
  logId: Hex;
  /** Tree size, a safe integer ≥ 1, strictly above the last anchored one. */
  treeSize: number;
  /** RFC 9162 root hash, 32 bytes, not zero. */
  rootHash: Hex;
  /** The checkpoint's time, a safe integer ≥ 0 (the unit is the caller's; the contract does not check it). */
  checkpointTime: number;
}

/** The gateway's view of the ledger: anchor its own checkpoints, read anchors. */
export interface LedgerClient {
  /** The gateway account that signs anchors. */
  readonly account: Hex;
  /**
   * Anchors a checkpoint and waits for its receipt.
   *
   * After `ledger_unavailable` the transaction may still land: a retry then gets
   * `tree_size_not_increasing`, and `latestAnchor`/`getAnchors` tell whether it was this root.
   * @throws {LedgerError} `tree_size_not_increasing`, `not_active_gateway`, `ledger_unavailable`,
   *   `contract_missing` or `tx_failed`.
   * @throws {TypeError|RangeError} on malformed parameters.
   */
  anchor(p: AnchorParameters): Promise<{ txHash: Hex; blockNumber: number }>;
  /** The latest anchor of `logId`, or null when it has none. */
  latestAnchor(logId: Hex): Promise<{ treeSize: number; rootHash: Hex } | null>;
  /**
   * Every `Anchored` event of `logId` in chain order: since the deployment, or from block
   * `fromBlock` on (a safe integer ≥ 0; below the deployment reads from the deployment).
   */
  getAnchors(logId: Hex, fromBlock?: number): Promise<AnchorRecord[]>;
  /**
   * The chain's newest block, to compare later with `blockHash`: a block hash names the
   * whole history up to it, so an unchanged hash means no block up to it changed.
   * @throws {LedgerError} `ledger_unavailable`
   */
  head(): Promise<BlockRef>;
  /**
   * The hash of block `n` as the chain has it now, or null when the chain has no such block
   * (a node restarted from older state, not grown back yet).
   * @throws {LedgerError} `ledger_unavailable`
   * @throws {RangeError} when `n` is not a safe integer ≥ 0
   */
  blockHash(n: number): Promise<Hex | null>;
  /**
   * Forgets what the client caches about the node (the account's next nonce, the chain id
   * check): the node restarted, possibly from older state, so a remembered nonce may lie
   * ahead of the chain's and a transaction sent with it would never be mined; a call still
   * waiting for its transaction rejects at once with `ledger_unavailable` instead of waiting
   * out its receipt timeout (the caller reconciles and resends). Optional: a client without
   * such caches leaves it out.
   */
  resync?(): void;
}

/** Device status in the registry: 0 none, 1 active, 2 revoked on chain. */
export type DeviceStatus = 'none' | 'active' | 'revoked';

/** The KGC's view of the registry. Writes wait for their receipt and return the tx hash. */
export interface RegistryClient {
  /** The KGC account that signs. */
  readonly account: Hex;
  /** Registers a device key (SHA-256 of its SubjectPublicKeyInfo) or rotates it. */
  registerDevice(devId: string, spkiHash: Hex): Promise<Hex>;
  revokeDevice(devId: string): Promise<Hex>;
  registerGateway(account: Hex, logId: Hex): Promise<Hex>;
  setGatewayActive(account: Hex, active: boolean): Promise<Hex>;
  getDevice(devId: string): Promise<{ spkiHash: Hex; status: DeviceStatus; sinceBlock: number }>;
  isActiveGateway(account: Hex, logId: Hex): Promise<boolean>;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** PROTOCOL.md §1: a device id is 1-64 chars of [A-Za-z0-9._-]. */
const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const UINT64_MAX = 2n ** 64n - 1n;
const ZERO32 = `0x${'0'.repeat(64)}`;

/** @throws {TypeError} unless `value` is a 0x-prefixed 32-byte hex string (and not zero when `nonZero`). */
export function assertBytes32(name: string, value: unknown, nonZero = false): asserts value is Hex {
  if (typeof value !== 'string' || !BYTES32.test(value))
    throw new TypeError(`${name} must be 32-byte 0x hex`);
  if (nonZero && value === ZERO32) throw new RangeError(`${name} must not be zero`);
}

/** @throws {TypeError} unless `value` is a 0x-prefixed 20-byte hex address. */
export function assertAddress(name: string, value: unknown): asserts value is Hex {
  if (typeof value !== 'string' || !ADDRESS.test(value)) throw new TypeError(`${name} must be a 0x address`);
}

/** @throws {TypeError} unless `value` is a device id of PROTOCOL.md §1. */
export function assertDeviceId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !DEVICE_ID.test(value)) {
    throw new TypeError(`${name} must be 1-64 chars of [A-Za-z0-9._-]`);
  }
}

/** @throws {TypeError|RangeError} unless `value` is a safe integer in [min, 2^53). */
export function assertSafeUint(name: string, value: unknown, min = 0): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new TypeError(`${name} must be a safe integer`);
  if (value < min) throw new RangeError(`${name} must be ≥ ${min}`);
}

/** Checks the arguments of `anchor()` as the contract would, before any I/O. */
export function assertAnchorParameters(p: AnchorParameters): void {
  if (typeof p !== 'object' || p === null) throw new TypeError('anchor parameters must be an object');
  assertBytes32('logId', p.logId, true);
  assertSafeUint('treeSize', p.treeSize, 1);
  assertBytes32('rootHash', p.rootHash, true);
  assertSafeUint('checkpointTime', p.checkpointTime);
}

/**
 * Converts a uint64 read from the chain to a number.
 * @throws {LedgerError} `bad_ledger_data` when it does not fit a safe integer.
 */
export function toSafeNumber(value: bigint): number {
  if (value < 0n || value > UINT64_MAX || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new LedgerError('bad_ledger_data', 'a uint64 from the ledger exceeds 2^53 - 1');
  }
  return Number(value);
}
