"""The log index: posting lists intersected by seeking, kept to canonical blocks
through rewinds and replaced blocks, rebuilt for a data directory without it."""

from __future__ import annotations

import random
from pathlib import Path

import plyvel
import pytest

from openledger_node.execution.block import begin_block
from openledger_node.execution.types import Log
from openledger_node.storage import ChainStore, OverlayDB, log_index
from tests.conftest import next_env, seal_and_store
from tests.storage.synthetic import append_blocks

ADDRESSES = [bytes([0xA0 + i]) * 20 for i in range(4)]
TOPICS = [i.to_bytes(32, "big") for i in range(1, 6)]


def _index_entries(store: ChainStore) -> set[tuple[bytes, int]]:
    db = plyvel.DB(str(store.path))  # only after the store is closed
    try:
        return {
            (bytes(key[1:-8]), int.from_bytes(key[-8:], "big"))
            for prefix in (b"a", b"o")
            for key in db.iterator(prefix=prefix, include_value=False)
        }
    finally:
        db.close()


def _expected_entries(store: ChainStore) -> set[tuple[bytes, int]]:
    """What the index should hold, computed from the canonical blocks' receipts."""
    entries = set()
    for number in range(int(store.head().block_number) + 1):
        for receipt in store.receipts(store.canonical_hash(number)):
            for entry in receipt.logs:
                entries.add((entry.address, number))
                entries.update((topic, number) for topic in entry.topics)
    return entries


def _random_logs(rng: random.Random) -> list[Log]:
    return [
        Log(rng.choice(ADDRESSES), tuple(rng.sample(TOPICS, rng.randint(0, 3))), b"")
        for _ in range(rng.choice([0, 0, 1, 2, 3]))
    ]


@pytest.fixture()
def chain(store: ChainStore, genesis_spec) -> ChainStore:
    """The store with one real block (its L1-info deposit heads every later block)."""
    overlay = OverlayDB(store.state_db)
    seal_and_store(store, begin_block(next_env(store, genesis_spec), overlay), overlay)
    return store


def test_matching_blocks_is_the_intersection_of_unions(tmp_path: Path) -> None:
    rng = random.Random(7)
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    keys = ADDRESSES + TOPICS
    postings = {key: sorted(rng.sample(range(500), rng.randint(0, 120))) for key in keys}
    with db.write_batch() as batch:
        for key, numbers in postings.items():
            for number in numbers:
                batch.put(log_index.index_key(key) + number.to_bytes(8, "big"), b"")
    for _ in range(300):
        groups = [rng.sample(keys, rng.randint(1, 3)) for _ in range(rng.randint(1, 4))]
        first = rng.randint(0, 520)
        last = rng.randint(first, 540) if rng.random() < 0.9 else first
        expected = set(range(first, last + 1))
        for group in groups:
            expected &= {n for key in group for n in postings[key]}
        assert list(log_index.matching_blocks(db, groups, first, last)) == sorted(expected), (groups, first, last)
    with pytest.raises(ValueError, match="at least one"):
        list(log_index.matching_blocks(db, [[]], 0, 10))
    with pytest.raises(ValueError, match="20-byte address or a 32-byte topic"):
        list(log_index.matching_blocks(db, [[b"\x01" * 7]], 0, 10))
    db.close()


def test_rewinds_and_replaced_blocks_leave_the_index(chain: ChainStore) -> None:
    rng = random.Random(11)
    append_blocks(chain, 60, lambda n: _random_logs(rng))
    everywhere = ADDRESSES[0]
    chain.rewind(30)
    assert all(n <= 30 for n in chain.log_block_numbers(everywhere, 0, 1000))
    append_blocks(chain, 20, lambda n: [Log(ADDRESSES[3], (TOPICS[4],), b"")])  # 31..50
    assert list(chain.log_blocks([[ADDRESSES[3]], [TOPICS[4]]], 31, 1000)) == list(range(31, 51))
    # A block written at a height that already has one, without a rewind, replaces its entries.
    replaced = chain.header_by_number(40)
    parent = chain.block_by_number(39)
    header = replaced.copy(timestamp=int(replaced.timestamp) + 1, bloom=0)
    receipt = chain.receipts(parent.hash)[0]
    chain.write_block(header, parent.transactions[:1], parent.senders[:1], (receipt.__class__(
        receipt.tx_type, receipt.status, receipt.cumulative_gas_used, (), 0, receipt.gas_used,
        receipt.effective_gas_price, receipt.contract_address, receipt.deposit_nonce,
    ),), OverlayDB(chain.state_db), heads=())
    assert 40 not in list(chain.log_block_numbers(ADDRESSES[3], 0, 1000))
    chain.close()
    reopened = ChainStore(chain.path)
    try:
        expected = _expected_entries(reopened)
    finally:
        reopened.close()
    assert _index_entries(chain) == expected


def test_a_data_directory_without_the_index_is_indexed_on_open(chain: ChainStore) -> None:
    rng = random.Random(5)
    append_blocks(chain, 80, lambda n: _random_logs(rng))
    chain.rewind(70)
    path = chain.path
    chain.close()
    # As a node before the index was complete left it: no version, no entries for
    # some blocks, entries for forgotten ones.
    db = plyvel.DB(str(path))
    db.delete(log_index.VERSION_KEY)
    for key in list(db.iterator(prefix=b"a", include_value=False))[::2]:
        db.delete(key)
    db.put(b"a" + ADDRESSES[1] + (75).to_bytes(8, "big"), b"")
    db.close()
    store = ChainStore(path)
    try:
        expected = _expected_entries(store)
        assert expected and list(store.log_block_numbers(ADDRESSES[1], 71, 1000)) == []
    finally:
        store.close()
    assert _index_entries(store) == expected
    db = plyvel.DB(str(path))
    assert log_index.is_built(db)
    db.close()
