"""Random add / replace / remove / new-head sequences keep the pool's invariants."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openledger_node.exceptions import (
    AlreadyKnown,
    InsufficientFunds,
    NonceTooLow,
    PoolError,
    ReplacementUnderpriced,
)
from openledger_node.txpool import TxPool, replacement_allowed

from .helpers import GAS_LIMIT, FakeState, address, make_pool, signed

SENDERS = 4
LIMITS = {"account_slots": 2, "global_slots": 5, "account_queue": 2, "global_queue": 3}
FEES = [(100, 10), (200, 20), (300, 50), (600, 60)]
ONE_TX = 21_000 * 600
BALANCES = [0, 3 * ONE_TX, 10**18, 10**18]

sender_ = st.integers(1, SENDERS)
add_op = st.tuples(
    st.just("add"),
    sender_,
    st.booleans(),  # count the nonce from the pool's pending nonce (else the state's)
    st.integers(-1, 3),
    st.integers(0, len(FEES) - 1),
    st.sampled_from([0, 0, ONE_TX]),
)
replace_op = st.tuples(
    st.just("replace"), sender_, st.integers(0, 8), st.sampled_from([5, 9, 10, 50])
)
remove_op = st.tuples(st.just("remove"), st.integers(0, 32))
head_op = st.tuples(
    st.just("head"),
    st.lists(st.tuples(sender_, st.integers(0, 2)), max_size=2),
    st.lists(st.tuples(sender_, st.sampled_from(BALANCES)), max_size=2),
    st.sampled_from([0, 50, 150, 400]),
)
WEIGHTED = ["add"] * 5 + ["replace"] * 2 + ["remove", "head"]
STRATEGIES = {"add": add_op, "replace": replace_op, "remove": remove_op, "head": head_op}
ops_ = st.lists(st.sampled_from(WEIGHTED).flatmap(STRATEGIES.__getitem__), min_size=20, max_size=80)


def all_hashes(pool: TxPool) -> set[bytes]:
    pending, queued = pool.content()
    return {
        bytes(t.hash) for side in (pending, queued) for txs in side.values() for t in txs.values()
    }


def check_invariants(pool: TxPool, state: FakeState) -> None:
    pending, queued = pool.content()
    n_pending = sum(len(txs) for txs in pending.values())
    n_queued = sum(len(txs) for txs in queued.values())
    assert pool.status() == (n_pending, n_queued)
    assert n_pending + n_queued <= LIMITS["global_slots"] + LIMITS["global_queue"]
    assert n_queued <= LIMITS["global_queue"]
    for sender in set(pending) | set(queued):
        start = state.get_nonce(sender)
        run = list(pending.get(sender, {}))
        assert run == list(range(start, start + len(run))), "gap or stale nonce in pending"
        future = list(queued.get(sender, {}))
        assert len(future) <= LIMITS["account_queue"]
        assert all(n > start + len(run) for n in future), "queued tx that should be pending"
        assert pool.pending_nonce(sender) == start + len(run)
        for side in (pending, queued):
            for nonce, tx in side.get(sender, {}).items():
                assert int(tx.nonce) == nonce and bytes(tx.sender) == sender
                assert pool.get(bytes(tx.hash)) is tx
    hashes = all_hashes(pool)
    assert len(hashes) == n_pending + n_queued
    for account in pool._accounts.values():  # the running total admission checks balances against
        assert account.pending.cost == sum(p.cost for p in account.pending.values())

    seen: dict[bytes, int] = {}
    for tx in pool.best(0):
        sender = bytes(tx.sender)
        expected = seen.get(sender, state.get_nonce(sender))
        assert int(tx.nonce) == expected
        seen[sender] = expected + 1
    assert sum(seen.values()) - sum(state.get_nonce(s) for s in seen) == n_pending


def apply(pool: TxPool, state: FakeState, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "add":
        _, s, from_pool, offset, fee, value = op
        fee_cap, tip = FEES[fee]
        base = pool.pending_nonce(address(s)) if from_pool else state.get_nonce(address(s))
        nonce = base + offset
        if nonce < 0:
            return
        try:
            h = pool.add_raw(signed(s, nonce, fee_cap=fee_cap, tip=tip, value=value))
        except (PoolError, NonceTooLow, InsufficientFunds):
            return
        assert pool.contains(h)
    elif kind == "replace":
        _, s, pick, bump = op
        pending, queued = pool.content()
        txs = {**pending.get(address(s), {}), **queued.get(address(s), {})}
        if not txs:
            return
        old = txs[sorted(txs)[pick % len(txs)]]
        old_cap, old_tip = int(old.max_fee_per_gas), int(old.max_priority_fee_per_gas)
        cap, tip = old_cap * (100 + bump) // 100, old_tip * (100 + bump) // 100
        allowed = replacement_allowed(old_cap, old_tip, cap, tip, 10)
        try:
            h = pool.add_raw(signed(s, int(old.nonce), fee_cap=cap, tip=tip, value=int(old.value)))
        except (ReplacementUnderpriced, AlreadyKnown):
            assert not allowed
            return
        except InsufficientFunds:
            return
        assert allowed
        assert pool.contains(h) and not pool.contains(bytes(old.hash))
    elif kind == "remove":
        hashes = sorted(all_hashes(pool))
        if hashes:
            victim = hashes[op[1] % len(hashes)]
            pool.remove([victim])
            assert not pool.contains(victim)
    else:
        _, advances, balances, base_fee = op
        for s, k in advances:
            state.nonces[address(s)] = state.get_nonce(address(s)) + k
        for s, balance in balances:
            state.balances[address(s)] = balance
        pool.on_new_head(state, base_fee, GAS_LIMIT)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_)
def test_random_sequences_keep_the_invariants(ops: list[tuple[Any, ...]]) -> None:
    state = FakeState()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "txpool.journal"
        pool = make_pool(state, journal_path=path, **LIMITS)
        for op in ops:
            apply(pool, state, op)
            check_invariants(pool, state)
        before = all_hashes(pool)
        pool.close()
        restarted = make_pool(state, journal_path=path, **LIMITS)
        assert all_hashes(restarted) <= before
        check_invariants(restarted, state)
