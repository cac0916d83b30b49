// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAttributionStaking} from "src/L2/interfaces/IAttributionStaking.sol";
import {IPayableAI} from "src/L2/interfaces/IPayableAI.sol";

/// @title AttributionStaking
/// @notice Stake of the attribution providers that settle PayableAI inferences,
///         and the disputes that hold them to account, decided by a
///         stake-weighted vote of the staked providers (as OpenLedgerRollup's
///         challenges are decided by its validators).
///
///         Dispute life cycle. Anyone who recomputes a settlement's attribution
///         and gets another hash calls dispute(inferenceId, claimedHash) with the
///         bond, within the settlement's dispute window. That opens a vote of
///         votingPeriod seconds; quorumStake = ceil(totalActiveStake * quorumBps
///         / 10,000) is fixed at that moment. The settling provider's active
///         stake counts for the settled hash and, when the disputer is an active
///         provider, the disputer's for its claimed hash, automatically. Every
///         other active provider may vote(disputeId, hash) once, with its active
///         stake, while block.timestamp < votingEndsAt. A voter's stake cannot
///         be unstaked until the vote ends, and no stake that voted can be
///         withdrawn before its vote is released after the resolution.
///
///         Decision, by anyone calling resolve(disputeId, queryHash,
///         contributionIds, weights) once block.timestamp >= votingEndsAt: a hash
///         wins when the voted stake reached quorumStake and that hash holds a
///         strict majority (more than half) of the voted stake. The settlement
///         is overturned when a winning hash differs from the settled one;
///         otherwise (no quorum, no strict majority, a tie, or the settled hash
///         wins) it is upheld. An overturn must bring the corrected record's
///         query hash and split, whose keccak256(abi.encode(modelId, queryHash,
///         contributionIds, weights)) equals the winning hash (a different
///         output gives a different query hash, so the corrected record travels
///         with the corrected split): the provider is slashed slashBps of its
///         stake, disputerRewardBps of that goes to the disputer with its bond,
///         the rest to the treasury, and PayableAI replaces the settlement, which
///         can then be finalized at once. A winning hash that nobody proves by
///         correctionEndsAt (votingEndsAt + votingPeriod) is void: from then on
///         resolve upholds the settlement, and the settled hash is the one voters
///         are judged by. When upheld, the disputer's bond goes to the treasury.
///         After a decision (a winning hash, or a void one), every voter whose
///         hash is not the decisive one is slashed voterSlashBps of the stake it
///         voted with when its vote is released (releaseVote, by anyone); without
///         a decision nobody is slashed. The settling provider's own vote is
///         released at resolution and never voter-slashed (an overturn slashes it
///         by slashBps instead). Voters are not rewarded.
///
///         Trust model: an honest majority of the provider stake that votes.
///         Nothing on chain recomputes an attribution; providers holding a
///         majority of the voted stake can overturn a correct settlement (with a
///         split they choose among the model's accepted contributions) or keep
///         a wrong one, and a quorum that honest providers cannot reach lets a
///         wrong settlement stand. Safety needs honest providers to hold more
///         than half of the stake that votes and at least quorumBps of the
///         active stake; liveness needs one honest watcher per settlement within
///         its dispute window.
/// @dev    Stake is native OPEN. A provider is active while its active stake
///         is at least minProviderStake. requestUnstake moves stake to a single
///         unbonding balance whose release time restarts at every request;
///         withdraw pays it out after the release time, unless a dispute
///         against the provider is open or one of its votes is not released.
///         Unbonding stake stays slashable, and MIN_UNBONDING_DELAY exceeds
///         PayableAI's longest dispute window, so stake that backed a
///         settlement cannot leave before any dispute of it opens.
///         Slashes take active stake first, then unbonding stake. Disputer and
///         treasury amounts are pull payments (claim), so a resolution never
///         depends on a recipient.
///         Funds: address(this).balance == totalActiveStake + totalUnbonding +
///         totalOpenBonds + totalClaimable (OPEN forced in by selfdestruct aside).
///         Roles: DEFAULT_ADMIN_ROLE (the governance timelock) sets the
///         parameters within fixed bounds; it has no say in disputes.
contract AttributionStaking is IAttributionStaking, AccessControl, ReentrancyGuard {
    /// @notice Status of a dispute.
    enum DisputeStatus {
        None,
        Open,
        Overturned,
        Upheld
    }

    /// @notice A provider's stake.
    /// @param stake              Active stake (wei).
    /// @param unbonding          Stake waiting to be withdrawn (wei).
    /// @param unbondingReleaseAt Timestamp from which the unbonding stake can be withdrawn.
    /// @param openDisputes       Disputes against the provider not yet resolved.
    /// @param lockedUntil        End of the latest vote the provider's stake counts in;
    ///                           requestUnstake is refused before it.
    /// @param pendingVotes       Votes not yet released (withdraw is refused while any).
    struct Provider {
        uint128 stake;
        uint128 unbonding;
        uint64 unbondingReleaseAt;
        uint32 openDisputes;
        uint64 lockedUntil;
        uint32 pendingVotes;
    }

    /// @notice A dispute of one settlement.
    /// @param inferenceId            Disputed inference.
    /// @param modelId                Model of the inference.
    /// @param disputer               Account that posted the bond.
    /// @param provider               Provider of the disputed settlement.
    /// @param bond                   Bond posted (wei).
    /// @param status                 Dispute status.
    /// @param votingEndsAt           Votes are accepted while block.timestamp < this.
    /// @param correctionEndsAt       A winning hash must be proved by resolve before this.
    /// @param settledAttributionHash Attribution hash of the disputed settlement.
    /// @param claimedAttributionHash Attribution hash the disputer computed.
    /// @param decisiveHash           Set at resolution: the hash voters are judged by
    ///                               (zero when nothing was decided).
    /// @param quorumStake            Voted stake needed, fixed when opened.
    /// @param totalVotes             Stake that voted, any hash.
    /// @param leadingHash            Hash with the most voted stake (the first to reach it on a tie).
    /// @param leadingVotes           Its voted stake.
    struct Dispute {
        uint256 inferenceId;
        uint64 modelId;
        address disputer;
        address provider;
        uint96 bond;
        DisputeStatus status;
        uint64 votingEndsAt;
        uint64 correctionEndsAt;
        bytes32 settledAttributionHash;
        bytes32 claimedAttributionHash;
        bytes32 decisiveHash;
        uint256 quorumStake;
        uint256 totalVotes;
        bytes32 leadingHash;
        uint256 leadingVotes;
    }

    /// @notice One account's vote in one dispute.
    /// @param attributionHash Hash voted for (zero: no vote).
    /// @param weight          Stake it voted with (wei).
    /// @param released        Whether the vote was released (and slashed if it lost).
    struct Ballot {
        bytes32 attributionHash;
        uint128 weight;
        bool released;
    }

    /// @notice Basis-point denominator.
    uint16 public constant BPS_DENOMINATOR = 10_000;

    /// @notice Upper bound of minProviderStake (wei); the lower bound is 1 wei.
    uint256 public constant MAX_MIN_PROVIDER_STAKE = 10_000_000 ether;

    /// @notice Upper bound of disputeBond (wei); the lower bound is 1 wei.
    uint256 public constant MAX_DISPUTE_BOND = 1_000_000 ether;

    /// @notice Bounds of unbondingDelay (seconds); the minimum exceeds
    ///         PayableAI.MAX_DISPUTE_WINDOW (7 days).
    uint64 public constant MIN_UNBONDING_DELAY = 8 days;
    /// @notice Bounds of unbondingDelay (seconds).
    uint64 public constant MAX_UNBONDING_DELAY = 90 days;

    /// @notice Bounds of votingPeriod (seconds).
    uint64 public constant MIN_VOTING_PERIOD = 1 minutes;
    /// @notice Bounds of votingPeriod (seconds).
    uint64 public constant MAX_VOTING_PERIOD = 14 days;

    /// @notice Upper bound of voterSlashBps (basis points); the lower bound is 0.
    uint16 public constant MAX_VOTER_SLASH_BPS = 5_000;

    /// @notice The PayableAI predeploy whose settlements are disputed here.
    IPayableAI public immutable PAYABLE_AI;

    /// @notice Active stake a provider needs to settle and to vote (wei).
    uint256 public minProviderStake;

    /// @notice Bond a dispute must post (wei).
    uint256 public disputeBond;

    /// @notice Seconds between requestUnstake and withdraw.
    uint64 public unbondingDelay;

    /// @notice Seconds a dispute's vote lasts (also the time then left to prove a winning hash).
    uint64 public votingPeriod;

    /// @notice Share of the active stake (at opening) that must vote (basis points, 1..10,000).
    uint16 public quorumBps;

    /// @notice Share of the provider's stake slashed on an overturn (basis points, 1..10,000).
    uint16 public slashBps;

    /// @notice Share of a slash paid to the disputer (basis points, 0..10,000).
    uint16 public disputerRewardBps;

    /// @notice Share of its voted stake a voter for a losing hash is slashed (basis points, 0..MAX_VOTER_SLASH_BPS).
    uint16 public voterSlashBps;

    /// @notice Number of disputes opened; also the id of the latest one.
    uint256 public disputeCount;

    /// @notice Sum of all providers' active stake (wei).
    uint256 public totalActiveStake;

    /// @notice Sum of all providers' unbonding stake (wei).
    uint256 public totalUnbonding;

    /// @notice Sum of the bonds of open disputes (wei).
    uint256 public totalOpenBonds;

    /// @notice Sum of all claimable balances (wei).
    uint256 public totalClaimable;

    /// @notice OPEN (wei) each account can withdraw with claim(): disputers'
    ///         bonds and rewards, the treasury's slashes and forfeited bonds.
    mapping(address account => uint256) public claimable;

    /// @notice Voted stake per attribution hash in each dispute (wei).
    mapping(uint256 disputeId => mapping(bytes32 attributionHash => uint256)) public votesFor;

    mapping(address provider => Provider) private _providers;
    mapping(uint256 disputeId => Dispute) private _disputes;
    mapping(uint256 disputeId => mapping(address voter => Ballot)) private _ballots;

    /// @notice Emitted when a provider adds stake.
    /// @param provider Provider.
    /// @param amount   Stake added (wei).
    /// @param stake    Active stake afterwards (wei).
    event Staked(address indexed provider, uint256 amount, uint256 stake);

    /// @notice Emitted when a provider moves stake to unbonding.
    /// @param provider  Provider.
    /// @param amount    Stake moved (wei).
    /// @param unbonding Unbonding balance afterwards (wei).
    /// @param releaseAt Timestamp from which it can be withdrawn.
    event UnstakeRequested(address indexed provider, uint256 amount, uint256 unbonding, uint64 releaseAt);

    /// @notice Emitted when a provider withdraws its unbonded stake.
    /// @param provider Provider.
    /// @param amount   Amount sent (wei).
    event Withdrawn(address indexed provider, uint256 amount);

    /// @notice Emitted when a settlement is disputed and its vote opens.
    /// @param disputeId              New dispute id.
    /// @param inferenceId            Disputed inference.
    /// @param modelId                Model of the inference.
    /// @param disputer               Account that posted the bond.
    /// @param provider               Provider of the settlement.
    /// @param bond                   Bond (wei).
    /// @param settledAttributionHash Attribution hash of the settlement.
    /// @param claimedAttributionHash Attribution hash the disputer computed.
    /// @param votingEndsAt           Votes are accepted while block.timestamp < this.
    /// @param quorumStake            Voted stake needed for a decision (wei).
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed inferenceId,
        uint256 indexed modelId,
        address disputer,
        address provider,
        uint256 bond,
        bytes32 settledAttributionHash,
        bytes32 claimedAttributionHash,
        uint64 votingEndsAt,
        uint256 quorumStake
    );

    /// @notice Emitted for every vote, the automatic ones of the provider and a provider-disputer included.
    /// @param disputeId       Dispute id.
    /// @param voter           Voter.
    /// @param attributionHash Hash voted for.
    /// @param weight          Stake counted (wei).
    event Voted(uint256 indexed disputeId, address indexed voter, bytes32 attributionHash, uint256 weight);

    /// @notice Emitted when a dispute is resolved.
    /// @param disputeId       Dispute id.
    /// @param inferenceId     Disputed inference.
    /// @param overturned      Whether the settlement was replaced.
    /// @param attributionHash Attribution hash in force afterwards.
    /// @param decisiveHash    Hash voters are judged by (zero when nothing was decided).
    /// @param votesForSettled Voted stake for the settled hash (wei).
    /// @param leadingVotes    Voted stake of the leading hash (wei).
    /// @param totalVotes      Voted stake, all hashes (wei).
    /// @param quorumStake     Voted stake that was needed (wei).
    event DisputeResolved(
        uint256 indexed disputeId,
        uint256 indexed inferenceId,
        bool overturned,
        bytes32 attributionHash,
        bytes32 decisiveHash,
        uint256 votesForSettled,
        uint256 leadingVotes,
        uint256 totalVotes,
        uint256 quorumStake
    );

    /// @notice Emitted when a provider is slashed for an overturned settlement.
    /// @param provider       Provider.
    /// @param disputeId      Dispute that caused it.
    /// @param amount         Total slashed (wei).
    /// @param disputerReward Part credited to the disputer (wei); the rest goes to the treasury.
    event ProviderSlashed(address indexed provider, uint256 indexed disputeId, uint256 amount, uint256 disputerReward);

    /// @notice Emitted when a vote is released after the resolution.
    /// @param disputeId       Dispute id.
    /// @param voter           Voter.
    /// @param attributionHash Hash it voted for.
    /// @param slashed         Stake slashed to the treasury for a losing vote (wei).
    event VoteReleased(uint256 indexed disputeId, address indexed voter, bytes32 attributionHash, uint256 slashed);

    /// @notice Emitted when an account withdraws its claimable balance.
    /// @param account Account.
    /// @param amount  Amount sent (wei).
    event Claimed(address indexed account, uint256 amount);

    /// @notice Emitted when the admin changes minProviderStake.
    /// @param oldValue Previous value (wei).
    /// @param newValue New value (wei).
    event MinProviderStakeUpdated(uint256 oldValue, uint256 newValue);

    /// @notice Emitted when the admin changes disputeBond.
    /// @param oldValue Previous value (wei).
    /// @param newValue New value (wei).
    event DisputeBondUpdated(uint256 oldValue, uint256 newValue);

    /// @notice Emitted when the admin changes unbondingDelay.
    /// @param oldValue Previous value (seconds).
    /// @param newValue New value (seconds).
    event UnbondingDelayUpdated(uint64 oldValue, uint64 newValue);

    /// @notice Emitted when the admin changes votingPeriod.
    /// @param oldValue Previous value (seconds).
    /// @param newValue New value (seconds).
    event VotingPeriodUpdated(uint64 oldValue, uint64 newValue);

    /// @notice Emitted when the admin changes quorumBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event QuorumBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice Emitted when the admin changes slashBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event SlashBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice Emitted when the admin changes disputerRewardBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event DisputerRewardBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice Emitted when the admin changes voterSlashBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event VoterSlashBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice A constructor address is the zero address.
    error ZeroAddress();

    /// @notice The amount is zero.
    error ZeroAmount();

    /// @notice The provider's active stake is smaller than the amount.
    /// @param requested Amount asked for (wei).
    /// @param available Active stake (wei).
    error InsufficientStake(uint256 requested, uint256 available);

    /// @notice The stake counts in a vote that has not ended, so it cannot be unstaked yet.
    /// @param lockedUntil End of that vote.
    error StakeLocked(uint64 lockedUntil);

    /// @notice The provider has no unbonding stake.
    /// @param provider The caller.
    error NothingToWithdraw(address provider);

    /// @notice The unbonding stake is not released yet.
    /// @param releaseAt Timestamp from which it can be withdrawn.
    error UnbondingNotReleased(uint64 releaseAt);

    /// @notice Disputes against the provider are open, so its stake cannot leave.
    /// @param openDisputes Number of open disputes.
    error DisputesOpen(uint256 openDisputes);

    /// @notice Votes of the provider are not released yet, so its stake cannot leave.
    /// @param pendingVotes Number of votes not released.
    error VotesPending(uint256 pendingVotes);

    /// @notice msg.value is not the dispute bond.
    /// @param sent     msg.value.
    /// @param required disputeBond.
    error IncorrectBond(uint256 sent, uint256 required);

    /// @notice An attribution hash given is zero.
    error ZeroAttributionHash();

    /// @notice The claimed attribution hash is the settled one: nothing to dispute.
    /// @param inferenceId     Inference id.
    /// @param attributionHash The settled hash.
    error ClaimMatchesSettlement(uint256 inferenceId, bytes32 attributionHash);

    /// @notice The settling provider cannot dispute its own settlement.
    /// @param inferenceId Inference id.
    error SelfDispute(uint256 inferenceId);

    /// @notice The dispute is not Open (unknown or already resolved).
    /// @param disputeId Dispute id.
    /// @param status    Its status.
    error DisputeNotOpen(uint256 disputeId, DisputeStatus status);

    /// @notice The dispute is not resolved yet (or unknown).
    /// @param disputeId Dispute id.
    /// @param status    Its status.
    error DisputeNotResolved(uint256 disputeId, DisputeStatus status);

    /// @notice The caller is not an active provider, so it cannot vote.
    /// @param account The caller.
    error NotActiveProvider(address account);

    /// @notice The dispute's vote has ended.
    /// @param disputeId    Dispute id.
    /// @param votingEndsAt End of its vote.
    error VotingClosed(uint256 disputeId, uint64 votingEndsAt);

    /// @notice The dispute's vote has not ended yet.
    /// @param disputeId    Dispute id.
    /// @param votingEndsAt End of its vote.
    error VotingNotEnded(uint256 disputeId, uint64 votingEndsAt);

    /// @notice The account has already voted in the dispute (or voted automatically).
    /// @param disputeId Dispute id.
    /// @param voter     The account.
    error AlreadyVoted(uint256 disputeId, address voter);

    /// @notice The account has no vote in the dispute.
    /// @param disputeId Dispute id.
    /// @param voter     The account.
    error NotVoted(uint256 disputeId, address voter);

    /// @notice The vote was already released.
    /// @param disputeId Dispute id.
    /// @param voter     The account.
    error VoteAlreadyReleased(uint256 disputeId, address voter);

    /// @notice The correction given to resolve does not hash to the winning attribution hash.
    /// @param disputeId Dispute id.
    /// @param expected  Winning hash.
    /// @param actual    keccak256(abi.encode(modelId, queryHash, contributionIds, weights)) of the arguments.
    error CorrectionMismatch(uint256 disputeId, bytes32 expected, bytes32 actual);

    /// @notice The caller has nothing to claim.
    /// @param account The caller.
    error NothingToClaim(address account);

    /// @notice minProviderStake is outside 1..MAX_MIN_PROVIDER_STAKE.
    /// @param value The value given.
    error MinProviderStakeOutOfRange(uint256 value);

    /// @notice disputeBond is outside 1..MAX_DISPUTE_BOND.
    /// @param value The value given.
    error DisputeBondOutOfRange(uint256 value);

    /// @notice unbondingDelay is outside MIN_UNBONDING_DELAY..MAX_UNBONDING_DELAY.
    /// @param value The value given.
    error UnbondingDelayOutOfRange(uint64 value);

    /// @notice votingPeriod is outside MIN_VOTING_PERIOD..MAX_VOTING_PERIOD.
    /// @param value The value given.
    error VotingPeriodOutOfRange(uint64 value);

    /// @notice quorumBps is outside 1..10,000.
    /// @param value The value given.
    error QuorumBpsOutOfRange(uint16 value);

    /// @notice slashBps is outside 1..10,000.
    /// @param value The value given.
    error SlashBpsOutOfRange(uint16 value);

    /// @notice disputerRewardBps is above 10,000.
    /// @param value The value given.
    error DisputerRewardBpsOutOfRange(uint16 value);

    /// @notice voterSlashBps is above MAX_VOTER_SLASH_BPS.
    /// @param value The value given.
    error VoterSlashBpsOutOfRange(uint16 value);

    /// @notice Parameters of the dispute game, set at construction and by the admin.
    /// @param minProviderStake  Active stake a provider needs (wei).
    /// @param disputeBond       Bond of a dispute (wei).
    /// @param unbondingDelay    Seconds between requestUnstake and withdraw.
    /// @param votingPeriod      Seconds a dispute's vote lasts.
    /// @param quorumBps         Share of active stake that must vote (basis points).
    /// @param slashBps          Share of the provider's stake slashed on an overturn (basis points).
    /// @param disputerRewardBps Share of a slash paid to the disputer (basis points).
    /// @param voterSlashBps     Share of a losing voter's voted stake slashed (basis points).
    struct Params {
        uint256 minProviderStake;
        uint256 disputeBond;
        uint64 unbondingDelay;
        uint64 votingPeriod;
        uint16 quorumBps;
        uint16 slashBps;
        uint16 disputerRewardBps;
        uint16 voterSlashBps;
    }

    /// @param admin     Holder of DEFAULT_ADMIN_ROLE (the governance timelock).
    /// @param payableAI PayableAI predeploy.
    /// @param params    Initial parameters, each within its bounds.
    constructor(address admin, address payableAI, Params memory params) {
        if (admin == address(0) || payableAI == address(0)) revert ZeroAddress();
        PAYABLE_AI = IPayableAI(payableAI);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setMinProviderStake(params.minProviderStake);
        _setDisputeBond(params.disputeBond);
        _setUnbondingDelay(params.unbondingDelay);
        _setVotingPeriod(params.votingPeriod);
        _setQuorumBps(params.quorumBps);
        _setSlashBps(params.slashBps);
        _setDisputerRewardBps(params.disputerRewardBps);
        _setVoterSlashBps(params.voterSlashBps);
    }

    // ------------------------------------------------------------------ stake

    /// @notice Adds msg.value to the caller's active stake.
    function stake() external payable {
        if (msg.value == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        uint128 newStake = p.stake + SafeCast.toUint128(msg.value);
        p.stake = newStake;
        totalActiveStake += msg.value;
        emit Staked(msg.sender, msg.value, newStake);
    }

    /// @notice Moves `amount` of the caller's active stake to unbonding; the
    ///         whole unbonding balance becomes withdrawable unbondingDelay
    ///         seconds from now. Refused while the caller's stake counts in a
    ///         vote that has not ended.
    /// @param amount Stake to unbond (wei).
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        if (block.timestamp < p.lockedUntil) revert StakeLocked(p.lockedUntil);
        if (amount > p.stake) revert InsufficientStake(amount, p.stake);
        uint64 releaseAt = uint64(block.timestamp) + unbondingDelay;
        // amount <= p.stake < 2**128.
        p.stake -= uint128(amount);
        uint128 unbonding = p.unbonding + uint128(amount);
        p.unbonding = unbonding;
        p.unbondingReleaseAt = releaseAt;
        totalActiveStake -= amount;
        totalUnbonding += amount;
        emit UnstakeRequested(msg.sender, amount, unbonding, releaseAt);
    }

    /// @notice Sends the caller's unbonding stake to it once released, unless
    ///         a dispute against the caller is open or a vote of the caller is
    ///         not released.
    function withdraw() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < p.unbondingReleaseAt) revert UnbondingNotReleased(p.unbondingReleaseAt);
        if (p.openDisputes != 0) revert DisputesOpen(p.openDisputes);
        if (p.pendingVotes != 0) revert VotesPending(p.pendingVotes);
        p.unbonding = 0;
        p.unbondingReleaseAt = 0;
        totalUnbonding -= amount;
        emit Withdrawn(msg.sender, amount);

        Address.sendValue(payable(msg.sender), amount);
    }

    // --------------------------------------------------------------- disputes

    /// @notice Disputes the settlement of `inferenceId`, posting disputeBond as
    ///         msg.value, and opens its vote. Anyone but the settling provider,
    ///         within the settlement's dispute window, once per settlement;
    ///         PayableAI's checks revert with its own errors. The provider's
    ///         active stake is counted for the settled hash and, when the caller
    ///         is an active provider, the caller's for `claimedAttributionHash`.
    /// @param inferenceId            Settled inference.
    /// @param claimedAttributionHash Attribution hash the disputer computed (not the settled one).
    /// @return disputeId             The new dispute id.
    function dispute(uint256 inferenceId, bytes32 claimedAttributionHash)
        external
        payable
        nonReentrant
        returns (uint256 disputeId)
    {
        if (msg.value != disputeBond) revert IncorrectBond(msg.value, disputeBond);
        if (claimedAttributionHash == bytes32(0)) revert ZeroAttributionHash();
        (address provider, uint256 modelId, bytes32 settledHash) = PAYABLE_AI.openDispute(inferenceId);
        if (provider == msg.sender) revert SelfDispute(inferenceId);
        if (claimedAttributionHash == settledHash) revert ClaimMatchesSettlement(inferenceId, settledHash);

        disputeId = ++disputeCount;
        uint64 period = votingPeriod;
        uint64 votingEndsAt = uint64(block.timestamp) + period;
        Dispute storage d = _disputes[disputeId];
        d.inferenceId = inferenceId;
        // Model ids come from ModelRegistry's uint64 counter.
        d.modelId = uint64(modelId);
        d.disputer = msg.sender;
        d.provider = provider;
        // disputeBond <= MAX_DISPUTE_BOND < 2**96.
        d.bond = uint96(msg.value);
        d.status = DisputeStatus.Open;
        d.votingEndsAt = votingEndsAt;
        d.correctionEndsAt = votingEndsAt + period;
        d.settledAttributionHash = settledHash;
        d.claimedAttributionHash = claimedAttributionHash;
        d.quorumStake = Math.mulDiv(totalActiveStake, quorumBps, BPS_DENOMINATOR, Math.Rounding.Ceil);
        _providers[provider].openDisputes += 1;
        totalOpenBonds += msg.value;
        emit DisputeOpened(
            disputeId,
            inferenceId,
            modelId,
            msg.sender,
            provider,
            msg.value,
            settledHash,
            claimedAttributionHash,
            votingEndsAt,
            d.quorumStake
        );

        // The provider's stake backs its settlement; its vote is released at resolution.
        _castVote(d, disputeId, provider, settledHash, _providers[provider].stake);
        _ballots[disputeId][provider].released = true;
        if (_isActive(msg.sender)) {
            _castVote(d, disputeId, msg.sender, claimedAttributionHash, _providers[msg.sender].stake);
            _providers[msg.sender].pendingVotes += 1;
        }
    }

    /// @notice Votes `attributionHash` (the caller's own recomputation of the
    ///         disputed settlement) with the caller's active stake. Active
    ///         providers only, once per dispute, while block.timestamp <
    ///         votingEndsAt. The caller cannot unstake until the vote ends, nor
    ///         withdraw until its vote is released.
    /// @param disputeId       An open dispute.
    /// @param attributionHash Hash voted for (nonzero).
    function vote(uint256 disputeId, bytes32 attributionHash) external {
        Dispute storage d = _disputes[disputeId];
        if (d.status != DisputeStatus.Open) revert DisputeNotOpen(disputeId, d.status);
        if (block.timestamp >= d.votingEndsAt) revert VotingClosed(disputeId, d.votingEndsAt);
        if (_ballots[disputeId][msg.sender].attributionHash != bytes32(0)) revert AlreadyVoted(disputeId, msg.sender);
        if (attributionHash == bytes32(0)) revert ZeroAttributionHash();
        if (!_isActive(msg.sender)) revert NotActiveProvider(msg.sender);
        _castVote(d, disputeId, msg.sender, attributionHash, _providers[msg.sender].stake);
        _providers[msg.sender].pendingVotes += 1;
    }

    /// @notice Decides an open dispute once its vote has ended. Anyone. When a
    ///         hash other than the settled one won (quorum reached and a strict
    ///         majority of the voted stake), the arguments must be the corrected
    ///         record's query hash and split, hashing to the winning hash with
    ///         the inference's model id: the provider is slashed, the disputer
    ///         credited its bond and reward, and PayableAI replaces the
    ///         settlement (validating the split like a settlement). From
    ///         correctionEndsAt on, arguments that do not prove the winning hash
    ///         void it and uphold the settlement. Otherwise the settlement is
    ///         upheld, the disputer's bond goes to the treasury and the arguments
    ///         are ignored.
    /// @param disputeId       Dispute id.
    /// @param queryHash       Corrected query record hash (overturn only).
    /// @param contributionIds Corrected contribution ids (overturn only).
    /// @param weights         Corrected weights (overturn only).
    /// @return overturned     Whether the settlement was replaced.
    function resolve(
        uint256 disputeId,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) external nonReentrant returns (bool overturned) {
        Dispute storage d = _disputes[disputeId];
        if (d.status != DisputeStatus.Open) revert DisputeNotOpen(disputeId, d.status);
        if (block.timestamp < d.votingEndsAt) revert VotingNotEnded(disputeId, d.votingEndsAt);
        bytes32 decisive;
        (overturned, decisive) = _decide(d, disputeId, queryHash, contributionIds, weights);
        d.decisiveHash = decisive;
        _payOut(d, disputeId, overturned);
        // PayableAI is a trusted predeploy; a corrected split that fails its
        // validation reverts the whole resolution.
        bytes32 inForce = PAYABLE_AI.resolveDispute(d.inferenceId, overturned, queryHash, contributionIds, weights);
        _emitResolved(d, disputeId, overturned, inForce);
    }

    /// @notice Releases `voter`'s vote in a resolved dispute, so that its stake
    ///         can be withdrawn; a vote for a hash other than the decisive one
    ///         is first slashed voterSlashBps of the stake it voted with (active
    ///         stake first, to the treasury). Anyone, once per vote.
    /// @param disputeId Resolved dispute.
    /// @param voter     Account that voted.
    /// @return slashed  Stake slashed (wei).
    function releaseVote(uint256 disputeId, address voter) external returns (uint256 slashed) {
        Dispute storage d = _disputes[disputeId];
        if (d.status == DisputeStatus.None || d.status == DisputeStatus.Open) {
            revert DisputeNotResolved(disputeId, d.status);
        }
        Ballot storage b = _ballots[disputeId][voter];
        bytes32 voted = b.attributionHash;
        if (voted == bytes32(0)) revert NotVoted(disputeId, voter);
        if (b.released) revert VoteAlreadyReleased(disputeId, voter);
        b.released = true;
        _providers[voter].pendingVotes -= 1;
        bytes32 decisive = d.decisiveHash;
        if (decisive != bytes32(0) && voted != decisive) {
            slashed = _take(voter, uint256(b.weight) * voterSlashBps / BPS_DENOMINATOR);
            _credit(PAYABLE_AI.treasury(), slashed);
        }
        emit VoteReleased(disputeId, voter, voted, slashed);
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

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAttributionStaking
    function isActiveProvider(address provider) external view returns (bool) {
        return _isActive(provider);
    }

    /// @notice A provider's stake record.
    /// @param provider Provider.
    /// @return The record (all zero for an account that never staked).
    function providerInfo(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice A dispute.
    /// @param disputeId Dispute id.
    /// @return The record (all zero for an unknown id).
    function disputeInfo(uint256 disputeId) external view returns (Dispute memory) {
        return _disputes[disputeId];
    }

    /// @notice An account's vote in a dispute.
    /// @param disputeId Dispute id.
    /// @param voter     Account.
    /// @return The ballot (all zero when the account did not vote).
    function ballot(uint256 disputeId, address voter) external view returns (Ballot memory) {
        return _ballots[disputeId][voter];
    }

    // ------------------------------------------------------------- parameters

    /// @notice Sets minProviderStake. Admin only.
    /// @param value New value in wei (1..MAX_MIN_PROVIDER_STAKE).
    function setMinProviderStake(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinProviderStake(value);
    }

    /// @notice Sets disputeBond for later disputes. Admin only.
    /// @param value New value in wei (1..MAX_DISPUTE_BOND).
    function setDisputeBond(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDisputeBond(value);
    }

    /// @notice Sets unbondingDelay for later unstake requests. Admin only.
    /// @param value New value in seconds (MIN_UNBONDING_DELAY..MAX_UNBONDING_DELAY).
    function setUnbondingDelay(uint64 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingDelay(value);
    }

    /// @notice Sets votingPeriod for later disputes. Admin only.
    /// @param value New value in seconds (MIN_VOTING_PERIOD..MAX_VOTING_PERIOD).
    function setVotingPeriod(uint64 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setVotingPeriod(value);
    }

    /// @notice Sets quorumBps for later disputes. Admin only.
    /// @param value New value in basis points (1..10,000).
    function setQuorumBps(uint16 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setQuorumBps(value);
    }

    /// @notice Sets slashBps. Admin only.
    /// @param value New value in basis points (1..10,000).
    function setSlashBps(uint16 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSlashBps(value);
    }

    /// @notice Sets disputerRewardBps. Admin only.
    /// @param value New value in basis points (0..10,000).
    function setDisputerRewardBps(uint16 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDisputerRewardBps(value);
    }

    /// @notice Sets voterSlashBps (applies to votes released afterwards). Admin only.
    /// @param value New value in basis points (0..MAX_VOTER_SLASH_BPS).
    function setVoterSlashBps(uint16 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setVoterSlashBps(value);
    }

    // --------------------------------------------------------------- internal

    function _isActive(address provider) private view returns (bool) {
        return _providers[provider].stake >= minProviderStake;
    }

    /// @dev Records `voter`'s vote, locks its stake until the vote ends and
    ///      keeps the leading hash (the first to reach the highest tally).
    function _castVote(Dispute storage d, uint256 disputeId, address voter, bytes32 attributionHash, uint128 weight)
        private
    {
        _ballots[disputeId][voter] = Ballot({attributionHash: attributionHash, weight: weight, released: false});
        uint256 tally = votesFor[disputeId][attributionHash] + weight;
        votesFor[disputeId][attributionHash] = tally;
        d.totalVotes += weight;
        if (tally > d.leadingVotes) {
            d.leadingVotes = tally;
            d.leadingHash = attributionHash;
        }
        Provider storage p = _providers[voter];
        if (p.lockedUntil < d.votingEndsAt) p.lockedUntil = d.votingEndsAt;
        emit Voted(disputeId, voter, attributionHash, weight);
    }

    /// @dev The outcome of an ended vote: whether the settlement is overturned
    ///      and the hash voters are judged by (zero when nothing was decided).
    function _decide(
        Dispute storage d,
        uint256 disputeId,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) private view returns (bool overturned, bytes32 decisive) {
        if (d.totalVotes < d.quorumStake || d.leadingVotes * 2 <= d.totalVotes) return (false, bytes32(0));
        decisive = d.leadingHash;
        if (decisive == d.settledAttributionHash) return (false, decisive);
        bytes32 actual = keccak256(abi.encode(uint256(d.modelId), queryHash, contributionIds, weights));
        if (actual == decisive) return (true, decisive);
        if (block.timestamp < d.correctionEndsAt) revert CorrectionMismatch(disputeId, decisive, actual);
        // Not proved in time: the winning hash is void and the settlement stands.
        return (false, d.settledAttributionHash);
    }

    /// @dev Closes the dispute's books: on an overturn the provider is slashed
    ///      and the disputer repaid with its reward, otherwise the bond goes to
    ///      the treasury.
    function _payOut(Dispute storage d, uint256 disputeId, bool overturned) private {
        address provider = d.provider;
        _providers[provider].openDisputes -= 1;
        uint256 bond = d.bond;
        totalOpenBonds -= bond;
        address treasury = PAYABLE_AI.treasury();
        if (overturned) {
            d.status = DisputeStatus.Overturned;
            (uint256 slashed, uint256 reward) = _slashProvider(provider);
            _credit(d.disputer, bond + reward);
            _credit(treasury, slashed - reward);
            emit ProviderSlashed(provider, disputeId, slashed, reward);
        } else {
            d.status = DisputeStatus.Upheld;
            _credit(treasury, bond);
        }
    }

    function _emitResolved(Dispute storage d, uint256 disputeId, bool overturned, bytes32 inForce) private {
        emit DisputeResolved(
            disputeId,
            d.inferenceId,
            overturned,
            inForce,
            d.decisiveHash,
            votesFor[disputeId][d.settledAttributionHash],
            d.leadingVotes,
            d.totalVotes,
            d.quorumStake
        );
    }

    /// @dev Takes slashBps of the provider's active plus unbonding stake;
    ///      returns the amount and the disputer's reward.
    function _slashProvider(address provider) private returns (uint256 slashed, uint256 reward) {
        Provider storage p = _providers[provider];
        slashed = _take(provider, (uint256(p.stake) + p.unbonding) * slashBps / BPS_DENOMINATOR);
        reward = slashed * disputerRewardBps / BPS_DENOMINATOR;
    }

    /// @dev Removes up to `amount` of `account`'s stake, active first, then
    ///      unbonding; returns what was removed.
    function _take(address account, uint256 amount) private returns (uint256 taken) {
        Provider storage p = _providers[account];
        uint256 active = p.stake;
        uint256 unbonding = p.unbonding;
        taken = amount < active + unbonding ? amount : active + unbonding;
        uint256 fromActive = taken < active ? taken : active;
        // Both results are at most the uint128 values they replace.
        p.stake = uint128(active - fromActive);
        p.unbonding = uint128(unbonding - (taken - fromActive));
        totalActiveStake -= fromActive;
        totalUnbonding -= taken - fromActive;
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        claimable[account] += amount;
        totalClaimable += amount;
    }

    function _setMinProviderStake(uint256 value) private {
        if (value == 0 || value > MAX_MIN_PROVIDER_STAKE) revert MinProviderStakeOutOfRange(value);
        emit MinProviderStakeUpdated(minProviderStake, value);
        minProviderStake = value;
    }

    function _setDisputeBond(uint256 value) private {
        if (value == 0 || value > MAX_DISPUTE_BOND) revert DisputeBondOutOfRange(value);
        emit DisputeBondUpdated(disputeBond, value);
        disputeBond = value;
    }

    function _setUnbondingDelay(uint64 value) private {
        if (value < MIN_UNBONDING_DELAY || value > MAX_UNBONDING_DELAY) revert UnbondingDelayOutOfRange(value);
        emit UnbondingDelayUpdated(unbondingDelay, value);
        unbondingDelay = value;
    }

    function _setVotingPeriod(uint64 value) private {
        if (value < MIN_VOTING_PERIOD || value > MAX_VOTING_PERIOD) revert VotingPeriodOutOfRange(value);
        emit VotingPeriodUpdated(votingPeriod, value);
        votingPeriod = value;
    }

    function _setQuorumBps(uint16 value) private {
        if (value == 0 || value > BPS_DENOMINATOR) revert QuorumBpsOutOfRange(value);
        emit QuorumBpsUpdated(quorumBps, value);
        quorumBps = value;
    }

    function _setSlashBps(uint16 value) private {
        if (value == 0 || value > BPS_DENOMINATOR) revert SlashBpsOutOfRange(value);
        emit SlashBpsUpdated(slashBps, value);
        slashBps = value;
    }

    function _setDisputerRewardBps(uint16 value) private {
        if (value > BPS_DENOMINATOR) revert DisputerRewardBpsOutOfRange(value);
        emit DisputerRewardBpsUpdated(disputerRewardBps, value);
        disputerRewardBps = value;
    }

    function _setVoterSlashBps(uint16 value) private {
        if (value > MAX_VOTER_SLASH_BPS) revert VoterSlashBpsOutOfRange(value);
        emit VoterSlashBpsUpdated(voterSlashBps, value);
        voterSlashBps = value;
    }
}
