/**
 * @module anchor/contracts/artifacts
 * The compiled contracts of PROTOCOL.md §4 (`loadArtifacts`, for deployment) and the typed ABI
 * fragments the clients call (`REGISTRY_ABI`, `ANCHORS_ABI`), which a test keeps equal to the
 * compiled ABI. Clients need only the fragments, so the auditor never needs solc or the
 * artifact file.
 */
import { readFileSync } from 'node:fs';
import { parseAbi } from 'viem';
import {
  type ContractArtifacts,
  compileContracts,
  computeSourceHash,
  contractPaths,
  findRepoRoot,
  loadSolc,
  readContractSources,
  writeArtifacts,
} from './build.js';
import { LedgerError } from './ledger-error.js';

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

function readArtifactFile(file: string): ContractArtifacts | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as ContractArtifacts;
  } catch {
    return null; // a torn or hand-edited file is rebuilt like a missing one
  }
}

/**
 * The compiled contracts: `build/contracts.json` when it matches the current `.sol` sources;
 * otherwise they are compiled now with solc-js (a devDependency, ~1 s) and the file is rewritten.
 * When the sources are absent (an install without them) the artifact file is used as it is.
 *
 * @throws {LedgerError} `artifacts_unavailable` when neither a current artifact nor solc is
 *   available, or solc fails.
 * @example
 * const { VitalTrailRegistry } = loadArtifacts();
 * await wallet.deployContract({ abi: VitalTrailRegistry.abi, bytecode: VitalTrailRegistry.bytecode });
 */
export function loadArtifacts(root = findRepoRoot()): ContractArtifacts {
  const { sourcesDir, artifactFile } = contractPaths(root);
  const existing = readArtifactFile(artifactFile);
  let sources: Record<string, string> | null;
  try {
    sources = readContractSources(sourcesDir);
  } catch {
    sources = null;
  }
  if (sources === null) {
    if (existing) return existing;
    throw new LedgerError(
      'artifacts_unavailable',
      'neither build/contracts.json nor the contract sources exist',
    );
  }
  if (existing && existing.sourceHash === computeSourceHash(sources)) return existing;
  const solc = loadSolc();
  if (!solc) {
    throw new LedgerError(
      'artifacts_unavailable',
      existing
        ? 'build/contracts.json is stale and solc (a devDependency) is not installed: run npm run build where it is'
        : 'build/contracts.json is missing and solc (a devDependency) is not installed: run npm ci && npm run build',
    );
  }
  const artifacts = compileContracts(sources, solc);
  writeArtifacts(artifacts, artifactFile);
  return artifacts;
}
