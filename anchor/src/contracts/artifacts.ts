/**
 * @module anchor/contracts/artifacts
 * The typed ABI fragments the clients call (`REGISTRY_ABI`, `ANCHORS_ABI`, `CONSENT_ABI`) of the
 * contracts of PROTOCOL.md §4 and README "Consent on chain (issue 18)", which a test keeps equal
 * to the compiled ABI (`loadArtifacts` in build.ts).
 * Clients need only the fragments, so the auditor never needs solc or the artifact file.
 */
import { parseAbi } from 'abitype';

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

/** README "Consent on chain (issue 18)": the grant event, exactly. */
export const CONSENT_GRANTED_EVENT =
  'event ConsentGranted(bytes32 indexed consentId, bytes32 indexed patient, bytes32 indexed doctor, uint8 scope, uint64 dataFrom, uint64 dataUntil, uint64 validFrom, uint64 validUntil, string purpose)';

/** README "Consent on chain (issue 18)": the revocation event, exactly. */
export const CONSENT_REVOKED_EVENT =
  'event ConsentRevoked(bytes32 indexed consentId, bytes32 indexed patient, bytes32 indexed doctor)';

/** Every function, event and error of VitalTrailConsent (with those it inherits from OpenZeppelin's EIP712). */
export const CONSENT_ABI = parseAbi([
  'struct Consent { bytes32 patient; bytes32 doctor; uint8 scope; uint64 dataFrom; uint64 dataUntil; uint64 validFrom; uint64 validUntil; string purpose; uint256 nonce; }',
  'struct ConsentRecord { bytes32 patient; bytes32 doctor; uint8 scope; uint64 dataFrom; uint64 dataUntil; uint64 validFrom; uint64 validUntil; string purpose; uint256 nonce; uint64 grantedAt; uint64 grantedBlock; uint64 revokedAt; uint64 revokedBlock; }',
  'function CONSENT_TYPEHASH() view returns (bytes32)',
  'function REVOCATION_TYPEHASH() view returns (bytes32)',
  'function registry() view returns (address)',
  'function authority() view returns (address)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
  'function registerClinician(bytes32 id, uint8 role)',
  'function suspendClinician(bytes32 id)',
  'function reinstateClinician(bytes32 id)',
  'function clinician(bytes32 id) view returns (uint8 role, bool suspended, uint64 sinceBlock)',
  'function registerPatientKey(bytes32 patient, address key)',
  'function patientKey(bytes32 patient) view returns (address)',
  'function grant(Consent c, bytes signature) returns (bytes32 consentId)',
  'function revoke(bytes32 consentId, bytes signature)',
  'function consent(bytes32 consentId) view returns (ConsentRecord)',
  'event ClinicianRegistered(bytes32 indexed id, uint8 role)',
  'event ClinicianSuspended(bytes32 indexed id)',
  'event ClinicianReinstated(bytes32 indexed id)',
  'event PatientKeyRegistered(bytes32 indexed patient, address indexed key)',
  CONSENT_GRANTED_EVENT,
  CONSENT_REVOKED_EVENT,
  'event EIP712DomainChanged()',
  'error NotAuthority()',
  'error RegistryNotContract()',
  'error ZeroValue()',
  'error InvalidRole()',
  'error ClinicianAlreadyRegistered()',
  'error ClinicianNotRegistered()',
  'error ClinicianAlreadySuspended()',
  'error ClinicianNotSuspended()',
  'error PatientKeyUnchanged()',
  'error InvalidScope()',
  'error InvalidWindow()',
  'error InvalidDataRange()',
  'error PurposeTooLong()',
  'error UnknownPatient()',
  'error NotADoctor()',
  'error DoctorSuspended()',
  'error BadSignature()',
  'error ConsentExists()',
  'error UnknownConsent()',
  'error AlreadyRevoked()',
  'error InvalidShortString()',
  'error StringTooLong(string str)',
]);
