// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAttributionStaking} from "src/L2/interfaces/IAttributionStaking.sol";
import {IDatanetRegistry} from "src/L2/interfaces/IDatanetRegistry.sol";
import {IModelRegistry} from "src/L2/interfaces/IModelRegistry.sol";
import {IPayableAI} from "src/L2/interfaces/IPayableAI.sol";

/// @title PayableAI
/// @notice Inference settlement: a user pays a model's fee in native OPEN, a
///         staked attribution provider attributes the inference to the
///         training contributions that influenced it, and the fee is split
///         among the protocol treasury, the model owner and those contributors.
///
/// @dev    Life cycle of an inference (Status):
///
///         requestInference --> Requested --settle--> Settled --finalize--> Finalized
///                                  |                   |  ^
///                                  |        openDispute|  |resolveDispute (AttributionStaking)
///                                  |                   v  |
///                                  |              (disputed: finalize blocked)
///                                  +--refund (requester, after the deadline)--> Refunded
///
///         Pending model. settle validates the split and stores only its
///         commitment, the attribution hash
///           attributionHash = keccak256(abi.encode(uint256 modelId, bytes32 queryHash,
///                                                  uint256[] contributionIds, uint32[] weights))
///         which the contract computes itself, so an attribution hash on chain
///         always matches its split; queryHash (keccak256 of the encoded query
///         record: model, index version, input, output) is stored and emitted so
///         that anyone can fetch the record and recompute. No account is
///         credited yet, and the fee is counted in totalPending. After the dispute window (or at once after an
///         overturn) anyone calls finalize with the committed arrays, which
///         credits every party's claimable balance exactly once (the status
///         moves to Finalized before any credit). An overturn only replaces the
///         commitment, so redoing the split never has to debit anyone, and a
///         balance is never claimable before the split behind it is final.
///         settle's cost per contribution is one cold SLOAD in the
///         DatanetRegistry plus calldata and hashing; finalize adds one
///         claimable update and one event per contribution.
///
///         Split of a fee F with shares snapshotted at request time:
///           protocolAmount    = F * protocolShareBps / 10_000            (floor)
///           ownerAmount       = F * ownerShareBps / 10_000               (floor)
///           pool              = F - protocolAmount - ownerAmount
///           contributor i     = pool * weights[i] / WEIGHT_DENOMINATOR   (floor)
///           ownerAmount      += pool - sum(contributor i)      (the remainder)
///         The shares' rounding leaves its dust in the pool; the remainder of
///         the contributors' floor divisions (less than one wei per
///         contribution) goes to the model owner, so the parts always sum to F
///         exactly. The treasury and the model owner credited are those at
///         finalize time.
///
///         Funds: address(this).balance == totalEscrowed + totalPending +
///         totalClaimable at all times (OPEN forced in by selfdestruct aside).
///         Payouts are pull payments (claim) or go to the caller itself
///         (refund); both follow checks-effects-interactions and are nonReentrant.
///
///         Roles: DEFAULT_ADMIN_ROLE (the governance timelock) sets the protocol
///         parameters within fixed bounds. Settlement needs an active provider
///         of STAKING; dispute hooks accept calls from STAKING only.
contract PayableAI is IPayableAI, AccessControl, ReentrancyGuard {
    /// @notice Life cycle of an inference request.
    enum Status {
        None,
        Requested,
        Settled,
        Finalized,
        Refunded
    }

    /// @notice Dispute state of a settlement; at most one dispute per settlement.
    enum DisputeState {
        None,
        Open,
        Upheld,
        Overturned
    }

    /// @notice An inference request and its settlement.
    /// @param requester        Account that paid the fee.
    /// @param deadline         Last timestamp at which settle is accepted.
    /// @param status           Life-cycle status.
    /// @param disputeState     Dispute state of the settlement.
    /// @param modelId          Model that served the inference.
    /// @param fee              Fee paid (wei).
    /// @param protocolShareBps Protocol share at request time (basis points).
    /// @param ownerShareBps    Model owner share at request time (basis points).
    /// @param disputeDeadline  Last timestamp at which the settlement can be disputed.
    /// @param provider         Provider that posted the settlement.
    /// @param queryHash        keccak256 of the query record the split in force was computed from.
    /// @param attributionHash  keccak256(abi.encode(modelId, queryHash, contributionIds, weights))
    ///                         of the split in force (the provider's, or the corrected one after an overturn).
    struct Inference {
        address requester;
        uint64 deadline;
        Status status;
        DisputeState disputeState;
        uint64 modelId;
        uint96 fee;
        uint16 protocolShareBps;
        uint16 ownerShareBps;
        uint64 disputeDeadline;
        address provider;
        bytes32 queryHash;
        bytes32 attributionHash;
    }

    /// @notice Contribution weights of a settlement sum to exactly this.
    uint32 public constant WEIGHT_DENOMINATOR = 1_000_000;

    /// @notice Basis-point denominator.
    uint16 public constant BPS_DENOMINATOR = 10_000;

    /// @notice Highest protocol share (20 %); with ModelRegistry's 80 % cap on
    ///         the owner share the contributors' pool is never negative.
    uint16 public constant MAX_PROTOCOL_SHARE_BPS = 2_000;

    /// @notice Most contributions one settlement can pay (bounds finalize's gas).
    uint256 public constant MAX_CONTRIBUTIONS_PER_SETTLEMENT = 256;

    /// @notice Bounds of settlementPeriod (seconds).
    uint32 public constant MIN_SETTLEMENT_PERIOD = 1 minutes;
    /// @notice Bounds of settlementPeriod (seconds).
    uint32 public constant MAX_SETTLEMENT_PERIOD = 30 days;

    /// @notice Bounds of disputeWindow (seconds). AttributionStaking's minimum
    ///         unbonding delay is longer than MAX_DISPUTE_WINDOW.
    uint32 public constant MIN_DISPUTE_WINDOW = 1 minutes;
    /// @notice Bounds of disputeWindow (seconds).
    uint32 public constant MAX_DISPUTE_WINDOW = 7 days;

    /// @notice Registry of datanets and contributions.
    IDatanetRegistry public immutable DATANETS;

    /// @notice Registry of models.
    IModelRegistry public immutable MODELS;

    /// @notice Provider staking and disputes.
    IAttributionStaking public immutable STAKING;

    // One slot: read together by requestInference and settle.
    /// @inheritdoc IPayableAI
    address public treasury;
    /// @notice Protocol treasury's share of each fee (basis points), snapshotted per request.
    uint16 public protocolShareBps;
    /// @notice Seconds after a request during which it can be settled.
    uint32 public settlementPeriod;
    /// @notice Seconds after a settlement during which it can be disputed.
    uint32 public disputeWindow;

    /// @notice Number of requests made; also the id of the latest one.
    uint64 public inferenceCount;

    /// @notice Fees of Requested inferences (wei).
    uint256 public totalEscrowed;

    /// @notice Fees of Settled, not yet finalized inferences (wei).
    uint256 public totalPending;

    /// @notice Sum of all claimable balances (wei).
    uint256 public totalClaimable;

    /// @notice OPEN (wei) each account can withdraw with claim().
    mapping(address account => uint256) public claimable;

    mapping(uint256 inferenceId => Inference) private _inferences;

    /// @notice Emitted when an inference is paid for.
    /// @param inferenceId New inference id.
    /// @param modelId     Model requested.
    /// @param requester   Payer.
    /// @param inputHash   Hash of the inference input.
    /// @param fee         Fee escrowed (wei).
    /// @param deadline    Last timestamp at which it can be settled.
    event InferenceRequested(
        uint256 indexed inferenceId,
        uint256 indexed modelId,
        address indexed requester,
        bytes32 inputHash,
        uint256 fee,
        uint64 deadline
    );

    /// @notice Emitted when a provider settles an inference.
    /// @param inferenceId     Inference id.
    /// @param modelId         Model that served it.
    /// @param provider        Provider.
    /// @param queryHash       keccak256 of the query record (fetch the record by this hash).
    /// @param attributionHash keccak256(abi.encode(modelId, queryHash, contributionIds, weights)).
    /// @param disputeDeadline Last timestamp at which it can be disputed.
    /// @param contributionIds Contributions paid, strictly ascending.
    /// @param weights         Their weights, summing to WEIGHT_DENOMINATOR.
    event InferenceSettled(
        uint256 indexed inferenceId,
        uint256 indexed modelId,
        address indexed provider,
        bytes32 queryHash,
        bytes32 attributionHash,
        uint64 disputeDeadline,
        uint256[] contributionIds,
        uint32[] weights
    );

    /// @notice Emitted when AttributionStaking opens a dispute on a settlement.
    /// @param inferenceId Inference id.
    /// @param provider    Provider of the disputed settlement.
    event SettlementDisputed(uint256 indexed inferenceId, address indexed provider);

    /// @notice Emitted when a dispute is resolved in favour of the settlement.
    /// @param inferenceId Inference id.
    event SettlementUpheld(uint256 indexed inferenceId);

    /// @notice Emitted when a dispute overturns a settlement; the split below replaces it.
    /// @param inferenceId     Inference id.
    /// @param queryHash       Query record hash of the corrected attribution.
    /// @param attributionHash Corrected attribution hash.
    /// @param contributionIds Corrected contributions.
    /// @param weights         Corrected weights.
    event SettlementOverturned(
        uint256 indexed inferenceId,
        bytes32 queryHash,
        bytes32 attributionHash,
        uint256[] contributionIds,
        uint32[] weights
    );

    /// @notice Emitted when a settlement is finalized and its split credited.
    /// @param inferenceId        Inference id.
    /// @param treasury           Treasury credited.
    /// @param protocolAmount     Treasury's part (wei).
    /// @param modelOwner         Model owner credited.
    /// @param ownerAmount        Model owner's part, remainder included (wei).
    /// @param contributorsAmount Sum of the contributors' parts (wei).
    event InferenceFinalized(
        uint256 indexed inferenceId,
        address treasury,
        uint256 protocolAmount,
        address modelOwner,
        uint256 ownerAmount,
        uint256 contributorsAmount
    );

    /// @notice Emitted by finalize for every contribution in the split.
    /// @param inferenceId    Inference id.
    /// @param contributionId Contribution.
    /// @param contributor    Contributor credited.
    /// @param amount         Amount credited (wei).
    event ContributionRewarded(
        uint256 indexed inferenceId, uint256 indexed contributionId, address indexed contributor, uint256 amount
    );

    /// @notice Emitted when an unsettled request is refunded after its deadline.
    /// @param inferenceId Inference id.
    /// @param requester   Requester refunded.
    /// @param fee         Amount refunded (wei).
    event InferenceRefunded(uint256 indexed inferenceId, address indexed requester, uint256 fee);

    /// @notice Emitted when an account withdraws its claimable balance.
    /// @param account Account.
    /// @param amount  Amount sent (wei).
    event Claimed(address indexed account, uint256 amount);

    /// @notice Emitted when the admin changes the treasury.
    /// @param oldTreasury Previous treasury.
    /// @param newTreasury New treasury.
    event TreasuryUpdated(address oldTreasury, address newTreasury);

    /// @notice Emitted when the admin changes the protocol share.
    /// @param oldShareBps Previous share (basis points).
    /// @param newShareBps New share (basis points).
    event ProtocolShareUpdated(uint16 oldShareBps, uint16 newShareBps);

    /// @notice Emitted when the admin changes the settlement period.
    /// @param oldPeriod Previous period (seconds).
    /// @param newPeriod New period (seconds).
    event SettlementPeriodUpdated(uint32 oldPeriod, uint32 newPeriod);

    /// @notice Emitted when the admin changes the dispute window.
    /// @param oldWindow Previous window (seconds).
    /// @param newWindow New window (seconds).
    event DisputeWindowUpdated(uint32 oldWindow, uint32 newWindow);

    /// @notice A constructor or setter address is the zero address.
    error ZeroAddress();

    /// @notice No model has this id.
    /// @param modelId The id given.
    error UnknownModel(uint256 modelId);

    /// @notice msg.value is not the model's fee.
    /// @param sent     msg.value.
    /// @param required The model's fee per inference.
    error IncorrectFee(uint256 sent, uint256 required);

    /// @notice The inference is not in the status this call needs.
    /// @param inferenceId Inference id.
    /// @param status      Its current status (None for an unknown id).
    error InvalidInferenceStatus(uint256 inferenceId, Status status);

    /// @notice The caller is not an active provider of AttributionStaking.
    /// @param caller The caller.
    error NotActiveProvider(address caller);

    /// @notice The settlement deadline has passed.
    /// @param inferenceId Inference id.
    /// @param deadline    The deadline.
    error SettlementDeadlinePassed(uint256 inferenceId, uint64 deadline);

    /// @notice The settlement deadline has not passed yet, so no refund.
    /// @param inferenceId Inference id.
    /// @param deadline    The deadline.
    error SettlementDeadlineNotPassed(uint256 inferenceId, uint64 deadline);

    /// @notice Only the requester can have the fee refunded.
    /// @param inferenceId Inference id.
    /// @param caller      The caller.
    error NotRequester(uint256 inferenceId, address caller);

    /// @notice The split has no contributions.
    error EmptySplit();

    /// @notice contributionIds and weights differ in length.
    /// @param contributions Number of contribution ids.
    /// @param weights       Number of weights.
    error LengthMismatch(uint256 contributions, uint256 weights);

    /// @notice The split has more than MAX_CONTRIBUTIONS_PER_SETTLEMENT contributions.
    /// @param count   Number given.
    /// @param maximum MAX_CONTRIBUTIONS_PER_SETTLEMENT.
    error TooManyContributions(uint256 count, uint256 maximum);

    /// @notice Contribution ids are not strictly ascending (so duplicates are impossible).
    /// @param index Position of the first id not above its predecessor.
    error ContributionIdsNotAscending(uint256 index);

    /// @notice A weight is zero.
    /// @param index Its position.
    error ZeroWeight(uint256 index);

    /// @notice The weights do not sum to WEIGHT_DENOMINATOR.
    /// @param sum      Their sum.
    /// @param required WEIGHT_DENOMINATOR.
    error WeightSumMismatch(uint256 sum, uint256 required);

    /// @notice A contribution is not Accepted (unknown, pending or rejected).
    /// @param contributionId Contribution id.
    /// @param status         Its status in the DatanetRegistry.
    error ContributionNotAccepted(uint256 contributionId, IDatanetRegistry.ContributionStatus status);

    /// @notice A contribution belongs to a datanet the model was not trained on.
    /// @param contributionId Contribution id.
    /// @param datanetId      Its datanet.
    error ForeignContribution(uint256 contributionId, uint256 datanetId);

    /// @notice The arrays given to finalize are not the committed split.
    /// @param inferenceId Inference id.
    /// @param expected    Committed attribution hash.
    /// @param actual      Attribution hash of the arrays given (with the stored model and query hash).
    error SplitMismatch(uint256 inferenceId, bytes32 expected, bytes32 actual);

    /// @notice The settlement's dispute window has closed.
    /// @param inferenceId     Inference id.
    /// @param disputeDeadline End of the window.
    error DisputeWindowClosed(uint256 inferenceId, uint64 disputeDeadline);

    /// @notice The settlement's dispute window is still open, so it cannot be finalized.
    /// @param inferenceId     Inference id.
    /// @param disputeDeadline End of the window.
    error DisputeWindowOpen(uint256 inferenceId, uint64 disputeDeadline);

    /// @notice The settlement was already disputed once.
    /// @param inferenceId Inference id.
    error AlreadyDisputed(uint256 inferenceId);

    /// @notice The settlement is under dispute, so it cannot be finalized.
    /// @param inferenceId Inference id.
    error DisputePending(uint256 inferenceId);

    /// @notice The settlement has no open dispute to resolve.
    /// @param inferenceId Inference id.
    error NoOpenDispute(uint256 inferenceId);

    /// @notice The protocol and owner shares together exceed 100 %.
    /// @param protocolShareBps Protocol share given.
    /// @param ownerShareBps    Owner share given.
    error SharesOutOfRange(uint16 protocolShareBps, uint16 ownerShareBps);

    /// @notice The caller is not AttributionStaking.
    /// @param caller The caller.
    error NotStaking(address caller);

    /// @notice The caller has nothing to claim.
    /// @param account The caller.
    error NothingToClaim(address account);

    /// @notice The protocol share is above MAX_PROTOCOL_SHARE_BPS.
    /// @param shareBps The share given.
    /// @param maximum  MAX_PROTOCOL_SHARE_BPS.
    error ProtocolShareOutOfRange(uint16 shareBps, uint16 maximum);

    /// @notice The settlement period is outside its bounds.
    /// @param period  The period given.
    /// @param minimum MIN_SETTLEMENT_PERIOD.
    /// @param maximum MAX_SETTLEMENT_PERIOD.
    error SettlementPeriodOutOfRange(uint32 period, uint32 minimum, uint32 maximum);

    /// @notice The dispute window is outside its bounds.
    /// @param window  The window given.
    /// @param minimum MIN_DISPUTE_WINDOW.
    /// @param maximum MAX_DISPUTE_WINDOW.
    error DisputeWindowOutOfRange(uint32 window, uint32 minimum, uint32 maximum);

    modifier onlyStaking() {
        if (msg.sender != address(STAKING)) revert NotStaking(msg.sender);
        _;
    }

    /// @param admin             Holder of DEFAULT_ADMIN_ROLE (the governance timelock).
    /// @param datanets          DatanetRegistry predeploy.
    /// @param models            ModelRegistry predeploy.
    /// @param staking           AttributionStaking predeploy.
    /// @param treasury_         Protocol treasury.
    /// @param protocolShareBps_ Protocol share (basis points).
    /// @param settlementPeriod_ Seconds a request can be settled in.
    /// @param disputeWindow_    Seconds a settlement can be disputed in.
    constructor(
        address admin,
        address datanets,
        address models,
        address staking,
        address treasury_,
        uint16 protocolShareBps_,
        uint32 settlementPeriod_,
        uint32 disputeWindow_
    ) {
        if (admin == address(0) || datanets == address(0) || models == address(0) || staking == address(0)) {
            revert ZeroAddress();
        }
        DATANETS = IDatanetRegistry(datanets);
        MODELS = IModelRegistry(models);
        STAKING = IAttributionStaking(staking);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTreasury(treasury_);
        _setProtocolShareBps(protocolShareBps_);
        _setSettlementPeriod(settlementPeriod_);
        _setDisputeWindow(disputeWindow_);
    }

    // ---------------------------------------------------------------- requests

    /// @notice Pays for an inference of `modelId`; the fee is escrowed until the
    ///         inference is settled and finalized, or refunded after the deadline.
    /// @param modelId   Model id.
    /// @param inputHash Hash of the inference input (for the attribution provider).
    /// @return inferenceId The new inference id.
    function requestInference(uint256 modelId, bytes32 inputHash) external payable returns (uint256 inferenceId) {
        (address owner, uint256 fee, uint16 ownerShareBps) = MODELS.modelTerms(modelId);
        if (owner == address(0)) revert UnknownModel(modelId);
        if (msg.value != fee) revert IncorrectFee(msg.value, fee);

        uint64 deadline = uint64(block.timestamp) + settlementPeriod;
        uint64 id = ++inferenceCount;
        Inference storage inf = _inferences[id];
        inf.requester = msg.sender;
        inf.deadline = deadline;
        inf.status = Status.Requested;
        // Model ids come from ModelRegistry's uint64 counter; fees are capped at uint80.
        inf.modelId = uint64(modelId);
        inf.fee = uint96(fee);
        inf.protocolShareBps = protocolShareBps;
        inf.ownerShareBps = ownerShareBps;
        totalEscrowed += fee;

        emit InferenceRequested(id, modelId, msg.sender, inputHash, fee, deadline);
        return id;
    }

    /// @notice Returns the fee of a Requested inference to its requester once
    ///         the settlement deadline has passed. Requester only.
    /// @param inferenceId Inference id.
    function refund(uint256 inferenceId) external nonReentrant {
        Inference storage inf = _inferences[inferenceId];
        if (inf.status != Status.Requested) revert InvalidInferenceStatus(inferenceId, inf.status);
        if (inf.requester != msg.sender) revert NotRequester(inferenceId, msg.sender);
        if (block.timestamp <= inf.deadline) revert SettlementDeadlineNotPassed(inferenceId, inf.deadline);

        uint256 fee = inf.fee;
        inf.status = Status.Refunded;
        totalEscrowed -= fee;
        emit InferenceRefunded(inferenceId, msg.sender, fee);

        Address.sendValue(payable(msg.sender), fee);
    }

    // -------------------------------------------------------------- settlement

    /// @notice Posts the attribution of a Requested inference, at the latest at
    ///         its deadline. Active providers only. The split is validated and
    ///         committed through its attribution hash, which the contract
    ///         computes; it is credited by finalize after the dispute window.
    /// @param inferenceId     Inference id.
    /// @param queryHash       keccak256 of the query record (model id, index version,
    ///                        input, output) the split was computed from.
    /// @param contributionIds Contributions to pay: 1 to MAX_CONTRIBUTIONS_PER_SETTLEMENT
    ///                        ids, strictly ascending, each Accepted and in a datanet
    ///                        the model was trained on.
    /// @param weights         Positive weights, one per contribution, summing to WEIGHT_DENOMINATOR.
    /// @return attributionHash keccak256(abi.encode(modelId, queryHash, contributionIds, weights)).
    function settle(
        uint256 inferenceId,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) external returns (bytes32 attributionHash) {
        if (!STAKING.isActiveProvider(msg.sender)) revert NotActiveProvider(msg.sender);
        Inference storage inf = _inferences[inferenceId];
        if (inf.status != Status.Requested) revert InvalidInferenceStatus(inferenceId, inf.status);
        if (block.timestamp > inf.deadline) revert SettlementDeadlinePassed(inferenceId, inf.deadline);
        uint256 modelId = inf.modelId;
        _validateSplit(modelId, contributionIds, weights);

        attributionHash = _attributionHash(modelId, queryHash, contributionIds, weights);
        uint64 disputeDeadline = uint64(block.timestamp) + disputeWindow;
        uint256 fee = inf.fee;
        inf.status = Status.Settled;
        inf.disputeDeadline = disputeDeadline;
        inf.provider = msg.sender;
        inf.queryHash = queryHash;
        inf.attributionHash = attributionHash;
        totalEscrowed -= fee;
        totalPending += fee;

        emit InferenceSettled(
            inferenceId, modelId, msg.sender, queryHash, attributionHash, disputeDeadline, contributionIds, weights
        );
    }

    /// @notice Credits the split of a Settled inference to the claimable
    ///         balances of the treasury, the model owner and the contributors.
    ///         Callable by anyone once the dispute window has passed without an
    ///         open dispute, or at once after an overturn.
    /// @param inferenceId     Inference id.
    /// @param contributionIds The committed contribution ids (from InferenceSettled
    ///                        or SettlementOverturned).
    /// @param weights         The committed weights.
    function finalize(uint256 inferenceId, uint256[] calldata contributionIds, uint32[] calldata weights) external {
        Inference storage inf = _inferences[inferenceId];
        if (inf.status != Status.Settled) revert InvalidInferenceStatus(inferenceId, inf.status);
        DisputeState disputeState = inf.disputeState;
        if (disputeState == DisputeState.Open) revert DisputePending(inferenceId);
        if (disputeState != DisputeState.Overturned && block.timestamp <= inf.disputeDeadline) {
            revert DisputeWindowOpen(inferenceId, inf.disputeDeadline);
        }
        bytes32 actual = _attributionHash(inf.modelId, inf.queryHash, contributionIds, weights);
        if (actual != inf.attributionHash) revert SplitMismatch(inferenceId, inf.attributionHash, actual);

        inf.status = Status.Finalized;
        uint256 fee = inf.fee;
        totalPending -= fee;
        totalClaimable += fee;

        (uint256 protocolAmount, uint256 ownerAmount, uint256[] memory amounts) =
            _computeSplit(fee, inf.protocolShareBps, inf.ownerShareBps, weights);
        uint256 contributorsAmount = _creditContributors(inferenceId, contributionIds, amounts);
        (address modelOwner,,) = MODELS.modelTerms(inf.modelId);
        address treasury_ = treasury;
        claimable[treasury_] += protocolAmount;
        claimable[modelOwner] += ownerAmount;

        emit InferenceFinalized(inferenceId, treasury_, protocolAmount, modelOwner, ownerAmount, contributorsAmount);
    }

    /// @notice Withdraws the caller's whole claimable balance.
    function claim() external nonReentrant {
        uint256 amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        emit Claimed(msg.sender, amount);

        Address.sendValue(payable(msg.sender), amount);
    }

    // ---------------------------------------------------------------- disputes

    /// @inheritdoc IPayableAI
    function openDispute(uint256 inferenceId)
        external
        onlyStaking
        returns (address provider, uint256 modelId, bytes32 attributionHash)
    {
        Inference storage inf = _inferences[inferenceId];
        if (inf.status != Status.Settled) revert InvalidInferenceStatus(inferenceId, inf.status);
        if (inf.disputeState != DisputeState.None) revert AlreadyDisputed(inferenceId);
        if (block.timestamp > inf.disputeDeadline) revert DisputeWindowClosed(inferenceId, inf.disputeDeadline);
        inf.disputeState = DisputeState.Open;
        provider = inf.provider;
        modelId = inf.modelId;
        attributionHash = inf.attributionHash;
        emit SettlementDisputed(inferenceId, provider);
    }

    /// @inheritdoc IPayableAI
    function resolveDispute(
        uint256 inferenceId,
        bool overturn,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) external onlyStaking returns (bytes32 attributionHash) {
        Inference storage inf = _inferences[inferenceId];
        if (inf.disputeState != DisputeState.Open) revert NoOpenDispute(inferenceId);
        if (!overturn) {
            inf.disputeState = DisputeState.Upheld;
            emit SettlementUpheld(inferenceId);
            return inf.attributionHash;
        }
        uint256 modelId = inf.modelId;
        _validateSplit(modelId, contributionIds, weights);
        attributionHash = _attributionHash(modelId, queryHash, contributionIds, weights);
        inf.disputeState = DisputeState.Overturned;
        inf.queryHash = queryHash;
        inf.attributionHash = attributionHash;
        emit SettlementOverturned(inferenceId, queryHash, attributionHash, contributionIds, weights);
    }

    // ------------------------------------------------------------------- views

    /// @notice An inference request and its settlement.
    /// @param inferenceId Inference id.
    /// @return The stored record (all zero for an unknown id).
    function inference(uint256 inferenceId) external view returns (Inference memory) {
        return _inferences[inferenceId];
    }

    /// @notice The split of `fee` that finalize credits, for given shares and weights.
    /// @dev    Pure helper for providers and tests; finalize uses the same code.
    /// @param fee                Fee (wei).
    /// @param protocolShareBps_  Protocol share (basis points, at most 10,000 with ownerShareBps).
    /// @param ownerShareBps      Model owner share (basis points).
    /// @param weights            Contribution weights, summing to WEIGHT_DENOMINATOR.
    /// @return protocolAmount    Treasury's part.
    /// @return ownerAmount       Model owner's part, remainder included.
    /// @return amounts           Each contribution's part.
    function computeSplit(uint256 fee, uint16 protocolShareBps_, uint16 ownerShareBps, uint32[] calldata weights)
        external
        pure
        returns (uint256 protocolAmount, uint256 ownerAmount, uint256[] memory amounts)
    {
        if (uint256(protocolShareBps_) + ownerShareBps > BPS_DENOMINATOR) {
            revert SharesOutOfRange(protocolShareBps_, ownerShareBps);
        }
        uint256 sum = 0;
        for (uint256 i = 0; i < weights.length; ++i) {
            sum += weights[i];
        }
        if (sum != WEIGHT_DENOMINATOR) revert WeightSumMismatch(sum, WEIGHT_DENOMINATOR);
        return _computeSplit(fee, protocolShareBps_, ownerShareBps, weights);
    }

    // ------------------------------------------------------------- parameters

    /// @notice Sets the protocol treasury. Admin only.
    /// @param newTreasury New treasury (nonzero).
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(newTreasury);
    }

    /// @notice Sets the protocol share for later requests. Admin only.
    /// @param newShareBps New share in basis points (at most MAX_PROTOCOL_SHARE_BPS).
    function setProtocolShareBps(uint16 newShareBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setProtocolShareBps(newShareBps);
    }

    /// @notice Sets the settlement period for later requests. Admin only.
    /// @param newPeriod New period in seconds (MIN_SETTLEMENT_PERIOD..MAX_SETTLEMENT_PERIOD).
    function setSettlementPeriod(uint32 newPeriod) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSettlementPeriod(newPeriod);
    }

    /// @notice Sets the dispute window for later settlements. Admin only.
    /// @param newWindow New window in seconds (MIN_DISPUTE_WINDOW..MAX_DISPUTE_WINDOW).
    function setDisputeWindow(uint32 newWindow) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDisputeWindow(newWindow);
    }

    // ---------------------------------------------------------------- internal

    /// @dev Reverts unless the split is canonical and pays only accepted
    ///      contributions of the model's training datanets. One registry call
    ///      reads every contribution's packed record (one SLOAD each).
    function _validateSplit(uint256 modelId, uint256[] calldata contributionIds, uint32[] calldata weights)
        private
        view
    {
        uint256 n = contributionIds.length;
        if (n == 0) revert EmptySplit();
        if (n != weights.length) revert LengthMismatch(n, weights.length);
        if (n > MAX_CONTRIBUTIONS_PER_SETTLEMENT) revert TooManyContributions(n, MAX_CONTRIBUTIONS_PER_SETTLEMENT);

        uint256[] memory datanets = MODELS.datanetsOf(modelId);
        IDatanetRegistry.ContributionRecord[] memory records = DATANETS.contributionRecords(contributionIds);
        uint256 previousId = 0;
        uint256 sum = 0;
        uint256 checkedDatanet = 0; // datanet ids start at 1
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = contributionIds[i];
            if (id <= previousId) revert ContributionIdsNotAscending(i);
            previousId = id;
            uint256 weight = weights[i];
            if (weight == 0) revert ZeroWeight(i);
            sum += weight;

            IDatanetRegistry.ContributionRecord memory record = records[i];
            if (record.status != IDatanetRegistry.ContributionStatus.Accepted) {
                revert ContributionNotAccepted(id, record.status);
            }
            uint256 datanetId = record.datanetId;
            // Ascending ids cluster by datanet in practice, so most checks hit this cache.
            if (datanetId != checkedDatanet) {
                if (!_contains(datanets, datanetId)) revert ForeignContribution(id, datanetId);
                checkedDatanet = datanetId;
            }
        }
        if (sum != WEIGHT_DENOMINATOR) revert WeightSumMismatch(sum, WEIGHT_DENOMINATOR);
    }

    /// @dev Credits `amounts[i]` to the contributor of `contributionIds[i]`;
    ///      returns the total. Repeated contributors accumulate in one slot.
    function _creditContributors(uint256 inferenceId, uint256[] calldata contributionIds, uint256[] memory amounts)
        private
        returns (uint256 total)
    {
        IDatanetRegistry.ContributionRecord[] memory records = DATANETS.contributionRecords(contributionIds);
        for (uint256 i = 0; i < amounts.length; ++i) {
            uint256 amount = amounts[i];
            address contributor = records[i].contributor;
            if (amount != 0) claimable[contributor] += amount;
            total += amount;
            emit ContributionRewarded(inferenceId, contributionIds[i], contributor, amount);
        }
    }

    /// @dev keccak256(abi.encode(uint256 modelId, bytes32 queryHash, uint256[] contributionIds,
    ///      uint32[] weights)), as attribution.split.attribution_hash computes it.
    function _attributionHash(
        uint256 modelId,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(modelId, queryHash, contributionIds, weights));
    }

    function _contains(uint256[] memory values, uint256 value) private pure returns (bool) {
        for (uint256 i = 0; i < values.length; ++i) {
            if (values[i] == value) return true;
        }
        return false;
    }

    function _computeSplit(uint256 fee, uint16 protocolBps, uint16 ownerBps, uint32[] calldata weights)
        private
        pure
        returns (uint256 protocolAmount, uint256 ownerAmount, uint256[] memory amounts)
    {
        protocolAmount = fee * protocolBps / BPS_DENOMINATOR;
        ownerAmount = fee * ownerBps / BPS_DENOMINATOR;
        uint256 pool = fee - protocolAmount - ownerAmount;
        uint256 n = weights.length;
        amounts = new uint256[](n);
        uint256 paid = 0;
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = pool * weights[i] / WEIGHT_DENOMINATOR;
            amounts[i] = amount;
            paid += amount;
        }
        // Rounding remainder of the contributors' floor divisions.
        ownerAmount += pool - paid;
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    function _setProtocolShareBps(uint16 newShareBps) private {
        if (newShareBps > MAX_PROTOCOL_SHARE_BPS) revert ProtocolShareOutOfRange(newShareBps, MAX_PROTOCOL_SHARE_BPS);
        emit ProtocolShareUpdated(protocolShareBps, newShareBps);
        protocolShareBps = newShareBps;
    }

    function _setSettlementPeriod(uint32 newPeriod) private {
        if (newPeriod < MIN_SETTLEMENT_PERIOD || newPeriod > MAX_SETTLEMENT_PERIOD) {
            revert SettlementPeriodOutOfRange(newPeriod, MIN_SETTLEMENT_PERIOD, MAX_SETTLEMENT_PERIOD);
        }
        emit SettlementPeriodUpdated(settlementPeriod, newPeriod);
        settlementPeriod = newPeriod;
    }

    function _setDisputeWindow(uint32 newWindow) private {
        if (newWindow < MIN_DISPUTE_WINDOW || newWindow > MAX_DISPUTE_WINDOW) {
            revert DisputeWindowOutOfRange(newWindow, MIN_DISPUTE_WINDOW, MAX_DISPUTE_WINDOW);
        }
        emit DisputeWindowUpdated(disputeWindow, newWindow);
        disputeWindow = newWindow;
    }
}
