// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Types
/// @notice Structs shared by the L2 predeploys and the L1 contracts.
library Types {
    /// @notice A withdrawal initiated on L2 by L2ToL1MessagePasser and proven and
    ///         finalized on L1 by the portal. Field order is part of the
    ///         withdrawal hash and matches the OP Stack.
    /// @custom:field nonce    Versioned nonce of the message (see Encoding.encodeVersionedNonce).
    /// @custom:field sender   L2 address that initiated the withdrawal.
    /// @custom:field target   L1 address that receives the call and the OPEN.
    /// @custom:field value    Amount of OPEN (wei) withdrawn.
    /// @custom:field gasLimit Minimum gas for the call on L1.
    /// @custom:field data     Calldata for the call on L1.
    struct WithdrawalTransaction {
        uint256 nonce;
        address sender;
        address target;
        uint256 value;
        uint256 gasLimit;
        bytes data;
    }

    /// @notice An L2 output root committed on L1 by the rollup contract, one per
    ///         batch. The portal proves withdrawals against finalized ones.
    /// @custom:field outputRoot    Output root after l2BlockNumber (see OutputRoot.sol).
    /// @custom:field l2BlockNumber Last L2 block of the batch the root commits to.
    /// @custom:field timestamp     L1 timestamp at which the output was submitted.
    struct OutputProposal {
        bytes32 outputRoot;
        uint64 l2BlockNumber;
        uint64 timestamp;
    }
}
