"""Gas of PayableAI.settle and finalize against the number of contributions.

settle must stay under 40,000 gas per contribution and grow linearly; its
per-contribution work is one cold SLOAD of the packed contribution record in
the DatanetRegistry, calldata, hashing and log data. finalize (the crediting
step after the dispute window) is measured too, in its worst case: every
contributor distinct and credited for the first time, so each credit writes a
new storage slot (22,100 gas). The dispute operations of AttributionStaking are
measured too, with 1 and 20 voters: resolve must not depend on the number of
voters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests import gasreport

if TYPE_CHECKING:
    from conftest import L2Env

PER_CONTRIBUTOR_LIMIT = 40_000
SIZES = (1, 10, 100)


def test_settle_per_contributor_gas_linear_succeeds(l2: L2Env, capsys: pytest.CaptureFixture[str]) -> None:
    datanet = l2.create_datanet(l2.datanet_owner)
    model_id = l2.register_model(l2.model_owner, [datanet])
    ids = [l2.contribute(l2.fresh_account(), datanet) for _ in range(max(SIZES))]

    settle_gas: dict[int, int] = {}
    finalize_gas: dict[int, int] = {}
    for n in SIZES:
        snapshot = l2.snapshot()  # every size starts from the same state: all credits are first credits
        inference_id = l2.request(model_id)
        weights = l2.even_weights(n)
        settle_gas[n] = int(l2.settle(inference_id, ids[:n], weights)["gasUsed"])
        l2.past_dispute_window(inference_id)
        finalize_gas[n] = int(l2.finalize(inference_id, ids[:n], weights)["gasUsed"])
        gasreport.record("PayableAI.settle", settle_gas[n], contributors=n)
        gasreport.record("PayableAI.finalize", finalize_gas[n], contributors=n)
        if n == 1:
            contributor = l2.datanets.functions.contributorOf(ids[0]).call()
            gasreport.record("PayableAI.claim", int(l2.send(l2.payable.functions.claim(), contributor)["gasUsed"]))
        l2.revert(snapshot)

    def marginal(gas: dict[int, int], low: int, high: int) -> float:
        return (gas[high] - gas[low]) / (high - low)

    rows = []
    for name, gas in (("settle", settle_gas), ("finalize", finalize_gas)):
        m_low, m_high = marginal(gas, 1, 10), marginal(gas, 10, 100)
        rows.append(f"{name:9} " + "  ".join(f"n={n}: {gas[n]:>9,}" for n in SIZES)
                    + f"   marginal/contributor 1->10: {m_low:,.0f}  10->100: {m_high:,.0f}")
    with capsys.disabled():
        print("\nPayableAI gas (transaction gasUsed, intrinsic and calldata included):")
        for row in rows:
            print("  " + row)

    for gas in (settle_gas, finalize_gas):
        m_low, m_high = marginal(gas, 1, 10), marginal(gas, 10, 100)
        assert 0 < m_low < PER_CONTRIBUTOR_LIMIT
        assert 0 < m_high < PER_CONTRIBUTOR_LIMIT
        # Linear: the marginal cost barely moves between 10 and 100 contributions
        # (memory expansion is quadratic but negligible at this size).
        assert abs(m_high - m_low) / m_low < 0.25
        # No hidden per-call blow-up either: the average stays under the limit too.
        assert (gas[100] - gas[1]) / 99 < PER_CONTRIBUTOR_LIMIT


VOTERS = (1, 20)
# Regression bounds, about 10 % above the measured figures (docs/benchmarks.md). A
# dispute writes the dispute record (ten storage slots, most of its cost) and the
# provider's automatic vote.
DISPUTE_GAS_LIMITS = {"dispute": 460_000, "vote": 150_000, "resolve": 240_000, "releaseVote": 46_000}


def test_dispute_resolve_gas_constant_in_voters_succeeds(l2: L2Env, capsys: pytest.CaptureFixture[str]) -> None:
    """dispute, vote, resolve (an overturn) and releaseVote: resolve does not
    iterate over the voters (their votes are released one by one afterwards), so
    its cost is the same with 1 and with 20 voters."""
    ids, weights = [l2.accepted[0]], [1_000_000]
    corrected_ids = [l2.accepted[1]]
    query = b"\x01" * 32
    corrected = l2.attribution_hash(l2.model_id, query, corrected_ids, weights)
    gas: dict[int, dict[str, int]] = {}
    for n in VOTERS:
        snapshot = l2.snapshot()
        voters = [l2.staked_provider(150 * 10**18) for _ in range(n)]  # outweighs the provider's 100
        inference_id = l2.request()
        l2.settle(inference_id, ids, weights)
        receipt = l2.send(l2.staking.functions.dispute(inference_id, corrected), l2.disputer, value=10 * 10**18)
        dispute_id = int(l2.events(receipt, l2.staking, "DisputeOpened")[0]["disputeId"])
        gas[n] = {"dispute": int(receipt["gasUsed"])}
        vote_gas = [int(l2.vote(dispute_id, voter, corrected)["gasUsed"]) for voter in voters]
        gas[n]["vote"] = max(vote_gas)
        l2.after_vote(dispute_id)
        receipt = l2.resolve(dispute_id, query, corrected_ids, weights)
        assert l2.events(receipt, l2.staking, "DisputeResolved")[0]["overturned"] is True
        gas[n]["resolve"] = int(receipt["gasUsed"])
        gas[n]["releaseVote"] = int(l2.send(l2.staking.functions.releaseVote(dispute_id, voters[0]),
                                            l2.outsider)["gasUsed"])
        l2.revert(snapshot)
    for operation, used in gas[VOTERS[0]].items():
        gasreport.record(f"AttributionStaking.{operation}", used)
    with capsys.disabled():
        print("\nAttributionStaking gas (transaction gasUsed), by number of voters:")
        for operation in gas[VOTERS[0]]:
            print(f"  {operation:12} " + "  ".join(f"{n} voters: {gas[n][operation]:>9,}" for n in VOTERS))
    # The tallies' storage slots are warm or cold the same way whatever the count.
    assert abs(gas[VOTERS[1]]["resolve"] - gas[VOTERS[0]]["resolve"]) < 1_000
    assert abs(gas[VOTERS[1]]["releaseVote"] - gas[VOTERS[0]]["releaseVote"]) < 1_000
    for per_n in gas.values():
        for operation, used in per_n.items():
            assert used < DISPUTE_GAS_LIMITS[operation], (operation, used)
