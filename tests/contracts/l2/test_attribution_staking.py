"""AttributionStaking: provider stake and unbonding, disputes of settlements
decided by a stake-weighted vote of the staked providers, slashing of the
provider and of losing voters, and the redone split after an overturn.

Stakes in these tests: the fixture's provider holds MIN_PROVIDER_STAKE (100
OPEN); other voters are fresh accounts staking what each case needs, so the
quorum (QUORUM_BPS of the active stake when the dispute opens) and the
majorities are computed from the stakes shown in each test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
BPS = 10_000
DENOM = 1_000_000
ZERO = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32
ADMIN_ROLE = b"\x00" * 32
I_SETTLED, I_FINALIZED = 2, 3
D_NONE, D_OPEN, D_UPHELD, D_OVERTURNED = range(4)
S_NONE, S_OPEN, S_OVERTURNED, S_UPHELD = range(4)
C_PENDING = 1
CLAIMED = b"\xbb" * 32
QUERY = keccak(text="settled query record")
CORRECTED_QUERY = keccak(text="corrected query record")

# Deployment values (conftest).
MIN_PROVIDER_STAKE = 100 * OPEN
DISPUTE_BOND = 10 * OPEN
UNBONDING_DELAY = 8 * 86_400
VOTING_PERIOD = 3 * 86_400
QUORUM_BPS = 3_334
SLASH_BPS = 5_000
DISPUTER_REWARD_BPS = 2_000
VOTER_SLASH_BPS = 1_000
PROTOCOL_SHARE_BPS = 500
OWNER_SHARE_BPS = 2_000
MODEL_FEE = 3 * OPEN + 12_345


def provider_info(l2: L2Env, provider: str) -> dict[str, int]:
    keys = ("stake", "unbonding", "unbondingReleaseAt", "openDisputes", "lockedUntil", "pendingVotes")
    return dict(zip(keys, l2.staking.functions.providerInfo(provider).call(), strict=True))


def ballot(l2: L2Env, dispute_id: int, voter: str) -> tuple[bytes, int, bool]:
    return tuple(l2.staking.functions.ballot(dispute_id, voter).call())  # type: ignore[return-value]


def settled(l2: L2Env, ids: list[int], weights: list[int]) -> int:
    inference_id = l2.request()
    l2.settle(inference_id, ids, weights, query=QUERY)
    return inference_id


def staking_accounted(l2: L2Env) -> int:
    """What AttributionStaking must hold: every stake, open bonds and claimable balances."""
    f = l2.staking.functions
    return int(f.totalActiveStake().call() + f.totalUnbonding().call() + f.totalOpenBonds().call()
               + f.totalClaimable().call())


def quorum(active_stake: int) -> int:
    return -(-active_stake * QUORUM_BPS // BPS)


class Case:
    """A settled inference of one contribution, a corrected split of another,
    and the attribution hashes of both."""

    def __init__(self, l2: L2Env) -> None:
        self.ids, self.weights = [l2.accepted[0], l2.accepted[1]], [900_000, 100_000]
        self.new_ids, self.new_weights = [l2.accepted[1], l2.accepted[2], l2.accepted[3]], [200_000, 300_000, 500_000]
        self.inference_id = settled(l2, self.ids, self.weights)
        self.settled_hash = l2.attribution_hash(l2.model_id, QUERY, self.ids, self.weights)
        self.corrected_hash = l2.attribution_hash(l2.model_id, CORRECTED_QUERY, self.new_ids, self.new_weights)


# -------------------------------------------------------------------- stake


def test_stake_to_minimum_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    who = l2.outsider
    receipt = l2.send(f.stake(), who, value=MIN_PROVIDER_STAKE - 1)
    assert l2.events(receipt, l2.staking, "Staked") == [{"provider": who, "amount": MIN_PROVIDER_STAKE - 1,
                                                         "stake": MIN_PROVIDER_STAKE - 1}]
    assert not f.isActiveProvider(who).call()
    receipt = l2.send(f.stake(), who, value=1)
    assert l2.events(receipt, l2.staking, "Staked")[0]["stake"] == MIN_PROVIDER_STAKE
    assert f.isActiveProvider(who).call()
    assert provider_info(l2, who)["stake"] == MIN_PROVIDER_STAKE
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


def test_stake_zero_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.staking.functions.stake(), l2.outsider, "ZeroAmount")


def test_isActiveProvider_never_staked_succeeds(l2: L2Env) -> None:
    assert not l2.staking.functions.isActiveProvider(l2.outsider).call()
    assert l2.staking.functions.isActiveProvider(l2.provider).call()


def test_requestUnstake_partial_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    ts = l2.now() + 7
    receipt = l2.send(f.requestUnstake(30 * OPEN), l2.provider, at=ts)
    assert l2.events(receipt, l2.staking, "UnstakeRequested") == [{
        "provider": l2.provider, "amount": 30 * OPEN, "unbonding": 30 * OPEN, "releaseAt": ts + UNBONDING_DELAY}]
    assert provider_info(l2, l2.provider) == {"stake": 70 * OPEN, "unbonding": 30 * OPEN,
                                              "unbondingReleaseAt": ts + UNBONDING_DELAY, "openDisputes": 0,
                                              "lockedUntil": 0, "pendingVotes": 0}
    assert not f.isActiveProvider(l2.provider).call()
    # A second request adds to the balance and restarts the delay.
    receipt = l2.send(f.requestUnstake(20 * OPEN), l2.provider, at=ts + 100)
    assert l2.events(receipt, l2.staking, "UnstakeRequested")[0]["unbonding"] == 50 * OPEN
    assert provider_info(l2, l2.provider)["unbondingReleaseAt"] == ts + 100 + UNBONDING_DELAY


def test_requestUnstake_zero_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.staking.functions.requestUnstake(0), l2.provider, "ZeroAmount")


def test_requestUnstake_more_than_stake_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.staking.functions.requestUnstake(MIN_PROVIDER_STAKE + 1), l2.provider,
                      "InsufficientStake", MIN_PROVIDER_STAKE + 1, MIN_PROVIDER_STAKE)
    l2.assert_reverts(l2.staking.functions.requestUnstake(1), l2.outsider, "InsufficientStake", 1, 0)


def test_withdraw_after_release_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    l2.send(f.requestUnstake(MIN_PROVIDER_STAKE), l2.provider)
    release = provider_info(l2, l2.provider)["unbondingReleaseAt"]
    before = l2.balance(l2.provider)
    receipt = l2.send(f.withdraw(), l2.provider, at=release)
    assert l2.events(receipt, l2.staking, "Withdrawn") == [{"provider": l2.provider, "amount": MIN_PROVIDER_STAKE}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(l2.provider) == before + MIN_PROVIDER_STAKE - gas_cost
    assert provider_info(l2, l2.provider) == {"stake": 0, "unbonding": 0, "unbondingReleaseAt": 0,
                                              "openDisputes": 0, "lockedUntil": 0, "pendingVotes": 0}
    assert l2.balance(l2.staking.address) == 0


def test_withdraw_before_release_reverts(l2: L2Env) -> None:
    l2.send(l2.staking.functions.requestUnstake(OPEN), l2.provider)
    release = provider_info(l2, l2.provider)["unbondingReleaseAt"]
    l2.mine_at(release - 1)
    l2.assert_reverts(l2.staking.functions.withdraw(), l2.provider, "UnbondingNotReleased", release)


def test_withdraw_nothing_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.staking.functions.withdraw(), l2.provider, "NothingToWithdraw", l2.provider)


def test_withdraw_with_open_dispute_reverts(l2: L2Env) -> None:
    """Stake that backed a disputed settlement cannot leave until the dispute is resolved."""
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    l2.send(l2.staking.functions.requestUnstake(MIN_PROVIDER_STAKE), l2.provider)
    dispute_id = l2.open_dispute(inference_id)
    l2.mine_at(provider_info(l2, l2.provider)["unbondingReleaseAt"])
    l2.assert_reverts(l2.staking.functions.withdraw(), l2.provider, "DisputesOpen", 1)
    l2.resolve(dispute_id)
    l2.send(l2.staking.functions.withdraw(), l2.provider)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


# ------------------------------------------------------------------ dispute


def test_dispute_opens_vote_with_provider_stake_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    other = l2.staked_provider(200 * OPEN)
    ts = l2.now() + 5
    receipt = l2.send(l2.staking.functions.dispute(case.inference_id, CLAIMED), l2.disputer, value=DISPUTE_BOND,
                      at=ts)
    active = MIN_PROVIDER_STAKE + 200 * OPEN
    assert l2.events(receipt, l2.staking, "DisputeOpened") == [{
        "disputeId": 1, "inferenceId": case.inference_id, "modelId": l2.model_id, "disputer": l2.disputer,
        "provider": l2.provider, "bond": DISPUTE_BOND, "settledAttributionHash": case.settled_hash,
        "claimedAttributionHash": CLAIMED, "votingEndsAt": ts + VOTING_PERIOD, "quorumStake": quorum(active)}]
    # The provider's stake counts for its settlement; the disputer holds no stake, so it has no vote.
    assert l2.events(receipt, l2.staking, "Voted") == [{
        "disputeId": 1, "voter": l2.provider, "attributionHash": case.settled_hash, "weight": MIN_PROVIDER_STAKE}]
    assert l2.events(receipt, l2.payable, "SettlementDisputed") == [{"inferenceId": case.inference_id,
                                                                     "provider": l2.provider}]
    assert l2.dispute_record(1) == {
        "inferenceId": case.inference_id, "modelId": l2.model_id, "disputer": l2.disputer, "provider": l2.provider,
        "bond": DISPUTE_BOND, "status": S_OPEN, "votingEndsAt": ts + VOTING_PERIOD,
        "correctionEndsAt": ts + 2 * VOTING_PERIOD, "settledAttributionHash": case.settled_hash,
        "claimedAttributionHash": CLAIMED, "decisiveHash": ZERO_HASH, "quorumStake": quorum(active),
        "totalVotes": MIN_PROVIDER_STAKE, "leadingHash": case.settled_hash, "leadingVotes": MIN_PROVIDER_STAKE}
    assert l2.staking.functions.votesFor(1, case.settled_hash).call() == MIN_PROVIDER_STAKE
    assert ballot(l2, 1, l2.provider) == (case.settled_hash, MIN_PROVIDER_STAKE, True)
    assert ballot(l2, 1, l2.disputer) == (ZERO_HASH, 0, False)
    info = provider_info(l2, l2.provider)
    assert (info["openDisputes"], info["lockedUntil"], info["pendingVotes"]) == (1, ts + VOTING_PERIOD, 0)
    assert provider_info(l2, other)["lockedUntil"] == 0
    assert l2.staking.functions.totalOpenBonds().call() == DISPUTE_BOND
    assert l2.inference(case.inference_id)["disputeState"] == D_OPEN
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


def test_dispute_by_provider_counts_its_stake_succeeds(l2: L2Env) -> None:
    """A disputer that is an active provider votes its claim with its stake at once."""
    case = Case(l2)
    disputer = l2.staked_provider(150 * OPEN)
    receipt = l2.send(l2.staking.functions.dispute(case.inference_id, case.corrected_hash), disputer,
                      value=DISPUTE_BOND)
    assert l2.events(receipt, l2.staking, "Voted") == [
        {"disputeId": 1, "voter": l2.provider, "attributionHash": case.settled_hash, "weight": MIN_PROVIDER_STAKE},
        {"disputeId": 1, "voter": disputer, "attributionHash": case.corrected_hash, "weight": 150 * OPEN}]
    record = l2.dispute_record(1)
    assert (record["totalVotes"], record["leadingHash"], record["leadingVotes"]) == (
        250 * OPEN, case.corrected_hash, 150 * OPEN)
    assert ballot(l2, 1, disputer) == (case.corrected_hash, 150 * OPEN, False)
    assert provider_info(l2, disputer)["pendingVotes"] == 1
    l2.assert_reverts(l2.staking.functions.vote(1, case.corrected_hash), disputer, "AlreadyVoted", 1, disputer)


def test_dispute_at_window_end_succeeds(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    deadline = l2.inference(inference_id)["disputeDeadline"]
    l2.send(l2.staking.functions.dispute(inference_id, CLAIMED), l2.disputer, value=DISPUTE_BOND, at=deadline)
    assert l2.inference(inference_id)["disputeState"] == D_OPEN


def test_dispute_wrong_bond_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    call = l2.staking.functions.dispute(inference_id, CLAIMED)
    for sent in (0, DISPUTE_BOND - 1, DISPUTE_BOND + 1):
        l2.assert_reverts(call, l2.disputer, "IncorrectBond", sent, DISPUTE_BOND, value=sent)


def test_dispute_claim_not_a_difference_reverts(l2: L2Env) -> None:
    case = Case(l2)
    f = l2.staking.functions
    l2.assert_reverts(f.dispute(case.inference_id, case.settled_hash), l2.disputer, "ClaimMatchesSettlement",
                      case.inference_id, case.settled_hash, value=DISPUTE_BOND)
    l2.assert_reverts(f.dispute(case.inference_id, ZERO_HASH), l2.disputer, "ZeroAttributionHash",
                      value=DISPUTE_BOND)


def test_dispute_own_settlement_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    l2.assert_reverts(l2.staking.functions.dispute(inference_id, CLAIMED), l2.provider, "SelfDispute", inference_id,
                      value=DISPUTE_BOND)


def test_dispute_after_window_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    deadline = l2.inference(inference_id)["disputeDeadline"]
    l2.mine_at(deadline + 1)
    l2.assert_reverts(l2.staking.functions.dispute(inference_id, CLAIMED), l2.disputer, "DisputeWindowClosed",
                      inference_id, deadline, value=DISPUTE_BOND, source=l2.payable)


def test_dispute_unsettled_or_finalized_reverts(l2: L2Env) -> None:
    requested = l2.request()
    l2.assert_reverts(l2.staking.functions.dispute(requested, CLAIMED), l2.disputer, "InvalidInferenceStatus",
                      requested, 1, value=DISPUTE_BOND, source=l2.payable)
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    l2.past_dispute_window(inference_id)
    l2.finalize(inference_id, ids, weights)
    l2.assert_reverts(l2.staking.functions.dispute(inference_id, CLAIMED), l2.disputer, "InvalidInferenceStatus",
                      inference_id, I_FINALIZED, value=DISPUTE_BOND, source=l2.payable)


def test_dispute_second_time_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    call = l2.staking.functions.dispute(inference_id, CLAIMED)
    l2.assert_reverts(call, l2.outsider, "AlreadyDisputed", inference_id, value=DISPUTE_BOND, source=l2.payable)
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id)
    l2.assert_reverts(call, l2.outsider, "AlreadyDisputed", inference_id, value=DISPUTE_BOND, source=l2.payable)


# --------------------------------------------------------------------- vote


def test_vote_counts_active_stake_and_locks_it_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider(250 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    ends = l2.dispute_record(dispute_id)["votingEndsAt"]
    receipt = l2.vote(dispute_id, voter, case.corrected_hash)
    assert l2.events(receipt, l2.staking, "Voted") == [{
        "disputeId": dispute_id, "voter": voter, "attributionHash": case.corrected_hash, "weight": 250 * OPEN}]
    record = l2.dispute_record(dispute_id)
    assert (record["totalVotes"], record["leadingHash"], record["leadingVotes"]) == (
        350 * OPEN, case.corrected_hash, 250 * OPEN)
    assert l2.staking.functions.votesFor(dispute_id, case.corrected_hash).call() == 250 * OPEN
    assert l2.staking.functions.votesFor(dispute_id, case.settled_hash).call() == MIN_PROVIDER_STAKE
    assert ballot(l2, dispute_id, voter) == (case.corrected_hash, 250 * OPEN, False)
    info = provider_info(l2, voter)
    assert (info["lockedUntil"], info["pendingVotes"]) == (ends, 1)


def test_vote_twice_reverts(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider()
    dispute_id = l2.open_dispute(case.inference_id)
    l2.vote(dispute_id, voter, case.corrected_hash)
    for attribution in (case.corrected_hash, case.settled_hash):
        l2.assert_reverts(l2.staking.functions.vote(dispute_id, attribution), voter, "AlreadyVoted", dispute_id,
                          voter)
    # The provider's stake already counts for its settlement.
    l2.assert_reverts(l2.staking.functions.vote(dispute_id, case.settled_hash), l2.provider, "AlreadyVoted",
                      dispute_id, l2.provider)


def test_vote_after_end_reverts(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider()
    dispute_id = l2.open_dispute(case.inference_id)
    ends = l2.dispute_record(dispute_id)["votingEndsAt"]
    l2.send(l2.staking.functions.vote(dispute_id, case.corrected_hash), voter, at=ends - 1)  # last second counts
    late = l2.staked_provider()
    l2.mine_at(ends)
    l2.assert_reverts(l2.staking.functions.vote(dispute_id, case.corrected_hash), late, "VotingClosed", dispute_id,
                      ends)


def test_vote_non_provider_reverts(l2: L2Env) -> None:
    case = Case(l2)
    dispute_id = l2.open_dispute(case.inference_id)
    below = l2.staked_provider(MIN_PROVIDER_STAKE - 1)
    for account in (l2.outsider, l2.disputer, below):
        l2.assert_reverts(l2.staking.functions.vote(dispute_id, case.corrected_hash), account, "NotActiveProvider",
                          account)


def test_vote_unknown_or_resolved_dispute_reverts(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider()
    l2.assert_reverts(l2.staking.functions.vote(7, case.corrected_hash), voter, "DisputeNotOpen", 7, S_NONE)
    dispute_id = l2.open_dispute(case.inference_id)
    l2.assert_reverts(l2.staking.functions.vote(dispute_id, ZERO_HASH), voter, "ZeroAttributionHash")
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id)
    l2.assert_reverts(l2.staking.functions.vote(dispute_id, case.corrected_hash), voter, "DisputeNotOpen",
                      dispute_id, S_UPHELD)


def test_requestUnstake_during_vote_reverts(l2: L2Env) -> None:
    """Nobody votes and unstakes: the voters' and the provider's stake stays active until the vote ends."""
    case = Case(l2)
    voter = l2.staked_provider()
    dispute_id = l2.open_dispute(case.inference_id)
    l2.vote(dispute_id, voter, case.corrected_hash)
    ends = l2.dispute_record(dispute_id)["votingEndsAt"]
    for account in (voter, l2.provider):
        l2.assert_reverts(l2.staking.functions.requestUnstake(OPEN), account, "StakeLocked", ends)
    l2.mine_at(ends - 1)
    l2.assert_reverts(l2.staking.functions.requestUnstake(OPEN), voter, "StakeLocked", ends)
    l2.send(l2.staking.functions.requestUnstake(OPEN), voter, at=ends)


def test_withdraw_with_unreleased_vote_reverts(l2: L2Env) -> None:
    """A voter's stake stays slashable until its vote is released after the resolution."""
    case = Case(l2)
    voter = l2.staked_provider()
    dispute_id = l2.open_dispute(case.inference_id)
    l2.vote(dispute_id, voter, case.corrected_hash)
    l2.after_vote(dispute_id)
    l2.send(l2.staking.functions.requestUnstake(MIN_PROVIDER_STAKE), voter)
    l2.mine_at(provider_info(l2, voter)["unbondingReleaseAt"])
    l2.assert_reverts(l2.staking.functions.withdraw(), voter, "VotesPending", 1)
    l2.resolve(dispute_id)
    l2.assert_reverts(l2.staking.functions.withdraw(), voter, "VotesPending", 1)
    receipt = l2.send(l2.staking.functions.releaseVote(dispute_id, voter), l2.outsider)
    # The settled hash won (100 of 200 is not a strict majority, so no decision, and nobody is slashed).
    assert l2.events(receipt, l2.staking, "VoteReleased") == [{
        "disputeId": dispute_id, "voter": voter, "attributionHash": case.corrected_hash, "slashed": 0}]
    l2.send(l2.staking.functions.withdraw(), voter)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


# ------------------------------------------------------------------ resolve


def test_resolve_before_vote_end_reverts(l2: L2Env) -> None:
    case = Case(l2)
    dispute_id = l2.open_dispute(case.inference_id)
    ends = l2.dispute_record(dispute_id)["votingEndsAt"]
    call = l2.staking.functions.resolve(dispute_id, ZERO_HASH, [], [])
    for caller in (l2.outsider, l2.admin):  # governance has no say either
        l2.assert_reverts(call, caller, "VotingNotEnded", dispute_id, ends)
    l2.mine_at(ends - 1)
    l2.assert_reverts(call, l2.outsider, "VotingNotEnded", dispute_id, ends)
    l2.send(call, l2.outsider, at=ends)
    assert l2.dispute_record(dispute_id)["status"] == S_UPHELD


def test_resolve_not_open_reverts(l2: L2Env) -> None:
    f = l2.staking.functions
    l2.assert_reverts(f.resolve(1, ZERO_HASH, [], []), l2.outsider, "DisputeNotOpen", 1, S_NONE)
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id)
    l2.assert_reverts(f.resolve(dispute_id, ZERO_HASH, [], []), l2.outsider, "DisputeNotOpen", dispute_id, S_UPHELD)


def test_resolve_majority_overturns_slashes_and_redoes_split_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    f = l2.staking.functions
    winners = [l2.staked_provider(150 * OPEN), l2.staked_provider(120 * OPEN)]
    loser = l2.staked_provider(100 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    for voter in winners:
        l2.vote(dispute_id, voter, case.corrected_hash)
    l2.vote(dispute_id, loser, case.settled_hash)
    l2.after_vote(dispute_id)
    total = 100 * OPEN + 270 * OPEN + 100 * OPEN
    treasury_before = f.claimable(l2.treasury).call()

    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    slashed = MIN_PROVIDER_STAKE * SLASH_BPS // BPS
    reward = slashed * DISPUTER_REWARD_BPS // BPS
    assert l2.events(receipt, l2.staking, "ProviderSlashed") == [{
        "provider": l2.provider, "disputeId": dispute_id, "amount": slashed, "disputerReward": reward}]
    assert l2.events(receipt, l2.staking, "DisputeResolved") == [{
        "disputeId": dispute_id, "inferenceId": case.inference_id, "overturned": True,
        "attributionHash": case.corrected_hash, "decisiveHash": case.corrected_hash,
        "votesForSettled": 200 * OPEN, "leadingVotes": 270 * OPEN, "totalVotes": total, "quorumStake": quorum(total)}]
    assert l2.events(receipt, l2.payable, "SettlementOverturned") == [{
        "inferenceId": case.inference_id, "queryHash": CORRECTED_QUERY, "attributionHash": case.corrected_hash,
        "contributionIds": case.new_ids, "weights": case.new_weights}]
    assert f.claimable(l2.disputer).call() == DISPUTE_BOND + reward
    assert f.claimable(l2.treasury).call() == treasury_before + slashed - reward
    assert provider_info(l2, l2.provider)["stake"] == MIN_PROVIDER_STAKE - slashed
    assert provider_info(l2, l2.provider)["openDisputes"] == 0
    assert not f.isActiveProvider(l2.provider).call()
    assert l2.dispute_record(dispute_id)["status"] == S_OVERTURNED
    record = l2.inference(case.inference_id)
    assert (record["disputeState"], record["queryHash"], record["attributionHash"]) == (
        D_OVERTURNED, CORRECTED_QUERY, case.corrected_hash)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)

    # Votes: the winners keep their stake, the losing voter forfeits VOTER_SLASH_BPS of what it voted with,
    # and the provider's own vote was released at resolution (its slash is the provider slash).
    for voter in winners:
        before = provider_info(l2, voter)["stake"]
        l2.send(f.releaseVote(dispute_id, voter), l2.outsider)
        assert provider_info(l2, voter)["stake"] == before
    receipt = l2.send(f.releaseVote(dispute_id, loser), l2.outsider)
    voter_slash = 100 * OPEN * VOTER_SLASH_BPS // BPS
    assert l2.events(receipt, l2.staking, "VoteReleased") == [{
        "disputeId": dispute_id, "voter": loser, "attributionHash": case.settled_hash, "slashed": voter_slash}]
    assert provider_info(l2, loser)["stake"] == 100 * OPEN - voter_slash
    assert f.claimable(l2.treasury).call() == treasury_before + slashed - reward + voter_slash
    l2.assert_reverts(f.releaseVote(dispute_id, l2.provider), l2.outsider, "VoteAlreadyReleased", dispute_id,
                      l2.provider)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)

    # The corrected split is final at once; the original one no longer matches.
    l2.assert_reverts(l2.payable.functions.finalize(case.inference_id, case.ids, case.weights), l2.outsider,
                      "SplitMismatch", case.inference_id, case.corrected_hash,
                      l2.attribution_hash(l2.model_id, CORRECTED_QUERY, case.ids, case.weights))
    l2.finalize(case.inference_id, case.new_ids, case.new_weights)
    pool = MODEL_FEE - MODEL_FEE * PROTOCOL_SHARE_BPS // BPS - MODEL_FEE * OWNER_SHARE_BPS // BPS
    assert l2.claimable(l2.contributors[0]) == 0
    assert l2.claimable(l2.contributors[1]) == pool * 200_000 // DENOM
    assert l2.claimable(l2.contributors[2]) == pool * 300_000 // DENOM
    assert l2.claimable(l2.contributors[3]) == pool * 500_000 // DENOM
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_resolve_overturn_slashes_unbonding_stake_succeeds(l2: L2Env) -> None:
    """Active stake goes first; the rest of the slash comes out of unbonding stake."""
    case = Case(l2)
    l2.send(l2.staking.functions.requestUnstake(80 * OPEN), l2.provider)  # 20 active, 80 unbonding
    voter = l2.staked_provider()
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, voter, case.corrected_hash)  # 100 against the provider's 20
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    slashed = MIN_PROVIDER_STAKE * SLASH_BPS // BPS  # 50
    info = provider_info(l2, l2.provider)
    assert (info["stake"], info["unbonding"]) == (0, 80 * OPEN - (slashed - 20 * OPEN))
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


def test_resolve_correction_not_matching_winner_reverts(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider(300 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, voter, case.corrected_hash)
    l2.after_vote(dispute_id)
    f = l2.staking.functions
    wrong = [
        (CORRECTED_QUERY, case.new_ids, [300_000, 200_000, 500_000]),  # other weights
        (QUERY, case.new_ids, case.new_weights),  # the settled record's query hash
        (CORRECTED_QUERY, case.ids, case.weights),  # the settled split
    ]
    for query, ids, weights in wrong:
        actual = l2.attribution_hash(l2.model_id, query, ids, weights)
        l2.assert_reverts(f.resolve(dispute_id, query, ids, weights), l2.outsider, "CorrectionMismatch", dispute_id,
                          case.corrected_hash, actual)
    assert l2.dispute_record(dispute_id)["status"] == S_OPEN


def test_resolve_unproved_winner_voids_and_upholds_succeeds(l2: L2Env) -> None:
    """A winning hash nobody proves by correctionEndsAt is void: the settlement
    stands, and its voters are the ones slashed."""
    case = Case(l2)
    voter = l2.staked_provider(300 * OPEN)
    junk = keccak(text="a hash without a record")
    dispute_id = l2.open_dispute(case.inference_id, claimed=junk)
    l2.vote(dispute_id, voter, junk)
    correction_ends = l2.dispute_record(dispute_id)["correctionEndsAt"]
    l2.mine_at(correction_ends - 1)
    f = l2.staking.functions
    l2.assert_reverts(f.resolve(dispute_id, ZERO_HASH, [], []), l2.outsider, "CorrectionMismatch", dispute_id, junk,
                      l2.attribution_hash(l2.model_id, ZERO_HASH, [], []))
    receipt = l2.send(f.resolve(dispute_id, ZERO_HASH, [], []), l2.outsider, at=correction_ends)
    [event] = l2.events(receipt, l2.staking, "DisputeResolved")
    assert (event["overturned"], event["attributionHash"], event["decisiveHash"]) == (
        False, case.settled_hash, case.settled_hash)
    assert l2.inference(case.inference_id)["disputeState"] == D_UPHELD
    receipt = l2.send(f.releaseVote(dispute_id, voter), l2.outsider)
    assert l2.events(receipt, l2.staking, "VoteReleased")[0]["slashed"] == 300 * OPEN * VOTER_SLASH_BPS // BPS


def test_resolve_settled_majority_upholds_and_slashes_dissent_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    supporter = l2.staked_provider(100 * OPEN)
    dissenter = l2.staked_provider(150 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, supporter, case.settled_hash)
    l2.vote(dispute_id, dissenter, case.corrected_hash)  # 150 against 200: the settlement keeps a majority
    l2.after_vote(dispute_id)
    f = l2.staking.functions
    treasury_before = f.claimable(l2.treasury).call()
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)  # arguments ignored
    assert l2.events(receipt, l2.staking, "DisputeResolved") == [{
        "disputeId": dispute_id, "inferenceId": case.inference_id, "overturned": False,
        "attributionHash": case.settled_hash, "decisiveHash": case.settled_hash, "votesForSettled": 200 * OPEN,
        "leadingVotes": 200 * OPEN, "totalVotes": 350 * OPEN, "quorumStake": quorum(350 * OPEN)}]
    assert l2.events(receipt, l2.staking, "ProviderSlashed") == []
    assert l2.events(receipt, l2.payable, "SettlementUpheld") == [{"inferenceId": case.inference_id}]
    # The bond goes to the treasury.
    assert f.claimable(l2.treasury).call() == treasury_before + DISPUTE_BOND
    assert f.claimable(l2.disputer).call() == 0
    assert provider_info(l2, l2.provider)["stake"] == MIN_PROVIDER_STAKE
    assert l2.dispute_record(dispute_id)["status"] == S_UPHELD
    record = l2.inference(case.inference_id)
    assert (record["disputeState"], record["queryHash"], record["attributionHash"]) == (
        D_UPHELD, QUERY, case.settled_hash)
    l2.send(f.releaseVote(dispute_id, supporter), l2.outsider)
    l2.send(f.releaseVote(dispute_id, dissenter), l2.outsider)
    assert provider_info(l2, supporter)["stake"] == 100 * OPEN
    assert provider_info(l2, dissenter)["stake"] == 150 * OPEN - 150 * OPEN * VOTER_SLASH_BPS // BPS
    assert l2.balance(l2.staking.address) == staking_accounted(l2)
    # The original split stands; its dispute window ended during the vote, so it is final now.
    assert l2.now() > record["disputeDeadline"]
    l2.finalize(case.inference_id, case.ids, case.weights)
    assert l2.inference(case.inference_id)["status"] == I_FINALIZED


def test_resolve_tie_upholds_without_slashing_succeeds(l2: L2Env) -> None:
    """Exactly half of the voted stake is not a majority: the settlement stands and nobody is slashed."""
    case = Case(l2)
    voter = l2.staked_provider(MIN_PROVIDER_STAKE)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, voter, case.corrected_hash)  # 100 : 100
    l2.after_vote(dispute_id)
    f = l2.staking.functions
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    [event] = l2.events(receipt, l2.staking, "DisputeResolved")
    assert (event["overturned"], event["decisiveHash"], event["leadingVotes"], event["totalVotes"]) == (
        False, ZERO_HASH, MIN_PROVIDER_STAKE, 2 * MIN_PROVIDER_STAKE)
    assert l2.inference(case.inference_id)["attributionHash"] == case.settled_hash
    receipt = l2.send(f.releaseVote(dispute_id, voter), l2.outsider)
    assert l2.events(receipt, l2.staking, "VoteReleased")[0]["slashed"] == 0
    assert provider_info(l2, voter)["stake"] == MIN_PROVIDER_STAKE
    assert provider_info(l2, l2.provider)["stake"] == MIN_PROVIDER_STAKE


def test_resolve_without_quorum_upholds_succeeds(l2: L2Env) -> None:
    """A unanimous vote below the quorum decides nothing."""
    case = Case(l2)
    l2.staked_provider(1_000 * OPEN)  # active stake that does not vote
    voters = [l2.staked_provider(150 * OPEN), l2.staked_provider(150 * OPEN)]
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    for voter in voters:
        l2.vote(dispute_id, voter, case.corrected_hash)
    active = MIN_PROVIDER_STAKE + 1_300 * OPEN
    record = l2.dispute_record(dispute_id)
    assert record["quorumStake"] == quorum(active) > record["totalVotes"] == 400 * OPEN
    l2.after_vote(dispute_id)
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    [event] = l2.events(receipt, l2.staking, "DisputeResolved")
    assert (event["overturned"], event["decisiveHash"], event["leadingVotes"]) == (False, ZERO_HASH, 300 * OPEN)
    assert provider_info(l2, l2.provider)["stake"] == MIN_PROVIDER_STAKE
    for voter in voters:
        l2.send(l2.staking.functions.releaseVote(dispute_id, voter), l2.outsider)
        assert provider_info(l2, voter)["stake"] == 150 * OPEN


def test_resolve_quorum_snapshotted_at_open_succeeds(l2: L2Env) -> None:
    """Stake added after a dispute opens does not raise its quorum."""
    case = Case(l2)
    voter = l2.staked_provider(MIN_PROVIDER_STAKE + 1)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.staked_provider(10_000 * OPEN)
    assert l2.staking.functions.totalActiveStake().call() == 10_200 * OPEN + 1
    assert l2.dispute_record(dispute_id)["quorumStake"] == quorum(200 * OPEN + 1)
    l2.vote(dispute_id, voter, case.corrected_hash)
    l2.after_vote(dispute_id)
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    assert l2.events(receipt, l2.staking, "DisputeResolved")[0]["overturned"] is True


def test_resolve_three_hashes_without_majority_upholds_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    other_hash = l2.attribution_hash(l2.model_id, CORRECTED_QUERY, [l2.accepted[4]], [DENOM])
    a = l2.staked_provider(150 * OPEN)
    b = l2.staked_provider(120 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, a, case.corrected_hash)
    l2.vote(dispute_id, b, other_hash)
    l2.after_vote(dispute_id)  # settled 100, corrected 150, other 120: 150 of 370 is no majority
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    [event] = l2.events(receipt, l2.staking, "DisputeResolved")
    assert (event["overturned"], event["decisiveHash"], event["leadingVotes"], event["totalVotes"]) == (
        False, ZERO_HASH, 150 * OPEN, 370 * OPEN)
    for voter in (a, b):
        assert l2.events(l2.send(l2.staking.functions.releaseVote(dispute_id, voter), l2.outsider), l2.staking,
                         "VoteReleased")[0]["slashed"] == 0


def test_resolve_three_hashes_with_majority_overturns_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    other_hash = l2.attribution_hash(l2.model_id, CORRECTED_QUERY, [l2.accepted[4]], [DENOM])
    a = l2.staked_provider(250 * OPEN)
    b = l2.staked_provider(100 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=other_hash)
    l2.vote(dispute_id, a, case.corrected_hash)
    l2.vote(dispute_id, b, other_hash)
    l2.after_vote(dispute_id)  # settled 100, corrected 250, other 100: 250 of 450 is a majority
    receipt = l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    [event] = l2.events(receipt, l2.staking, "DisputeResolved")
    assert (event["overturned"], event["attributionHash"], event["decisiveHash"]) == (
        True, case.corrected_hash, case.corrected_hash)
    f = l2.staking.functions
    assert l2.events(l2.send(f.releaseVote(dispute_id, a), l2.outsider), l2.staking,
                     "VoteReleased")[0]["slashed"] == 0
    assert l2.events(l2.send(f.releaseVote(dispute_id, b), l2.outsider), l2.staking,
                     "VoteReleased")[0]["slashed"] == 100 * OPEN * VOTER_SLASH_BPS // BPS
    # The disputer claimed a losing hash but is still paid: its dispute overturned a wrong settlement.
    assert f.claimable(l2.disputer).call() > DISPUTE_BOND
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


def test_resolve_invalid_corrected_split_reverts(l2: L2Env) -> None:
    """A winning hash whose split PayableAI refuses cannot overturn: the whole resolution reverts."""
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    cases = [([l2.foreign[0]], [DENOM], "ForeignContribution", (l2.foreign[0], l2.foreign_datanet)),
             ([l2.pending[0]], [DENOM], "ContributionNotAccepted", (l2.pending[0], C_PENDING)),
             ([l2.accepted[1]], [1], "WeightSumMismatch", (1, DENOM))]
    voter = l2.staked_provider(300 * OPEN)
    snapshot = l2.snapshot()
    for ids, weights, error, args in cases:
        bad_hash = l2.attribution_hash(l2.model_id, CORRECTED_QUERY, ids, weights)
        dispute_id = l2.open_dispute(inference_id, claimed=bad_hash)
        l2.vote(dispute_id, voter, bad_hash)
        l2.after_vote(dispute_id)
        l2.assert_reverts(l2.staking.functions.resolve(dispute_id, CORRECTED_QUERY, ids, weights), l2.outsider,
                          error, *args, source=l2.payable)
        assert l2.dispute_record(dispute_id)["status"] == S_OPEN
        l2.revert(snapshot)
        snapshot = l2.snapshot()


# -------------------------------------------------------------- releaseVote


def test_releaseVote_invalid_reverts(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider()
    f = l2.staking.functions
    l2.assert_reverts(f.releaseVote(9, voter), l2.outsider, "DisputeNotResolved", 9, S_NONE)
    dispute_id = l2.open_dispute(case.inference_id)
    l2.vote(dispute_id, voter, case.corrected_hash)
    l2.assert_reverts(f.releaseVote(dispute_id, voter), l2.outsider, "DisputeNotResolved", dispute_id, S_OPEN)
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id)
    l2.assert_reverts(f.releaseVote(dispute_id, l2.outsider), l2.outsider, "NotVoted", dispute_id, l2.outsider)
    l2.send(f.releaseVote(dispute_id, voter), voter)
    l2.assert_reverts(f.releaseVote(dispute_id, voter), l2.outsider, "VoteAlreadyReleased", dispute_id, voter)
    assert provider_info(l2, voter)["pendingVotes"] == 0


def test_releaseVote_slash_reaches_unbonding_stake_succeeds(l2: L2Env) -> None:
    """A losing voter that unstaked after the vote is slashed from its unbonding stake."""
    case = Case(l2)
    loser = l2.staked_provider(MIN_PROVIDER_STAKE)
    winner = l2.staked_provider(400 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, winner, case.corrected_hash)
    l2.vote(dispute_id, loser, case.settled_hash)
    l2.after_vote(dispute_id)
    l2.send(l2.staking.functions.requestUnstake(MIN_PROVIDER_STAKE), loser)
    l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    l2.send(l2.staking.functions.releaseVote(dispute_id, loser), l2.outsider)
    info = provider_info(l2, loser)
    assert (info["stake"], info["unbonding"]) == (0, MIN_PROVIDER_STAKE - MIN_PROVIDER_STAKE * VOTER_SLASH_BPS // BPS)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


# -------------------------------------------------------------------- claim


def test_claim_disputer_reward_succeeds(l2: L2Env) -> None:
    case = Case(l2)
    voter = l2.staked_provider(200 * OPEN)
    dispute_id = l2.open_dispute(case.inference_id, claimed=case.corrected_hash)
    l2.vote(dispute_id, voter, case.corrected_hash)
    l2.after_vote(dispute_id)
    l2.resolve(dispute_id, CORRECTED_QUERY, case.new_ids, case.new_weights)
    amount = l2.staking.functions.claimable(l2.disputer).call()
    before = l2.balance(l2.disputer)
    receipt = l2.send(l2.staking.functions.claim(), l2.disputer)
    assert l2.events(receipt, l2.staking, "Claimed") == [{"account": l2.disputer, "amount": amount}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(l2.disputer) == before + amount - gas_cost
    assert l2.staking.functions.claimable(l2.disputer).call() == 0
    l2.assert_reverts(l2.staking.functions.claim(), l2.disputer, "NothingToClaim", l2.disputer)
    assert l2.balance(l2.staking.address) == staking_accounted(l2)


def test_claim_nothing_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.staking.functions.claim(), l2.outsider, "NothingToClaim", l2.outsider)


# --------------------------------------------------------------- parameters

SETTERS = [
    # name, event, valid values, invalid values, error
    ("setMinProviderStake", "MinProviderStakeUpdated", [1, 10_000_000 * OPEN], [0, 10_000_000 * OPEN + 1],
     "MinProviderStakeOutOfRange"),
    ("setDisputeBond", "DisputeBondUpdated", [1, 1_000_000 * OPEN], [0, 1_000_000 * OPEN + 1],
     "DisputeBondOutOfRange"),
    ("setUnbondingDelay", "UnbondingDelayUpdated", [8 * 86_400, 90 * 86_400], [8 * 86_400 - 1, 90 * 86_400 + 1],
     "UnbondingDelayOutOfRange"),
    ("setSlashBps", "SlashBpsUpdated", [1, 10_000], [0, 10_001], "SlashBpsOutOfRange"),
    ("setDisputerRewardBps", "DisputerRewardBpsUpdated", [0, 10_000], [10_001], "DisputerRewardBpsOutOfRange"),
    ("setVotingPeriod", "VotingPeriodUpdated", [60, 14 * 86_400], [59, 14 * 86_400 + 1], "VotingPeriodOutOfRange"),
    ("setQuorumBps", "QuorumBpsUpdated", [1, 10_000], [0, 10_001], "QuorumBpsOutOfRange"),
    ("setVoterSlashBps", "VoterSlashBpsUpdated", [0, 5_000], [5_001], "VoterSlashBpsOutOfRange"),
]
GETTERS = {"setMinProviderStake": "minProviderStake", "setDisputeBond": "disputeBond",
           "setUnbondingDelay": "unbondingDelay", "setSlashBps": "slashBps",
           "setDisputerRewardBps": "disputerRewardBps", "setVotingPeriod": "votingPeriod",
           "setQuorumBps": "quorumBps", "setVoterSlashBps": "voterSlashBps"}


def test_setters_in_range_succeeds(l2: L2Env) -> None:
    for name, event, valid, _, _ in SETTERS:
        getter = l2.staking.functions[GETTERS[name]]
        for value in valid:
            old = getter().call()
            receipt = l2.send(l2.staking.functions[name](value), l2.admin)
            assert l2.events(receipt, l2.staking, event) == [{"oldValue": old, "newValue": value}], name
            assert getter().call() == value


def test_setters_out_of_range_reverts(l2: L2Env) -> None:
    for name, _, _, invalid, error in SETTERS:
        for value in invalid:
            l2.assert_reverts(l2.staking.functions[name](value), l2.admin, error, value)


def test_setters_non_admin_reverts(l2: L2Env) -> None:
    for name, _, valid, _, _ in SETTERS:
        for caller in (l2.outsider, l2.provider):
            l2.assert_reverts(l2.staking.functions[name](valid[0]), caller, "AccessControlUnauthorizedAccount",
                              caller, ADMIN_ROLE)


def test_setMinProviderStake_raised_deactivates_provider_succeeds(l2: L2Env) -> None:
    l2.send(l2.staking.functions.setMinProviderStake(MIN_PROVIDER_STAKE + 1), l2.admin)
    assert not l2.staking.functions.isActiveProvider(l2.provider).call()


def test_constructor_parameters_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    assert f.PAYABLE_AI().call() == l2.payable.address
    assert (f.minProviderStake().call(), f.disputeBond().call(), f.unbondingDelay().call(), f.votingPeriod().call(),
            f.quorumBps().call(), f.slashBps().call(), f.disputerRewardBps().call(), f.voterSlashBps().call()) == (
        MIN_PROVIDER_STAKE, DISPUTE_BOND, UNBONDING_DELAY, VOTING_PERIOD, QUORUM_BPS, SLASH_BPS, DISPUTER_REWARD_BPS,
        VOTER_SLASH_BPS)
    assert f.hasRole(ADMIN_ROLE, l2.admin).call()
    # Governance sets parameters only: no role decides disputes.
    names = {entry.get("name") for entry in l2.staking.abi}
    assert "RESOLVER_ROLE" not in names and "resolveDispute" not in names


def test_constructor_invalid_arguments_reverts(l2: L2Env) -> None:
    good = [MIN_PROVIDER_STAKE, DISPUTE_BOND, UNBONDING_DELAY, VOTING_PERIOD, QUORUM_BPS, SLASH_BPS,
            DISPUTER_REWARD_BPS, VOTER_SLASH_BPS]
    l2.assert_deploy_reverts("AttributionStaking", "ZeroAddress", [ZERO, l2.payable.address, tuple(good)])
    l2.assert_deploy_reverts("AttributionStaking", "ZeroAddress", [l2.admin, ZERO, tuple(good)])
    bad = {0: ("MinProviderStakeOutOfRange", 0), 1: ("DisputeBondOutOfRange", 0),
           2: ("UnbondingDelayOutOfRange", 0), 3: ("VotingPeriodOutOfRange", 0), 4: ("QuorumBpsOutOfRange", 0),
           5: ("SlashBpsOutOfRange", 0), 6: ("DisputerRewardBpsOutOfRange", 10_001),
           7: ("VoterSlashBpsOutOfRange", 5_001)}
    for index, (error, value) in bad.items():
        params = list(good)
        params[index] = value
        l2.assert_deploy_reverts("AttributionStaking", error, [l2.admin, l2.payable.address, tuple(params)], value)
