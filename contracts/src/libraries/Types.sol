// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Types
/// @notice Structs shared by the L2 predeploys and the L1 portal.
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
}
