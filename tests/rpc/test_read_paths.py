"""What each read costs, in process: lookups by transaction hash, the fee oracle
and eth_feeHistory read indexes, never a whole block; notifications are formed
off the writer's thread; the pool's dropped transactions reach txpool_contentFrom.

A node's chain store is wrapped so that reading a block body fails the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import Node
from openledger_node.config import load_config
from openledger_node.rpc.eth import EthApi
from openledger_node.rpc.params import BlockId
from openledger_node.rpc.subscriptions import SubscriptionApi
from openledger_node.rpc.txpool import TxPoolApi
from openledger_node.storage import ChainStore
from tests.conftest import GENESIS_PATH, Signer


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[Node]:
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH)},
        "storage": {"data_dir": str(tmp_path / "data")},
        "txpool": {"global_slots": 4, "global_queue": 1},
    })
    running = Node.open(config)
    yield running
    running.stop()


def test_lookups_by_hash_read_one_transaction(node: Node, signers: list[Signer], monkeypatch: pytest.MonkeyPatch) -> None:
    sent = [node.pool.add_raw(signers[i].raw(maxPriorityFeePerGas=(i + 1) * 10**8)) for i in range(3)]
    node.builder.build_block()
    eth = EthApi(node.rpc_backend())
    expected = [eth.get_receipt(h) for h in sent]

    def refuse(self: ChainStore, block_hash: bytes) -> Any:
        raise AssertionError("a read by hash decoded a whole block")

    monkeypatch.setattr(ChainStore, "block_by_hash", refuse)
    for index, tx_hash in enumerate(sent, start=1):
        receipt = eth.get_receipt(tx_hash)
        # The best-paying first: sent[2] is at index 1, sent[0] at index 3.
        assert receipt == expected[index - 1] and receipt["transactionIndex"] == hex(4 - index)
        tx = eth.get_transaction_by_hash(tx_hash)
        assert tx["hash"] == "0x" + tx_hash.hex() and tx["blockNumber"] == "0x1"
        assert eth.get_raw_transaction_by_hash(tx_hash).startswith("0x02")
    # The fee oracle and the history read the tips stored with each block.
    assert int(eth.gas_price(), 16) > 0
    history = eth.fee_history(1024, BlockId(tag="latest"), [10, 50, 90])
    assert history["reward"][-1] == [hex(10**8), hex(2 * 10**8), hex(3 * 10**8)]


def test_block_receipts_number_logs_across_the_block(node: Node, signers: list[Signer]) -> None:
    node.builder.build_block()
    eth = EthApi(node.rpc_backend())
    receipts = eth.get_block_receipts(BlockId(tag="latest"))
    indexes = [log["logIndex"] for r in receipts for log in r["logs"]]
    assert indexes == [hex(i) for i in range(len(indexes))]
    for receipt in receipts:
        assert eth.get_receipt(bytes.fromhex(receipt["transactionHash"][2:])) == receipt


def test_notifications_are_formed_off_the_writers_thread(node: Node) -> None:
    api = SubscriptionApi(node.rpc_backend(), max_subscriptions=8)
    delivered = threading.Event()
    threads: list[str] = []

    class Socket:
        subscriptions: dict[str, Any] = {}

        def send_many(self, messages: list[str]) -> None:
            threads.append(threading.current_thread().name)
            delivered.set()

    api._subs["0x1"] = (Socket(), "newHeads", None)  # type: ignore[assignment]
    try:
        node.builder.build_block()  # runs on this thread, the writer
        assert delivered.wait(10)
    finally:
        api.close()
    assert threads == ["rpc-notify"]


def test_dropped_transactions_reach_txpool_content_from(node: Node, signers: list[Signer]) -> None:
    cheap = [node.pool.add_raw(signers[i].raw(maxPriorityFeePerGas=10**8)) for i in range(5)]
    rich = node.pool.add_raw(signers[5].raw(maxPriorityFeePerGas=10**9))
    victim = next(h for h in cheap if not node.pool.contains(h))
    sender = next(s for s, h in zip(signers, cheap) if h == victim)
    content = TxPoolApi(node.rpc_backend()).content_from(sender.address)
    assert content["pending"] == {} and content["queued"] == {}
    assert content["dropped"] == {
        "0": {"hash": "0x" + victim.hex(), "reason": f"evicted: the pool is full and 0x{rich.hex()} pays more"}
    }
    assert node.metrics()["openledger_txpool_dropped_total"] == 1


def test_a_block_with_hashes_only_decodes_no_transaction(
    node: Node, signers: list[Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """eth_getBlockByNumber(n, false), what wallets and indexers poll, takes the
    hashes (keccak of the raw bytes) and the size from the stored bytes: the
    same answer as the full block's, without decoding a transaction."""
    import rlp

    from openledger_node.rpc import backend as backend_module

    sent = [
        node.pool.add_raw(signers[0].raw()),  # EIP-1559
        node.pool.add_raw(signers[1].raw(type=0, gasPrice=10**10)),  # legacy: an RLP list in the block
        node.pool.add_raw(signers[2].raw(type=1, gasPrice=10**10)),  # EIP-2930
    ]
    node.builder.build_block()
    eth = EthApi(node.rpc_backend())
    full = eth.get_block_by_number(BlockId(number=1), True)
    stored = node.store.block_by_number(1)
    as_list = [rlp.decode(r) if r[0] >= 0xC0 else r for r in stored.transactions]
    header = node.store.header_by_number(1)
    assert full["size"] == hex(len(rlp.encode([header, as_list, [], []])))

    def refuse(*_args: Any) -> Any:
        raise AssertionError("a hashes-only block decoded a transaction")

    monkeypatch.setattr(backend_module, "_with_sender", refuse)
    hashes = eth.get_block_by_number(BlockId(number=1), False)
    assert hashes["transactions"] == [tx["hash"] for tx in full["transactions"]]
    assert set(sent) <= {bytes.fromhex(h[2:]) for h in hashes["transactions"]}
    assert {k: v for k, v in hashes.items() if k != "transactions"} == {
        k: v for k, v in full.items() if k != "transactions"}
    assert eth.tx_count_by_number(BlockId(number=1)) == hex(4)  # the L1-info deposit and the three
