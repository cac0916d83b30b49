// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IPayableAI
/// @notice The dispute hooks that AttributionStaking calls on PayableAI.
interface IPayableAI {
    /// @notice Marks the settlement of `inferenceId` as disputed, which blocks
    ///         its finalization until resolveDispute. AttributionStaking only;
    ///         only within the settlement's dispute window, once per settlement.
    /// @param inferenceId      Inference id.
    /// @return provider        The provider who posted the settlement.
    /// @return modelId         The model that served the inference.
    /// @return attributionHash The settled attribution hash.
    function openDispute(uint256 inferenceId)
        external
        returns (address provider, uint256 modelId, bytes32 attributionHash);

    /// @notice Ends the dispute of `inferenceId`. AttributionStaking only. When
    ///         `overturn` is true the settlement's query hash and split are
    ///         replaced by the corrected ones (the split validated like a
    ///         settlement) and can be finalized at once; otherwise the
    ///         arguments are ignored and the settlement stands.
    /// @param inferenceId      Inference id.
    /// @param overturn         Whether the settlement is replaced.
    /// @param queryHash        Corrected query record hash (overturn only).
    /// @param contributionIds  Corrected contribution ids (overturn only).
    /// @param weights          Corrected weights (overturn only).
    /// @return attributionHash The attribution hash in force afterwards:
    ///                         keccak256(abi.encode(modelId, queryHash, contributionIds,
    ///                         weights)) of the corrected split on an overturn, the
    ///                         settled one otherwise.
    function resolveDispute(
        uint256 inferenceId,
        bool overturn,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) external returns (bytes32 attributionHash);

    /// @notice The protocol treasury, which also receives slashed stake and forfeited bonds.
    /// @return The treasury address.
    function treasury() external view returns (address);
}
