// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title VitalTrail registry (PROTOCOL.md §4)
/// @notice The KGC's on-chain source of truth: which devices hold which key, and which gateway
///         account may anchor which transparency log. Only identifiers and hashes are stored:
///         device ids (1-64 chars of [A-Za-z0-9._-], PROTOCOL.md §1), SHA-256 hashes of
///         SubjectPublicKeyInfo, log ids. No PHI ever reaches this contract.
/// @dev Devices are keyed by `keccak256(bytes(devId))` (the `devIdHash` of the events).
///      Everything in a public ledger is public: nothing here is secret.
contract VitalTrailRegistry {
    /// @notice Device status: 0 = never registered, 1 = active, 2 = revoked.
    enum DeviceStatus {
        None,
        Active,
        Revoked
    }

    struct Device {
        bytes32 spkiHash;
        DeviceStatus status;
        uint64 sinceBlock;
    }

    struct Gateway {
        bytes32 logId;
        bool active;
    }

    /// @notice The KGC (consortium CA) account: the deployer. It alone writes this registry.
    address public immutable kgc;

    mapping(bytes32 devIdHash => Device) private _devices;
    mapping(bytes32 spkiHash => bool) private _revokedKeys;
    mapping(address account => Gateway) private _gateways;
    /// @dev The one account that may hold each logId; it moves only away from an inactive holder.
    mapping(bytes32 logId => address account) private _logHolders;

    /// @notice A device got a (new) key; emitted again on key rotation and re-registration.
    event DeviceRegistered(bytes32 indexed devIdHash, string devId, bytes32 spkiHash);
    /// @notice A device's current key was revoked.
    event DeviceRevoked(bytes32 indexed devIdHash, string devId);
    /// @notice A gateway account was bound to its transparency log and made active.
    event GatewayRegistered(address indexed account, bytes32 logId);
    /// @notice A gateway was activated or deactivated.
    event GatewayStatusChanged(address indexed account, bool active);

    /// @notice The caller is not the KGC.
    error NotKgc();
    /// @notice The device id is empty, longer than 64 bytes, or uses a character outside [A-Za-z0-9._-].
    error InvalidDeviceId();
    /// @notice A zero hash or a zero address was given where a real one is required.
    error ZeroValue();
    /// @notice The device is already active with this very key.
    error KeyUnchanged();
    /// @notice This key was revoked once and can never be registered again.
    error KeyRevoked();
    /// @notice The device is not active (never registered, or already revoked).
    error DeviceNotActive();
    /// @notice The account is already registered as a gateway.
    error GatewayAlreadyRegistered();
    /// @notice The account is not a registered gateway.
    error UnknownGateway();
    /// @notice The logId is held by another account that is active.
    error LogIdTaken();

    modifier onlyKgc() {
        if (msg.sender != kgc) revert NotKgc();
        _;
    }

    constructor() {
        kgc = msg.sender;
    }

    // ---------------------------------------------------------------- devices

    /// @notice Registers a device with the SHA-256 of its certificate's SubjectPublicKeyInfo, or
    ///         rotates its key. A revoked device comes back only with a key never revoked before.
    /// @param devId The device id (PROTOCOL.md §1): 1-64 chars of [A-Za-z0-9._-].
    /// @param spkiHash SHA-256 of the DER SubjectPublicKeyInfo of the device certificate.
    function registerDevice(string calldata devId, bytes32 spkiHash) external onlyKgc {
        bytes32 devIdHash = _checkedDevIdHash(devId);
        if (spkiHash == bytes32(0)) revert ZeroValue();
        if (_revokedKeys[spkiHash]) revert KeyRevoked();
        Device storage d = _devices[devIdHash];
        if (d.status == DeviceStatus.Active && d.spkiHash == spkiHash) revert KeyUnchanged();
        d.spkiHash = spkiHash;
        d.status = DeviceStatus.Active;
        d.sinceBlock = uint64(block.number);
        emit DeviceRegistered(devIdHash, devId, spkiHash);
    }

    /// @notice Revokes the device's current key; the device stays revoked until re-registered
    ///         with a different key.
    function revokeDevice(string calldata devId) external onlyKgc {
        bytes32 devIdHash = _checkedDevIdHash(devId);
        Device storage d = _devices[devIdHash];
        if (d.status != DeviceStatus.Active) revert DeviceNotActive();
        d.status = DeviceStatus.Revoked;
        d.sinceBlock = uint64(block.number);
        _revokedKeys[d.spkiHash] = true;
        emit DeviceRevoked(devIdHash, devId);
    }

    /// @notice The device's current key hash, status (0 none, 1 active, 2 revoked) and the block
    ///         since which that status holds.
    function device(string calldata devId)
        external
        view
        returns (bytes32 spkiHash, uint8 status, uint64 sinceBlock)
    {
        Device storage d = _devices[keccak256(bytes(devId))];
        return (d.spkiHash, uint8(d.status), d.sinceBlock);
    }

    /// @notice True when this key hash was revoked for some device.
    function isKeyRevoked(bytes32 spkiHash) external view returns (bool) {
        return _revokedKeys[spkiHash];
    }

    // --------------------------------------------------------------- gateways

    /// @notice Binds a gateway account to its logId (SHA-256 of its checkpoint origin line,
    ///         PROTOCOL.md §3) and makes it active. A logId has one holder at a time: it moves to
    ///         a new account (gateway key rotation) only once its holder was deactivated.
    function registerGateway(address account, bytes32 logId) external onlyKgc {
        if (account == address(0) || logId == bytes32(0)) revert ZeroValue();
        if (_gateways[account].logId != bytes32(0)) revert GatewayAlreadyRegistered();
        address holder = _logHolders[logId];
        if (holder != address(0) && _gateways[holder].active) revert LogIdTaken();
        _logHolders[logId] = account;
        _gateways[account] = Gateway(logId, true);
        emit GatewayRegistered(account, logId);
    }

    /// @notice Activates or deactivates a registered gateway. Re-activation requires that the
    ///         account still holds its logId. Setting the current status again changes nothing.
    function setGatewayActive(address account, bool active) external onlyKgc {
        Gateway storage g = _gateways[account];
        if (g.logId == bytes32(0)) revert UnknownGateway();
        if (g.active == active) return;
        if (active && _logHolders[g.logId] != account) revert LogIdTaken();
        g.active = active;
        emit GatewayStatusChanged(account, active);
    }

    /// @notice The gateway's logId and whether it is active (zero and false when unknown).
    function gateway(address account) external view returns (bytes32 logId, bool active) {
        Gateway storage g = _gateways[account];
        return (g.logId, g.active);
    }

    /// @notice True when `account` is an active gateway bound to `logId` (PROTOCOL.md §4).
    function isActiveGateway(address account, bytes32 logId) external view returns (bool) {
        Gateway storage g = _gateways[account];
        return g.active && logId != bytes32(0) && g.logId == logId;
    }

    // ---------------------------------------------------------------- helpers

    /// @dev PROTOCOL.md §1: 1-64 chars of [A-Za-z0-9._-]; returns keccak256 of the bytes.
    function _checkedDevIdHash(string calldata devId) private pure returns (bytes32) {
        bytes calldata b = bytes(devId);
        if (b.length == 0 || b.length > 64) revert InvalidDeviceId();
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "."
                || c == "_" || c == "-";
            if (!ok) revert InvalidDeviceId();
        }
        return keccak256(b);
    }
}
