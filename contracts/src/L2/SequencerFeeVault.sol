// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {FeeVault} from "./FeeVault.sol";

/// @title SequencerFeeVault
/// @notice Predeploy that collects the priority fees of L2 transactions (the
///         sequencer's fee recipient).
contract SequencerFeeVault is FeeVault {
    /// @param _recipient           L2 account that receives the swept fees.
    /// @param _minWithdrawalAmount Minimum balance (wei) that withdraw() sweeps.
    constructor(address _recipient, uint256 _minWithdrawalAmount) FeeVault(_recipient, _minWithdrawalAmount) {}
}
