// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IDatanetRegistry
/// @notice What the other L2 AI-economy contracts read from the DatanetRegistry.
interface IDatanetRegistry {
    /// @notice Contribution policy of a datanet.
    /// @dev    Open: contributions are accepted on submission. Curated: they stay
    ///         Pending until the datanet owner or a curator accepts or rejects them.
    enum Policy {
        Open,
        Curated
    }

    /// @notice Life cycle of a contribution. None marks an id that was never issued.
    ///         Accepted and Rejected are final.
    enum ContributionStatus {
        None,
        Pending,
        Accepted,
        Rejected
    }

    /// @notice The part of a contribution that settlement needs; one storage slot.
    /// @param contributor Account that submitted the contribution and is paid for it.
    /// @param datanetId   Datanet the contribution belongs to.
    /// @param status      Current status.
    struct ContributionRecord {
        address contributor;
        uint64 datanetId;
        ContributionStatus status;
    }

    /// @notice Whether datanet `datanetId` exists.
    /// @param datanetId Datanet id.
    /// @return True when the datanet was created.
    function datanetExists(uint256 datanetId) external view returns (bool);

    /// @notice The settlement records of `contributionIds`, in the same order.
    /// @dev    An id that was never issued yields a zero record (status None); the
    ///         call never reverts, so the caller decides how to treat such ids.
    /// @param contributionIds Contribution ids.
    /// @return records One record per id.
    function contributionRecords(uint256[] calldata contributionIds)
        external
        view
        returns (ContributionRecord[] memory records);
}
