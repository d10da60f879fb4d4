/**
 * @module anchor/contracts
 * The Solidity contracts of PROTOCOL.md §4 (and the consent contract of README "Consent on chain
 * (issue 18)") as the rest of VitalTrail sees them: the typed
 * ABI fragments the clients call, the compiled artifacts for deployment, their build with
 * solc-js, and the ledger stack's error vocabulary (`LedgerError`, `Hex`). The lowest room
 * of the ledger stack: it imports no other anchor folder.
 */
export {
  ANCHORED_EVENT,
  ANCHORS_ABI,
  CONSENT_ABI,
  CONSENT_GRANTED_EVENT,
  CONSENT_REVOKED_EVENT,
  type ContractArtifact,
  type ContractArtifacts,
  type ContractName,
  REGISTRY_ABI,
} from './artifacts.js';
export {
  buildContracts,
  CONTRACT_NAMES,
  compileContracts,
  computeSourceHash,
  contractPaths,
  findRepoRoot,
  loadArtifacts,
  loadSolc,
  readContractSources,
  readLibrarySource,
  withImports,
  writeArtifacts,
} from './build.js';
export { type Hex, LEDGER_ERROR_CODES, LedgerError, type LedgerErrorCode } from './ledger-error.js';
