// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IModelRegistry
/// @notice What PayableAI reads from the ModelRegistry.
interface IModelRegistry {
    /// @notice The commercial terms of a model; all zero for an unknown id.
    /// @param modelId Model id.
    /// @return owner           Model owner (zero when the model does not exist).
    /// @return feePerInference Fee (wei of OPEN) that a request must pay.
    /// @return ownerShareBps   Model owner's share of each fee, in basis points.
    function modelTerms(uint256 modelId)
        external
        view
        returns (address owner, uint256 feePerInference, uint16 ownerShareBps);

    /// @notice The datanets a model was trained on, strictly ascending; empty for an unknown id.
    /// @param modelId Model id.
    /// @return datanetIds Datanet ids.
    function datanetsOf(uint256 modelId) external view returns (uint256[] memory datanetIds);
}
