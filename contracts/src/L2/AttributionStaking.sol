// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAttributionStaking} from "src/L2/interfaces/IAttributionStaking.sol";
import {IPayableAI} from "src/L2/interfaces/IPayableAI.sol";

/// @title AttributionStaking
/// @notice Stake of the attribution providers that settle PayableAI inferences,
///         and the disputes that hold them to account: anyone who recomputes a
///         settlement's attribution and disagrees posts a bond within the
///         dispute window; the resolver recomputes and either overturns the
///         settlement (the provider is slashed, the disputer gets the bond back
///         plus a reward, PayableAI redoes the split) or upholds it (the bond
///         is forfeited to the treasury).
/// @dev    Stake is native OPEN. A provider is active while its active stake
///         is at least minProviderStake. requestUnstake moves stake to a single
///         unbonding balance whose release time restarts at every request;
///         withdraw pays it out after the release time, unless a dispute
///         against the provider is open. Unbonding stake stays slashable, and
///         MIN_UNBONDING_DELAY exceeds PayableAI's longest dispute window, so
///         stake that backed a settlement cannot leave before any dispute of it
///         opens.
///         A slash takes slashBps of the provider's active plus unbonding stake
///         (active first); disputerRewardBps of it goes to the disputer and the
///         rest to PayableAI's treasury. Disputer and treasury amounts are pull
///         payments (claim), so a resolution never depends on a recipient.
///         Funds: address(this).balance == sum of stakes + sum of unbonding +
///         bonds of open disputes + totalClaimable.
///         Roles: DEFAULT_ADMIN_ROLE (governance timelock) sets the parameters
///         within fixed bounds; RESOLVER_ROLE (governance for now) resolves
///         disputes. Both are granted to `admin` at construction.
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
    struct Provider {
        uint128 stake;
        uint128 unbonding;
        uint64 unbondingReleaseAt;
        uint32 openDisputes;
    }

    /// @notice A dispute of one settlement.
    /// @param inferenceId            Disputed inference.
    /// @param disputer               Account that posted the bond.
    /// @param provider               Provider of the disputed settlement.
    /// @param bond                   Bond posted (wei).
    /// @param status                 Dispute status.
    /// @param claimedAttributionHash Attribution hash the disputer computed.
    struct Dispute {
        uint256 inferenceId;
        address disputer;
        address provider;
        uint96 bond;
        DisputeStatus status;
        bytes32 claimedAttributionHash;
    }

    /// @notice Role that resolves disputes.
    bytes32 public constant RESOLVER_ROLE = keccak256("RESOLVER_ROLE");

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

    /// @notice The PayableAI predeploy whose settlements are disputed here.
    IPayableAI public immutable PAYABLE_AI;

    /// @notice Active stake a provider needs to settle (wei).
    uint256 public minProviderStake;

    /// @notice Bond a dispute must post (wei).
    uint256 public disputeBond;

    /// @notice Seconds between requestUnstake and withdraw.
    uint64 public unbondingDelay;

    /// @notice Share of the provider's stake slashed on an overturn (basis points, 1..10,000).
    uint16 public slashBps;

    /// @notice Share of a slash paid to the disputer (basis points, 0..10,000).
    uint16 public disputerRewardBps;

    /// @notice Number of disputes opened; also the id of the latest one.
    uint256 public disputeCount;

    /// @notice Sum of all claimable balances (wei).
    uint256 public totalClaimable;

    /// @notice OPEN (wei) each account can withdraw with claim(): disputers'
    ///         bonds and rewards, the treasury's slashes and forfeited bonds.
    mapping(address account => uint256) public claimable;

    mapping(address provider => Provider) private _providers;
    mapping(uint256 disputeId => Dispute) private _disputes;

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

    /// @notice Emitted when a settlement is disputed.
    /// @param disputeId              New dispute id.
    /// @param inferenceId            Disputed inference.
    /// @param disputer               Account that posted the bond.
    /// @param provider               Provider of the settlement.
    /// @param bond                   Bond (wei).
    /// @param claimedAttributionHash Attribution hash the disputer computed.
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed inferenceId,
        address indexed disputer,
        address provider,
        uint256 bond,
        bytes32 claimedAttributionHash
    );

    /// @notice Emitted when a dispute is resolved.
    /// @param disputeId       Dispute id.
    /// @param inferenceId     Disputed inference.
    /// @param overturned      Whether the settlement was overturned.
    /// @param attributionHash Corrected attribution hash (zero when upheld).
    event DisputeResolved(
        uint256 indexed disputeId, uint256 indexed inferenceId, bool overturned, bytes32 attributionHash
    );

    /// @notice Emitted when a provider is slashed.
    /// @param provider       Provider.
    /// @param disputeId      Dispute that caused it.
    /// @param amount         Total slashed (wei).
    /// @param disputerReward Part credited to the disputer (wei); the rest goes to the treasury.
    event ProviderSlashed(address indexed provider, uint256 indexed disputeId, uint256 amount, uint256 disputerReward);

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

    /// @notice Emitted when the admin changes slashBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event SlashBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice Emitted when the admin changes disputerRewardBps.
    /// @param oldValue Previous value (basis points).
    /// @param newValue New value (basis points).
    event DisputerRewardBpsUpdated(uint16 oldValue, uint16 newValue);

    /// @notice A constructor address is the zero address.
    error ZeroAddress();

    /// @notice The amount is zero.
    error ZeroAmount();

    /// @notice The provider's active stake is smaller than the amount.
    /// @param requested Amount asked for (wei).
    /// @param available Active stake (wei).
    error InsufficientStake(uint256 requested, uint256 available);

    /// @notice The provider has no unbonding stake.
    /// @param provider The caller.
    error NothingToWithdraw(address provider);

    /// @notice The unbonding stake is not released yet.
    /// @param releaseAt Timestamp from which it can be withdrawn.
    error UnbondingNotReleased(uint64 releaseAt);

    /// @notice Disputes against the provider are open, so its stake cannot leave.
    /// @param openDisputes Number of open disputes.
    error DisputesOpen(uint256 openDisputes);

    /// @notice msg.value is not the dispute bond.
    /// @param sent     msg.value.
    /// @param required disputeBond.
    error IncorrectBond(uint256 sent, uint256 required);

    /// @notice The dispute is not Open (unknown or already resolved).
    /// @param disputeId Dispute id.
    /// @param status    Its status.
    error DisputeNotOpen(uint256 disputeId, DisputeStatus status);

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

    /// @notice slashBps is outside 1..10,000.
    /// @param value The value given.
    error SlashBpsOutOfRange(uint16 value);

    /// @notice disputerRewardBps is above 10,000.
    /// @param value The value given.
    error DisputerRewardBpsOutOfRange(uint16 value);

    /// @param admin              Holder of DEFAULT_ADMIN_ROLE and RESOLVER_ROLE (the governance timelock).
    /// @param payableAI          PayableAI predeploy.
    /// @param minProviderStake_  Active stake a provider needs (wei).
    /// @param disputeBond_       Bond of a dispute (wei).
    /// @param unbondingDelay_    Seconds between requestUnstake and withdraw.
    /// @param slashBps_          Share of stake slashed on an overturn (basis points).
    /// @param disputerRewardBps_ Share of a slash paid to the disputer (basis points).
    constructor(
        address admin,
        address payableAI,
        uint256 minProviderStake_,
        uint256 disputeBond_,
        uint64 unbondingDelay_,
        uint16 slashBps_,
        uint16 disputerRewardBps_
    ) {
        if (admin == address(0) || payableAI == address(0)) revert ZeroAddress();
        PAYABLE_AI = IPayableAI(payableAI);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RESOLVER_ROLE, admin);
        _setMinProviderStake(minProviderStake_);
        _setDisputeBond(disputeBond_);
        _setUnbondingDelay(unbondingDelay_);
        _setSlashBps(slashBps_);
        _setDisputerRewardBps(disputerRewardBps_);
    }

    // ------------------------------------------------------------------ stake

    /// @notice Adds msg.value to the caller's active stake.
    function stake() external payable {
        if (msg.value == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        uint128 newStake = p.stake + SafeCast.toUint128(msg.value);
        p.stake = newStake;
        emit Staked(msg.sender, msg.value, newStake);
    }

    /// @notice Moves `amount` of the caller's active stake to unbonding; the
    ///         whole unbonding balance becomes withdrawable unbondingDelay
    ///         seconds from now.
    /// @param amount Stake to unbond (wei).
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        if (amount > p.stake) revert InsufficientStake(amount, p.stake);
        uint64 releaseAt = uint64(block.timestamp) + unbondingDelay;
        // amount <= p.stake < 2**128.
        p.stake -= uint128(amount);
        uint128 unbonding = p.unbonding + uint128(amount);
        p.unbonding = unbonding;
        p.unbondingReleaseAt = releaseAt;
        emit UnstakeRequested(msg.sender, amount, unbonding, releaseAt);
    }

    /// @notice Sends the caller's unbonding stake to it once released, unless
    ///         a dispute against the caller is open.
    function withdraw() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < p.unbondingReleaseAt) revert UnbondingNotReleased(p.unbondingReleaseAt);
        if (p.openDisputes != 0) revert DisputesOpen(p.openDisputes);
        p.unbonding = 0;
        p.unbondingReleaseAt = 0;
        emit Withdrawn(msg.sender, amount);

        Address.sendValue(payable(msg.sender), amount);
    }

    // --------------------------------------------------------------- disputes

    /// @notice Disputes the settlement of `inferenceId`, posting disputeBond as
    ///         msg.value. Anyone, within the settlement's dispute window, once
    ///         per settlement; PayableAI's checks revert with its own errors.
    /// @param inferenceId            Settled inference.
    /// @param claimedAttributionHash Attribution hash the disputer computed.
    /// @return disputeId             The new dispute id.
    function dispute(uint256 inferenceId, bytes32 claimedAttributionHash)
        external
        payable
        nonReentrant
        returns (uint256 disputeId)
    {
        if (msg.value != disputeBond) revert IncorrectBond(msg.value, disputeBond);
        (address provider,,) = PAYABLE_AI.openDispute(inferenceId);

        disputeId = ++disputeCount;
        _disputes[disputeId] = Dispute({
            inferenceId: inferenceId,
            disputer: msg.sender,
            provider: provider,
            // disputeBond <= MAX_DISPUTE_BOND < 2**96.
            bond: uint96(msg.value),
            status: DisputeStatus.Open,
            claimedAttributionHash: claimedAttributionHash
        });
        _providers[provider].openDisputes += 1;
        emit DisputeOpened(disputeId, inferenceId, msg.sender, provider, msg.value, claimedAttributionHash);
    }

    /// @notice Resolves an open dispute. RESOLVER_ROLE only. On an overturn the
    ///         provider is slashed, the disputer is credited its bond and
    ///         reward, and PayableAI replaces the split with the corrected one
    ///         (which it validates like a settlement); otherwise the bond goes
    ///         to the treasury and the arrays are ignored.
    /// @param disputeId       Dispute id.
    /// @param overturn        Whether the settlement was wrong.
    /// @param queryHash       Corrected query record hash (overturn only).
    /// @param contributionIds Corrected contribution ids (overturn only).
    /// @param weights         Corrected weights (overturn only).
    function resolveDispute(
        uint256 disputeId,
        bool overturn,
        bytes32 queryHash,
        uint256[] calldata contributionIds,
        uint32[] calldata weights
    ) external onlyRole(RESOLVER_ROLE) nonReentrant {
        Dispute storage d = _disputes[disputeId];
        if (d.status != DisputeStatus.Open) revert DisputeNotOpen(disputeId, d.status);
        _providers[d.provider].openDisputes -= 1;
        address treasury = PAYABLE_AI.treasury();
        uint256 bond = d.bond;

        if (overturn) {
            d.status = DisputeStatus.Overturned;
            (uint256 slashed, uint256 reward) = _slash(d.provider);
            _credit(d.disputer, bond + reward);
            _credit(treasury, slashed - reward);
            emit ProviderSlashed(d.provider, disputeId, slashed, reward);
        } else {
            d.status = DisputeStatus.Upheld;
            _credit(treasury, bond);
        }
        // PayableAI is a trusted predeploy; a corrected split that fails its
        // validation reverts the whole resolution.
        bytes32 attributionHash =
            PAYABLE_AI.resolveDispute(d.inferenceId, overturn, queryHash, contributionIds, weights);
        emit DisputeResolved(disputeId, d.inferenceId, overturn, overturn ? attributionHash : bytes32(0));
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
        return _providers[provider].stake >= minProviderStake;
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

    // --------------------------------------------------------------- internal

    /// @dev Takes slashBps of the provider's active plus unbonding stake,
    ///      active stake first; returns the amount and the disputer's reward.
    function _slash(address provider) private returns (uint256 slashed, uint256 reward) {
        Provider storage p = _providers[provider];
        uint256 active = p.stake;
        uint256 unbonding = p.unbonding;
        slashed = (active + unbonding) * slashBps / BPS_DENOMINATOR;
        uint256 fromActive = slashed < active ? slashed : active;
        // Both results are at most the uint128 values they replace.
        p.stake = uint128(active - fromActive);
        p.unbonding = uint128(unbonding - (slashed - fromActive));
        reward = slashed * disputerRewardBps / BPS_DENOMINATOR;
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
}
