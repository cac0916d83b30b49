// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title OpenLedgerTimelock
/// @notice OpenZeppelin's TimelockController, unchanged; this file only gives it
///         an artifact. It holds the admin roles of the L2 AI-economy contracts
///         (PayableAI, AttributionStaking) and executes what OpenLedgerGovernor
///         queues, after minDelay seconds.
/// @dev    In genesis: proposers and cancellers = [the governor], executors =
///         [address(0)] (anyone may execute a ready operation), admin = zero
///         (the timelock administers itself).
contract OpenLedgerTimelock is TimelockController {
    /// @param minDelay  Minimum delay of an operation (seconds).
    /// @param proposers Accounts granted PROPOSER_ROLE and CANCELLER_ROLE.
    /// @param executors Accounts granted EXECUTOR_ROLE (address(0): anyone).
    /// @param admin     Optional extra DEFAULT_ADMIN_ROLE holder (zero for none).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
