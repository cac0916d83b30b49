"""Reads shared between states at the same root (eth_call, RPC state views, the
pool's checks): answers are shared only at an unchanged root, a write or revert
makes a state's reads private again, and a missing trie node is never cached."""

from __future__ import annotations

from typing import Any

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.interrupt import MissingAccountTrieNode

from openledger_node.execution import accountdb
from openledger_node.execution.accountdb import OpenLedgerAccountDB, SharedReadAccountDB
from openledger_node.execution.state import StateView

ALICE, BOB = b"\x0a" * 20, b"\x0b" * 20


class CountingDB(AtomicDB):
    """An AtomicDB that counts reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __getitem__(self, key: bytes) -> bytes:
        self.reads += 1
        return super().__getitem__(key)

    def _exists(self, key: bytes) -> bool:
        self.reads += 1
        return super()._exists(key)


def _commit(db: AtomicDB, root: bytes, **changes: Any) -> bytes:
    state = OpenLedgerAccountDB(db, root)
    for name, (address, value) in changes.items():
        if name.startswith("balance"):
            state.set_balance(address, value)
        else:
            state.set_storage(address, 1, value)
    state.persist()
    return bytes(state.state_root)


@pytest.fixture(autouse=True)
def fresh_shared_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    from lru import LRU

    monkeypatch.setattr(accountdb, "SHARED_ACCOUNT_READS", LRU(1024))
    monkeypatch.setattr(accountdb, "SHARED_STORAGE_READS", LRU(1024))


def test_a_second_state_at_the_same_root_reads_nothing_from_the_database() -> None:
    db = CountingDB()
    root = _commit(db, BLANK_ROOT_HASH, balance=(ALICE, 5), storage=(ALICE, 7))
    first = StateView(db, root)
    assert (first.get_balance(ALICE), first.get_storage(ALICE, 1)) == (5, 7)
    assert first.get_balance(BOB) == 0
    db.reads = 0
    second = StateView(db, root)
    assert (second.get_balance(ALICE), second.get_storage(ALICE, 1), second.get_balance(BOB)) == (5, 7, 0)
    assert db.reads == 0


def test_another_root_sees_its_own_values() -> None:
    db = AtomicDB()
    old = _commit(db, BLANK_ROOT_HASH, balance=(ALICE, 5), storage=(ALICE, 7))
    new = _commit(db, old, balance=(ALICE, 9), storage=(ALICE, 8))
    assert StateView(db, old).get_balance(ALICE) == 5
    assert StateView(db, new).get_balance(ALICE) == 9
    assert StateView(db, old).get_storage(ALICE, 1) == 7
    assert StateView(db, new).get_storage(ALICE, 1) == 8
    assert StateView(db, old).get_balance(ALICE) == 5


def test_writes_stay_private_to_their_state() -> None:
    db = AtomicDB()
    root = _commit(db, BLANK_ROOT_HASH, balance=(ALICE, 5), storage=(ALICE, 7))
    writer = SharedReadAccountDB(db, root)
    assert writer.get_balance(ALICE) == 5
    writer.set_balance(ALICE, 100)
    writer.set_storage(ALICE, 1, 70)
    writer.make_state_root()  # the trie moves to another root
    assert writer.get_balance(ALICE) == 100 and writer.get_storage(ALICE, 1) == 70
    reader = SharedReadAccountDB(db, root)
    assert reader.get_balance(ALICE) == 5 and reader.get_storage(ALICE, 1) == 7


def test_a_missing_trie_node_is_not_cached() -> None:
    memory = MemoryDB()
    db = AtomicDB(memory)
    root = _commit(db, BLANK_ROOT_HASH, balance=(ALICE, 5))
    nodes = dict(memory.kv_store)
    memory.kv_store.clear()
    accountdb.TRIE_NODES.nodes.clear()  # nor does the process hold them decoded
    with pytest.raises(MissingAccountTrieNode):
        StateView(db, root).get_balance(ALICE)
    memory.kv_store.update(nodes)
    assert StateView(db, root).get_balance(ALICE) == 5
