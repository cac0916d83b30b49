// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title L1Block
/// @notice Predeploy that holds the L1 origin of the current L2 block. The
///         first transaction of every L2 block is an L1-info system deposit from
///         DEPOSITOR_ACCOUNT that calls setL1BlockValues, so contracts can read
///         the L1 origin and every L2 block is fully determined by L1.
/// @dev    Storage layout (read directly by tooling, do not reorder):
///         slot 0: number (bytes 0..7) | timestamp (8..15) | sequenceNumber (16..23),
///                 packed low-order first;
///         slot 1: basefee;
///         slot 2: hash.
///         Packing keeps the per-block update at three storage writes.
///         No event, as in the OP Stack's L1Block: the update happens in every
///         block, so a log would fill every unfiltered eth_getLogs, and the values
///         are already in the deposit's calldata and in storage.
contract L1Block {
    /// @notice Account that sends the L1-info system deposit. It has no key.
    address public constant DEPOSITOR_ACCOUNT = 0xDeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001;

    /// @notice Number of the L1 origin block.
    uint64 public number;

    /// @notice Timestamp of the L1 origin block.
    uint64 public timestamp;

    /// @notice Index of the L2 block within its L1 origin epoch (0 for the first
    ///         L2 block of each L1 origin).
    uint64 public sequenceNumber;

    /// @notice Base fee of the L1 origin block.
    uint256 public basefee;

    /// @notice Hash of the L1 origin block.
    bytes32 public hash;

    /// @notice The caller is not DEPOSITOR_ACCOUNT.
    error OnlyDepositor();

    /// @notice Updates the L1 origin values. Called by the L1-info system deposit
    ///         at the start of every L2 block.
    /// @param _number         Number of the L1 origin block.
    /// @param _timestamp      Timestamp of the L1 origin block.
    /// @param _basefee        Base fee of the L1 origin block.
    /// @param _hash           Hash of the L1 origin block.
    /// @param _sequenceNumber Index of the L2 block within its epoch.
    function setL1BlockValues(
        uint64 _number,
        uint64 _timestamp,
        uint256 _basefee,
        bytes32 _hash,
        uint64 _sequenceNumber
    ) external {
        if (msg.sender != DEPOSITOR_ACCOUNT) revert OnlyDepositor();

        number = _number;
        timestamp = _timestamp;
        sequenceNumber = _sequenceNumber;
        basefee = _basefee;
        hash = _hash;
    }
}
