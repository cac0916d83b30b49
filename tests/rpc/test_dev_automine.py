"""Automine seals before it answers: in `instant` mode the block holding a
transaction is sealed (its receipt readable) by the time eth_sendRawTransaction
or eth_sendTransaction answers, for one sender or several at once, on the
sequencer and on the L1 node kind, as real processes. Without it, clients that
ask for the receipt at once (Hardhat's viem toolbox) fall back to slow polling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from openledger_node.execution.genesis import dev_private_keys
from tests.conformance.endpoints import Endpoint, openledger
from tests.rpc.dev_nodes import l1_node

KEYS = dev_private_keys()
ROUNDS = 40
SENDERS = 4
PER_SENDER = 12


@pytest.fixture(scope="module", params=["sequencer", "l1"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sequencer":
        with openledger(tmp, block_time=30, mode="instant") as endpoint:
            yield endpoint
    else:
        with l1_node(tmp) as endpoint:
            yield endpoint


def signed(node: Endpoint, key: bytes, nonce: int, value: int = 1) -> str:
    chain_id = int(node.rpc.call("eth_chainId"), 16)
    fee = 2 * int(node.rpc.call("eth_gasPrice"), 16) + 10**9
    tx = {"chainId": chain_id, "nonce": nonce, "to": "0x" + "99" * 20, "value": value, "gas": 21000,
          "maxFeePerGas": fee, "maxPriorityFeePerGas": 10**9, "data": b""}
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


def nonce_of(node: Endpoint, key: bytes) -> int:
    return int(node.rpc.call("eth_getTransactionCount", Account.from_key(key).address, "pending"), 16)


def sealed_receipt(node: Endpoint, tx_hash: str) -> dict[str, Any]:
    """Asked once, right after the answer: no polling."""
    receipt = node.rpc.call("eth_getTransactionReceipt", tx_hash)
    assert receipt is not None, f"{node.name}: {tx_hash} answered before its block was sealed"
    block = node.rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    assert block is not None and tx_hash in block["transactions"]
    return receipt  # type: ignore[no-any-return]


def test_receipt_is_there_when_send_raw_answers(node: Endpoint) -> None:
    key = KEYS[6]
    nonce = nonce_of(node, key)
    for i in range(ROUNDS):
        tx_hash = node.rpc.call("eth_sendRawTransaction", signed(node, key, nonce + i))
        assert sealed_receipt(node, tx_hash)["status"] == "0x1"


def test_concurrent_senders_each_find_their_receipt(node: Endpoint) -> None:
    keys = KEYS[1:1 + SENDERS]
    failures: list[str] = []
    start = threading.Barrier(SENDERS)

    def send_all(key: bytes) -> None:
        try:
            nonce = nonce_of(node, key)
            start.wait(10)
            for i in range(PER_SENDER):
                tx_hash = node.rpc.call("eth_sendRawTransaction", signed(node, key, nonce + i))
                sealed_receipt(node, tx_hash)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(repr(exc))

    threads = [threading.Thread(target=send_all, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]


def test_send_transaction_answers_after_its_block(node: Endpoint) -> None:
    sender = Account.from_key(KEYS[7]).address
    for _ in range(10):
        tx_hash = node.rpc.call("eth_sendTransaction", {"from": sender, "to": "0x" + "98" * 20, "value": "0x1"})
        assert sealed_receipt(node, tx_hash)["status"] == "0x1"


def test_a_transaction_that_cannot_run_yet_answers_at_once(node: Endpoint) -> None:
    """A nonce gap: it waits in the queue, as on anvil, and the send does not hang;
    the transaction that fills the gap takes both into its block."""
    key = KEYS[8]
    nonce = nonce_of(node, key)
    later = node.rpc.call("eth_sendRawTransaction", signed(node, key, nonce + 1))
    assert node.rpc.call("eth_getTransactionReceipt", later) is None
    first = node.rpc.call("eth_sendRawTransaction", signed(node, key, nonce))
    assert sealed_receipt(node, first)["status"] == "0x1"
    assert sealed_receipt(node, later)["status"] == "0x1"
