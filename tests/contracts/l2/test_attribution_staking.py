"""AttributionStaking: provider stake and unbonding, disputes of settlements,
slashing, and the redone split after an overturn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
BPS = 10_000
DENOM = 1_000_000
ZERO = "0x" + "00" * 20
ADMIN_ROLE = b"\x00" * 32
RESOLVER_ROLE = keccak(text="RESOLVER_ROLE")
I_SETTLED, I_FINALIZED = 2, 3
D_NONE, D_OPEN, D_UPHELD, D_OVERTURNED = range(4)
S_NONE, S_OPEN, S_OVERTURNED, S_UPHELD = range(4)
C_PENDING = 1
CLAIMED = b"\xbb" * 32
CORRECTED = b"\xcc" * 32

# Deployment values (conftest).
MIN_PROVIDER_STAKE = 100 * OPEN
DISPUTE_BOND = 10 * OPEN
UNBONDING_DELAY = 8 * 86_400
SLASH_BPS = 5_000
DISPUTER_REWARD_BPS = 2_000
PROTOCOL_SHARE_BPS = 500
OWNER_SHARE_BPS = 2_000
MODEL_FEE = 3 * OPEN + 12_345


def provider_info(l2: L2Env, provider: str) -> dict[str, int]:
    keys = ("stake", "unbonding", "unbondingReleaseAt", "openDisputes")
    return dict(zip(keys, l2.staking.functions.providerInfo(provider).call(), strict=True))


def dispute_info(l2: L2Env, dispute_id: int) -> dict[str, object]:
    keys = ("inferenceId", "disputer", "provider", "bond", "status", "claimedAttributionHash")
    return dict(zip(keys, l2.staking.functions.disputeInfo(dispute_id).call(), strict=True))


def settled(l2: L2Env, ids: list[int], weights: list[int]) -> int:
    inference_id = l2.request()
    l2.settle(inference_id, ids, weights)
    return inference_id


def staking_accounted(l2: L2Env, providers: list[str], open_bonds: int) -> int:
    held = sum(provider_info(l2, p)["stake"] + provider_info(l2, p)["unbonding"] for p in providers)
    return held + open_bonds + l2.staking.functions.totalClaimable().call()


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
    assert l2.balance(l2.staking.address) == staking_accounted(l2, [l2.provider, who], 0)


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
                                              "unbondingReleaseAt": ts + UNBONDING_DELAY, "openDisputes": 0}
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
                                              "openDisputes": 0}
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
    l2.send(l2.staking.functions.resolveDispute(dispute_id, False, b"\x00" * 32, [], []), l2.admin)
    l2.send(l2.staking.functions.withdraw(), l2.provider)


# ------------------------------------------------------------------ dispute


def test_dispute_within_window_succeeds(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    receipt = l2.send(l2.staking.functions.dispute(inference_id, CLAIMED), l2.disputer, value=DISPUTE_BOND)
    assert l2.events(receipt, l2.staking, "DisputeOpened") == [{
        "disputeId": 1, "inferenceId": inference_id, "disputer": l2.disputer, "provider": l2.provider,
        "bond": DISPUTE_BOND, "claimedAttributionHash": CLAIMED}]
    assert l2.events(receipt, l2.payable, "SettlementDisputed") == [{"inferenceId": inference_id,
                                                                     "provider": l2.provider}]
    assert dispute_info(l2, 1) == {"inferenceId": inference_id, "disputer": l2.disputer, "provider": l2.provider,
                                   "bond": DISPUTE_BOND, "status": S_OPEN, "claimedAttributionHash": CLAIMED}
    assert l2.staking.functions.disputeCount().call() == 1
    assert provider_info(l2, l2.provider)["openDisputes"] == 1
    assert l2.inference(inference_id)["disputeState"] == D_OPEN


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
    l2.send(l2.staking.functions.resolveDispute(dispute_id, False, b"\x00" * 32, [], []), l2.admin)
    l2.assert_reverts(call, l2.outsider, "AlreadyDisputed", inference_id, value=DISPUTE_BOND, source=l2.payable)


# ----------------------------------------------------------- resolveDispute


def test_resolveDispute_overturn_slashes_and_redoes_split_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    ids, weights = [l2.accepted[0], l2.accepted[1]], [900_000, 100_000]
    inference_id = settled(l2, ids, weights)
    dispute_id = l2.open_dispute(inference_id)
    new_ids, new_weights = [l2.accepted[1], l2.accepted[2], l2.accepted[3]], [200_000, 300_000, 500_000]
    receipt = l2.send(f.resolveDispute(dispute_id, True, CORRECTED, new_ids, new_weights), l2.admin)
    corrected_hash = l2.attribution_hash(l2.model_id, CORRECTED, new_ids, new_weights)

    slashed = MIN_PROVIDER_STAKE * SLASH_BPS // BPS
    reward = slashed * DISPUTER_REWARD_BPS // BPS
    assert l2.events(receipt, l2.staking, "ProviderSlashed") == [{
        "provider": l2.provider, "disputeId": dispute_id, "amount": slashed, "disputerReward": reward}]
    assert l2.events(receipt, l2.staking, "DisputeResolved") == [{
        "disputeId": dispute_id, "inferenceId": inference_id, "overturned": True, "attributionHash": corrected_hash}]
    assert l2.events(receipt, l2.payable, "SettlementOverturned") == [{
        "inferenceId": inference_id, "queryHash": CORRECTED, "attributionHash": corrected_hash,
        "contributionIds": new_ids, "weights": new_weights}]
    assert f.claimable(l2.disputer).call() == DISPUTE_BOND + reward
    assert f.claimable(l2.treasury).call() == slashed - reward
    assert provider_info(l2, l2.provider) == {"stake": MIN_PROVIDER_STAKE - slashed, "unbonding": 0,
                                              "unbondingReleaseAt": 0, "openDisputes": 0}
    assert not f.isActiveProvider(l2.provider).call()
    assert dispute_info(l2, dispute_id)["status"] == S_OVERTURNED
    record = l2.inference(inference_id)
    assert (record["disputeState"], record["queryHash"], record["attributionHash"]) == (D_OVERTURNED, CORRECTED,
                                                                                         corrected_hash)
    assert l2.balance(l2.staking.address) == staking_accounted(l2, [l2.provider], 0)

    # The corrected split is final at once; the original one no longer matches.
    l2.assert_reverts(l2.payable.functions.finalize(inference_id, ids, weights), l2.outsider, "SplitMismatch",
                      inference_id, corrected_hash, l2.attribution_hash(l2.model_id, CORRECTED, ids, weights))
    l2.finalize(inference_id, new_ids, new_weights)
    pool = MODEL_FEE - MODEL_FEE * PROTOCOL_SHARE_BPS // BPS - MODEL_FEE * OWNER_SHARE_BPS // BPS
    assert l2.claimable(l2.contributors[0]) == 0
    assert l2.claimable(l2.contributors[1]) == pool * 200_000 // DENOM
    assert l2.claimable(l2.contributors[2]) == pool * 300_000 // DENOM
    assert l2.claimable(l2.contributors[3]) == pool * 500_000 // DENOM
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_resolveDispute_overturn_slashes_unbonding_stake_succeeds(l2: L2Env) -> None:
    """Active stake goes first; the rest of the slash comes out of unbonding stake."""
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    l2.send(l2.staking.functions.requestUnstake(80 * OPEN), l2.provider)  # 20 active, 80 unbonding
    dispute_id = l2.open_dispute(inference_id)
    l2.send(l2.staking.functions.resolveDispute(dispute_id, True, CORRECTED, [l2.accepted[1]], [DENOM]), l2.admin)
    slashed = MIN_PROVIDER_STAKE * SLASH_BPS // BPS  # 50
    info = provider_info(l2, l2.provider)
    assert (info["stake"], info["unbonding"]) == (0, 80 * OPEN - (slashed - 20 * OPEN))


def test_resolveDispute_upheld_forfeits_bond_succeeds(l2: L2Env) -> None:
    f = l2.staking.functions
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    dispute_id = l2.open_dispute(inference_id)
    receipt = l2.send(f.resolveDispute(dispute_id, False, CORRECTED, [l2.accepted[1]], [DENOM]), l2.admin)
    assert l2.events(receipt, l2.staking, "DisputeResolved") == [{
        "disputeId": dispute_id, "inferenceId": inference_id, "overturned": False, "attributionHash": b"\x00" * 32}]
    assert l2.events(receipt, l2.staking, "ProviderSlashed") == []
    assert l2.events(receipt, l2.payable, "SettlementUpheld") == [{"inferenceId": inference_id}]
    assert f.claimable(l2.treasury).call() == DISPUTE_BOND
    assert f.claimable(l2.disputer).call() == 0
    assert provider_info(l2, l2.provider)["stake"] == MIN_PROVIDER_STAKE
    assert dispute_info(l2, dispute_id)["status"] == S_UPHELD
    assert l2.inference(inference_id)["disputeState"] == D_UPHELD
    # The original split stands and is final after the window.
    l2.assert_reverts(l2.payable.functions.finalize(inference_id, ids, weights), l2.outsider, "DisputeWindowOpen",
                      inference_id, l2.inference(inference_id)["disputeDeadline"])
    l2.past_dispute_window(inference_id)
    l2.finalize(inference_id, ids, weights)
    assert l2.inference(inference_id)["status"] == I_FINALIZED


def test_resolveDispute_non_resolver_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    call = l2.staking.functions.resolveDispute(dispute_id, True, CORRECTED, [l2.accepted[1]], [DENOM])
    for caller in (l2.outsider, l2.disputer, l2.provider):
        l2.assert_reverts(call, caller, "AccessControlUnauthorizedAccount", caller, RESOLVER_ROLE)


def test_resolveDispute_not_open_reverts(l2: L2Env) -> None:
    f = l2.staking.functions
    l2.assert_reverts(f.resolveDispute(1, False, CORRECTED, [], []), l2.admin, "DisputeNotOpen", 1, S_NONE)
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    l2.send(f.resolveDispute(dispute_id, False, CORRECTED, [], []), l2.admin)
    l2.assert_reverts(f.resolveDispute(dispute_id, True, CORRECTED, [l2.accepted[1]], [DENOM]), l2.admin,
                      "DisputeNotOpen", dispute_id, S_UPHELD)


def test_resolveDispute_invalid_corrected_split_reverts(l2: L2Env) -> None:
    """The corrected split is validated like a settlement; a bad one undoes the whole resolution."""
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    f = l2.staking.functions
    cases = [
        (f.resolveDispute(dispute_id, True, CORRECTED, [l2.foreign[0]], [DENOM]), "ForeignContribution",
         (l2.foreign[0], l2.foreign_datanet)),
        (f.resolveDispute(dispute_id, True, CORRECTED, [l2.pending[0]], [DENOM]), "ContributionNotAccepted",
         (l2.pending[0], C_PENDING)),
        (f.resolveDispute(dispute_id, True, CORRECTED, [l2.accepted[0]], [1]), "WeightSumMismatch", (1, DENOM)),
        (f.resolveDispute(dispute_id, True, CORRECTED, [], []), "EmptySplit", ()),
    ]
    for call, error, args in cases:
        l2.assert_reverts(call, l2.admin, error, *args, source=l2.payable)
    assert dispute_info(l2, dispute_id)["status"] == S_OPEN


# -------------------------------------------------------------------- claim


def test_claim_disputer_reward_succeeds(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    dispute_id = l2.open_dispute(inference_id)
    l2.send(l2.staking.functions.resolveDispute(dispute_id, True, CORRECTED, [l2.accepted[1]], [DENOM]), l2.admin)
    amount = l2.staking.functions.claimable(l2.disputer).call()
    before = l2.balance(l2.disputer)
    receipt = l2.send(l2.staking.functions.claim(), l2.disputer)
    assert l2.events(receipt, l2.staking, "Claimed") == [{"account": l2.disputer, "amount": amount}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(l2.disputer) == before + amount - gas_cost
    assert l2.staking.functions.claimable(l2.disputer).call() == 0
    l2.assert_reverts(l2.staking.functions.claim(), l2.disputer, "NothingToClaim", l2.disputer)


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
]
GETTERS = {"setMinProviderStake": "minProviderStake", "setDisputeBond": "disputeBond",
           "setUnbondingDelay": "unbondingDelay", "setSlashBps": "slashBps",
           "setDisputerRewardBps": "disputerRewardBps"}


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
    assert (f.minProviderStake().call(), f.disputeBond().call(), f.unbondingDelay().call(), f.slashBps().call(),
            f.disputerRewardBps().call()) == (MIN_PROVIDER_STAKE, DISPUTE_BOND, UNBONDING_DELAY, SLASH_BPS,
                                              DISPUTER_REWARD_BPS)
    assert f.hasRole(ADMIN_ROLE, l2.admin).call()
    assert f.hasRole(RESOLVER_ROLE, l2.admin).call()
    assert f.RESOLVER_ROLE().call() == RESOLVER_ROLE


def test_constructor_invalid_arguments_reverts(l2: L2Env) -> None:
    good = [l2.admin, l2.payable.address, MIN_PROVIDER_STAKE, DISPUTE_BOND, UNBONDING_DELAY, SLASH_BPS,
            DISPUTER_REWARD_BPS]
    for index in (0, 1):
        args = list(good)
        args[index] = ZERO
        l2.assert_deploy_reverts("AttributionStaking", "ZeroAddress", args)
    bad = {2: ("MinProviderStakeOutOfRange", 0), 3: ("DisputeBondOutOfRange", 0),
           4: ("UnbondingDelayOutOfRange", 0), 5: ("SlashBpsOutOfRange", 0),
           6: ("DisputerRewardBpsOutOfRange", 10_001)}
    for index, (error, value) in bad.items():
        args = list(good)
        args[index] = value
        l2.assert_deploy_reverts("AttributionStaking", error, args, value)
