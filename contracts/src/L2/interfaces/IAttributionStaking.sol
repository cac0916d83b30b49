// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IAttributionStaking
/// @notice What PayableAI reads from AttributionStaking.
interface IAttributionStaking {
    /// @notice Whether `provider` may post settlements: its active (not
    ///         unbonding) stake is at least the minimum provider stake.
    /// @param provider Account.
    /// @return True when the account is an active attribution provider.
    function isActiveProvider(address provider) external view returns (bool);
}
