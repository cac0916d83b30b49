// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IDatanetRegistry} from "src/L2/interfaces/IDatanetRegistry.sol";
import {IModelRegistry} from "src/L2/interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Registry of AI models: who owns a model, the hash of its weights, the
///         datanets it was trained on, and what an inference costs. PayableAI
///         charges the fee and pays the training data's contributors; a
///         settlement may only pay contributions of the datanets listed here.
/// @dev    The training datanets are fixed at registration (they describe the
///         weights, which are fixed too); a retrained model is a new model. Fee
///         and owner share can be changed by the model owner and apply to
///         requests made afterwards (PayableAI snapshots them per request).
///         The owner, fee and owner share share one storage slot, so a request
///         reads the terms with one SLOAD; this caps the fee at type(uint80).max
///         wei (about 1.2 million OPEN). The owner share is capped at
///         MAX_OWNER_SHARE_BPS so that, with PayableAI's protocol share capped
///         at 20 %, the contributors' share is never negative.
///         Model ids start at 1. The registry has no admin.
contract ModelRegistry is IModelRegistry {
    struct Model {
        address owner;
        uint80 feePerInference;
        uint16 ownerShareBps;
        bytes32 weightsHash;
        uint64[] datanetIds;
        string metadataURI;
    }

    /// @notice Most datanets a model can be registered against.
    uint256 public constant MAX_DATANETS_PER_MODEL = 16;

    /// @notice Highest owner share, in basis points (80 %).
    uint16 public constant MAX_OWNER_SHARE_BPS = 8_000;

    /// @notice Highest fee per inference, in wei.
    uint256 public constant MAX_FEE_PER_INFERENCE = type(uint80).max;

    /// @notice The DatanetRegistry that datanet ids refer to.
    IDatanetRegistry public immutable DATANETS;

    /// @notice Number of models registered; also the id of the latest one.
    uint64 public modelCount;

    mapping(uint256 modelId => Model) private _models;

    /// @notice Emitted when a model is registered.
    /// @param modelId         New model id.
    /// @param owner           Registrant and owner.
    /// @param weightsHash     Hash of the model weights.
    /// @param datanetIds      Datanets the model was trained on.
    /// @param feePerInference Fee per inference (wei).
    /// @param ownerShareBps   Owner's share of each fee (basis points).
    /// @param metadataURI     Off-chain description.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 weightsHash,
        uint256[] datanetIds,
        uint256 feePerInference,
        uint16 ownerShareBps,
        string metadataURI
    );

    /// @notice Emitted when the owner changes the fee.
    /// @param modelId Model id.
    /// @param oldFee  Previous fee (wei).
    /// @param newFee  New fee (wei).
    event ModelFeeUpdated(uint256 indexed modelId, uint256 oldFee, uint256 newFee);

    /// @notice Emitted when the owner changes the owner share.
    /// @param modelId  Model id.
    /// @param oldShare Previous share (basis points).
    /// @param newShare New share (basis points).
    event ModelOwnerShareUpdated(uint256 indexed modelId, uint16 oldShare, uint16 newShare);

    /// @notice Emitted when a model changes hands.
    /// @param modelId  Model id.
    /// @param oldOwner Previous owner.
    /// @param newOwner New owner.
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed oldOwner, address indexed newOwner);

    /// @notice The DatanetRegistry address given to the constructor is zero.
    error ZeroDatanetRegistry();

    /// @notice No model has this id.
    /// @param modelId The id given.
    error UnknownModel(uint256 modelId);

    /// @notice The caller does not own the model.
    /// @param modelId Model id.
    /// @param caller  The caller.
    error NotModelOwner(uint256 modelId, address caller);

    /// @notice The weights hash is zero.
    error ZeroWeightsHash();

    /// @notice The new owner is the zero address.
    error ZeroOwner();

    /// @notice No training datanets were given.
    error NoDatanets();

    /// @notice More than MAX_DATANETS_PER_MODEL datanets were given.
    /// @param count   Number given.
    /// @param maximum MAX_DATANETS_PER_MODEL.
    error TooManyDatanets(uint256 count, uint256 maximum);

    /// @notice The datanet ids are not strictly ascending (which also rules out duplicates).
    /// @param index Position of the first id that is not above its predecessor.
    error DatanetIdsNotAscending(uint256 index);

    /// @notice A datanet id does not exist in the DatanetRegistry.
    /// @param datanetId The id.
    error UnknownDatanet(uint256 datanetId);

    /// @notice The fee is above MAX_FEE_PER_INFERENCE.
    /// @param fee     The fee given.
    /// @param maximum MAX_FEE_PER_INFERENCE.
    error FeeTooHigh(uint256 fee, uint256 maximum);

    /// @notice The owner share is above MAX_OWNER_SHARE_BPS.
    /// @param shareBps The share given.
    /// @param maximum  MAX_OWNER_SHARE_BPS.
    error OwnerShareTooHigh(uint16 shareBps, uint16 maximum);

    /// @param datanets The DatanetRegistry predeploy.
    constructor(address datanets) {
        if (datanets == address(0)) revert ZeroDatanetRegistry();
        DATANETS = IDatanetRegistry(datanets);
    }

    /// @notice Registers a model owned by the caller.
    /// @param weightsHash     Hash of the model weights (nonzero).
    /// @param metadataURI     Off-chain description (architecture, licence, endpoint).
    /// @param datanetIds      Datanets the model was trained on: 1 to
    ///                        MAX_DATANETS_PER_MODEL existing ids, strictly ascending.
    /// @param feePerInference Fee per inference in wei (at most MAX_FEE_PER_INFERENCE; 0 allowed).
    /// @param ownerShareBps   Owner's share of each fee in basis points (at most MAX_OWNER_SHARE_BPS).
    /// @return modelId        The new model id.
    function registerModel(
        bytes32 weightsHash,
        string calldata metadataURI,
        uint256[] calldata datanetIds,
        uint256 feePerInference,
        uint16 ownerShareBps
    ) external returns (uint256 modelId) {
        if (weightsHash == bytes32(0)) revert ZeroWeightsHash();
        _checkFee(feePerInference);
        _checkOwnerShare(ownerShareBps);

        modelId = ++modelCount;
        Model storage m = _models[modelId];
        _storeDatanets(m, datanetIds);
        m.owner = msg.sender;
        m.feePerInference = uint80(feePerInference);
        m.ownerShareBps = ownerShareBps;
        m.weightsHash = weightsHash;
        m.metadataURI = metadataURI;
        _emitRegistered(modelId, m, datanetIds);
    }

    /// @notice Sets the fee per inference of a model; applies to later requests. Model owner only.
    /// @param modelId         Model id.
    /// @param feePerInference New fee in wei (at most MAX_FEE_PER_INFERENCE).
    function setFeePerInference(uint256 modelId, uint256 feePerInference) external {
        Model storage m = _ownedModel(modelId);
        _checkFee(feePerInference);
        uint256 old = m.feePerInference;
        m.feePerInference = uint80(feePerInference);
        emit ModelFeeUpdated(modelId, old, feePerInference);
    }

    /// @notice Sets the owner share of a model; applies to later requests. Model owner only.
    /// @param modelId       Model id.
    /// @param ownerShareBps New share in basis points (at most MAX_OWNER_SHARE_BPS).
    function setOwnerShareBps(uint256 modelId, uint16 ownerShareBps) external {
        Model storage m = _ownedModel(modelId);
        _checkOwnerShare(ownerShareBps);
        uint16 old = m.ownerShareBps;
        m.ownerShareBps = ownerShareBps;
        emit ModelOwnerShareUpdated(modelId, old, ownerShareBps);
    }

    /// @notice Transfers a model, and with it the owner share of future
    ///         finalized settlements, to `newOwner`. Model owner only.
    /// @param modelId  Model id.
    /// @param newOwner New owner (nonzero).
    function transferModelOwnership(uint256 modelId, address newOwner) external {
        Model storage m = _ownedModel(modelId);
        if (newOwner == address(0)) revert ZeroOwner();
        m.owner = newOwner;
        emit ModelOwnershipTransferred(modelId, msg.sender, newOwner);
    }

    /// @notice A model.
    /// @param modelId Model id.
    /// @return owner           Model owner.
    /// @return weightsHash     Hash of the weights.
    /// @return metadataURI     Off-chain description.
    /// @return datanetIds      Training datanets, strictly ascending.
    /// @return feePerInference Fee per inference (wei).
    /// @return ownerShareBps   Owner share (basis points).
    function model(uint256 modelId)
        external
        view
        returns (
            address owner,
            bytes32 weightsHash,
            string memory metadataURI,
            uint256[] memory datanetIds,
            uint256 feePerInference,
            uint16 ownerShareBps
        )
    {
        Model storage m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        return (m.owner, m.weightsHash, m.metadataURI, _datanetsOf(m), m.feePerInference, m.ownerShareBps);
    }

    /// @notice Whether model `modelId` was registered as trained on datanet `datanetId`.
    /// @param modelId   Model id.
    /// @param datanetId Datanet id.
    /// @return True when the datanet is one of the model's training datanets.
    function trainedOn(uint256 modelId, uint256 datanetId) external view returns (bool) {
        Model storage m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        uint64[] storage ids = m.datanetIds;
        for (uint256 i = 0; i < ids.length; ++i) {
            if (ids[i] == datanetId) return true;
        }
        return false;
    }

    /// @inheritdoc IModelRegistry
    function modelTerms(uint256 modelId)
        external
        view
        returns (address owner, uint256 feePerInference, uint16 ownerShareBps)
    {
        Model storage m = _models[modelId];
        return (m.owner, m.feePerInference, m.ownerShareBps);
    }

    /// @inheritdoc IModelRegistry
    function datanetsOf(uint256 modelId) external view returns (uint256[] memory datanetIds) {
        return _datanetsOf(_models[modelId]);
    }

    function _emitRegistered(uint256 modelId, Model storage m, uint256[] calldata datanetIds) private {
        emit ModelRegistered(
            modelId, m.owner, m.weightsHash, datanetIds, m.feePerInference, m.ownerShareBps, m.metadataURI
        );
    }

    /// @dev Checks the training datanets (count, order, existence) and stores them.
    function _storeDatanets(Model storage m, uint256[] calldata datanetIds) private {
        uint256 n = datanetIds.length;
        if (n == 0) revert NoDatanets();
        if (n > MAX_DATANETS_PER_MODEL) revert TooManyDatanets(n, MAX_DATANETS_PER_MODEL);
        uint256 previous = 0;
        for (uint256 i = 0; i < n; ++i) {
            uint256 datanetId = datanetIds[i];
            if (datanetId <= previous) revert DatanetIdsNotAscending(i);
            if (!DATANETS.datanetExists(datanetId)) revert UnknownDatanet(datanetId);
            // Existing datanet ids fit in 64 bits (DatanetRegistry counts them in a uint64).
            m.datanetIds.push(uint64(datanetId));
            previous = datanetId;
        }
    }

    function _datanetsOf(Model storage m) private view returns (uint256[] memory datanetIds) {
        uint64[] storage ids = m.datanetIds;
        uint256 n = ids.length;
        datanetIds = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            datanetIds[i] = ids[i];
        }
    }

    function _ownedModel(uint256 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _checkFee(uint256 fee) private pure {
        if (fee > MAX_FEE_PER_INFERENCE) revert FeeTooHigh(fee, MAX_FEE_PER_INFERENCE);
    }

    function _checkOwnerShare(uint16 shareBps) private pure {
        if (shareBps > MAX_OWNER_SHARE_BPS) revert OwnerShareTooHigh(shareBps, MAX_OWNER_SHARE_BPS);
    }
}
