// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @dev The one registry function the consent contract needs: who the registration authority is.
interface IVitalTrailRegistryAuthority {
    function kgc() external view returns (address);
}

/// @title VitalTrail consent (README "Consent on chain (issue 18)")
/// @notice Clinicians (doctors, nurses) registered and suspended by the registration authority
///         (the registry's KGC account), the secp256k1 account each pseudonymous patient signs
///         with, and the patients' EIP-712 signed grants of a doctor's access to their data and
///         their revocations. Anyone may submit a signed grant or revocation (the gateway pays
///         the gas); only the patient's registered key can sign one.
/// @dev No PHI: a patient is a random bytes32 pseudonym, a clinician the SHA-256 of a KGC-issued
///      key or of an account address. The one free text is a grant's `purpose` (at most 200
///      bytes), chosen and signed by the patient. Everything here is public.
contract VitalTrailConsent is EIP712 {
    /// @notice A patient's signed grant of a doctor's access (EIP-712 primary type `Consent`).
    /// @dev patient: the patient's pseudonym (random bytes32, never derived from PHI);
    ///      doctor: the doctor's clinician id; scope: bits 1 vitals, 2 ECG (3 both);
    ///      dataFrom, dataUntil: the history range, device time in ms since the Unix epoch,
    ///      dataUntil 0 = open end; validFrom, validUntil: when the consent may be used (ms since
    ///      the epoch), validUntil above validFrom; purpose: free text of at most 200 bytes chosen
    ///      by the patient; nonce: chosen by the signer, makes two otherwise equal grants distinct.
    struct Consent {
        bytes32 patient;
        bytes32 doctor;
        uint8 scope;
        uint64 dataFrom;
        uint64 dataUntil;
        uint64 validFrom;
        uint64 validUntil;
        string purpose;
        uint256 nonce;
    }

    /// @notice A stored grant: the signed fields plus when it was granted and revoked
    ///         (times in seconds of block.timestamp, 0 while not revoked).
    struct ConsentRecord {
        bytes32 patient;
        bytes32 doctor;
        uint8 scope;
        uint64 dataFrom;
        uint64 dataUntil;
        uint64 validFrom;
        uint64 validUntil;
        string purpose;
        uint256 nonce;
        uint64 grantedAt;
        uint64 grantedBlock;
        uint64 revokedAt;
        uint64 revokedBlock;
    }

    struct Clinician {
        uint8 role;
        bool suspended;
        uint64 sinceBlock;
    }

    /// @notice EIP-712 type hash of `Consent`.
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(bytes32 patient,bytes32 doctor,uint8 scope,uint64 dataFrom,uint64 dataUntil,uint64 validFrom,uint64 validUntil,string purpose,uint256 nonce)"
    );
    /// @notice EIP-712 type hash of `Revocation`.
    bytes32 public constant REVOCATION_TYPEHASH = keccak256("Revocation(bytes32 consentId)");

    uint8 private constant ROLE_DOCTOR = 1;
    uint8 private constant ROLE_NURSE = 2;
    uint8 private constant SCOPE_ALL = 3;
    uint256 private constant MAX_PURPOSE_BYTES = 200;

    /// @notice The VitalTrailRegistry this contract takes its authority from.
    address public immutable registry;
    /// @notice The registration authority: the registry's KGC account. It alone writes
    ///         clinicians and patient keys.
    address public immutable authority;

    mapping(bytes32 id => Clinician) private _clinicians;
    mapping(bytes32 patient => address key) private _patientKeys;
    mapping(bytes32 consentId => ConsentRecord) private _consents;

    /// @notice A clinician was registered with a role (1 doctor, 2 nurse).
    event ClinicianRegistered(bytes32 indexed id, uint8 role);
    /// @notice A clinician was suspended: no new grant may name them.
    event ClinicianSuspended(bytes32 indexed id);
    /// @notice A suspended clinician was reinstated.
    event ClinicianReinstated(bytes32 indexed id);
    /// @notice A patient's signing key was registered, or replaced (emitted again).
    event PatientKeyRegistered(bytes32 indexed patient, address indexed key);
    /// @notice A patient's signed grant was recorded. `consentId` is its EIP-712 digest.
    event ConsentGranted(
        bytes32 indexed consentId,
        bytes32 indexed patient,
        bytes32 indexed doctor,
        uint8 scope,
        uint64 dataFrom,
        uint64 dataUntil,
        uint64 validFrom,
        uint64 validUntil,
        string purpose
    );
    /// @notice A patient's signed revocation of a grant was recorded.
    event ConsentRevoked(bytes32 indexed consentId, bytes32 indexed patient, bytes32 indexed doctor);

    /// @notice The caller is not the registration authority (the registry's KGC).
    error NotAuthority();
    /// @notice The registry address holds no contract.
    error RegistryNotContract();
    /// @notice A zero id, pseudonym or address was given where a real one is required.
    error ZeroValue();
    /// @notice The role is neither 1 (doctor) nor 2 (nurse).
    error InvalidRole();
    /// @notice This clinician id is already registered.
    error ClinicianAlreadyRegistered();
    /// @notice No clinician is registered under this id.
    error ClinicianNotRegistered();
    /// @notice The clinician is already suspended.
    error ClinicianAlreadySuspended();
    /// @notice The clinician is not suspended.
    error ClinicianNotSuspended();
    /// @notice The patient already has exactly this key.
    error PatientKeyUnchanged();
    /// @notice The grant's scope is not 1, 2 or 3.
    error InvalidScope();
    /// @notice The grant's validUntil does not exceed its validFrom.
    error InvalidWindow();
    /// @notice The grant's dataUntil is not 0 and lies before its dataFrom.
    error InvalidDataRange();
    /// @notice The grant's purpose is longer than 200 bytes.
    error PurposeTooLong();
    /// @notice The patient has no registered key.
    error UnknownPatient();
    /// @notice The clinician the grant names is not a doctor (role 1).
    error NotADoctor();
    /// @notice The doctor the grant names is suspended.
    error DoctorSuspended();
    /// @notice The signature does not recover to the patient's registered key.
    error BadSignature();
    /// @notice This very grant (same digest) was recorded before.
    error ConsentExists();
    /// @notice No grant is recorded under this id.
    error UnknownConsent();
    /// @notice The grant was already revoked.
    error AlreadyRevoked();

    modifier onlyAuthority() {
        if (msg.sender != authority) revert NotAuthority();
        _;
    }

    /// @param registry_ The deployed VitalTrailRegistry; its `kgc()` becomes the authority.
    constructor(address registry_) EIP712("VitalTrailConsent", "1") {
        if (registry_.code.length == 0) revert RegistryNotContract();
        registry = registry_;
        authority = IVitalTrailRegistryAuthority(registry_).kgc();
    }

    // ------------------------------------------------------------- clinicians

    /// @notice Registers a clinician with a role.
    /// @param id SHA-256 of a KGC-issued key's SubjectPublicKeyInfo or of an account address
    ///        (opaque to this contract), not zero.
    /// @param role 1 doctor, 2 nurse.
    function registerClinician(bytes32 id, uint8 role) external onlyAuthority {
        if (id == bytes32(0)) revert ZeroValue();
        if (role != ROLE_DOCTOR && role != ROLE_NURSE) revert InvalidRole();
        Clinician storage c = _clinicians[id];
        if (c.role != 0) revert ClinicianAlreadyRegistered();
        c.role = role;
        c.sinceBlock = uint64(block.number);
        emit ClinicianRegistered(id, role);
    }

    /// @notice Suspends a registered clinician: grants naming them are refused from now on.
    function suspendClinician(bytes32 id) external onlyAuthority {
        Clinician storage c = _clinicians[id];
        if (c.role == 0) revert ClinicianNotRegistered();
        if (c.suspended) revert ClinicianAlreadySuspended();
        c.suspended = true;
        c.sinceBlock = uint64(block.number);
        emit ClinicianSuspended(id);
    }

    /// @notice Lifts a clinician's suspension.
    function reinstateClinician(bytes32 id) external onlyAuthority {
        Clinician storage c = _clinicians[id];
        if (c.role == 0) revert ClinicianNotRegistered();
        if (!c.suspended) revert ClinicianNotSuspended();
        c.suspended = false;
        c.sinceBlock = uint64(block.number);
        emit ClinicianReinstated(id);
    }

    /// @notice A clinician's role (0 when unknown, 1 doctor, 2 nurse), whether suspended, and the
    ///         block since which that status holds.
    function clinician(bytes32 id) external view returns (uint8 role, bool suspended, uint64 sinceBlock) {
        Clinician storage c = _clinicians[id];
        return (c.role, c.suspended, c.sinceBlock);
    }

    // --------------------------------------------------------------- patients

    /// @notice Registers the account a patient signs with, or replaces it (the old key can then
    ///         sign nothing more).
    /// @param patient The patient's pseudonym (random bytes32, never PHI), not zero.
    /// @param key The patient's secp256k1 account, not zero.
    function registerPatientKey(bytes32 patient, address key) external onlyAuthority {
        if (patient == bytes32(0) || key == address(0)) revert ZeroValue();
        if (_patientKeys[patient] == key) revert PatientKeyUnchanged();
        _patientKeys[patient] = key;
        emit PatientKeyRegistered(patient, key);
    }

    /// @notice The patient's current key (zero when none).
    function patientKey(bytes32 patient) external view returns (address) {
        return _patientKeys[patient];
    }

    // --------------------------------------------------------------- consents

    /// @notice Records a grant signed by the patient's registered key. Anyone may submit it.
    /// @param c The signed grant.
    /// @param signature The patient's 65-byte EIP-712 signature over `c`.
    /// @return consentId The EIP-712 digest of `c` (domain "VitalTrailConsent", version "1",
    ///         this chain, this contract).
    function grant(Consent calldata c, bytes calldata signature) external returns (bytes32 consentId) {
        if (c.scope == 0 || c.scope > SCOPE_ALL) revert InvalidScope();
        if (c.validUntil <= c.validFrom) revert InvalidWindow();
        if (c.dataUntil != 0 && c.dataUntil < c.dataFrom) revert InvalidDataRange();
        if (bytes(c.purpose).length > MAX_PURPOSE_BYTES) revert PurposeTooLong();
        address key = _patientKeys[c.patient];
        if (key == address(0)) revert UnknownPatient();
        Clinician storage d = _clinicians[c.doctor];
        if (d.role == 0) revert ClinicianNotRegistered();
        if (d.role != ROLE_DOCTOR) revert NotADoctor();
        if (d.suspended) revert DoctorSuspended();
        consentId = _hashTypedDataV4(_consentStructHash(c));
        if (_consents[consentId].grantedBlock != 0) revert ConsentExists();
        _requireSigner(consentId, signature, key);
        _store(consentId, c);
        emit ConsentGranted(
            consentId, c.patient, c.doctor, c.scope, c.dataFrom, c.dataUntil, c.validFrom, c.validUntil, c.purpose
        );
    }

    /// @notice Records a revocation signed by the grant's patient's current key. Anyone may
    ///         submit it.
    /// @param consentId The grant's id.
    /// @param signature The patient's 65-byte EIP-712 signature over `Revocation(consentId)`.
    function revoke(bytes32 consentId, bytes calldata signature) external {
        ConsentRecord storage r = _consents[consentId];
        if (r.grantedBlock == 0) revert UnknownConsent();
        if (r.revokedBlock != 0) revert AlreadyRevoked();
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(REVOCATION_TYPEHASH, consentId)));
        _requireSigner(digest, signature, _patientKeys[r.patient]);
        r.revokedAt = uint64(block.timestamp);
        r.revokedBlock = uint64(block.number);
        emit ConsentRevoked(consentId, r.patient, r.doctor);
    }

    /// @notice A stored grant (all zero when unknown: grantedBlock 0).
    function consent(bytes32 consentId) external view returns (ConsentRecord memory) {
        return _consents[consentId];
    }

    // ---------------------------------------------------------------- helpers

    /// @dev EIP-712 `hashStruct(Consent)`; the dynamic `purpose` enters as keccak256 of its bytes.
    function _consentStructHash(Consent calldata c) private pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(CONSENT_TYPEHASH, c.patient, c.doctor, c.scope, c.dataFrom, c.dataUntil),
                abi.encode(c.validFrom, c.validUntil, keccak256(bytes(c.purpose)), c.nonce)
            )
        );
    }

    /// @dev Reverts with BadSignature unless `signature` over `digest` recovers to `key`
    ///      (OpenZeppelin ECDSA: 65 bytes, low s, no zero signer).
    function _requireSigner(bytes32 digest, bytes calldata signature, address key) private pure {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != key || key == address(0)) revert BadSignature();
    }

    function _store(bytes32 consentId, Consent calldata c) private {
        ConsentRecord storage r = _consents[consentId];
        r.patient = c.patient;
        r.doctor = c.doctor;
        r.scope = c.scope;
        r.dataFrom = c.dataFrom;
        r.dataUntil = c.dataUntil;
        r.validFrom = c.validFrom;
        r.validUntil = c.validUntil;
        r.purpose = c.purpose;
        r.nonce = c.nonce;
        r.grantedAt = uint64(block.timestamp);
        r.grantedBlock = uint64(block.number);
    }
}
