// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Types} from "../../libraries/Types.sol";

/// @title IOpenLedgerRollup
/// @notice What the L1 portal (and other L1 consumers) need from the rollup
///         contract: the committed L2 outputs and whether each is final.
///         Output index i is the output of batch i (one output per batch).
interface IOpenLedgerRollup {
    /// @notice Raised by latestOutputIndex when no output is live.
    error NoOutputs();

    /// @notice Raised when `outputIndex` is not a live output (never submitted
    ///         or rolled back).
    /// @param outputIndex The index asked for.
    error UnknownOutput(uint256 outputIndex);

    /// @notice Index of the newest live output.
    /// @dev Reverts NoOutputs() when there is none.
    /// @return The index, nextBatchIndex() - 1.
    function latestOutputIndex() external view returns (uint256);

    /// @notice Index the next submitted batch must carry; equals the number of
    ///         live outputs.
    /// @return The next batch index.
    function nextBatchIndex() external view returns (uint256);

    /// @notice The live output at `outputIndex`.
    /// @dev Reverts UnknownOutput(outputIndex) for an index that is not live.
    /// @param outputIndex The output (batch) index.
    /// @return The output root, its L2 block number and its L1 submission time.
    function getL2Output(uint256 outputIndex) external view returns (Types.OutputProposal memory);

    /// @notice Whether the output at `outputIndex` is final: it is live, its
    ///         challenge window has passed, and neither it nor any earlier output
    ///         has an open challenge. A final output can never be rolled back.
    /// @param outputIndex The output (batch) index; unknown indexes give false.
    /// @return True when final.
    function isOutputFinalized(uint256 outputIndex) external view returns (bool);
}
