"""The sequencer: block building from the pool, deposits first, driver modes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from openledger_node.config import load_config
from openledger_node.execution.l1_info import decode_l1_info
from openledger_node.execution.transactions import (
    DepositTransaction,
    user_deposit_source_hash,
)
from openledger_node.execution.types import L1Origin
from node import Node
from openledger_node.primitives import DEPOSIT_TX_TYPE
from openledger_node.storage import BlockAdded, ChainRewound
from tests.conftest import GENESIS_PATH, Signer


def open_node(tmp_path: Path, **sequencer) -> Node:
    config = load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(GENESIS_PATH), "block_time": 0.2},
            "storage": {"data_dir": str(tmp_path / "data")},
            "sequencer": sequencer,
        },
    )
    return Node.open(config)


@pytest.fixture()
def node(tmp_path: Path):
    n = open_node(tmp_path)
    yield n
    n.stop()


def test_builds_block_with_pool_transactions(node: Node, signers: list[Signer]) -> None:
    hashes = [node.pool.add_raw(signers[0].raw()) for _ in range(3)]
    result = node.builder.build_block()
    block = result.block
    assert block.header.block_number == 1
    assert [bytes(t.hash) for t in block.transactions[1:]] == hashes
    assert all(r.status == 1 for r in block.receipts)
    assert node.pool.status() == (0, 0)
    assert node.store.head("unsafe").hash == block.header.hash


def test_orders_by_effective_tip_and_nonce(node: Node, signers: list[Signer]) -> None:
    cheap = [node.pool.add_raw(signers[0].raw(maxPriorityFeePerGas=10**7)) for _ in range(2)]
    rich = node.pool.add_raw(signers[1].raw(maxPriorityFeePerGas=10**9))
    block = node.builder.build_block().block
    order = [bytes(t.hash) for t in block.transactions[1:]]
    assert order == [rich, *cheap]


def test_queued_transaction_waits_for_its_gap(node: Node, signers: list[Signer]) -> None:
    later = node.pool.add_raw(signers[0].raw(nonce=1))
    block = node.builder.build_block().block
    assert len(block.transactions) == 1  # only the L1-info deposit
    first = node.pool.add_raw(signers[0].raw(nonce=0))
    block = node.builder.build_block().block
    assert [bytes(t.hash) for t in block.transactions[1:]] == [first, later]


def test_fills_up_to_gas_limit_and_keeps_the_rest(tmp_path: Path, signers: list[Signer]) -> None:
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH), "gas_limit": 5_000_000},
        "storage": {"data_dir": str(tmp_path / "data")},
    })
    node = Node.open(config)
    try:
        # 10 kB of non-zero calldata costs the EIP-7623 floor: 21,000 + 10 * 40,000 gas
        for _ in range(16):
            node.pool.add_raw(signers[0].raw(gas=500_000, data=b"\x01" * 10_000))
        block = node.builder.build_block().block
        included = len(block.transactions) - 1
        assert all(r.gas_used == 421_000 for r in block.receipts[1:])
        assert block.header.gas_used + 500_000 > 5_000_000  # the next one did not fit
        assert included == 11
        assert node.pool.status()[0] == 16 - included
        block2 = node.builder.build_block().block
        assert len(block2.transactions) - 1 == 16 - included
    finally:
        node.stop()


def test_failing_transaction_is_skipped_reported_and_dropped(node: Node, signers: list[Signer]) -> None:
    # A deposit from the same account runs first in the block and uses nonce 0,
    # so the pooled transaction with nonce 0 can no longer be included.
    victim = signers[2]
    good = node.pool.add_raw(signers[0].raw())
    stale = node.pool.add_raw(victim.raw(nonce=0))
    node.deposits.push(DepositTransaction(
        source_hash=user_deposit_source_hash(b"\x02" * 32, 0), sender=victim.address,
        to=b"\x44" * 20, mint=0, value=10**18, gas=50_000, is_system_tx=False, data=b"",
    ))
    result = node.builder.build_block()
    included = [bytes(t.hash) for t in result.block.transactions]
    assert good in included and stale not in included
    assert [s.tx_hash for s in result.skipped] == [stale]
    assert "nonce too low" in result.skipped[0].reason
    assert not node.pool.contains(stale)


def test_deposits_come_first(node: Node, signers: list[Signer]) -> None:
    node.pool.add_raw(signers[0].raw())
    deposit = DepositTransaction(
        source_hash=user_deposit_source_hash(b"\x01" * 32, 0), sender=b"\x33" * 20,
        to=b"\x44" * 20, mint=10**18, value=10**18, gas=50_000, is_system_tx=False, data=b"",
    )
    node.deposits.push(deposit)
    block = node.builder.build_block().block
    types = [t.type_id for t in block.transactions]
    assert types[:2] == [DEPOSIT_TX_TYPE, DEPOSIT_TX_TYPE] and types[2] == 2
    assert bytes(block.transactions[1].hash) == bytes(deposit.hash)
    assert node.state_at_head().get_balance(b"\x44" * 20) == 10**18


def test_sequence_number_counts_blocks_of_one_origin(node: Node) -> None:
    for expected in (1, 2, 3):
        block = node.builder.build_block().block
        assert decode_l1_info(block.transactions[0].data)[1] == expected


def test_new_origin_resets_sequence_number(node: Node) -> None:
    class Advancing:
        def next_origin(self, parent: L1Origin, timestamp: int) -> L1Origin:
            return L1Origin(parent.number + 1, parent.timestamp + 12, 10**9, bytes([parent.number + 1]) * 32)

        def is_canonical(self, origin: L1Origin) -> bool:
            return True

    node.builder.l1_origins = Advancing()
    block = node.builder.build_block().block
    origin, seq = decode_l1_info(block.transactions[0].data)
    assert origin.number == 1 and seq == 0


def test_timestamps_strictly_increase(node: Node) -> None:
    stamps = [node.builder.build_block(timestamp=100).block.header.timestamp for _ in range(3)]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3


def test_store_announces_every_sealed_block_and_rewind(node: Node, signers: list[Signer]) -> None:
    events: list[object] = []
    node.store.subscribe(events.append)
    tx_hash = node.pool.add_raw(signers[0].raw())
    first = node.builder.build_block().block
    second = node.builder.build_block().block
    node.builder.rewind(1)
    added = [e for e in events if isinstance(e, BlockAdded)]
    assert [e.header.hash for e in added] == [first.header.hash, second.header.hash]
    assert added[0].tx_hashes[1] == tx_hash and added[0].receipts == first.receipts
    (rewound,) = [e for e in events if isinstance(e, ChainRewound)]
    assert rewound.header.hash == first.header.hash and rewound.removed == 1 and "unsafe" in rewound.heads


def test_pool_follows_the_store_after_a_rewind(node: Node, signers: list[Signer]) -> None:
    node.pool.add_raw(signers[0].raw())
    node.builder.build_block()
    assert node.pool.pending_nonce(signers[0].address) == 1
    node.builder.rewind(0)
    # The pool re-read the head's state: the sender's nonce is 0 again.
    assert node.pool.pending_nonce(signers[0].address) == 0


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_interval_mode_builds_blocks_on_a_clock(node: Node) -> None:
    node.start()
    wait_for(lambda: node.store.head("unsafe").block_number >= 3)


def test_instant_mode_builds_when_a_transaction_arrives(tmp_path: Path, signers: list[Signer]) -> None:
    node = open_node(tmp_path, mode="instant")
    try:
        node.start()
        time.sleep(0.5)
        assert node.store.head("unsafe").block_number == 0  # no transactions, no blocks
        tx_hash = node.pool.add_raw(signers[0].raw())
        wait_for(lambda: node.store.tx_location(tx_hash) is not None)
    finally:
        node.stop()


def test_build_block_is_serialised(node: Node) -> None:
    threads = [threading.Thread(target=node.builder.build_block) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert node.store.head("unsafe").block_number == 4
    # Four builds in parallel made one chain: each block on the one before it.
    headers = [node.store.header_by_number(n) for n in range(5)]
    for parent, child in zip(headers, headers[1:]):
        assert child.parent_hash == parent.hash
        assert child.timestamp > parent.timestamp


def test_rewind_takes_the_dev_clock_back_with_the_chain(node: Node) -> None:
    node.builder.increase_time(3600)
    node.builder.build_block()
    assert node.builder.now() >= time.time() + 3599
    node.builder.rewind(0)  # evm_revert to before the jump, as anvil does
    assert node.builder.now() < time.time() + 5


def test_a_block_past_its_build_deadline_takes_no_more_transactions(node: Node, signers: list[Signer]) -> None:
    sent = [node.pool.add_raw(signers[0].raw()) for _ in range(40)]
    late = node.builder.build_block(deadline=time.monotonic() - 1).block
    assert len(late.transactions) == 1  # the L1-info deposit only: on time, the rest waits
    assert node.pool.status()[0] == 40
    on_time = node.builder.build_block(deadline=time.monotonic() + 60).block
    assert [bytes(tx.hash) for tx in on_time.transactions[1:]] == sent
