// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {FeeVault} from "./FeeVault.sol";

/// @title BaseFeeVault
/// @notice Predeploy that collects the base fee of every L2 transaction.
contract BaseFeeVault is FeeVault {
    /// @param _recipient           L2 account that receives the swept fees.
    /// @param _minWithdrawalAmount Minimum balance (wei) that withdraw() sweeps.
    constructor(address _recipient, uint256 _minWithdrawalAmount) FeeVault(_recipient, _minWithdrawalAmount) {}
}
