/**
 * @module anchor/contracts/artifacts
 * The typed ABI fragments the clients call (`REGISTRY_ABI`, `ANCHORS_ABI`) of the contracts of
 * PROTOCOL.md §4, which a test keeps equal to the compiled ABI (`loadArtifacts` in build.ts).
 * Clients need only the fragments, so the auditor never needs solc or the artifact file.
 */
import { parseAbi } from 'viem';

export type { ContractArtifact, ContractArtifacts, ContractName } from './build.js';

/** PROTOCOL.md §4: the anchor event, exactly. */
export const ANCHORED_EVENT =
  'event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, uint64 checkpointTime)';

/** Every function, event and error of VitalTrailRegistry. */
export const REGISTRY_ABI = parseAbi([
  'function kgc() view returns (address)',
  'function registerDevice(string devId, bytes32 spkiHash)',
  'function revokeDevice(string devId)',
  'function device(string devId) view returns (bytes32 spkiHash, uint8 status, uint64 sinceBlock)',
  'function isKeyRevoked(bytes32 spkiHash) view returns (bool)',
  'function registerGateway(address account, bytes32 logId)',
  'function setGatewayActive(address account, bool active)',
  'function gateway(address account) view returns (bytes32 logId, bool active)',
  'function isActiveGateway(address account, bytes32 logId) view returns (bool)',
  'event DeviceRegistered(bytes32 indexed devIdHash, string devId, bytes32 spkiHash)',
  'event DeviceRevoked(bytes32 indexed devIdHash, string devId)',
  'event GatewayRegistered(address indexed account, bytes32 logId)',
  'event GatewayStatusChanged(address indexed account, bool active)',
  'error NotKgc()',
  'error InvalidDeviceId()',
  'error ZeroValue()',
  'error KeyUnchanged()',
  'error KeyRevoked()',
  'error DeviceNotActive()',
  'error GatewayAlreadyRegistered()',
  'error UnknownGateway()',
  'error LogIdTaken()',
]);

/** Every function, event and error of VitalTrailAnchors. */
export const ANCHORS_ABI = parseAbi([
  'function registry() view returns (address)',
  'function anchor(bytes32 logId, uint64 treeSize, bytes32 rootHash, uint64 checkpointTime)',
  'function latest(bytes32 logId) view returns (uint64 treeSize, bytes32 rootHash, uint64 checkpointTime, uint64 blockNumber)',
  ANCHORED_EVENT,
  'error NotActiveGateway()',
  'error TreeSizeNotIncreasing(uint64 last, uint64 given)',
  'error ZeroRootHash()',
  'error RegistryNotContract()',
]);
