"""The LevelDB chain store: blocks, indexes, heads, atomic writes, reopen."""

from __future__ import annotations

from pathlib import Path

import plyvel
import pytest
from eth_hash.auto import keccak

from openledger_node.exceptions import BlockNotFound, StorageError
from openledger_node.execution.block import begin_block
from openledger_node.execution.transactions import encode_transaction
from openledger_node.storage import ChainStore, LevelDB, OverlayDB
from tests.conftest import head_state, next_env, seal_and_store

# A contract that logs: LOG1(offset 0, size 0, topic 0x..42) then STOP
LOGGER_CODE = bytes.fromhex("7f" + "00" * 31 + "42" + "60006000a100")


def build(store, genesis_spec, txs, **env):
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec, **env), overlay)
    for tx in txs:
        executor.apply(tx)
    return seal_and_store(store, executor, overlay)


def test_block_roundtrip_by_hash_and_number(store, genesis_spec, signers) -> None:
    txs = [signers[0].tx(), signers[1].tx(type=0, gasPrice=2 * 10**9)]
    block = build(store, genesis_spec, txs)
    stored = store.block_by_number(1)
    assert stored.hash == block.hash
    assert store.block_by_hash(block.hash).transactions == tuple(encode_transaction(t) for t in block.transactions)
    assert stored.senders[1:] == (signers[0].address, signers[1].address)
    assert store.header_by_number(1).state_root == block.header.state_root
    receipts = store.receipts(block.hash)
    assert receipts == block.receipts
    assert [r.encode() for r in receipts] == [r.encode() for r in block.receipts]


def test_transaction_index_points_at_block_and_position(store, genesis_spec, signers) -> None:
    txs = [signers[0].tx(nonce=i) for i in range(3)]
    block = build(store, genesis_spec, txs)
    for position, tx in enumerate(txs, start=1):
        location = store.tx_location(bytes(tx.hash))
        assert location is not None
        assert (location.block_number, location.block_hash, location.index) == (1, block.hash, position)
    assert store.tx_location(b"\x99" * 32) is None


def test_log_index_finds_blocks_by_address_and_topic(store, genesis_spec, signers) -> None:
    logger = b"\x77" * 20
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    executor.state.set_code(logger, LOGGER_CODE)
    seal_and_store(store, executor, overlay)  # block 1: deploys the logger (state only)
    build(store, genesis_spec, [signers[0].tx(to="0x" + logger.hex(), gas=50_000)])  # block 2: logs
    build(store, genesis_spec, [signers[0].tx()])  # block 3: no logs
    build(store, genesis_spec, [signers[0].tx(to="0x" + logger.hex(), gas=50_000)])  # block 4: logs
    topic = (0x42).to_bytes(32, "big")
    assert list(store.log_block_numbers(logger, 0, 10)) == [2, 4]
    assert list(store.log_block_numbers(topic, 0, 10)) == [2, 4]
    assert list(store.log_block_numbers(topic, 3, 3)) == []
    receipt = store.receipts(store.canonical_hash(2))[1]
    assert receipt.logs[0].address == logger and receipt.logs[0].topics == (topic,)


def test_heads_start_at_genesis_and_move(store, genesis_spec, signers) -> None:
    genesis = store.head("unsafe")
    assert genesis.block_number == 0
    assert store.heads().safe == store.heads().finalized == genesis
    block = build(store, genesis_spec, [signers[0].tx()])
    assert store.head("unsafe").hash == block.hash
    assert store.head("safe").hash == genesis.hash
    store.set_head("safe", block.hash)
    assert store.head("safe").hash == block.hash
    with pytest.raises(ValueError, match="unknown head"):
        store.set_head("latest", block.hash)
    with pytest.raises(BlockNotFound):
        store.set_head("finalized", b"\x01" * 32)


def test_reopen_keeps_chain_and_state(tmp_path, store, genesis_spec, signers) -> None:
    block = build(store, genesis_spec, [signers[0].tx(value=12345)])
    store.close()
    reopened = ChainStore(store.path)
    try:
        assert reopened.head("unsafe").hash == block.hash
        assert head_state(reopened).get_balance(b"\x22" * 20) == 12345
    finally:
        reopened.close()


def test_nothing_reaches_disk_before_write_block(store, genesis_spec, signers) -> None:
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    executor.apply(signers[0].tx())
    block = executor.seal()
    assert len(overlay) > 0
    root = bytes(block.header.state_root)
    assert root not in store.state_db  # state nodes are buffered in the overlay
    with pytest.raises(BlockNotFound):
        store.block_by_number(1)


def test_missing_block_raises_block_not_found(store) -> None:
    with pytest.raises(BlockNotFound):
        store.block_by_number(99)
    with pytest.raises(BlockNotFound):
        store.header_by_hash(b"\x00" * 32)


def test_open_without_create_on_missing_dir_names_init(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="openledger-node init"):
        ChainStore(tmp_path / "nope", create=False)


def test_second_process_lock_is_a_clear_error(store) -> None:
    with pytest.raises(StorageError, match="cannot open LevelDB"):
        ChainStore(store.path)


def test_leveldb_database_api(tmp_path: Path) -> None:
    raw = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    db = LevelDB(raw, b"x")
    db[b"k"] = b"v"
    assert db[b"k"] == b"v" and b"k" in db
    assert raw.get(b"xk") == b"v"
    del db[b"k"]
    assert b"k" not in db
    with pytest.raises(KeyError):
        db[b"k"]
    with pytest.raises(KeyError):
        del db[b"k"]
    with db.atomic_batch() as batch:
        batch[b"a"] = b"1"
        batch[b"b"] = b"2"
        assert raw.get(b"xa") is None  # not yet written
    assert db[b"a"] == b"1" and db[b"b"] == b"2"
    overlay = OverlayDB(db)
    overlay[b"c"] = b"3"
    del overlay[b"a"]
    assert b"a" not in overlay and overlay[b"b"] == b"2" and overlay[b"c"] == b"3"
    assert db[b"a"] == b"1"
    raw.close()


def test_genesis_hash_is_recorded(store) -> None:
    assert store.genesis_hash == bytes(store.header_by_number(0).hash)
    assert keccak(b"") != store.genesis_hash
