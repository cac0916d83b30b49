// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";

/// @title OpenLedgerGovernor
/// @notice On-chain governance of the L2 protocol parameters: WOPEN holders
///         (by delegated votes) propose, vote For/Against/Abstain, and passed
///         proposals are queued in and executed by the OpenLedgerTimelock,
///         which holds the admin roles of PayableAI and AttributionStaking.
/// @dev    OpenZeppelin Governor with GovernorSettings, GovernorCountingSimple,
///         GovernorVotes, GovernorVotesQuorumFraction and
///         GovernorTimelockControl, nothing added. The clock is WOPEN's
///         (timestamps), so votingDelay and votingPeriod are in seconds.
contract OpenLedgerGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    /// @param token             WOPEN.
    /// @param timelock          OpenLedgerTimelock.
    /// @param votingDelay_      Seconds from proposal to the vote's start (and the voting-power snapshot).
    /// @param votingPeriod_     Seconds the vote lasts.
    /// @param proposalThreshold_ Votes needed to propose (wei of WOPEN).
    /// @param quorumPercent     Quorum as a percentage of the WOPEN supply at the snapshot.
    constructor(
        address token,
        address payable timelock,
        uint48 votingDelay_,
        uint32 votingPeriod_,
        uint256 proposalThreshold_,
        uint256 quorumPercent
    )
        Governor("OpenLedgerGovernor")
        GovernorSettings(votingDelay_, votingPeriod_, proposalThreshold_)
        GovernorVotes(IVotes(token))
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(TimelockController(timelock))
    {}

    /// @notice State of a proposal, including the timelock's view (Queued, Executed).
    /// @param proposalId Proposal id.
    /// @return The proposal state.
    function state(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (ProposalState)
    {
        return super.state(proposalId);
    }

    /// @notice Whether a proposal must be queued before execution (always true here).
    /// @param proposalId Proposal id.
    /// @return True.
    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    /// @notice Votes an account needs to propose.
    /// @return The threshold (wei of WOPEN).
    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
