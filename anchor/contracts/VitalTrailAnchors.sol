// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @dev The one registry function the anchors contract needs.
interface IVitalTrailRegistry {
    function isActiveGateway(address account, bytes32 logId) external view returns (bool);
}

/// @title VitalTrail checkpoint anchors (PROTOCOL.md §4)
/// @notice Records the roots of the gateways' RFC 9162 transparency logs. Only an active
///         registered gateway may anchor its own logId, and the tree size of a logId grows
///         strictly with every anchor, so a resubmitted checkpoint is refused (idempotent
///         retries) and an anchored checkpoint can only be extended. Only log ids, sizes, root
///         hashes and times are stored: no PHI.
/// @dev The full history is the `Anchored` event stream; storage keeps the latest per logId.
contract VitalTrailAnchors {
    struct Anchor {
        uint64 treeSize;
        uint64 checkpointTime;
        uint64 blockNumber;
        bytes32 rootHash;
    }

    /// @notice The registry that says which gateway holds which logId.
    IVitalTrailRegistry public immutable registry;

    mapping(bytes32 logId => Anchor) private _latest;

    /// @notice PROTOCOL.md §4, exactly this signature.
    event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, uint64 checkpointTime);

    /// @notice The caller is not an active gateway registered for this logId.
    error NotActiveGateway();
    /// @notice The tree size does not exceed the last anchored one of this logId.
    error TreeSizeNotIncreasing(uint64 last, uint64 given);
    /// @notice The root hash is zero (no RFC 9162 root is).
    error ZeroRootHash();
    /// @notice The registry address holds no contract.
    error RegistryNotContract();

    /// @param registry_ The deployed VitalTrailRegistry.
    constructor(address registry_) {
        if (registry_.code.length == 0) revert RegistryNotContract();
        registry = IVitalTrailRegistry(registry_);
    }

    /// @notice Anchors a checkpoint of the caller's log.
    /// @param logId SHA-256 of the checkpoint origin line (PROTOCOL.md §3).
    /// @param treeSize The checkpoint's tree size; must exceed the last anchored one.
    /// @param rootHash The RFC 9162 root hash of that tree.
    /// @param checkpointTime The checkpoint's time as the gateway states it (not checked).
    function anchor(bytes32 logId, uint64 treeSize, bytes32 rootHash, uint64 checkpointTime) external {
        // PROTOCOL.md §4: only an active registered gateway may anchor its own logId
        if (!registry.isActiveGateway(msg.sender, logId)) revert NotActiveGateway();
        Anchor storage a = _latest[logId];
        // PROTOCOL.md §4: treeSize must grow with every anchor of a logId
        if (treeSize <= a.treeSize) revert TreeSizeNotIncreasing(a.treeSize, treeSize);
        if (rootHash == bytes32(0)) revert ZeroRootHash();
        a.treeSize = treeSize;
        a.checkpointTime = checkpointTime;
        a.blockNumber = uint64(block.number);
        a.rootHash = rootHash;
        emit Anchored(logId, treeSize, rootHash, checkpointTime);
    }

    /// @notice The latest anchor of a logId (all zero when none).
    function latest(bytes32 logId)
        external
        view
        returns (uint64 treeSize, bytes32 rootHash, uint64 checkpointTime, uint64 blockNumber)
    {
        Anchor storage a = _latest[logId];
        return (a.treeSize, a.rootHash, a.checkpointTime, a.blockNumber);
    }
}
