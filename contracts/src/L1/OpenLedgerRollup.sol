// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {Types} from "../libraries/Types.sol";
import {IOpenLedgerRollup} from "./interfaces/IOpenLedgerRollup.sol";

/// @title OpenLedgerRollup
/// @notice The OpenLedger rollup's commitments on L1: the sequencer posts one
///         batch per submitBatch (the hash of its data and the output root after
///         its last L2 block), validators stake OPEN and may challenge an output
///         within its challenge window, and a stake-weighted vote of the
///         validators decides the challenge. A rejected output is rolled back
///         together with every later one and the sequencer's bond is slashed.
///         The portal releases withdrawals only against final outputs.
///
///         Trust model: an honest majority of the validator stake that votes.
///         Nothing here re-executes L2 blocks; a challenge is decided by the
///         stake that votes on it, so validators holding a majority of the voted
///         stake can reject a correct output or keep an incorrect one, and a
///         quorum that honest validators cannot reach lets an incorrect output
///         stand. Safety therefore needs honest validators to hold more than half
///         of the stake that votes and at least quorumBps of the active stake,
///         and liveness of challenges needs at least one honest staked validator
///         watching every output during its window. The admin (intended to be a
///         TimelockController) can change every parameter and the sequencer.
///
///         Finality: an output is final once its challenge window has passed
///         and neither it nor any earlier output has an open challenge, because
///         rejecting an output rolls back every later one; a final output can
///         never be rolled back. Challenge deadlines never decrease with the
///         output index (an output's deadline is at least its predecessor's), so
///         the final outputs are always a prefix of the live ones.
///
///         Slashing: when a challenge succeeds, slashFractionBps of the bond of
///         the sequencer that submitted the rejected output is taken; the
///         challenger gets its bond back plus a reward of at most
///         challengeBond * challengerRewardFactorBps / 10000 (capped at the
///         slashed amount), and the rest of the slashed OPEN goes to the treasury.
///         A challenge that fails (no quorum, or the posted root keeps at least
///         half of the voted stake) forfeits the challenger's bond to the
///         treasury. Voters are neither rewarded nor slashed.
/// @dev    OPEN held here always equals totalSequencerBonds + totalActiveStake +
///         totalUnbonding + totalChallengeBonds (plus anything sent to this
///         contract by plain transfer, which is never paid out).
contract OpenLedgerRollup is IOpenLedgerRollup, AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Lifecycle of a challenge. Succeeded: the output was rejected and
    ///         rolled back. Failed: the output stands. Cancelled: the output was
    ///         rolled back by an earlier output's challenge first.
    enum ChallengeStatus {
        None,
        Open,
        Succeeded,
        Failed,
        Cancelled
    }

    /// @notice Everything stored for one live batch and its output.
    /// @custom:field outputRoot        Output root after lastBlock.
    /// @custom:field dataHash          keccak256 of the batch data.
    /// @custom:field firstBlock        First L2 block of the batch.
    /// @custom:field lastBlock         Last L2 block of the batch (the output's block).
    /// @custom:field timestamp         L1 timestamp of the submission.
    /// @custom:field challengeDeadline Challenges are accepted while block.timestamp < this.
    /// @custom:field proposer          Sequencer that submitted the batch (bond at stake).
    /// @custom:field nonce             Serial number of the submission, unique across rollbacks.
    struct Batch {
        bytes32 outputRoot;
        bytes32 dataHash;
        uint64 firstBlock;
        uint64 lastBlock;
        uint64 timestamp;
        uint64 challengeDeadline;
        address proposer;
        uint64 nonce;
    }

    /// @notice A validator's stake.
    /// @custom:field active           Stake that votes and counts towards quorum.
    /// @custom:field unbonding        Stake requested out, withdrawable at unbondingReadyAt.
    /// @custom:field unbondingReadyAt Time from which withdrawStake pays out `unbonding`.
    /// @custom:field lockedUntil      End of the latest vote the validator took part in;
    ///                                stake requested out before then stays until then.
    struct Validator {
        uint256 active;
        uint256 unbonding;
        uint64 unbondingReadyAt;
        uint64 lockedUntil;
    }

    /// @notice One challenge of one output.
    /// @custom:field challenger     Validator that opened it (its claim is its vote).
    /// @custom:field votingEndsAt   Votes are accepted while block.timestamp < this.
    /// @custom:field status         Lifecycle state.
    /// @custom:field outputIndex    The challenged output.
    /// @custom:field outputNonce    Batch.nonce of the challenged output.
    /// @custom:field outputRoot     The posted root under challenge.
    /// @custom:field claimedRoot    The root the challenger computed.
    /// @custom:field bond           OPEN escrowed from the challenger.
    /// @custom:field quorumStake    Voted stake needed, fixed when opened.
    /// @custom:field totalVotes     Stake that voted, any root.
    /// @custom:field votesForOutput Stake that voted for the posted root.
    struct Challenge {
        address challenger;
        uint64 votingEndsAt;
        ChallengeStatus status;
        uint256 outputIndex;
        uint64 outputNonce;
        bytes32 outputRoot;
        bytes32 claimedRoot;
        uint256 bond;
        uint256 quorumStake;
        uint256 totalVotes;
        uint256 votesForOutput;
    }

    /// @notice Initial values of every parameter (each has a setter and bounds).
    ///         Recommended mainnet values in brackets.
    /// @custom:field sequencer                 The batch submitter.
    /// @custom:field treasury                  Receives forfeited bonds and slashed OPEN.
    /// @custom:field minSequencerBond          [100,000 OPEN] bond needed to submit.
    /// @custom:field minValidatorStake         [10,000 OPEN] active stake needed to challenge and vote.
    /// @custom:field challengeBond             [1,000 OPEN] escrowed per challenge.
    /// @custom:field unbondingDelay            [7 days] seconds from requestUnstake to withdrawStake.
    /// @custom:field challengeWindow           [7 days] seconds an output can be challenged.
    /// @custom:field votingPeriod              [3 days] seconds a challenge's vote lasts.
    /// @custom:field quorumBps                 [3,334] share of active stake that must vote.
    /// @custom:field slashFractionBps          [5,000] share of the sequencer's bond slashed.
    /// @custom:field challengerRewardFactorBps [20,000] challenger reward cap, as a multiple of its bond.
    struct Config {
        address sequencer;
        address treasury;
        uint256 minSequencerBond;
        uint256 minValidatorStake;
        uint256 challengeBond;
        uint256 unbondingDelay;
        uint256 challengeWindow;
        uint256 votingPeriod;
        uint256 quorumBps;
        uint256 slashFractionBps;
        uint256 challengerRewardFactorBps;
    }

    // ---------------------------------------------------------------- bounds

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Lower bound of minSequencerBond, minValidatorStake and challengeBond (1 OPEN).
    uint256 public constant MIN_AMOUNT = 1e18;
    /// @notice Upper bound of minSequencerBond, minValidatorStake and challengeBond (10% of supply).
    uint256 public constant MAX_AMOUNT = 100_000_000e18;
    /// @notice Upper bound of challengeWindow and votingPeriod.
    uint256 public constant MAX_PERIOD = 30 days;
    /// @notice Upper bound of unbondingDelay.
    uint256 public constant MAX_UNBONDING_DELAY = 90 days;
    /// @notice Upper bound of challengerRewardFactorBps (10x the challenge bond).
    uint256 public constant MAX_REWARD_FACTOR_BPS = 100_000;

    uint256 private constant NONE = type(uint256).max;

    // ----------------------------------------------------------------- state

    /// @notice The OPEN token, in which bonds, stakes and rewards are held.
    IERC20 public immutable openToken;

    /// @notice The only address allowed to submit batches.
    address public sequencer;
    /// @notice Receives forfeited challenge bonds and the treasury's share of slashes.
    address public treasury;
    /// @notice Bond the sequencer must hold to submit a batch.
    uint256 public minSequencerBond;
    /// @notice Active stake a validator needs to challenge and vote.
    uint256 public minValidatorStake;
    /// @notice OPEN a challenger escrows per challenge.
    uint256 public challengeBond;
    /// @notice Seconds between requestUnstake and withdrawStake.
    uint64 public unbondingDelay;
    /// @notice Seconds after submission during which an output can be challenged.
    uint64 public challengeWindow;
    /// @notice Seconds a challenge's vote lasts.
    uint64 public votingPeriod;
    /// @notice Share of the active stake (at opening) that must vote, in basis points.
    uint16 public quorumBps;
    /// @notice Share of the sequencer's bond slashed on a rejected output, in basis points.
    uint16 public slashFractionBps;
    /// @notice Cap on the challenger's reward as a multiple of its bond, in basis points.
    uint32 public challengerRewardFactorBps;

    /// @notice Sequencer bond held for each address.
    mapping(address => uint256) public sequencerBond;
    /// @notice Sum of all sequencer bonds.
    uint256 public totalSequencerBonds;
    /// @notice Sum of all validators' active stake.
    uint256 public totalActiveStake;
    /// @notice Sum of all validators' unbonding stake.
    uint256 public totalUnbonding;
    /// @notice Sum of the bonds of challenges not yet resolved.
    uint256 public totalChallengeBonds;
    /// @notice Number of challenges ever opened; challenge ids are 1..challengeCount.
    uint256 public challengeCount;
    /// @notice Whether a validator has voted (or challenged) in a challenge.
    mapping(uint256 challengeId => mapping(address validator => bool)) public hasVoted;

    mapping(uint256 => Batch) private _batches;
    uint256 private _nextBatchIndex;
    uint64 private _batchNonce;
    /// @dev Per proposer, 1 + the index of its latest submission (0: none).
    mapping(address => uint256) private _lastBatchPlusOne;
    mapping(address => Validator) private _validators;
    mapping(uint256 => Challenge) private _challenges;
    /// @dev Bit i set: live output i has an open challenge.
    mapping(uint256 => uint256) private _challengedBits;
    /// @dev Lowest output index with an open challenge, NONE when there is none.
    uint256 private _lowestChallenged = NONE;

    // ---------------------------------------------------------------- events

    /// @notice A batch and its output were committed.
    /// @param batchIndex Batch (and output) index.
    /// @param firstBlock First L2 block of the batch.
    /// @param lastBlock  Last L2 block of the batch; the output root is after it.
    /// @param outputRoot Output root after lastBlock.
    /// @param dataHash   keccak256 of the batch data (the data is in the calldata).
    event BatchSubmitted(
        uint256 indexed batchIndex, uint64 firstBlock, uint64 lastBlock, bytes32 outputRoot, bytes32 dataHash
    );
    /// @notice Outputs fromIndex..previousNextIndex-1 were deleted; nextBatchIndex is now fromIndex.
    /// @param fromIndex         The rejected output.
    /// @param previousNextIndex nextBatchIndex before the rollback.
    event OutputsRolledBack(uint256 indexed fromIndex, uint256 previousNextIndex);
    /// @notice `account` added to its sequencer bond.
    event SequencerBondDeposited(address indexed account, uint256 amount, uint256 bond);
    /// @notice `account` took OPEN out of its sequencer bond.
    event SequencerBondWithdrawn(address indexed account, uint256 amount, uint256 bond);
    /// @notice A sequencer's bond was slashed for a rejected output.
    /// @param sequencer   Proposer of the rejected output.
    /// @param challengeId The successful challenge.
    /// @param amount      OPEN taken from the bond.
    /// @param toChallenger Part paid to the challenger (on top of its returned bond).
    /// @param toTreasury  Part paid to the treasury.
    event SequencerSlashed(
        address indexed sequencer, uint256 indexed challengeId, uint256 amount, uint256 toChallenger, uint256 toTreasury
    );
    /// @notice A validator added active stake.
    event Staked(address indexed validator, uint256 amount, uint256 activeStake);
    /// @notice A validator moved active stake to unbonding.
    event UnstakeRequested(address indexed validator, uint256 amount, uint256 unbonding, uint64 readyAt);
    /// @notice A validator withdrew its unbonded stake.
    event StakeWithdrawn(address indexed validator, uint256 amount);
    /// @notice A challenge was opened.
    event ChallengeOpened(
        uint256 indexed challengeId,
        uint256 indexed outputIndex,
        address indexed challenger,
        bytes32 outputRoot,
        bytes32 claimedRoot,
        uint256 bond,
        uint64 votingEndsAt
    );
    /// @notice A validator voted `root` with `weight` stake (the challenger's claim included).
    event Voted(uint256 indexed challengeId, address indexed validator, bytes32 root, uint256 weight);
    /// @notice A challenge ended with `status` (Succeeded, Failed or Cancelled).
    event ChallengeResolved(
        uint256 indexed challengeId,
        uint256 indexed outputIndex,
        ChallengeStatus status,
        uint256 votesForOutput,
        uint256 totalVotes
    );
    /// @notice The sequencer address changed.
    event SequencerUpdated(address indexed previous, address indexed current);
    /// @notice The treasury address changed.
    event TreasuryUpdated(address indexed previous, address indexed current);
    /// @notice minSequencerBond changed.
    event MinSequencerBondUpdated(uint256 previous, uint256 current);
    /// @notice minValidatorStake changed.
    event MinValidatorStakeUpdated(uint256 previous, uint256 current);
    /// @notice challengeBond changed.
    event ChallengeBondUpdated(uint256 previous, uint256 current);
    /// @notice unbondingDelay changed.
    event UnbondingDelayUpdated(uint256 previous, uint256 current);
    /// @notice challengeWindow changed (applies to outputs submitted afterwards).
    event ChallengeWindowUpdated(uint256 previous, uint256 current);
    /// @notice votingPeriod changed (applies to challenges opened afterwards).
    event VotingPeriodUpdated(uint256 previous, uint256 current);
    /// @notice quorumBps changed (applies to challenges opened afterwards).
    event QuorumBpsUpdated(uint256 previous, uint256 current);
    /// @notice slashFractionBps changed.
    event SlashFractionBpsUpdated(uint256 previous, uint256 current);
    /// @notice challengerRewardFactorBps changed.
    event ChallengerRewardFactorBpsUpdated(uint256 previous, uint256 current);

    // ---------------------------------------------------------------- errors

    /// @notice The caller is not the sequencer.
    error NotSequencer(address caller);
    /// @notice The sequencer's bond is below minSequencerBond.
    error InsufficientSequencerBond(uint256 bond, uint256 required);
    /// @notice batchIndex is not nextBatchIndex.
    error UnexpectedBatchIndex(uint256 expected, uint256 actual);
    /// @notice firstBlock does not follow the previous batch's lastBlock.
    error NonContiguousBlocks(uint64 expectedFirstBlock, uint64 firstBlock);
    /// @notice lastBlock < firstBlock, or lastBlock is the largest uint64.
    error InvalidBlockRange(uint64 firstBlock, uint64 lastBlock);
    /// @notice The output root is zero.
    error ZeroOutputRoot();
    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice Withdrawal of more than the bond.
    error InsufficientBond(uint256 bond, uint256 amount);
    /// @notice The bond backs outputs that are not final yet; `outputIndex` must be final first.
    error BondLocked(uint256 outputIndex);
    /// @notice A validator's active stake would be positive but below minValidatorStake.
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    /// @notice requestUnstake of more than the active stake.
    error InsufficientStake(uint256 active, uint256 amount);
    /// @notice withdrawStake with nothing unbonding.
    error NothingToWithdraw();
    /// @notice withdrawStake before the unbonding delay (or a vote lock) has passed.
    error UnbondingNotFinished(uint64 readyAt);
    /// @notice The caller's active stake is below minValidatorStake.
    error NotValidator(address account);
    /// @notice The output's challenge window has passed.
    error ChallengeWindowClosed(uint256 outputIndex, uint64 deadline);
    /// @notice The output already has an open challenge.
    error ChallengeAlreadyOpen(uint256 outputIndex);
    /// @notice The claimed root equals the posted root.
    error ClaimMatchesOutput(uint256 outputIndex, bytes32 root);
    /// @notice No challenge has this id.
    error UnknownChallenge(uint256 challengeId);
    /// @notice The challenge is already resolved.
    error ChallengeNotOpen(uint256 challengeId);
    /// @notice The challenged output was rolled back by another challenge; resolve cancels it.
    error ChallengeStale(uint256 challengeId);
    /// @notice The challenge's voting period is over.
    error VotingClosed(uint256 challengeId, uint64 votingEndsAt);
    /// @notice The challenge's voting period is not over yet.
    error VotingNotEnded(uint256 challengeId, uint64 votingEndsAt);
    /// @notice The validator already voted in this challenge.
    error AlreadyVoted(uint256 challengeId, address validator);
    /// @notice A parameter value outside [min, max].
    error ParameterOutOfBounds(uint256 value, uint256 min, uint256 max);
    /// @notice A zero (or otherwise unusable) address.
    error InvalidAddress(address account);

    // ----------------------------------------------------------- constructor

    /// @param openToken_ The OPEN token.
    /// @param admin      Holder of DEFAULT_ADMIN_ROLE (a TimelockController in production).
    /// @param config     Initial parameters; each is checked against the setter's bounds.
    constructor(IERC20 openToken_, address admin, Config memory config) {
        if (address(openToken_) == address(0)) revert InvalidAddress(address(0));
        if (admin == address(0)) revert InvalidAddress(address(0));
        openToken = openToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setSequencer(config.sequencer);
        _setTreasury(config.treasury);
        _setMinSequencerBond(config.minSequencerBond);
        _setMinValidatorStake(config.minValidatorStake);
        _setChallengeBond(config.challengeBond);
        _setUnbondingDelay(config.unbondingDelay);
        _setChallengeWindow(config.challengeWindow);
        _setVotingPeriod(config.votingPeriod);
        _setQuorumBps(config.quorumBps);
        _setSlashFractionBps(config.slashFractionBps);
        _setChallengerRewardFactorBps(config.challengerRewardFactorBps);
    }

    // --------------------------------------------------------------- batches

    /// @notice Commits batch `batchIndex`: the hash of `data` and the output root
    ///         after `lastBlock`. Output `batchIndex` is created with it.
    /// @dev Only the sequencer, holding at least minSequencerBond. Batches cover
    ///      contiguous L2 block ranges starting at block 1 (block 0 is genesis).
    /// @param batchIndex Must equal nextBatchIndex().
    /// @param firstBlock Must be the previous batch's lastBlock + 1 (1 for the first batch).
    /// @param lastBlock  Last L2 block of the batch, >= firstBlock.
    /// @param outputRoot Output root after lastBlock; nonzero.
    /// @param data       The encoded batch; only its hash is stored.
    function submitBatch(
        uint256 batchIndex,
        uint64 firstBlock,
        uint64 lastBlock,
        bytes32 outputRoot,
        bytes calldata data
    ) external {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        uint256 index = _nextBatchIndex;
        if (batchIndex != index) revert UnexpectedBatchIndex(index, batchIndex);
        uint64 expectedFirst = index == 0 ? 1 : _batches[index - 1].lastBlock + 1;
        if (firstBlock != expectedFirst) revert NonContiguousBlocks(expectedFirst, firstBlock);
        if (lastBlock < firstBlock || lastBlock == type(uint64).max) revert InvalidBlockRange(firstBlock, lastBlock);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        uint256 bond = sequencerBond[msg.sender];
        if (bond < minSequencerBond) revert InsufficientSequencerBond(bond, minSequencerBond);

        // Deadlines never decrease with the index, so a passed deadline means
        // every earlier output's deadline has passed too (finality is a prefix).
        uint64 deadline = uint64(block.timestamp) + challengeWindow;
        if (index > 0) deadline = uint64(Math.max(deadline, _batches[index - 1].challengeDeadline));
        bytes32 dataHash = keccak256(data);
        _batches[index] = Batch({
            outputRoot: outputRoot,
            dataHash: dataHash,
            firstBlock: firstBlock,
            lastBlock: lastBlock,
            timestamp: uint64(block.timestamp),
            challengeDeadline: deadline,
            proposer: msg.sender,
            nonce: ++_batchNonce
        });
        _nextBatchIndex = index + 1;
        _lastBatchPlusOne[msg.sender] = index + 1;
        emit BatchSubmitted(index, firstBlock, lastBlock, outputRoot, dataHash);
    }

    /// @inheritdoc IOpenLedgerRollup
    function latestOutputIndex() external view returns (uint256) {
        if (_nextBatchIndex == 0) revert NoOutputs();
        return _nextBatchIndex - 1;
    }

    /// @inheritdoc IOpenLedgerRollup
    function nextBatchIndex() external view returns (uint256) {
        return _nextBatchIndex;
    }

    /// @inheritdoc IOpenLedgerRollup
    function getL2Output(uint256 outputIndex) external view returns (Types.OutputProposal memory) {
        Batch storage batch = _liveBatch(outputIndex);
        return Types.OutputProposal({
            outputRoot: batch.outputRoot, l2BlockNumber: batch.lastBlock, timestamp: batch.timestamp
        });
    }

    /// @inheritdoc IOpenLedgerRollup
    function isOutputFinalized(uint256 outputIndex) external view returns (bool) {
        return _isFinalized(outputIndex);
    }

    /// @notice Everything stored for live batch `batchIndex`.
    /// @dev Reverts UnknownOutput(batchIndex) for an index that is not live.
    /// @param batchIndex The batch (output) index.
    /// @return The batch record.
    function getBatch(uint256 batchIndex) external view returns (Batch memory) {
        return _liveBatch(batchIndex);
    }

    /// @notice Number of final outputs; outputs 0..finalizedOutputCount()-1 are
    ///         exactly the final ones (finality is a prefix).
    /// @return The count (0 when no output is final).
    function finalizedOutputCount() external view returns (uint256) {
        uint256 low = 0;
        uint256 high = Math.min(_nextBatchIndex, _lowestChallenged);
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (block.timestamp >= _batches[mid].challengeDeadline) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    /// @notice Whether live output `outputIndex` has an open challenge.
    /// @param outputIndex The output index; unknown indexes give false.
    /// @return True while a challenge of it is open.
    function hasOpenChallenge(uint256 outputIndex) external view returns (bool) {
        return outputIndex < _nextBatchIndex && _isChallenged(outputIndex);
    }

    // ------------------------------------------------------- sequencer bonds

    /// @notice Adds `amount` OPEN (pulled with transferFrom) to the caller's
    ///         sequencer bond. Anyone may bond; only the sequencer address submits.
    /// @param amount OPEN to add; nonzero; approve this contract first.
    function depositSequencerBond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 bond = sequencerBond[msg.sender] + amount;
        sequencerBond[msg.sender] = bond;
        totalSequencerBonds += amount;
        emit SequencerBondDeposited(msg.sender, amount, bond);
        openToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraws `amount` OPEN of the caller's sequencer bond.
    /// @dev The bond stays locked until every live output the caller submitted
    ///      is final (checked on the caller's newest submission, or the newest
    ///      live output if that one was rolled back): it is what a challenge
    ///      slashes.
    /// @param amount OPEN to withdraw; nonzero, at most the bond.
    function withdrawSequencerBond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 bond = sequencerBond[msg.sender];
        if (amount > bond) revert InsufficientBond(bond, amount);
        uint256 lastPlusOne = _lastBatchPlusOne[msg.sender];
        uint256 next = _nextBatchIndex;
        if (lastPlusOne != 0 && next != 0) {
            uint256 newest = Math.min(lastPlusOne, next) - 1;
            if (!_isFinalized(newest)) revert BondLocked(newest);
        }
        sequencerBond[msg.sender] = bond - amount;
        totalSequencerBonds -= amount;
        emit SequencerBondWithdrawn(msg.sender, amount, bond - amount);
        openToken.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------ validators

    /// @notice Adds `amount` OPEN (pulled with transferFrom) to the caller's
    ///         active stake; the result must reach minValidatorStake.
    /// @param amount OPEN to stake; nonzero; approve this contract first.
    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Validator storage validator = _validators[msg.sender];
        uint256 active = validator.active + amount;
        if (active < minValidatorStake) revert StakeBelowMinimum(active, minValidatorStake);
        validator.active = active;
        totalActiveStake += amount;
        emit Staked(msg.sender, amount, active);
        openToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Moves `amount` of the caller's active stake to unbonding; it stops
    ///         voting at once and can be withdrawn after unbondingDelay.
    /// @dev The remaining active stake must be zero or at least minValidatorStake.
    ///      All unbonding stake shares one ready time, which each request moves
    ///      to max(previous, now + unbondingDelay, end of the caller's latest
    ///      vote) so that voted stake cannot be withdrawn and vote again.
    /// @param amount OPEN to unstake; nonzero, at most the active stake.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Validator storage validator = _validators[msg.sender];
        uint256 active = validator.active;
        if (amount > active) revert InsufficientStake(active, amount);
        uint256 remaining = active - amount;
        if (remaining != 0 && remaining < minValidatorStake) revert StakeBelowMinimum(remaining, minValidatorStake);
        uint64 readyAt = uint64(block.timestamp) + unbondingDelay;
        if (validator.lockedUntil > readyAt) readyAt = validator.lockedUntil;
        if (validator.unbondingReadyAt > readyAt) readyAt = validator.unbondingReadyAt;
        validator.active = remaining;
        validator.unbonding += amount;
        validator.unbondingReadyAt = readyAt;
        totalActiveStake -= amount;
        totalUnbonding += amount;
        emit UnstakeRequested(msg.sender, amount, validator.unbonding, readyAt);
    }

    /// @notice Pays out all of the caller's unbonding stake once its ready time has come.
    function withdrawStake() external {
        Validator storage validator = _validators[msg.sender];
        uint256 amount = validator.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < validator.unbondingReadyAt) revert UnbondingNotFinished(validator.unbondingReadyAt);
        validator.unbonding = 0;
        validator.unbondingReadyAt = 0;
        totalUnbonding -= amount;
        emit StakeWithdrawn(msg.sender, amount);
        openToken.safeTransfer(msg.sender, amount);
    }

    /// @notice The stake of `account`.
    /// @param account The validator.
    /// @return The validator record (all zero for an unknown account).
    function getValidator(address account) external view returns (Validator memory) {
        return _validators[account];
    }

    // ------------------------------------------------------------ challenges

    /// @notice Opens a challenge of output `outputIndex`, claiming its root is
    ///         `claimedRoot`; escrows challengeBond OPEN (transferFrom) and counts
    ///         the claim as the caller's vote with its active stake.
    /// @dev Only a validator with at least minValidatorStake active, while the
    ///      output's challenge window is open and no challenge of it is open.
    /// @param outputIndex A live output.
    /// @param claimedRoot The root the caller computed; must differ from the posted one.
    /// @return challengeId Id of the new challenge.
    function challenge(uint256 outputIndex, bytes32 claimedRoot) external returns (uint256 challengeId) {
        uint256 weight = _requireValidator(msg.sender);
        Batch storage batch = _liveBatch(outputIndex);
        if (block.timestamp >= batch.challengeDeadline) {
            revert ChallengeWindowClosed(outputIndex, batch.challengeDeadline);
        }
        if (_isChallenged(outputIndex)) revert ChallengeAlreadyOpen(outputIndex);
        if (claimedRoot == batch.outputRoot) revert ClaimMatchesOutput(outputIndex, claimedRoot);

        challengeId = ++challengeCount;
        uint256 bond = challengeBond;
        uint64 votingEndsAt = uint64(block.timestamp) + votingPeriod;
        _challenges[challengeId] = Challenge({
            challenger: msg.sender,
            votingEndsAt: votingEndsAt,
            status: ChallengeStatus.Open,
            outputIndex: outputIndex,
            outputNonce: batch.nonce,
            outputRoot: batch.outputRoot,
            claimedRoot: claimedRoot,
            bond: bond,
            quorumStake: Math.mulDiv(totalActiveStake, quorumBps, BPS, Math.Rounding.Ceil),
            totalVotes: weight,
            votesForOutput: 0
        });
        hasVoted[challengeId][msg.sender] = true;
        _lockUntil(msg.sender, votingEndsAt);
        _markChallenged(outputIndex);
        totalChallengeBonds += bond;
        emit ChallengeOpened(
            challengeId, outputIndex, msg.sender, batch.outputRoot, claimedRoot, bond, votingEndsAt
        );
        emit Voted(challengeId, msg.sender, claimedRoot, weight);
        openToken.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @notice Votes `root` (the caller's own computation of the output root) in
    ///         challenge `challengeId`, weighted by the caller's active stake now.
    /// @dev Once per validator per challenge, before the voting period ends. The
    ///      caller's unbonding stake cannot be withdrawn before the vote ends.
    /// @param challengeId An open challenge.
    /// @param root        The root the caller computed for the challenged output.
    function vote(uint256 challengeId, bytes32 root) external {
        Challenge storage c = _openChallenge(challengeId);
        if (_isStale(c)) revert ChallengeStale(challengeId);
        if (block.timestamp >= c.votingEndsAt) revert VotingClosed(challengeId, c.votingEndsAt);
        if (hasVoted[challengeId][msg.sender]) revert AlreadyVoted(challengeId, msg.sender);
        uint256 weight = _requireValidator(msg.sender);
        hasVoted[challengeId][msg.sender] = true;
        c.totalVotes += weight;
        if (root == c.outputRoot) c.votesForOutput += weight;
        _lockUntil(msg.sender, c.votingEndsAt);
        emit Voted(challengeId, msg.sender, root, weight);
    }

    /// @notice Settles challenge `challengeId`; callable by anyone.
    /// @dev After the voting period: the output is rejected when the votes
    ///      reached quorum and the posted root got less than half of the voted
    ///      stake; it and every later output are rolled back, the proposer's
    ///      bond is slashed and the challenger is repaid with a reward. Otherwise
    ///      the challenger's bond goes to the treasury. A challenge whose output
    ///      was already rolled back by another challenge is cancelled (bond
    ///      returned) at any time.
    /// @param challengeId An open challenge.
    /// @return status The outcome: Succeeded, Failed or Cancelled.
    function resolve(uint256 challengeId) external returns (ChallengeStatus status) {
        Challenge storage c = _openChallenge(challengeId);
        uint256 outputIndex = c.outputIndex;
        uint256 bond = c.bond;
        address challenger = c.challenger;

        if (_isStale(c)) {
            c.status = ChallengeStatus.Cancelled;
            totalChallengeBonds -= bond;
            emit ChallengeResolved(challengeId, outputIndex, ChallengeStatus.Cancelled, c.votesForOutput, c.totalVotes);
            openToken.safeTransfer(challenger, bond);
            return ChallengeStatus.Cancelled;
        }
        if (block.timestamp < c.votingEndsAt) revert VotingNotEnded(challengeId, c.votingEndsAt);

        totalChallengeBonds -= bond;
        if (c.totalVotes < c.quorumStake || c.votesForOutput * 2 >= c.totalVotes) {
            c.status = ChallengeStatus.Failed;
            _unmarkChallenged(outputIndex);
            emit ChallengeResolved(challengeId, outputIndex, ChallengeStatus.Failed, c.votesForOutput, c.totalVotes);
            openToken.safeTransfer(treasury, bond);
            return ChallengeStatus.Failed;
        }

        c.status = ChallengeStatus.Succeeded;
        address proposer = _batches[outputIndex].proposer;
        uint256 previousNext = _rollBack(outputIndex);
        uint256 proposerBond = sequencerBond[proposer];
        uint256 slashed = proposerBond * slashFractionBps / BPS;
        uint256 reward = Math.min(slashed, bond * challengerRewardFactorBps / BPS);
        sequencerBond[proposer] = proposerBond - slashed;
        totalSequencerBonds -= slashed;
        emit ChallengeResolved(challengeId, outputIndex, ChallengeStatus.Succeeded, c.votesForOutput, c.totalVotes);
        emit OutputsRolledBack(outputIndex, previousNext);
        emit SequencerSlashed(proposer, challengeId, slashed, reward, slashed - reward);
        openToken.safeTransfer(challenger, bond + reward);
        if (slashed > reward) openToken.safeTransfer(treasury, slashed - reward);
        return ChallengeStatus.Succeeded;
    }

    /// @notice Challenge `challengeId`.
    /// @dev Reverts UnknownChallenge for an id never issued.
    /// @param challengeId The challenge id.
    /// @return The challenge record.
    function getChallenge(uint256 challengeId) external view returns (Challenge memory) {
        Challenge storage c = _challenges[challengeId];
        if (c.status == ChallengeStatus.None) revert UnknownChallenge(challengeId);
        return c;
    }

    // ----------------------------------------------------------------- admin

    /// @notice Sets the sequencer address (admin only). The previous sequencer's
    ///         bond stays locked until its outputs are final.
    /// @param account New sequencer; nonzero.
    function setSequencer(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSequencer(account);
    }

    /// @notice Sets the treasury address (admin only).
    /// @param account New treasury; nonzero and not this contract.
    function setTreasury(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(account);
    }

    /// @notice Sets minSequencerBond (admin only), within [MIN_AMOUNT, MAX_AMOUNT].
    /// @param value New minimum bond.
    function setMinSequencerBond(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinSequencerBond(value);
    }

    /// @notice Sets minValidatorStake (admin only), within [MIN_AMOUNT, MAX_AMOUNT].
    ///         Validators below a raised minimum cannot vote until they top up.
    /// @param value New minimum stake.
    function setMinValidatorStake(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinValidatorStake(value);
    }

    /// @notice Sets challengeBond (admin only), within [MIN_AMOUNT, MAX_AMOUNT];
    ///         open challenges keep the bond they escrowed.
    /// @param value New challenge bond.
    function setChallengeBond(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setChallengeBond(value);
    }

    /// @notice Sets unbondingDelay in seconds (admin only), within [1, MAX_UNBONDING_DELAY];
    ///         stake already unbonding keeps its ready time.
    /// @param value New delay.
    function setUnbondingDelay(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingDelay(value);
    }

    /// @notice Sets challengeWindow in seconds (admin only), within [1, MAX_PERIOD];
    ///         outputs already submitted keep their deadlines.
    /// @param value New window.
    function setChallengeWindow(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setChallengeWindow(value);
    }

    /// @notice Sets votingPeriod in seconds (admin only), within [1, MAX_PERIOD];
    ///         open challenges keep their end time.
    /// @param value New voting period.
    function setVotingPeriod(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setVotingPeriod(value);
    }

    /// @notice Sets quorumBps (admin only), within [1, BPS]; open challenges keep their quorum.
    /// @param value New quorum in basis points of the active stake.
    function setQuorumBps(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setQuorumBps(value);
    }

    /// @notice Sets slashFractionBps (admin only), within [1, BPS].
    /// @param value New share of the bond slashed, in basis points.
    function setSlashFractionBps(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSlashFractionBps(value);
    }

    /// @notice Sets challengerRewardFactorBps (admin only), within [0, MAX_REWARD_FACTOR_BPS].
    /// @param value New reward cap as a multiple of the challenge bond, in basis points.
    function setChallengerRewardFactorBps(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setChallengerRewardFactorBps(value);
    }

    // -------------------------------------------------------------- internal

    function _liveBatch(uint256 index) private view returns (Batch storage) {
        if (index >= _nextBatchIndex) revert UnknownOutput(index);
        return _batches[index];
    }

    function _isFinalized(uint256 index) private view returns (bool) {
        return index < _nextBatchIndex && index < _lowestChallenged
            && block.timestamp >= _batches[index].challengeDeadline;
    }

    function _requireValidator(address account) private view returns (uint256 active) {
        active = _validators[account].active;
        if (active == 0 || active < minValidatorStake) revert NotValidator(account);
    }

    function _lockUntil(address account, uint64 time) private {
        Validator storage validator = _validators[account];
        if (validator.lockedUntil < time) validator.lockedUntil = time;
    }

    function _openChallenge(uint256 challengeId) private view returns (Challenge storage c) {
        c = _challenges[challengeId];
        if (c.status == ChallengeStatus.None) revert UnknownChallenge(challengeId);
        if (c.status != ChallengeStatus.Open) revert ChallengeNotOpen(challengeId);
    }

    /// @dev The challenged output is no longer live: a challenge of an earlier
    ///      output rolled it back (the index may hold a newer output since).
    function _isStale(Challenge storage c) private view returns (bool) {
        return c.outputIndex >= _nextBatchIndex || _batches[c.outputIndex].nonce != c.outputNonce;
    }

    /// @dev Deletes outputs from..end (their slots are overwritten by later
    ///      submissions) and forgets their open challenges, which resolve then
    ///      cancels. `from` itself has an open challenge, so it is the lowest
    ///      challenged output at or above `from`.
    function _rollBack(uint256 from) private returns (uint256 previousNext) {
        previousNext = _nextBatchIndex;
        uint256 word = from >> 8;
        uint256 lastWord = (previousNext - 1) >> 8;
        _challengedBits[word] &= ~(type(uint256).max << (from & 255));
        for (++word; word <= lastWord; ++word) {
            delete _challengedBits[word];
        }
        if (_lowestChallenged >= from) _lowestChallenged = NONE;
        _nextBatchIndex = from;
    }

    function _isChallenged(uint256 index) private view returns (bool) {
        return (_challengedBits[index >> 8] >> (index & 255)) & 1 == 1;
    }

    function _markChallenged(uint256 index) private {
        _challengedBits[index >> 8] |= 1 << (index & 255);
        if (index < _lowestChallenged) _lowestChallenged = index;
    }

    function _unmarkChallenged(uint256 index) private {
        _challengedBits[index >> 8] &= ~(1 << (index & 255));
        if (index == _lowestChallenged) _lowestChallenged = _nextChallenged(index + 1);
    }

    /// @dev Lowest challenged output >= from, or NONE. Scans one word per 256
    ///      outputs; bits at or above nextBatchIndex are always clear.
    function _nextChallenged(uint256 from) private view returns (uint256) {
        uint256 next = _nextBatchIndex;
        if (from >= next) return NONE;
        uint256 word = from >> 8;
        uint256 lastWord = (next - 1) >> 8;
        uint256 bits = _challengedBits[word] & (type(uint256).max << (from & 255));
        while (bits == 0) {
            if (word == lastWord) return NONE;
            bits = _challengedBits[++word];
        }
        // The lowest set bit, isolated, is a power of two; log2 is its position.
        return (word << 8) | Math.log2(bits & (~bits + 1));
    }

    function _checkBounds(uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert ParameterOutOfBounds(value, min, max);
    }

    function _setSequencer(address account) private {
        if (account == address(0)) revert InvalidAddress(account);
        emit SequencerUpdated(sequencer, account);
        sequencer = account;
    }

    function _setTreasury(address account) private {
        if (account == address(0) || account == address(this)) revert InvalidAddress(account);
        emit TreasuryUpdated(treasury, account);
        treasury = account;
    }

    function _setMinSequencerBond(uint256 value) private {
        _checkBounds(value, MIN_AMOUNT, MAX_AMOUNT);
        emit MinSequencerBondUpdated(minSequencerBond, value);
        minSequencerBond = value;
    }

    function _setMinValidatorStake(uint256 value) private {
        _checkBounds(value, MIN_AMOUNT, MAX_AMOUNT);
        emit MinValidatorStakeUpdated(minValidatorStake, value);
        minValidatorStake = value;
    }

    function _setChallengeBond(uint256 value) private {
        _checkBounds(value, MIN_AMOUNT, MAX_AMOUNT);
        emit ChallengeBondUpdated(challengeBond, value);
        challengeBond = value;
    }

    function _setUnbondingDelay(uint256 value) private {
        _checkBounds(value, 1, MAX_UNBONDING_DELAY);
        emit UnbondingDelayUpdated(unbondingDelay, value);
        unbondingDelay = uint64(value);
    }

    function _setChallengeWindow(uint256 value) private {
        _checkBounds(value, 1, MAX_PERIOD);
        emit ChallengeWindowUpdated(challengeWindow, value);
        challengeWindow = uint64(value);
    }

    function _setVotingPeriod(uint256 value) private {
        _checkBounds(value, 1, MAX_PERIOD);
        emit VotingPeriodUpdated(votingPeriod, value);
        votingPeriod = uint64(value);
    }

    function _setQuorumBps(uint256 value) private {
        _checkBounds(value, 1, BPS);
        emit QuorumBpsUpdated(quorumBps, value);
        quorumBps = uint16(value);
    }

    function _setSlashFractionBps(uint256 value) private {
        _checkBounds(value, 1, BPS);
        emit SlashFractionBpsUpdated(slashFractionBps, value);
        slashFractionBps = uint16(value);
    }

    function _setChallengerRewardFactorBps(uint256 value) private {
        _checkBounds(value, 0, MAX_REWARD_FACTOR_BPS);
        emit ChallengerRewardFactorBpsUpdated(challengerRewardFactorBps, value);
        challengerRewardFactorBps = uint32(value);
    }
}
