// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IPayableAI
/// @notice The dispute hooks that AttributionStaking calls on PayableAI.
interface IPayableAI {
    /// @notice Marks the settlement of `inferenceId` as disputed, which blocks
    ///         its finalization until resolveDispute. AttributionStaking only;
    ///         only within the settlement's dispute window, once per settlement.
    /// @param inferenceId Inference id.
    /// @return provider   The provider who posted the settlement.
    function openDispute(uint256 inferenceId) external returns (address provider);

    /// @notice Ends the dispute of `inferenceId`. AttributionStaking only. When
    ///         `overturn` is true the settlement's split is replaced by the
    ///         corrected one (validated like a settlement) and can be finalized
    ///         at once; otherwise the arrays are ignored and the original split
    ///         stands.
    /// @param inferenceId     Inference id.
    /// @param overturn        Whether the settlement was wrong.
    /// @param contributionIds Corrected contribution ids (overturn only).
    /// @param weights         Corrected weights (overturn only).
    /// @param attributionHash Corrected attribution hash (overturn only).
    function resolveDispute(
        uint256 inferenceId,
        bool overturn,
        uint256[] calldata contributionIds,
        uint32[] calldata weights,
        bytes32 attributionHash
    ) external;

    /// @notice The protocol treasury, which also receives slashed stake and forfeited bonds.
    /// @return The treasury address.
    function treasury() external view returns (address);
}
