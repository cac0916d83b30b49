// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IOpenLedgerRollup} from "../L1/interfaces/IOpenLedgerRollup.sol";
import {Types} from "../libraries/Types.sol";

/// @title MockRollup
/// @notice Stand-in for OpenLedgerRollup in the portal tests: anyone posts output
///         roots, an output is final `finalizationPeriod` seconds after it was
///         posted, and `rollBack` removes an output and every later one, as a
///         lost challenge does on the real contract. Reverts as the interface
///         specifies (NoOutputs, UnknownOutput).
contract MockRollup is IOpenLedgerRollup {
    /// @notice Seconds after posting at which an output is final.
    uint256 public immutable finalizationPeriod;

    /// @notice Posted outputs, by index.
    Types.OutputProposal[] internal outputs;

    /// @notice Emitted when an output is posted.
    /// @param outputIndex   Its index.
    /// @param outputRoot    The output root.
    /// @param l2BlockNumber The L2 block it commits to.
    event OutputProposed(uint256 indexed outputIndex, bytes32 outputRoot, uint64 l2BlockNumber);

    /// @notice Emitted when outputs from an index on are removed.
    /// @param fromIndex The first removed index.
    event OutputsRolledBack(uint256 indexed fromIndex);

    /// @param _finalizationPeriod Seconds after posting at which an output is final.
    constructor(uint256 _finalizationPeriod) {
        finalizationPeriod = _finalizationPeriod;
    }

    /// @notice Posts an output root for `_l2BlockNumber` at the next index.
    /// @param _outputRoot    The output root.
    /// @param _l2BlockNumber The L2 block it commits to.
    /// @return outputIndex_ Index of the new output.
    function proposeOutput(bytes32 _outputRoot, uint64 _l2BlockNumber) external returns (uint256 outputIndex_) {
        outputIndex_ = outputs.length;
        outputs.push(
            Types.OutputProposal({outputRoot: _outputRoot, l2BlockNumber: _l2BlockNumber, timestamp: uint64(block.timestamp)})
        );
        emit OutputProposed(outputIndex_, _outputRoot, _l2BlockNumber);
    }

    /// @notice Removes the output at `_fromIndex` and every later one.
    /// @param _fromIndex First index to remove.
    function rollBack(uint256 _fromIndex) external {
        if (_fromIndex >= outputs.length) revert UnknownOutput(_fromIndex);
        while (outputs.length > _fromIndex) outputs.pop();
        emit OutputsRolledBack(_fromIndex);
    }

    /// @inheritdoc IOpenLedgerRollup
    function latestOutputIndex() external view returns (uint256) {
        if (outputs.length == 0) revert NoOutputs();
        return outputs.length - 1;
    }

    /// @inheritdoc IOpenLedgerRollup
    function nextBatchIndex() external view returns (uint256) {
        return outputs.length;
    }

    /// @inheritdoc IOpenLedgerRollup
    function getL2Output(uint256 _outputIndex) external view returns (Types.OutputProposal memory) {
        if (_outputIndex >= outputs.length) revert UnknownOutput(_outputIndex);
        return outputs[_outputIndex];
    }

    /// @inheritdoc IOpenLedgerRollup
    function isOutputFinalized(uint256 _outputIndex) external view returns (bool) {
        return _outputIndex < outputs.length
            && block.timestamp >= uint256(outputs[_outputIndex].timestamp) + finalizationPeriod;
    }
}
