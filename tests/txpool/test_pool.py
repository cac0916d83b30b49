"""Pending and queued lists, replacement, limits, ordering and new heads."""

from __future__ import annotations

import threading

import pytest

from openledger_node.exceptions import (
    FeeCapTooLow,
    ReplacementUnderpriced,
    SenderLimitReached,
    Underpriced,
)
from openledger_node.txpool import PoolContent, TxPool
from openledger_node.txpool.validation import lowest_base_fee

from .helpers import FakeState, address, make_pool, signed, tx_hash_of


def nonces(content: PoolContent, sender: int) -> list[int]:
    return list(content.get(address(sender), {}))


# --- pending and queued ------------------------------------------------------------


def test_gap_goes_to_queued_and_is_promoted_when_filled() -> None:
    pool = make_pool()
    pool.add_raw(signed(1, 0))
    pool.add_raw(signed(1, 2))
    pool.add_raw(signed(1, 3))
    pending, queued = pool.content()
    assert (nonces(pending, 1), nonces(queued, 1)) == ([0], [2, 3])
    assert pool.status() == (1, 2)

    pool.add_raw(signed(1, 1))
    pending, queued = pool.content()
    assert (nonces(pending, 1), nonces(queued, 1)) == ([0, 1, 2, 3], [])
    assert pool.status() == (4, 0)


def test_pending_starts_at_the_state_nonce() -> None:
    pool = make_pool(FakeState(nonces={address(1): 7}))
    pool.add_raw(signed(1, 8))
    assert pool.status() == (0, 1)
    pool.add_raw(signed(1, 7))
    assert pool.status() == (2, 0)


def test_pending_nonce() -> None:
    pool = make_pool(FakeState(nonces={address(1): 3}))
    assert pool.pending_nonce(address(1)) == 3
    pool.add_raw(signed(1, 3))
    pool.add_raw(signed(1, 4))
    pool.add_raw(signed(1, 6))
    assert pool.pending_nonce(address(1)) == 5
    assert pool.pending_nonce(address(2)) == 0


def test_get_and_contains() -> None:
    pool = make_pool()
    raw = signed(1, 0)
    h = pool.add_raw(raw)
    assert pool.contains(h)
    tx = pool.get(h)
    assert tx is not None and bytes(tx.encode()) == raw
    assert pool.get(b"\x00" * 32) is None
    assert not pool.contains(b"\x00" * 32)


def test_remove_demotes_the_senders_later_transactions() -> None:
    pool = make_pool()
    hashes = [pool.add_raw(signed(1, n)) for n in range(4)]
    pool.remove([hashes[1], b"\xff" * 32])
    pending, queued = pool.content()
    assert (nonces(pending, 1), nonces(queued, 1)) == ([0], [2, 3])
    assert not pool.contains(hashes[1])


# --- replacement ---------------------------------------------------------------------


def test_replacement_at_exactly_the_bump_is_accepted() -> None:
    pool = make_pool()
    old = pool.add_raw(signed(1, 0, fee_cap=1000, tip=100))
    new = pool.add_raw(signed(1, 0, fee_cap=1100, tip=110))
    assert not pool.contains(old) and pool.contains(new)
    assert pool.status() == (1, 0)


def test_replacement_below_the_bump_is_rejected() -> None:
    pool = make_pool()
    old = pool.add_raw(signed(1, 0, fee_cap=1000, tip=100))
    with pytest.raises(ReplacementUnderpriced) as err:
        pool.add_raw(signed(1, 0, fee_cap=1090, tip=109))
    assert str(err.value) == "replacement transaction underpriced"
    assert pool.contains(old)


@pytest.mark.parametrize(
    ("fee_cap", "tip"), [(2000, 100), (1000, 200)], ids=["cap-only", "tip-only"]
)
def test_replacement_bumping_one_fee_only_is_rejected(fee_cap: int, tip: int) -> None:
    pool = make_pool()
    pool.add_raw(signed(1, 0, fee_cap=1000, tip=100))
    with pytest.raises(ReplacementUnderpriced):
        pool.add_raw(signed(1, 0, fee_cap=fee_cap, tip=tip))


def test_replacement_with_a_zero_tip_must_still_raise_it() -> None:
    pool = make_pool()
    pool.add_raw(signed(1, 0, fee_cap=1000, tip=0))
    with pytest.raises(ReplacementUnderpriced):
        pool.add_raw(signed(1, 0, fee_cap=2000, tip=0))
    pool.add_raw(signed(1, 0, fee_cap=2000, tip=1))


def test_replacement_of_a_queued_transaction_stays_queued() -> None:
    pool = make_pool()
    pool.add_raw(signed(1, 5, fee_cap=100, tip=10))
    new = pool.add_raw(signed(1, 5, fee_cap=200, tip=20))
    _, queued = pool.content()
    assert bytes(queued[address(1)][5].hash) == new
    assert pool.status() == (0, 1)


def test_replacement_respects_a_custom_bump() -> None:
    pool = make_pool(price_bump=50)
    pool.add_raw(signed(1, 0, fee_cap=100, tip=10))
    with pytest.raises(ReplacementUnderpriced):
        pool.add_raw(signed(1, 0, fee_cap=149, tip=15))
    pool.add_raw(signed(1, 0, fee_cap=150, tip=15))


# --- limits ----------------------------------------------------------------------------


def test_sender_queue_limit() -> None:
    pool = make_pool(account_queue=2)
    pool.add_raw(signed(1, 1))
    pool.add_raw(signed(1, 2))
    with pytest.raises(SenderLimitReached) as err:
        pool.add_raw(signed(1, 3))
    assert err.value.limit == 2
    pool.add_raw(signed(1, 1, fee_cap=200, tip=20))  # replacing needs no slot
    pool.add_raw(signed(1, 0))  # pending is not the queue
    assert pool.status() == (3, 0)


def test_pending_beyond_account_slots_while_the_pool_has_room() -> None:
    pool = make_pool(account_slots=2, global_slots=10)
    for n in range(6):
        pool.add_raw(signed(1, n))
    assert pool.status() == (6, 0)


def test_full_pool_refuses_a_cheaper_transaction() -> None:
    pool = make_pool(global_slots=3, global_queue=1)
    hashes = [
        pool.add_raw(signed(i + 1, 0, fee_cap=1000, tip=tip)) for i, tip in enumerate((5, 6, 7, 8))
    ]
    with pytest.raises(Underpriced):
        pool.add_raw(signed(9, 0, fee_cap=1000, tip=5))  # equal is not better
    with pytest.raises(Underpriced):
        pool.add_raw(signed(9, 0, fee_cap=1000, tip=4))
    assert all(pool.contains(h) for h in hashes)


def test_full_pool_evicts_the_cheapest_for_a_better_paying_transaction() -> None:
    pool = make_pool(global_slots=3, global_queue=1)
    hashes = [
        pool.add_raw(signed(i + 1, 0, fee_cap=1000, tip=tip)) for i, tip in enumerate((6, 5, 7, 8))
    ]
    new = pool.add_raw(signed(9, 0, fee_cap=1000, tip=9))
    assert not pool.contains(hashes[1])
    assert pool.contains(new) and sum(pool.status()) == 4


def test_eviction_measures_the_effective_tip_at_the_base_fee() -> None:
    pool = make_pool(global_slots=1, global_queue=1, base_fee=90)
    cheap = pool.add_raw(signed(1, 0, fee_cap=95, tip=50))  # effective tip 5
    pool.add_raw(signed(2, 0, fee_cap=1000, tip=10))
    new = pool.add_raw(signed(3, 0, fee_cap=1000, tip=6))
    assert not pool.contains(cheap) and pool.contains(new)


def test_eviction_takes_the_victims_highest_nonce_so_pending_keeps_no_gap() -> None:
    pool = make_pool(global_slots=2, global_queue=1)
    pool.add_raw(signed(1, 0, fee_cap=1000, tip=1))
    tail = pool.add_raw(signed(1, 1, fee_cap=1000, tip=2))
    pool.add_raw(signed(2, 0, fee_cap=1000, tip=3))
    pool.add_raw(signed(3, 0, fee_cap=1000, tip=10))
    pending, queued = pool.content()
    assert not pool.contains(tail)
    assert nonces(pending, 1) == [0] and queued == {}


def test_eviction_takes_queued_before_pending() -> None:
    pool = make_pool(global_slots=2, global_queue=1)
    pool.add_raw(signed(1, 0, fee_cap=1000, tip=2))
    future = pool.add_raw(signed(2, 5, fee_cap=1000, tip=3))
    pool.add_raw(signed(3, 0, fee_cap=1000, tip=4))
    pool.add_raw(signed(4, 0, fee_cap=1000, tip=5))
    assert not pool.contains(future)
    assert pool.status() == (3, 0)


def test_a_future_transaction_never_evicts_a_pending_one() -> None:
    pool = make_pool(global_slots=2, global_queue=1)
    for i in range(3):
        pool.add_raw(signed(i + 1, 0, fee_cap=1000, tip=1))
    with pytest.raises(Underpriced):
        pool.add_raw(signed(9, 3, fee_cap=1000, tip=100))


def test_global_queue_limit_evicts_only_queued() -> None:
    pool = make_pool(global_slots=10, global_queue=2)
    cheap = pool.add_raw(signed(1, 1, fee_cap=1000, tip=1))
    pool.add_raw(signed(2, 1, fee_cap=1000, tip=5))
    with pytest.raises(Underpriced):
        pool.add_raw(signed(3, 1, fee_cap=1000, tip=1))
    pool.add_raw(signed(3, 1, fee_cap=1000, tip=2))
    assert not pool.contains(cheap)
    assert pool.status() == (0, 2)


def test_full_pool_takes_from_a_sender_above_its_slots_first() -> None:
    pool = make_pool(account_slots=1, global_slots=2, global_queue=1)
    pool.add_raw(signed(1, 0, fee_cap=1000, tip=100))
    extra = pool.add_raw(signed(1, 1, fee_cap=1000, tip=100))
    pool.add_raw(signed(2, 0, fee_cap=1000, tip=100))
    with pytest.raises(SenderLimitReached):
        pool.add_raw(signed(1, 2, fee_cap=1000, tip=1000))
    pool.add_raw(signed(3, 0, fee_cap=1000, tip=1))
    assert not pool.contains(extra)
    pending, _ = pool.content()
    assert [nonces(pending, s) for s in (1, 2, 3)] == [[0], [0], [0]]


# --- best -----------------------------------------------------------------------------


def test_best_orders_by_tip_across_senders_and_by_nonce_within() -> None:
    pool = make_pool()
    a0 = pool.add_raw(signed(1, 0, fee_cap=1000, tip=8))
    a1 = pool.add_raw(signed(1, 1, fee_cap=1000, tip=30))
    b0 = pool.add_raw(signed(2, 0, fee_cap=1000, tip=10))
    c0 = pool.add_raw(signed(3, 0, fee_cap=1000, tip=7))
    pool.add_raw(signed(3, 2, fee_cap=1000, tip=99))  # queued: never offered
    order = [bytes(tx.hash) for tx in pool.best(base_fee=0)]
    assert order == [b0, a0, a1, c0]


def test_best_uses_the_effective_tip_and_skips_what_cannot_pay_the_base_fee() -> None:
    pool = make_pool()
    capped = pool.add_raw(signed(1, 0, fee_cap=57, tip=10))  # effective tip 7 at base fee 50
    full = pool.add_raw(signed(2, 0, fee_cap=1000, tip=9))
    pool.add_raw(signed(3, 0, fee_cap=49, tip=1))
    after = pool.add_raw(signed(3, 1, fee_cap=1000, tip=50))
    order = [bytes(tx.hash) for tx in pool.best(base_fee=50)]
    assert order == [full, capped]
    assert after not in order


def test_best_ties_go_to_the_earlier_arrival() -> None:
    pool = make_pool()
    first = pool.add_raw(signed(2, 0, tip=10))
    second = pool.add_raw(signed(1, 0, tip=10))
    assert [bytes(tx.hash) for tx in pool.best(0)] == [first, second]


def test_mark_invalid_drops_the_senders_remaining_transactions() -> None:
    pool = make_pool()
    a0 = pool.add_raw(signed(1, 0, tip=20))
    pool.add_raw(signed(1, 1, tip=20))
    pool.add_raw(signed(1, 2, tip=20))
    b0 = pool.add_raw(signed(2, 0, tip=10))
    b1 = pool.add_raw(signed(2, 1, tip=5))
    best = pool.best(0)
    seen = []
    for tx in best:
        seen.append(bytes(tx.hash))
        if bytes(tx.hash) == a0:
            best.mark_invalid(tx)
    assert seen == [a0, b0, b1]
    assert pool.status() == (5, 0)  # the pool itself is untouched


def test_best_is_a_snapshot() -> None:
    pool = make_pool()
    pool.add_raw(signed(1, 0))
    best = pool.best(0)
    pool.add_raw(signed(2, 0))
    assert len(list(best)) == 1


# --- new heads --------------------------------------------------------------------------


def test_new_head_drops_included_transactions() -> None:
    state = FakeState()
    pool = make_pool(state)
    hashes = [pool.add_raw(signed(1, n)) for n in range(3)]
    state.nonces[address(1)] = 2
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    assert [pool.contains(h) for h in hashes] == [False, False, True]
    pending, _ = pool.content()
    assert nonces(pending, 1) == [2]
    assert pool.pending_nonce(address(1)) == 3


def test_new_head_drops_the_unaffordable_and_demotes_what_follows() -> None:
    state = FakeState()
    pool = make_pool(state)
    pool.add_raw(signed(1, 0))
    big = pool.add_raw(signed(1, 1, value=10**18))
    pool.add_raw(signed(1, 2))
    state.balances[address(1)] = 21_000 * 100 * 3
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    pending, queued = pool.content()
    assert not pool.contains(big)
    assert (nonces(pending, 1), nonces(queued, 1)) == ([0], [2])
    assert pool.status() == (1, 1)


def test_new_head_promotes_queued_when_the_state_nonce_fills_the_gap() -> None:
    state = FakeState()
    pool = make_pool(state)
    events: list[bytes] = []
    pool.subscribe(events.append)
    pool.add_raw(signed(1, 0))
    future = pool.add_raw(signed(1, 2))
    state.nonces[address(1)] = 2  # nonces 0 and 1 were included (1 from elsewhere)
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    pending, queued = pool.content()
    assert (nonces(pending, 1), queued) == ([2], {})
    assert events[-1] == future


def test_new_head_drops_what_exceeds_a_lower_gas_limit() -> None:
    state = FakeState()
    pool = make_pool(state)
    pool.add_raw(signed(1, 0, gas=50_000))
    big = pool.add_raw(signed(2, 0, gas=5_000_000))
    pool.on_new_head(state, base_fee=0, block_gas_limit=1_000_000)
    assert not pool.contains(big) and pool.status() == (1, 0)


# --- fee caps below every base fee the chain can reach -------------------------------


@pytest.mark.parametrize(
    ("next_base_fee", "min_base_fee", "denominator", "uses_gas", "lowest"),
    [(10**9, 0, 8, False, 7), (10**9, 0, 8, True, 8), (8, 0, 8, False, 7), (7, 0, 8, True, 7),
     (3, 0, 8, False, 3), (0, 0, 8, True, 0), (10**9, 500, 8, True, 500), (10**9, 0, 50, False, 49),
     (10**9, 0, 1, False, 0)],
)
def test_lowest_base_fee(next_base_fee: int, min_base_fee: int, denominator: int, uses_gas: bool,
                         lowest: int) -> None:
    assert lowest_base_fee(next_base_fee, min_base_fee, denominator, uses_gas) == lowest


@pytest.mark.parametrize("gas_used", [0, 1, 50_000])
def test_lowest_base_fee_is_where_quiet_blocks_lead(gas_used: int) -> None:
    """The fixed point of the chain's own base fee rule (env.next_base_fee) below
    its gas target: empty blocks, or blocks holding only the L1-info deposit
    (about 50,000 gas of a 15,000,000 target)."""
    from openledger_node.execution.env import next_base_fee

    for denominator in (2, 8, 50):
        fee = 10**9
        for _ in range(3_000):
            fee = next_base_fee(30_000_000, gas_used, fee, 2, denominator)
        assert fee == lowest_base_fee(10**9, 0, denominator, every_block_uses_gas=gas_used > 0)


def _floored_pool(state: FakeState, base_fee: int, min_base_fee: int = 0, uses_gas: bool = False) -> TxPool:
    pool = make_pool(state, min_base_fee=min_base_fee, every_block_uses_gas=uses_gas)
    pool.on_new_head(state, base_fee=base_fee, block_gas_limit=30_000_000)
    return pool


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_a_fee_cap_below_the_lowest_reachable_base_fee_is_refused(kind: int) -> None:
    pool = _floored_pool(FakeState(), base_fee=10**9, min_base_fee=50)
    with pytest.raises(FeeCapTooLow) as refused:
        pool.add_raw(signed(1, 0, fee_cap=49, tip=1, kind=kind))
    assert str(refused.value) == (
        f"max fee per gas less than block base fee: address 0x{address(1).hex()}, maxFeePerGas: 49, "
        f"baseFee: {10**9}"
    )
    assert pool.status() == (0, 0)
    pool.add_raw(signed(1, 0, fee_cap=50, tip=1, kind=kind))  # the base fee can fall that far
    assert pool.status() == (1, 0)


def test_the_natural_floor_applies_without_a_configured_minimum() -> None:
    pool = _floored_pool(FakeState(), base_fee=10**9)
    with pytest.raises(FeeCapTooLow):
        pool.add_raw(signed(1, 0, fee_cap=6, tip=1))
    pool.add_raw(signed(1, 0, fee_cap=7, tip=1))


def test_on_l2_every_block_holds_a_deposit_so_the_floor_is_the_denominator() -> None:
    pool = _floored_pool(FakeState(), base_fee=10**9, uses_gas=True)
    with pytest.raises(FeeCapTooLow):
        pool.add_raw(signed(1, 0, fee_cap=7, tip=1))
    pool.add_raw(signed(1, 0, fee_cap=8, tip=1))


def test_new_head_drops_a_fee_cap_the_chain_can_no_longer_reach_and_queues_what_follows() -> None:
    state = FakeState()
    pool = _floored_pool(state, base_fee=0)
    cheap = pool.add_raw(signed(1, 0, fee_cap=2, tip=1))
    pool.add_raw(signed(1, 1, fee_cap=100, tip=1))
    assert pool.status() == (2, 0)
    # a base fee of 3 never falls again (3 // 8 == 0): a fee cap of 2 is never mined
    pool.on_new_head(state, base_fee=3, block_gas_limit=30_000_000)
    assert not pool.contains(cheap)
    assert pool.status() == (0, 1)
    dropped = pool.dropped(cheap)
    assert dropped is not None and "lowest base fee the chain can reach" in dropped.reason


def test_add_catches_up_with_a_state_newer_than_the_last_head() -> None:
    state = FakeState()
    pool = make_pool(state)
    old = pool.add_raw(signed(1, 0))
    state.nonces[address(1)] = 1
    pool.add_raw(signed(1, 1))
    assert not pool.contains(old)
    assert pool.status() == (1, 0)


# --- subscriptions and threads --------------------------------------------------------------


def test_subscribe_reports_each_transaction_that_becomes_pending() -> None:
    pool = make_pool()
    events: list[bytes] = []
    unsubscribe = pool.subscribe(events.append)
    h0 = pool.add_raw(signed(1, 0))
    h2 = pool.add_raw(signed(1, 2))
    assert events == [h0]
    h1 = pool.add_raw(signed(1, 1))
    assert events == [h0, h1, h2]
    replacement = pool.add_raw(signed(1, 0, fee_cap=200, tip=20))
    assert events[-1] == replacement
    unsubscribe()
    pool.add_raw(signed(2, 0))
    assert len(events) == 4


def test_a_failing_subscriber_does_not_break_add() -> None:
    pool = make_pool()
    seen: list[bytes] = []

    def boom(_: bytes) -> None:
        raise RuntimeError("subscriber bug")

    pool.subscribe(boom)
    pool.subscribe(seen.append)
    h = pool.add_raw(signed(1, 0))
    assert seen == [h] and pool.contains(h)


def test_concurrent_adds_and_reads() -> None:
    pool = make_pool()
    raws = {s: [signed(s, n) for n in range(10)] for s in range(1, 5)}
    errors: list[BaseException] = []

    def adder(sender: int) -> None:
        try:
            for raw in raws[sender]:
                pool.add_raw(raw)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                last: dict[bytes, int] = {}
                for tx in pool.best(0):
                    sender = bytes(tx.sender)
                    assert int(tx.nonce) == last.get(sender, -1) + 1
                    last[sender] = int(tx.nonce)
                pending, queued = pool.content()
                assert queued == {}
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=adder, args=(s,)) for s in raws]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.status() == (40, 0)
    assert {tx_hash_of(raw) for rs in raws.values() for raw in rs} == {
        bytes(tx.hash) for tx in pool.best(0)
    }


# --- dropped transactions are told, not silent --------------------------------------


def test_eviction_is_logged_counted_and_remembered(caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool(global_slots=3, global_queue=1)
    hashes = [
        pool.add_raw(signed(i + 1, 0, fee_cap=1000, tip=tip)) for i, tip in enumerate((6, 5, 7, 8))
    ]
    with caplog.at_level("INFO", logger="openledger_node.txpool.pool"):
        new = pool.add_raw(signed(9, 0, fee_cap=1000, tip=9))
    dropped = pool.dropped(hashes[1])
    assert dropped is not None and dropped.sender == address(2) and dropped.nonce == 0
    assert dropped.reason == f"evicted: the pool is full and 0x{new.hex()} pays more"
    assert pool.dropped_from(address(2)) == [dropped]
    assert pool.dropped_total == 1
    assert any(r.levelname == "INFO" and hashes[1].hex() in r.getMessage() for r in caplog.records)
    assert pool.dropped(new) is None


def test_unaffordable_at_a_new_head_is_remembered_with_the_balance() -> None:
    state = FakeState()
    pool = make_pool(state)
    pool.add_raw(signed(1, 0))
    big = pool.add_raw(signed(1, 1, value=10**18))
    state.balances[address(1)] = 21_000 * 100 * 3
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    dropped = pool.dropped(big)
    assert dropped is not None and dropped.reason.startswith("dropped: costs ")
    assert f"balance is {21_000 * 100 * 3}" in dropped.reason


def test_included_transactions_are_not_reported_as_dropped() -> None:
    state = FakeState()
    pool = make_pool(state)
    included = pool.add_raw(signed(1, 0))
    state.nonces[address(1)] = 1
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    assert not pool.contains(included) and pool.dropped(included) is None
    assert pool.dropped_total == 0
