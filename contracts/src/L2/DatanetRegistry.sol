// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IDatanetRegistry} from "src/L2/interfaces/IDatanetRegistry.sol";

/// @title DatanetRegistry
/// @notice Registry of datanets (community datasets) and of the contributions
///         made to them. Every contribution is owned by the account that
///         submitted it, and that account is paid whenever a settled inference
///         attributes part of its fee to the contribution (see PayableAI).
/// @dev    Policies: in an Open datanet a contribution is Accepted on
///         submission; in a Curated datanet it is Pending until the datanet owner
///         or one of its curators accepts or rejects it. Accepted and Rejected
///         are final, so a contribution that a settlement relied on can never
///         become invalid later.
///         A content hash can be submitted once per datanet, whatever became of
///         the first submission, so a rejected item cannot be resubmitted under
///         another account.
///         Datanet and contribution ids start at 1; 0 is never issued.
///         The settlement-relevant fields of a contribution (contributor,
///         datanet, status) share one storage slot, so PayableAI validates a
///         contribution with one SLOAD.
///         The registry has no admin: it holds no funds and no protocol
///         parameters.
contract DatanetRegistry is IDatanetRegistry {
    struct Datanet {
        address owner;
        Policy policy;
        uint64 contributionCount;
    }

    struct Contribution {
        ContributionRecord record;
        bytes32 contentHash;
        string metadataURI;
    }

    /// @notice Number of datanets created; also the id of the latest one.
    uint64 public datanetCount;

    /// @notice Number of contributions submitted; also the id of the latest one.
    uint64 public contributionCount;

    mapping(uint256 datanetId => Datanet) private _datanets;
    mapping(uint256 datanetId => string) private _datanetMetadataURI;
    mapping(uint256 datanetId => mapping(address account => bool)) private _curators;
    mapping(uint256 datanetId => mapping(bytes32 contentHash => uint256 contributionId)) private _byContentHash;
    mapping(uint256 contributionId => Contribution) private _contributions;

    /// @notice Emitted when a datanet is created.
    /// @param datanetId   New datanet id.
    /// @param owner       Creator and owner of the datanet.
    /// @param policy      Contribution policy (0 open, 1 curated).
    /// @param metadataURI Off-chain description of the datanet.
    event DatanetCreated(uint256 indexed datanetId, address indexed owner, Policy policy, string metadataURI);

    /// @notice Emitted when the datanet owner adds a curator.
    /// @param datanetId Datanet id.
    /// @param curator   Account that may now accept and reject contributions.
    event CuratorAdded(uint256 indexed datanetId, address indexed curator);

    /// @notice Emitted when the datanet owner removes a curator.
    /// @param datanetId Datanet id.
    /// @param curator   Account that may no longer accept or reject contributions.
    event CuratorRemoved(uint256 indexed datanetId, address indexed curator);

    /// @notice Emitted when a contribution is submitted. In an open datanet the
    ///         status is already Accepted and no ContributionAccepted follows.
    /// @param contributionId New contribution id.
    /// @param datanetId      Datanet the contribution belongs to.
    /// @param contributor    Submitter and owner of the contribution.
    /// @param contentHash    Hash of the contributed content.
    /// @param metadataURI    Off-chain description of the contribution.
    /// @param status         Initial status: Accepted (open) or Pending (curated).
    event ContributionSubmitted(
        uint256 indexed contributionId,
        uint256 indexed datanetId,
        address indexed contributor,
        bytes32 contentHash,
        string metadataURI,
        ContributionStatus status
    );

    /// @notice Emitted when a pending contribution is accepted.
    /// @param contributionId Contribution id.
    /// @param datanetId      Datanet of the contribution.
    /// @param curator        Owner or curator who accepted it.
    event ContributionAccepted(uint256 indexed contributionId, uint256 indexed datanetId, address indexed curator);

    /// @notice Emitted when a pending contribution is rejected.
    /// @param contributionId Contribution id.
    /// @param datanetId      Datanet of the contribution.
    /// @param curator        Owner or curator who rejected it.
    event ContributionRejected(uint256 indexed contributionId, uint256 indexed datanetId, address indexed curator);

    /// @notice The policy value is not 0 (open) or 1 (curated).
    /// @param policy The value given.
    error InvalidPolicy(uint8 policy);

    /// @notice No datanet has this id.
    /// @param datanetId The id given.
    error UnknownDatanet(uint256 datanetId);

    /// @notice No contribution has this id.
    /// @param contributionId The id given.
    error UnknownContribution(uint256 contributionId);

    /// @notice The caller is not the owner of the datanet.
    /// @param datanetId Datanet id.
    /// @param caller    The caller.
    error NotDatanetOwner(uint256 datanetId, address caller);

    /// @notice The caller is neither the owner nor a curator of the datanet.
    /// @param datanetId Datanet id.
    /// @param caller    The caller.
    error NotCuratorOrOwner(uint256 datanetId, address caller);

    /// @notice The curator address is the zero address.
    error ZeroCurator();

    /// @notice The account is already a curator of the datanet.
    /// @param datanetId Datanet id.
    /// @param curator   The account.
    error AlreadyCurator(uint256 datanetId, address curator);

    /// @notice The account is not a curator of the datanet.
    /// @param datanetId Datanet id.
    /// @param curator   The account.
    error NotCurator(uint256 datanetId, address curator);

    /// @notice The content hash is zero.
    error ZeroContentHash();

    /// @notice The content hash was already submitted to this datanet.
    /// @param datanetId              Datanet id.
    /// @param contentHash            The content hash.
    /// @param existingContributionId Contribution that holds it.
    error DuplicateContent(uint256 datanetId, bytes32 contentHash, uint256 existingContributionId);

    /// @notice The contribution is not Pending, so it cannot be accepted or rejected.
    /// @param contributionId Contribution id.
    /// @param status         Its current status.
    error ContributionNotPending(uint256 contributionId, ContributionStatus status);

    /// @notice Creates a datanet owned by the caller.
    /// @param metadataURI Off-chain description (name, schema, licence).
    /// @param policy      0 (open: contributions auto-accepted) or 1 (curated:
    ///                    contributions need acceptance by the owner or a curator).
    /// @return datanetId  The new datanet id.
    function createDatanet(string calldata metadataURI, uint8 policy) external returns (uint256 datanetId) {
        if (policy > uint8(type(Policy).max)) revert InvalidPolicy(policy);
        uint64 id = ++datanetCount;
        _datanets[id] = Datanet({owner: msg.sender, policy: Policy(policy), contributionCount: 0});
        _datanetMetadataURI[id] = metadataURI;
        emit DatanetCreated(id, msg.sender, Policy(policy), metadataURI);
        return id;
    }

    /// @notice Adds `curator` to the curators of `datanetId`. Datanet owner only.
    /// @param datanetId Datanet id.
    /// @param curator   Account to add.
    function addCurator(uint256 datanetId, address curator) external {
        _requireOwner(datanetId);
        if (curator == address(0)) revert ZeroCurator();
        if (_curators[datanetId][curator]) revert AlreadyCurator(datanetId, curator);
        _curators[datanetId][curator] = true;
        emit CuratorAdded(datanetId, curator);
    }

    /// @notice Removes `curator` from the curators of `datanetId`. Datanet owner only.
    /// @param datanetId Datanet id.
    /// @param curator   Account to remove.
    function removeCurator(uint256 datanetId, address curator) external {
        _requireOwner(datanetId);
        if (!_curators[datanetId][curator]) revert NotCurator(datanetId, curator);
        _curators[datanetId][curator] = false;
        emit CuratorRemoved(datanetId, curator);
    }

    /// @notice Submits a contribution to `datanetId`, owned by the caller.
    /// @param datanetId   Datanet id.
    /// @param contentHash Hash of the contributed content (nonzero, unique in the datanet).
    /// @param metadataURI Off-chain location and description of the content.
    /// @return contributionId The new contribution id.
    function contribute(uint256 datanetId, bytes32 contentHash, string calldata metadataURI)
        external
        returns (uint256 contributionId)
    {
        Datanet storage d = _datanets[datanetId];
        if (d.owner == address(0)) revert UnknownDatanet(datanetId);
        if (contentHash == bytes32(0)) revert ZeroContentHash();
        uint256 existing = _byContentHash[datanetId][contentHash];
        if (existing != 0) revert DuplicateContent(datanetId, contentHash, existing);

        ContributionStatus status =
            d.policy == Policy.Open ? ContributionStatus.Accepted : ContributionStatus.Pending;
        uint64 id = ++contributionCount;
        d.contributionCount += 1;
        _byContentHash[datanetId][contentHash] = id;
        Contribution storage c = _contributions[id];
        // datanetId fits in 64 bits: it was issued by the uint64 datanetCount.
        c.record = ContributionRecord({contributor: msg.sender, datanetId: uint64(datanetId), status: status});
        c.contentHash = contentHash;
        c.metadataURI = metadataURI;

        emit ContributionSubmitted(id, datanetId, msg.sender, contentHash, metadataURI, status);
        return id;
    }

    /// @notice Accepts a pending contribution. Datanet owner or curator only.
    /// @param contributionId Contribution id.
    function acceptContribution(uint256 contributionId) external {
        uint256 datanetId = _decide(contributionId, ContributionStatus.Accepted);
        emit ContributionAccepted(contributionId, datanetId, msg.sender);
    }

    /// @notice Rejects a pending contribution. Datanet owner or curator only.
    /// @param contributionId Contribution id.
    function rejectContribution(uint256 contributionId) external {
        uint256 datanetId = _decide(contributionId, ContributionStatus.Rejected);
        emit ContributionRejected(contributionId, datanetId, msg.sender);
    }

    /// @notice A datanet.
    /// @param datanetId Datanet id.
    /// @return owner             Owner of the datanet.
    /// @return policy            Contribution policy.
    /// @return metadataURI       Off-chain description.
    /// @return contributions     Number of contributions submitted to it.
    function datanet(uint256 datanetId)
        external
        view
        returns (address owner, Policy policy, string memory metadataURI, uint256 contributions)
    {
        Datanet storage d = _datanets[datanetId];
        if (d.owner == address(0)) revert UnknownDatanet(datanetId);
        return (d.owner, d.policy, _datanetMetadataURI[datanetId], d.contributionCount);
    }

    /// @inheritdoc IDatanetRegistry
    function datanetExists(uint256 datanetId) external view returns (bool) {
        return _datanets[datanetId].owner != address(0);
    }

    /// @notice Whether `account` is a curator of `datanetId` (the owner is not
    ///         listed as a curator but has the same rights).
    /// @param datanetId Datanet id.
    /// @param account   Account.
    /// @return True when the account is a curator.
    function isCurator(uint256 datanetId, address account) external view returns (bool) {
        return _curators[datanetId][account];
    }

    /// @notice A contribution.
    /// @param contributionId Contribution id.
    /// @return datanetId   Datanet of the contribution.
    /// @return contributor Owner of the contribution.
    /// @return contentHash Hash of the content.
    /// @return metadataURI Off-chain description.
    /// @return status      Current status.
    function contribution(uint256 contributionId)
        external
        view
        returns (
            uint256 datanetId,
            address contributor,
            bytes32 contentHash,
            string memory metadataURI,
            ContributionStatus status
        )
    {
        Contribution storage c = _contributions[contributionId];
        if (c.record.status == ContributionStatus.None) revert UnknownContribution(contributionId);
        return (c.record.datanetId, c.record.contributor, c.contentHash, c.metadataURI, c.record.status);
    }

    /// @notice Whether the contribution is Accepted (false for unknown ids).
    /// @param contributionId Contribution id.
    /// @return True when accepted.
    function isAccepted(uint256 contributionId) external view returns (bool) {
        return _contributions[contributionId].record.status == ContributionStatus.Accepted;
    }

    /// @notice Owner of a contribution.
    /// @param contributionId Contribution id.
    /// @return The contributor.
    function contributorOf(uint256 contributionId) external view returns (address) {
        return _record(contributionId).contributor;
    }

    /// @notice Datanet of a contribution.
    /// @param contributionId Contribution id.
    /// @return The datanet id.
    function datanetOf(uint256 contributionId) external view returns (uint256) {
        return _record(contributionId).datanetId;
    }

    /// @notice The contribution holding `contentHash` in `datanetId`, or 0.
    /// @param datanetId   Datanet id.
    /// @param contentHash Content hash.
    /// @return The contribution id, 0 when the hash was never submitted there.
    function contributionByContentHash(uint256 datanetId, bytes32 contentHash) external view returns (uint256) {
        return _byContentHash[datanetId][contentHash];
    }

    /// @inheritdoc IDatanetRegistry
    function contributionRecords(uint256[] calldata contributionIds)
        external
        view
        returns (ContributionRecord[] memory records)
    {
        uint256 n = contributionIds.length;
        records = new ContributionRecord[](n);
        for (uint256 i = 0; i < n; ++i) {
            records[i] = _contributions[contributionIds[i]].record;
        }
    }

    function _requireOwner(uint256 datanetId) private view {
        address owner = _datanets[datanetId].owner;
        if (owner == address(0)) revert UnknownDatanet(datanetId);
        if (owner != msg.sender) revert NotDatanetOwner(datanetId, msg.sender);
    }

    function _record(uint256 contributionId) private view returns (ContributionRecord storage record) {
        record = _contributions[contributionId].record;
        if (record.status == ContributionStatus.None) revert UnknownContribution(contributionId);
    }

    /// @dev Moves a pending contribution to `status` after the access check;
    ///      returns its datanet id for the event.
    function _decide(uint256 contributionId, ContributionStatus status) private returns (uint256 datanetId) {
        ContributionRecord storage record = _record(contributionId);
        datanetId = record.datanetId;
        if (msg.sender != _datanets[datanetId].owner && !_curators[datanetId][msg.sender]) {
            revert NotCuratorOrOwner(datanetId, msg.sender);
        }
        if (record.status != ContributionStatus.Pending) revert ContributionNotPending(contributionId, record.status);
        record.status = status;
    }
}
