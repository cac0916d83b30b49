"""PayableAI: requests, settlement, finalization into pull payments, refunds,
the dispute hooks and the governed parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

from attribution.split import attribution_hash as python_attribution_hash

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
BPS = 10_000
DENOM = 1_000_000
ZERO = "0x" + "00" * 20
ADMIN_ROLE = b"\x00" * 32
C_NONE, C_PENDING, C_ACCEPTED, C_REJECTED = range(4)
I_NONE, I_REQUESTED, I_SETTLED, I_FINALIZED, I_REFUNDED = range(5)
D_NONE, D_OPEN, D_UPHELD, D_OVERTURNED = range(4)
QUERY = keccak(text="query record of the test")

# Deployment values (conftest).
PROTOCOL_SHARE_BPS = 500
SETTLEMENT_PERIOD = 3_600
DISPUTE_WINDOW = 86_400
MODEL_FEE = 3 * OPEN + 12_345
OWNER_SHARE_BPS = 2_000


def settled(l2: L2Env, ids: list[int], weights: list[int]) -> int:
    inference_id = l2.request()
    l2.settle(inference_id, ids, weights, query=QUERY)
    return inference_id


# ------------------------------------------------------------------ request


def test_requestInference_exact_fee_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    input_hash = keccak(text="prompt")
    balance = l2.balance(l2.payable.address)
    ts = l2.now() + 5
    receipt = l2.send(f.requestInference(l2.model_id, input_hash), l2.requester, value=MODEL_FEE, at=ts)
    inference_id = f.inferenceCount().call()
    assert l2.events(receipt, l2.payable, "InferenceRequested") == [{
        "inferenceId": inference_id, "modelId": l2.model_id, "requester": l2.requester, "inputHash": input_hash,
        "fee": MODEL_FEE, "deadline": ts + SETTLEMENT_PERIOD}]
    record = l2.inference(inference_id)
    assert record["requester"] == l2.requester
    assert record["deadline"] == ts + SETTLEMENT_PERIOD
    assert record["status"] == I_REQUESTED
    assert record["modelId"] == l2.model_id
    assert record["fee"] == MODEL_FEE
    assert (record["protocolShareBps"], record["ownerShareBps"]) == (PROTOCOL_SHARE_BPS, OWNER_SHARE_BPS)
    assert f.totalEscrowed().call() == MODEL_FEE
    assert l2.balance(l2.payable.address) == balance + MODEL_FEE == l2.payable_accounted()


def test_requestInference_wrong_fee_reverts(l2: L2Env) -> None:
    call = l2.payable.functions.requestInference(l2.model_id, b"\x01" * 32)
    for sent in (0, MODEL_FEE - 1, MODEL_FEE + 1):
        l2.assert_reverts(call, l2.requester, "IncorrectFee", sent, MODEL_FEE, value=sent)


def test_requestInference_unknown_model_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.requestInference(999, b"\x01" * 32), l2.requester, "UnknownModel", 999)


def test_requestInference_free_model_succeeds(l2: L2Env) -> None:
    model_id = l2.register_model(l2.outsider, [l2.open_datanet], fee=0)
    inference_id = l2.request(model_id, fee=0)
    l2.settle(inference_id, [l2.accepted[0]], [DENOM])
    l2.past_dispute_window(inference_id)
    receipt = l2.finalize(inference_id, [l2.accepted[0]], [DENOM])
    [event] = l2.events(receipt, l2.payable, "InferenceFinalized")
    assert (event["protocolAmount"], event["ownerAmount"], event["contributorsAmount"]) == (0, 0, 0)
    assert l2.claimable(l2.contributors[0]) == 0


def test_requestInference_snapshots_shares_succeeds(l2: L2Env) -> None:
    """Shares changed after a request do not apply to it."""
    inference_id = l2.request()
    l2.send(l2.payable.functions.setProtocolShareBps(2_000), l2.admin)
    l2.send(l2.models.functions.setOwnerShareBps(l2.model_id, 0), l2.model_owner)
    l2.send(l2.models.functions.setFeePerInference(l2.model_id, 1), l2.model_owner)
    ids, weights = [l2.accepted[0]], [DENOM]
    l2.settle(inference_id, ids, weights)
    l2.past_dispute_window(inference_id)
    receipt = l2.finalize(inference_id, ids, weights)
    protocol, owner, parts = l2.expected_split(MODEL_FEE, PROTOCOL_SHARE_BPS, OWNER_SHARE_BPS, weights)
    [event] = l2.events(receipt, l2.payable, "InferenceFinalized")
    assert (event["protocolAmount"], event["ownerAmount"], event["contributorsAmount"]) == (protocol, owner,
                                                                                            sum(parts))
    later = l2.request()
    assert (l2.inference(later)["protocolShareBps"], l2.inference(later)["ownerShareBps"]) == (2_000, 0)
    assert l2.inference(later)["fee"] == 1


# ------------------------------------------------------------------- settle


def test_settle_valid_split_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    inference_id = l2.request()
    ids = [l2.accepted[0], l2.accepted[2], l2.accepted[4]]
    weights = [600_000, 300_000, 100_000]
    ts = l2.now() + 10
    returned = f.settle(inference_id, QUERY, ids, weights).call({"from": l2.provider})
    receipt = l2.send(f.settle(inference_id, QUERY, ids, weights), l2.provider, at=ts)
    expected_hash = l2.attribution_hash(l2.model_id, QUERY, ids, weights)
    assert returned == expected_hash
    assert l2.events(receipt, l2.payable, "InferenceSettled") == [{
        "inferenceId": inference_id, "modelId": l2.model_id, "provider": l2.provider, "queryHash": QUERY,
        "attributionHash": expected_hash, "disputeDeadline": ts + DISPUTE_WINDOW, "contributionIds": ids,
        "weights": weights}]
    record = l2.inference(inference_id)
    assert record["status"] == I_SETTLED
    assert record["provider"] == l2.provider
    assert record["disputeDeadline"] == ts + DISPUTE_WINDOW
    assert record["queryHash"] == QUERY
    assert record["attributionHash"] == expected_hash
    assert f.totalEscrowed().call() == 0
    assert f.totalPending().call() == MODEL_FEE
    # Nothing is claimable before finalization.
    assert all(l2.claimable(a) == 0 for a in [*l2.contributors, l2.model_owner, l2.treasury])
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_settle_attribution_hash_matches_python_succeeds(l2: L2Env) -> None:
    """The hash the contract computes is attribution.split.attribution_hash, the one
    providers and verifiers compute off chain, for splits of every size class."""
    f = l2.payable.functions
    cases = [([l2.accepted[3]], [DENOM]),
             (l2.accepted[:6], l2.even_weights(6)),
             ([l2.accepted[1], l2.accepted[5]], [1, DENOM - 1])]
    for n, (ids, weights) in enumerate(cases):
        inference_id = l2.request()
        query = keccak(text=f"query {n}")
        l2.settle(inference_id, ids, weights, query=query)
        on_chain = l2.inference(inference_id)["attributionHash"]
        assert on_chain == python_attribution_hash(l2.model_id, query, list(zip(ids, weights, strict=True)))
        [event] = l2.payable.events.InferenceSettled().get_logs(from_block=l2.w3.eth.block_number)
        assert (event["args"]["queryHash"], event["args"]["attributionHash"]) == (query, on_chain)
    # The model id is part of the hash: the same split and query on another model differ.
    other_model = l2.register_model(l2.model_owner, [l2.open_datanet])
    inference_id = l2.request(other_model)
    l2.settle(inference_id, [l2.accepted[0]], [DENOM], query=QUERY)
    assert l2.inference(inference_id)["attributionHash"] == python_attribution_hash(
        other_model, QUERY, [(l2.accepted[0], DENOM)]) != python_attribution_hash(
        l2.model_id, QUERY, [(l2.accepted[0], DENOM)])
    assert f.inferenceCount().call() == len(cases) + 1


def test_settle_at_deadline_succeeds(l2: L2Env) -> None:
    inference_id = l2.request()
    deadline = l2.inference(inference_id)["deadline"]
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0]], [DENOM])
    l2.send(call, l2.provider, at=deadline)
    assert l2.inference(inference_id)["status"] == I_SETTLED


def test_settle_after_deadline_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    deadline = l2.inference(inference_id)["deadline"]
    l2.mine_at(deadline + 1)
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0]], [DENOM])
    l2.assert_reverts(call, l2.provider, "SettlementDeadlinePassed", inference_id, deadline)


def test_settle_by_non_provider_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0]], [DENOM])
    for caller in (l2.outsider, l2.model_owner, l2.admin):
        l2.assert_reverts(call, caller, "NotActiveProvider", caller)


def test_settle_by_unbonding_provider_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    l2.send(l2.staking.functions.requestUnstake(1), l2.provider)  # active stake now below the minimum
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0]], [DENOM])
    l2.assert_reverts(call, l2.provider, "NotActiveProvider", l2.provider)


def test_settle_wrong_status_reverts(l2: L2Env) -> None:
    f = l2.payable.functions
    ids, weights = [l2.accepted[0]], [DENOM]
    l2.assert_reverts(f.settle(999, QUERY, ids, weights), l2.provider, "InvalidInferenceStatus", 999, I_NONE)
    inference_id = settled(l2, ids, weights)
    l2.assert_reverts(f.settle(inference_id, QUERY, ids, weights), l2.provider, "InvalidInferenceStatus",
                      inference_id, I_SETTLED)
    refunded = l2.request()
    l2.mine_at(l2.inference(refunded)["deadline"] + 1)
    l2.send(f.refund(refunded), l2.requester)
    l2.assert_reverts(f.settle(refunded, QUERY, ids, weights), l2.provider, "InvalidInferenceStatus",
                      refunded, I_REFUNDED)


def test_settle_empty_split_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    l2.assert_reverts(l2.payable.functions.settle(inference_id, QUERY, [], []), l2.provider, "EmptySplit")


def test_settle_length_mismatch_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0], l2.accepted[1]], [DENOM])
    l2.assert_reverts(call, l2.provider, "LengthMismatch", 2, 1)


def test_settle_too_many_contributions_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    ids = list(range(1, 258))
    call = l2.payable.functions.settle(inference_id, QUERY, ids, [1] * 257)
    l2.assert_reverts(call, l2.provider, "TooManyContributions", 257, 256)


def test_settle_ids_not_ascending_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    a, b = l2.accepted[0], l2.accepted[1]
    f = l2.payable.functions
    l2.assert_reverts(f.settle(inference_id, QUERY, [a, a], [500_000, 500_000]), l2.provider,
                      "ContributionIdsNotAscending", 1)
    l2.assert_reverts(f.settle(inference_id, QUERY, [b, a], [500_000, 500_000]), l2.provider,
                      "ContributionIdsNotAscending", 1)
    l2.assert_reverts(f.settle(inference_id, QUERY, [0], [DENOM]), l2.provider,
                      "ContributionIdsNotAscending", 0)


def test_settle_zero_weight_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0], l2.accepted[1]], [DENOM, 0])
    l2.assert_reverts(call, l2.provider, "ZeroWeight", 1)


def test_settle_weight_sum_mismatch_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    f = l2.payable.functions
    ids = [l2.accepted[0], l2.accepted[1]]
    for weights in ([500_000, 499_999], [500_000, 500_001], [2**32 - 1, 2**32 - 1]):
        l2.assert_reverts(f.settle(inference_id, QUERY, ids, weights), l2.provider, "WeightSumMismatch",
                          sum(weights), DENOM)


def test_settle_contribution_not_accepted_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    f = l2.payable.functions
    for bad, status in ((l2.pending[0], C_PENDING), (l2.rejected[0], C_REJECTED), (999, C_NONE)):
        ids = sorted([l2.accepted[0], bad])
        l2.assert_reverts(f.settle(inference_id, QUERY, ids, [500_000, 500_000]), l2.provider,
                          "ContributionNotAccepted", bad, status)


def test_settle_foreign_contribution_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    bad = l2.foreign[0]
    call = l2.payable.functions.settle(inference_id, QUERY, [l2.accepted[0], bad], [500_000, 500_000])
    l2.assert_reverts(call, l2.provider, "ForeignContribution", bad, l2.foreign_datanet)


# ----------------------------------------------------------------- finalize


def test_finalize_after_window_credits_exact_split_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    ids = [l2.accepted[0], l2.accepted[1], l2.accepted[5]]
    weights = [333_333, 333_333, 333_334]
    inference_id = settled(l2, ids, weights)
    l2.past_dispute_window(inference_id)
    receipt = l2.finalize(inference_id, ids, weights, sender=l2.outsider)

    protocol, owner, parts = l2.expected_split(MODEL_FEE, PROTOCOL_SHARE_BPS, OWNER_SHARE_BPS, weights)
    assert protocol + owner + sum(parts) == MODEL_FEE
    assert l2.events(receipt, l2.payable, "InferenceFinalized") == [{
        "inferenceId": inference_id, "treasury": l2.treasury, "protocolAmount": protocol,
        "modelOwner": l2.model_owner, "ownerAmount": owner, "contributorsAmount": sum(parts)}]
    contributors = [l2.contributors[0], l2.contributors[1], l2.contributors[1]]  # accepted[5]: curated, c2
    assert l2.events(receipt, l2.payable, "ContributionRewarded") == [
        {"inferenceId": inference_id, "contributionId": cid, "contributor": who, "amount": amount}
        for cid, who, amount in zip(ids, contributors, parts, strict=True)]
    assert l2.claimable(l2.treasury) == protocol
    assert l2.claimable(l2.model_owner) == owner
    assert l2.claimable(l2.contributors[0]) == parts[0]
    assert l2.claimable(l2.contributors[1]) == parts[1] + parts[2]  # one slot accumulates both
    assert l2.inference(inference_id)["status"] == I_FINALIZED
    assert f.totalPending().call() == 0
    assert f.totalClaimable().call() == MODEL_FEE
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_finalize_within_window_reverts(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    deadline = l2.inference(inference_id)["disputeDeadline"]
    call = l2.payable.functions.finalize(inference_id, ids, weights)
    l2.assert_reverts(call, l2.outsider, "DisputeWindowOpen", inference_id, deadline)
    l2.mine_at(deadline)  # the last second of the window still belongs to disputes
    l2.assert_reverts(call, l2.outsider, "DisputeWindowOpen", inference_id, deadline)
    l2.send(call, l2.outsider, at=deadline + 1)


def test_finalize_wrong_split_reverts(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0], l2.accepted[1]], [600_000, 400_000]
    inference_id = settled(l2, ids, weights)
    l2.past_dispute_window(inference_id)
    committed = l2.attribution_hash(l2.model_id, QUERY, ids, weights)
    assert l2.inference(inference_id)["attributionHash"] == committed
    f = l2.payable.functions
    for other_ids, other_weights in (([l2.accepted[0], l2.accepted[1]], [400_000, 600_000]),
                                     ([l2.accepted[0], l2.accepted[2]], [600_000, 400_000]),
                                     ([l2.accepted[0]], [DENOM])):
        other = l2.attribution_hash(l2.model_id, QUERY, other_ids, other_weights)
        l2.assert_reverts(f.finalize(inference_id, other_ids, other_weights), l2.outsider, "SplitMismatch",
                          inference_id, committed, other)


def test_finalize_wrong_status_reverts(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    f = l2.payable.functions
    requested = l2.request()
    l2.assert_reverts(f.finalize(requested, ids, weights), l2.outsider, "InvalidInferenceStatus", requested,
                      I_REQUESTED)
    l2.assert_reverts(f.finalize(999, ids, weights), l2.outsider, "InvalidInferenceStatus", 999, I_NONE)
    inference_id = settled(l2, ids, weights)
    l2.past_dispute_window(inference_id)
    l2.finalize(inference_id, ids, weights)
    # No double credit.
    l2.assert_reverts(f.finalize(inference_id, ids, weights), l2.outsider, "InvalidInferenceStatus", inference_id,
                      I_FINALIZED)


def test_finalize_open_dispute_reverts(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    l2.open_dispute(inference_id)
    l2.past_dispute_window(inference_id)
    l2.assert_reverts(l2.payable.functions.finalize(inference_id, ids, weights), l2.outsider, "DisputePending",
                      inference_id)


def test_finalize_pays_current_treasury_and_model_owner_succeeds(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    new_treasury, new_owner = l2.fresh_account(), l2.fresh_account()
    l2.send(l2.payable.functions.setTreasury(new_treasury), l2.admin)
    l2.send(l2.models.functions.transferModelOwnership(l2.model_id, new_owner), l2.model_owner)
    l2.past_dispute_window(inference_id)
    l2.finalize(inference_id, ids, weights)
    protocol, owner, _ = l2.expected_split(MODEL_FEE, PROTOCOL_SHARE_BPS, OWNER_SHARE_BPS, weights)
    assert (l2.claimable(new_treasury), l2.claimable(new_owner)) == (protocol, owner)
    assert l2.claimable(l2.treasury) == l2.claimable(l2.model_owner) == 0


# -------------------------------------------------------------------- claim


def test_claim_accrued_balance_succeeds(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    for _ in range(2):  # two settlements accumulate into one balance
        inference_id = settled(l2, ids, weights)
        l2.past_dispute_window(inference_id)
        l2.finalize(inference_id, ids, weights)
    contributor = l2.contributors[0]
    amount = l2.claimable(contributor)
    assert amount == 2 * l2.expected_split(MODEL_FEE, PROTOCOL_SHARE_BPS, OWNER_SHARE_BPS, weights)[2][0]
    total = l2.payable.functions.totalClaimable().call()
    before = l2.balance(contributor)
    receipt = l2.send(l2.payable.functions.claim(), contributor)
    assert l2.events(receipt, l2.payable, "Claimed") == [{"account": contributor, "amount": amount}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(contributor) == before + amount - gas_cost
    assert l2.claimable(contributor) == 0
    assert l2.payable.functions.totalClaimable().call() == total - amount
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_claim_twice_reverts(l2: L2Env) -> None:
    ids, weights = [l2.accepted[0]], [DENOM]
    inference_id = settled(l2, ids, weights)
    l2.past_dispute_window(inference_id)
    l2.finalize(inference_id, ids, weights)
    l2.send(l2.payable.functions.claim(), l2.contributors[0])
    l2.assert_reverts(l2.payable.functions.claim(), l2.contributors[0], "NothingToClaim", l2.contributors[0])


def test_claim_nothing_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.claim(), l2.outsider, "NothingToClaim", l2.outsider)
    # Settled but not finalized: still nothing.
    settled(l2, [l2.accepted[0]], [DENOM])
    l2.assert_reverts(l2.payable.functions.claim(), l2.contributors[0], "NothingToClaim", l2.contributors[0])


# ------------------------------------------------------------------- refund


def test_refund_after_deadline_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    inference_id = l2.request()
    deadline = l2.inference(inference_id)["deadline"]
    before = l2.balance(l2.requester)
    receipt = l2.send(f.refund(inference_id), l2.requester, at=deadline + 1)
    assert l2.events(receipt, l2.payable, "InferenceRefunded") == [{
        "inferenceId": inference_id, "requester": l2.requester, "fee": MODEL_FEE}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(l2.requester) == before + MODEL_FEE - gas_cost
    assert l2.inference(inference_id)["status"] == I_REFUNDED
    assert f.totalEscrowed().call() == 0
    assert l2.balance(l2.payable.address) == l2.payable_accounted()


def test_refund_before_deadline_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    deadline = l2.inference(inference_id)["deadline"]
    call = l2.payable.functions.refund(inference_id)
    l2.assert_reverts(call, l2.requester, "SettlementDeadlineNotPassed", inference_id, deadline)
    l2.mine_at(deadline)
    l2.assert_reverts(call, l2.requester, "SettlementDeadlineNotPassed", inference_id, deadline)


def test_refund_not_requester_reverts(l2: L2Env) -> None:
    inference_id = l2.request()
    l2.mine_at(l2.inference(inference_id)["deadline"] + 1)
    l2.assert_reverts(l2.payable.functions.refund(inference_id), l2.outsider, "NotRequester", inference_id,
                      l2.outsider)


def test_refund_wrong_status_reverts(l2: L2Env) -> None:
    f = l2.payable.functions
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    l2.mine_at(l2.inference(inference_id)["deadline"] + 1)
    l2.assert_reverts(f.refund(inference_id), l2.requester, "InvalidInferenceStatus", inference_id, I_SETTLED)
    l2.assert_reverts(f.refund(999), l2.requester, "InvalidInferenceStatus", 999, I_NONE)
    other = l2.request()
    l2.mine_at(l2.inference(other)["deadline"] + 1)
    l2.send(f.refund(other), l2.requester)
    l2.assert_reverts(f.refund(other), l2.requester, "InvalidInferenceStatus", other, I_REFUNDED)


# ------------------------------------------------------------ dispute hooks


def test_openDispute_not_staking_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    for caller in (l2.outsider, l2.admin, l2.provider):
        l2.assert_reverts(l2.payable.functions.openDispute(inference_id), caller, "NotStaking", caller)


def test_resolveDispute_not_staking_reverts(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    l2.open_dispute(inference_id)
    call = l2.payable.functions.resolveDispute(inference_id, True, QUERY, [l2.accepted[1]], [DENOM])
    for caller in (l2.outsider, l2.admin):
        l2.assert_reverts(call, caller, "NotStaking", caller)


def test_resolveDispute_without_open_dispute_reverts(l2: L2Env) -> None:
    """Unreachable through AttributionStaking (which tracks its own disputes), so
    checked on a PayableAI whose staking contract is a plain account."""
    hook = l2.fresh_account()
    payable = l2.deploy("PayableAI", l2.admin, l2.datanets.address, l2.models.address, hook, l2.treasury, 500,
                        3_600, 86_400)
    call = payable.functions.resolveDispute(1, False, QUERY, [], [])
    l2.assert_reverts(call, hook, "NoOpenDispute", 1, source=payable)
    l2.assert_reverts(payable.functions.openDispute(1), hook, "InvalidInferenceStatus", 1, I_NONE, source=payable)


def test_openDispute_via_staking_succeeds(l2: L2Env) -> None:
    inference_id = settled(l2, [l2.accepted[0]], [DENOM])
    receipt = l2.send(l2.staking.functions.dispute(inference_id, b"\x01" * 32), l2.disputer, value=10 * OPEN)
    assert l2.events(receipt, l2.payable, "SettlementDisputed") == [{"inferenceId": inference_id,
                                                                     "provider": l2.provider}]
    assert l2.inference(inference_id)["disputeState"] == D_OPEN


# ---------------------------------------------------------------- computeSplit


def test_computeSplit_matches_rule_succeeds(l2: L2Env) -> None:
    weights = [1, 999_998, 1]
    fee = 10**18 + 7
    result = l2.payable.functions.computeSplit(fee, 1_234, 5_678, weights).call()
    protocol, owner, parts = l2.expected_split(fee, 1_234, 5_678, weights)
    assert result == [protocol, owner, parts]
    assert protocol + owner + sum(parts) == fee


def test_computeSplit_shares_out_of_range_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.computeSplit(100, 2_001, 8_000, [DENOM]), l2.outsider,
                      "SharesOutOfRange", 2_001, 8_000)


def test_computeSplit_weight_sum_mismatch_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.computeSplit(100, 0, 0, [1, 2]), l2.outsider, "WeightSumMismatch", 3,
                      DENOM)


# -------------------------------------------------------------- parameters


def test_setTreasury_by_admin_succeeds(l2: L2Env) -> None:
    receipt = l2.send(l2.payable.functions.setTreasury(l2.outsider), l2.admin)
    assert l2.events(receipt, l2.payable, "TreasuryUpdated") == [{"oldTreasury": l2.treasury,
                                                                  "newTreasury": l2.outsider}]
    assert l2.payable.functions.treasury().call() == l2.outsider


def test_setTreasury_zero_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.setTreasury(ZERO), l2.admin, "ZeroAddress")


def test_setProtocolShareBps_by_admin_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    for value in (0, 2_000):
        old = f.protocolShareBps().call()
        receipt = l2.send(f.setProtocolShareBps(value), l2.admin)
        assert l2.events(receipt, l2.payable, "ProtocolShareUpdated") == [{"oldShareBps": old,
                                                                           "newShareBps": value}]
        assert f.protocolShareBps().call() == value


def test_setProtocolShareBps_out_of_range_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.payable.functions.setProtocolShareBps(2_001), l2.admin, "ProtocolShareOutOfRange", 2_001,
                      2_000)


def test_setSettlementPeriod_by_admin_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    for value in (60, 30 * 86_400):
        old = f.settlementPeriod().call()
        receipt = l2.send(f.setSettlementPeriod(value), l2.admin)
        assert l2.events(receipt, l2.payable, "SettlementPeriodUpdated") == [{"oldPeriod": old,
                                                                              "newPeriod": value}]
    ts = l2.now() + 3
    inference_id = l2.request()
    assert l2.inference(inference_id)["deadline"] - 30 * 86_400 >= ts - 3


def test_setSettlementPeriod_out_of_range_reverts(l2: L2Env) -> None:
    for value in (59, 30 * 86_400 + 1):
        l2.assert_reverts(l2.payable.functions.setSettlementPeriod(value), l2.admin, "SettlementPeriodOutOfRange",
                          value, 60, 30 * 86_400)


def test_setDisputeWindow_by_admin_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    for value in (60, 7 * 86_400):
        old = f.disputeWindow().call()
        receipt = l2.send(f.setDisputeWindow(value), l2.admin)
        assert l2.events(receipt, l2.payable, "DisputeWindowUpdated") == [{"oldWindow": old, "newWindow": value}]
    inference_id = l2.request()
    ts = l2.now() + 1
    l2.send(f.settle(inference_id, QUERY, [l2.accepted[0]], [DENOM]), l2.provider, at=ts)
    assert l2.inference(inference_id)["disputeDeadline"] == ts + 7 * 86_400


def test_setDisputeWindow_out_of_range_reverts(l2: L2Env) -> None:
    for value in (59, 7 * 86_400 + 1):
        l2.assert_reverts(l2.payable.functions.setDisputeWindow(value), l2.admin, "DisputeWindowOutOfRange", value,
                          60, 7 * 86_400)


def test_setters_non_admin_reverts(l2: L2Env) -> None:
    f = l2.payable.functions
    for call in (f.setTreasury(l2.outsider), f.setProtocolShareBps(1), f.setSettlementPeriod(600),
                 f.setDisputeWindow(600)):
        for caller in (l2.outsider, l2.treasury, l2.provider):
            l2.assert_reverts(call, caller, "AccessControlUnauthorizedAccount", caller, ADMIN_ROLE)


def test_constructor_parameters_succeeds(l2: L2Env) -> None:
    f = l2.payable.functions
    assert f.DATANETS().call() == l2.datanets.address
    assert f.MODELS().call() == l2.models.address
    assert f.STAKING().call() == l2.staking.address
    assert f.treasury().call() == l2.treasury
    assert (f.protocolShareBps().call(), f.settlementPeriod().call(), f.disputeWindow().call()) == (
        PROTOCOL_SHARE_BPS, SETTLEMENT_PERIOD, DISPUTE_WINDOW)
    assert f.WEIGHT_DENOMINATOR().call() == DENOM
    assert f.MAX_CONTRIBUTIONS_PER_SETTLEMENT().call() == 256
    assert f.hasRole(ADMIN_ROLE, l2.admin).call()
    assert not f.hasRole(ADMIN_ROLE, l2.outsider).call()
    assert l2.inference(999)["status"] == I_NONE


def test_constructor_invalid_arguments_reverts(l2: L2Env) -> None:
    good = [l2.admin, l2.datanets.address, l2.models.address, l2.staking.address, l2.treasury, 500, 3_600, 86_400]
    for index in range(5):
        args = list(good)
        args[index] = ZERO
        l2.assert_deploy_reverts("PayableAI", "ZeroAddress", args)
    l2.assert_deploy_reverts("PayableAI", "ProtocolShareOutOfRange", [*good[:5], 2_001, 3_600, 86_400], 2_001, 2_000)
    l2.assert_deploy_reverts("PayableAI", "SettlementPeriodOutOfRange", [*good[:6], 0, 86_400], 0, 60, 30 * 86_400)
    l2.assert_deploy_reverts("PayableAI", "DisputeWindowOutOfRange", [*good[:7], 0], 0, 60, 7 * 86_400)
