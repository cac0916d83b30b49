// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Types} from "./Types.sol";

/// @title Hashing
/// @notice Hashes that L2 and L1 must compute identically.
library Hashing {
    /// @notice Hash of a withdrawal, the key of L2ToL1MessagePasser.sentMessages
    ///         and the value proven on L1. Same as the OP Stack's.
    /// @param _tx The withdrawal.
    /// @return keccak256(abi.encode(nonce, sender, target, value, gasLimit, data)).
    function hashWithdrawal(Types.WithdrawalTransaction memory _tx) internal pure returns (bytes32) {
        return keccak256(abi.encode(_tx.nonce, _tx.sender, _tx.target, _tx.value, _tx.gasLimit, _tx.data));
    }
}
