"""Gas of PayableAI.settle and finalize against the number of contributions.

settle must stay under 40,000 gas per contribution and grow linearly; its
per-contribution work is one cold SLOAD of the packed contribution record in
the DatanetRegistry, calldata, hashing and log data. finalize (the crediting
step after the dispute window) is measured too, in its worst case: every
contributor distinct and credited for the first time, so each credit writes a
new storage slot (22,100 gas)."""

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
