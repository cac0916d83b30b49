from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.journal import get_next_checkpoint
from eth.db.storage import AccountStorageDB
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from openledger_node.execution.accountdb import (
    OpenLedgerAccountDB,
    _Account,
    decode_account,
    decode_storage_value,
    encode_account,
    OpenLedgerAccountStorageDB,
)
from openledger_node.execution.vm import OpenLedgerState

ADDRESSES = [bytes([i]) * 20 for i in range(1, 7)]
SLOTS = [0, 1, 2, 3, 0x10, 2**255, 2**256 - 1]

address = st.sampled_from(ADDRESSES)
slot = st.one_of(st.sampled_from(SLOTS), st.integers(0, 2**256 - 1))
storage_value = st.one_of(st.just(0), st.integers(1, 2**8), st.integers(0, 2**256 - 1))

operation = st.one_of(
    st.tuples(st.just("set_balance"), address, st.integers(0, 2**256 - 1)),
    st.tuples(st.just("set_nonce"), address, st.integers(0, 2**64 - 1)),
    st.tuples(st.just("set_code"), address, st.binary(max_size=40)),
    st.tuples(st.just("set_storage"), address, slot, storage_value),
    st.tuples(st.just("set_storage"), address, slot, storage_value),
    st.tuples(st.just("set_storage"), address, slot, storage_value),
    st.tuples(st.just("touch_account"), address),
)
# A transaction: its operations, an inner call that may revert, the accounts wiped
# at its end (self-destructs: py-evm allows one wipe per account per transaction,
# since it deletes only when finalizing), and whether the whole of it reverts.
transaction = st.tuples(
    st.lists(operation, max_size=8),
    st.lists(operation, max_size=4),
    st.booleans(),
    st.lists(st.tuples(st.sampled_from(["delete_account", "delete_storage"]), address),
             max_size=2, unique_by=lambda wipe: wipe[1]),
    st.booleans(),
)
block = st.tuples(
    st.lists(transaction, min_size=1, max_size=5),
    st.booleans(),  # make a state root halfway through the block
    st.booleans(),  # open a fresh AccountDB for the next block instead of reusing this one
)


def run_transaction(db: Any, tx: tuple[Any, ...]) -> None:
    operations, inner, inner_reverts, wipes, reverts = tx
    checkpoint = db.record()
    for name, *args in operations:
        getattr(db, name)(*args)
    inner_checkpoint = db.record()
    for name, *args in inner:
        getattr(db, name)(*args)
    if inner_reverts:
        db.discard(inner_checkpoint)
    else:
        db.commit(inner_checkpoint)
    for name, wiped in wipes:
        getattr(db, name)(wiped)
    if reverts:
        db.discard(checkpoint)
    else:
        db.commit(checkpoint)
    db.lock_changes()


def read_all(db: Any, slots: set[int]) -> list[Any]:
    return [
        (
            db.get_balance(a),
            db.get_nonce(a),
            db.get_code(a),
            db.account_exists(a),
            [db.get_storage(a, s) for s in sorted(slots)],
        )
        for a in ADDRESSES
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(block, min_size=1, max_size=4))
def test_state_roots_match_stock_account_db(blocks: list[Any]) -> None:
    stock_store, ours_store = AtomicDB(), AtomicDB()
    stock = AccountDB(stock_store)
    ours = OpenLedgerAccountDB(ours_store)
    touched_slots = set(SLOTS)
    for transactions, mid_block_root, reopen in blocks:
        for index, tx in enumerate(transactions):
            for name, *args in tx[0] + tx[1]:
                if name == "set_storage":
                    touched_slots.add(args[1])
            run_transaction(stock, tx)
            run_transaction(ours, tx)
            if mid_block_root and index == len(transactions) // 2:
                assert ours.make_state_root() == stock.make_state_root()
            assert read_all(ours, touched_slots) == read_all(stock, touched_slots)
        stock_witness = stock.persist()
        ours_witness = ours.persist()
        assert ours.state_root == stock.state_root
        assert ours_witness.accounts_queried == stock_witness.accounts_queried
        assert ours_witness.hashes <= stock_witness.hashes

        # A plain py-evm AccountDB reads our database back.
        fresh = AccountDB(ours_store, ours.state_root)
        assert read_all(fresh, touched_slots) == read_all(AccountDB(stock_store, stock.state_root), touched_slots)
        assert read_all(ours, touched_slots) == read_all(stock, touched_slots)
        if reopen:
            stock = AccountDB(stock_store, stock.state_root)
            ours = OpenLedgerAccountDB(ours_store, ours.state_root)


def test_many_accounts_and_slots_match_stock_account_db() -> None:
    stock_store, ours_store = AtomicDB(), AtomicDB()
    stock, ours = AccountDB(stock_store), OpenLedgerAccountDB(ours_store)
    for round_ in range(3):
        for db in (stock, ours):
            for i in range(600):
                a = (round_ * 1000 + i).to_bytes(20, "big")
                db.set_balance(a, 10**18 + i)
                db.increment_nonce(a)
            token = b"\xee" * 20
            for s in range(round_ * 300, round_ * 300 + 700):
                db.set_storage(token, s, s * 7 + 1)
            for s in range(round_ * 300, round_ * 300 + 100):
                db.set_storage(token, s, 0)
            if round_:
                db.delete_account(((round_ - 1) * 1000 + 5).to_bytes(20, "big"))
            db.persist()
        assert ours.state_root == stock.state_root
        fresh = AccountDB(ours_store, ours.state_root)
        assert [fresh.get_storage(b"\xee" * 20, s) for s in range(1000)] == [
            stock.get_storage(b"\xee" * 20, s) for s in range(1000)
        ]


def test_revert_past_a_self_destruct_restores_queued_storage() -> None:
    store = AtomicDB()
    db = OpenLedgerAccountDB(store)
    contract = b"\xcc" * 20
    db.set_storage(contract, 1, 11)
    db.set_balance(contract, 5)
    db.lock_changes()
    db.make_state_root()  # slot 1 reaches the storage trie (queued, then applied)
    db.set_storage(contract, 2, 22)
    db.lock_changes()
    checkpoint = db.record()
    db.delete_account(contract)
    assert db.get_storage(contract, 1) == 0
    db.discard(checkpoint)
    assert db.get_storage(contract, 1) == 11
    assert db.get_storage(contract, 2) == 22
    db.persist()
    fresh = AccountDB(store, db.state_root)
    assert (fresh.get_storage(contract, 1), fresh.get_storage(contract, 2)) == (11, 22)

    reference = AccountDB(AtomicDB())
    reference.set_storage(contract, 1, 11)
    reference.set_storage(contract, 2, 22)
    reference.set_balance(contract, 5)
    reference.persist()
    assert db.state_root == reference.state_root


def test_openledger_state_uses_the_batched_account_db() -> None:
    assert OpenLedgerState.account_db_class is OpenLedgerAccountDB


# Storage on its own: AccountStorageDB's own API allows making the storage root's
# writes (make_storage_root) without asking for the root, so queued writes meet
# reads, wipes and reverts that AccountDB never lets them meet.
storage_transaction = st.tuples(
    st.lists(st.tuples(slot, storage_value), max_size=6),
    st.booleans(),  # wipe the storage at the end (a self-destruct)
    st.booleans(),  # revert the transaction
    st.booleans(),  # then make the storage root's writes, without asking for it
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(storage_transaction, min_size=1, max_size=8), st.integers(0, 3))
def test_storage_db_matches_stock_storage_db(transactions: list[Any], persist_every: int) -> None:
    stores = (AtomicDB(), AtomicDB())
    contract = b"\xcc" * 20
    dbs = [AccountStorageDB(stores[0], BLANK_ROOT_HASH, contract),
           OpenLedgerAccountStorageDB(stores[1], BLANK_ROOT_HASH, contract)]
    slots = set(SLOTS)
    for index, (writes, wipe, reverts, make_root) in enumerate(transactions):
        slots.update(s for s, _ in writes)
        for db in dbs:
            checkpoint = get_next_checkpoint()
            db.record(checkpoint)
            for s, value in writes:
                db.set(s, value)
            if wipe:
                db.delete()
            if reverts:
                db.discard(checkpoint)
            else:
                db.commit(checkpoint)
            db.lock_changes()
            if make_root:
                db.make_storage_root()
        assert [dbs[1].get(s) for s in sorted(slots)] == [dbs[0].get(s) for s in sorted(slots)]
        assert dbs[1].has_changed_root == dbs[0].has_changed_root
        if persist_every and index % persist_every == 0:
            # As AccountDB does at a persist: write the trie, then start a new store.
            for i, (db, store) in enumerate(zip(dbs, stores)):
                db.make_storage_root()
                if db.has_changed_root:
                    root = db.get_changed_root()
                    db.persist(store)
                    dbs[i] = type(db)(store, root, contract)
    for db in dbs:
        db.make_storage_root()
    if dbs[0].has_changed_root:
        roots = [db.get_changed_root() for db in dbs]
        assert roots[1] == roots[0]
        dbs[1].persist(stores[1])
        readback = HexaryTrie(stores[1], roots[1])
        dbs[0].persist(stores[0])
        reference = HexaryTrie(stores[0], roots[0])
        for s in slots:
            key = keccak(s.to_bytes(32, "big"))
            assert readback[key] == reference[key]


def test_storage_db_revert_past_a_wipe_drops_queued_writes() -> None:
    # Writes queued after a wipe belong to the trie the revert throws away.
    contract = b"\xcc" * 20
    dbs = [cls(AtomicDB(), BLANK_ROOT_HASH, contract) for cls in (AccountStorageDB, OpenLedgerAccountStorageDB)]
    for db in dbs:
        db.set(1, 11)
        db.make_storage_root()
        checkpoint = get_next_checkpoint()
        db.record(checkpoint)
        db.delete()
        db.set(2, 22)
        db.make_storage_root()
        db.discard(checkpoint)
    assert [dbs[1].get(s) for s in (1, 2)] == [dbs[0].get(s) for s in (1, 2)]
    assert dbs[1].get_changed_root() == dbs[0].get_changed_root()


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1), st.binary(min_size=32, max_size=32),
       st.binary(min_size=32, max_size=32))
def test_encode_account_matches_the_rlp_package(nonce: int, balance: int, storage_root: bytes,
                                                code_hash: bytes) -> None:
    account = _Account(nonce, balance, storage_root, code_hash)
    assert encode_account(account) == rlp.encode(Account(nonce, balance, storage_root, code_hash))
    assert decode_account(encode_account(account)) == account


@given(st.integers(1, 2**256 - 1))
def test_storage_values_decode_as_the_rlp_package_decodes_them(value: int) -> None:
    encoded = rlp.encode(value)
    assert decode_storage_value(encoded) == rlp.decode(encoded, sedes=rlp.sedes.big_endian_int) == value


def test_a_storage_value_that_is_not_a_minimal_integer_is_refused() -> None:
    for encoded in (b"\x82\x00\x01", b"\xc1\x01", b"\x81"):
        with pytest.raises((rlp.DeserializationError, ValueError)):
            decode_storage_value(encoded)
