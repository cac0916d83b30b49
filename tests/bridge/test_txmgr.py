"""The L1 client and the transaction manager against real anvil processes (one
per test): confirmations, nonces under concurrency and across a restart, fee
bumping of a stuck transaction, the fee cap limit, reverts, reorgs, and the
severities of an L1 that is down, overloaded or of the wrong chain."""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account

from bridge.errors import (
    FeeCapExceeded,
    L1AlreadyKnown,
    L1ChainIdMismatch,
    L1NonceTooLow,
    L1RateLimited,
    L1ReplacementUnderpriced,
    L1Unavailable,
    L1Underpriced,
    TxManagerClosed,
    TxRejected,
    TxReverted,
    TxSendTimeout,
)
from bridge.l1 import L1Client
from bridge.txmgr import TxCandidate, TxManager, TxManagerConfig
from openledger_node.exceptions import ConfigError, ExecutionReverted, TemporaryError
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.execution.transactions import decode_transaction
from openledger_node.primitives import Address, Wei
from openledger_node.service import Severity, severity_of
from tests.bridge.conftest import ANVIL_CHAIN_ID, Anvil, RecordingClient, wait_until

KEY = dev_private_keys()[0]
SENDER = Address(bytes.fromhex(Account.from_key(KEY).address[2:]))
RECIPIENT = Address(b"\x42" * 20)
GWEI = 10**9
FAST = TxManagerConfig(receipt_poll_interval=0.02, resubmission_timeout=30.0, send_timeout=30.0)
TRANSFER = TxCandidate(to=RECIPIENT, value=Wei(1))
REVERTING_INIT_CODE = bytes.fromhex("60006000fd")  # PUSH1 0 PUSH1 0 REVERT


def config(**changes: Any) -> TxManagerConfig:
    return dataclasses.replace(FAST, **changes)


def run_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `call` in a thread; the dict gets its "result" or "error"."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # noqa: BLE001 (handed to the test thread)
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def joined(thread: threading.Thread, out: dict[str, Any], timeout: float = 20.0) -> Any:
    thread.join(timeout)
    assert not thread.is_alive(), "send did not return"
    if "error" in out:
        raise out["error"]
    return out["result"]


def test_send_waits_for_two_confirmations_succeeds(anvil_l1: Anvil) -> None:
    manager = TxManager(L1Client(anvil_l1.url), KEY, config(confirmations=2))
    before = int(anvil_l1.rpc("eth_getBalance", "0x" + RECIPIENT.hex(), "latest"), 16)
    with anvil_l1.mining(interval=0.1):
        receipt = manager.send(TRANSFER)
        head = anvil_l1.head()
    assert receipt.succeeded and receipt.sender == SENDER and receipt.to == RECIPIENT
    assert head - receipt.block_number + 1 >= 2
    assert anvil_l1.block_hash(receipt.block_number) == "0x" + receipt.block_hash.hex()
    assert int(anvil_l1.rpc("eth_getBalance", "0x" + RECIPIENT.hex(), "latest"), 16) == before + 1


def test_send_from_eight_threads_takes_distinct_nonces_succeeds(anvil_l1: Anvil) -> None:
    manager = TxManager(L1Client(anvil_l1.url), KEY, FAST)
    first = anvil_l1.nonce(SENDER)
    with ThreadPoolExecutor(8) as pool:
        receipts = list(pool.map(lambda _: manager.send(TRANSFER), range(8)))
    assert all(r.succeeded for r in receipts)
    nonces = sorted(int(anvil_l1.transaction(r.transaction_hash)["nonce"], 16) for r in receipts)
    assert nonces == list(range(first, first + 8))
    assert anvil_l1.nonce(SENDER) == first + 8


def test_second_manager_while_first_pending_takes_next_nonce_succeeds(anvil_l1: Anvil) -> None:
    anvil_l1.automine(False)
    first = anvil_l1.nonce(SENDER)
    old = TxManager(L1Client(anvil_l1.url), KEY, FAST)
    thread_old, out_old = run_in_thread(lambda: old.send(TRANSFER))
    wait_until(lambda: anvil_l1.nonce(SENDER, "pending") == first + 1, "the first transaction in the pool")
    restarted = TxManager(L1Client(anvil_l1.url), KEY, FAST)  # a restart: no state shared with `old`
    thread_new, out_new = run_in_thread(lambda: restarted.send(TRANSFER))
    wait_until(lambda: anvil_l1.nonce(SENDER, "pending") == first + 2, "the second transaction in the pool")
    anvil_l1.mine()
    receipts = [joined(thread_old, out_old), joined(thread_new, out_new)]
    assert [int(anvil_l1.transaction(r.transaction_hash)["nonce"], 16) for r in receipts] == [first, first + 1]
    assert receipts[0].block_number == receipts[1].block_number


def test_stuck_transaction_is_bumped_and_one_is_mined_succeeds(anvil_l1: Anvil) -> None:
    anvil_l1.automine(False)
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, config(min_tip=Wei(1), resubmission_timeout=0.3))
    start = anvil_l1.head()
    thread, out = run_in_thread(lambda: manager.send(TRANSFER))
    wait_until(lambda: len(client.sent) == 1, "the first transaction")
    stuck = decode_transaction(client.sent[0])
    # The next blocks cost far more than its fee cap: it stays in the pool.
    anvil_l1.rpc("anvil_setNextBlockBaseFeePerGas", hex(100 * stuck.max_fee_per_gas))
    anvil_l1.mine()
    with anvil_l1.mining(interval=0.1):
        receipt = joined(thread, out)
    sent = [decode_transaction(raw) for raw in client.sent]
    assert len(sent) >= 2 and {tx.nonce for tx in sent} == {stuck.nonce}
    for old, new in itertools.pairwise(sent):
        assert new.max_priority_fee_per_gas >= 1.1 * old.max_priority_fee_per_gas
        assert new.max_fee_per_gas >= 1.1 * old.max_fee_per_gas
    assert receipt.succeeded and receipt.transaction_hash in {tx.hash for tx in sent[1:]}
    assert anvil_l1.rpc("eth_getTransactionReceipt", "0x" + stuck.hash.hex()) is None
    mined = [
        tx for number in range(start + 1, anvil_l1.head() + 1)
        for tx in anvil_l1.rpc("eth_getBlockByNumber", hex(number), True)["transactions"]
        if tx["from"] == "0x" + SENDER.hex() and int(tx["nonce"], 16) == stuck.nonce
    ]
    assert len(mined) == 1


def test_nonce_taken_by_another_sender_starts_over_succeeds(anvil_l1: Anvil) -> None:
    anvil_l1.automine(False)
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, config(resubmission_timeout=0.2))
    thread, out = run_in_thread(lambda: manager.send(TRANSFER))
    wait_until(lambda: len(client.sent) == 1, "the first transaction")
    ours = decode_transaction(client.sent[0])
    # Another process with the same key replaces it in the pool, and it is mined.
    other = Account.from_key(KEY).sign_transaction({
        "type": 2, "chainId": ANVIL_CHAIN_ID, "nonce": ours.nonce, "gas": 21_000, "to": "0x" + "77" * 20,
        "value": 5, "maxPriorityFeePerGas": 10 * ours.max_priority_fee_per_gas,
        "maxFeePerGas": 10 * ours.max_fee_per_gas})
    anvil_l1.rpc("eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
    anvil_l1.mine()
    with anvil_l1.mining(interval=0.05):
        receipt = joined(thread, out)
    assert int(anvil_l1.transaction(receipt.transaction_hash)["nonce"], 16) == ours.nonce + 1
    assert receipt.succeeded and receipt.to == RECIPIENT


def test_fee_cap_above_limit_is_refused_reverts(anvil_l1: Anvil) -> None:
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, config(fee_cap_limit=Wei(GWEI)))  # anvil's base fee is 1 gwei
    with pytest.raises(FeeCapExceeded) as caught:
        manager.send(TRANSFER)
    assert caught.value.limit == GWEI and caught.value.fee_cap > GWEI
    assert str(caught.value.fee_cap) in str(caught.value) and str(GWEI) in str(caught.value)
    assert isinstance(caught.value, TemporaryError)
    assert client.sent == []


def test_reverting_transaction_is_reported_with_receipt_reverts(anvil_l1: Anvil) -> None:
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, FAST)
    with pytest.raises(TxReverted) as caught:
        manager.send(TxCandidate(to=None, data=REVERTING_INIT_CODE, gas_limit=100_000))
    receipt = caught.value.receipt
    assert receipt.status == 0 and receipt.transaction_hash == caught.value.tx_hash
    assert len(client.sent) == 1  # not retried
    with pytest.raises(ExecutionReverted):  # estimating the same creation reverts before anything is sent
        manager.send(TxCandidate(to=None, data=REVERTING_INIT_CODE))
    assert len(client.sent) == 1


def test_reorg_removing_mined_transaction_sends_again_succeeds(anvil_l1: Anvil) -> None:
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, config(confirmations=2))
    thread, out = run_in_thread(lambda: manager.send(TRANSFER))
    wait_until(lambda: len(client.receipts) > 0, "the manager to see its receipt")
    first = client.receipts[0]
    assert anvil_l1.head() == first.block_number  # nobody mines: it waits for the second confirmation
    anvil_l1.rpc("anvil_reorg", 1, [])
    assert anvil_l1.rpc("eth_getTransactionReceipt", "0x" + first.transaction_hash.hex()) is None
    with anvil_l1.mining(interval=0.1):
        receipt = joined(thread, out)
    assert receipt.block_hash != first.block_hash
    assert anvil_l1.block_hash(receipt.block_number) == "0x" + receipt.block_hash.hex()
    assert anvil_l1.head() - receipt.block_number + 1 >= 2
    assert len(client.sent) >= 2  # the same transaction, sent again after the reorg


def test_unmined_transaction_times_out_with_its_hashes_reverts(anvil_l1: Anvil) -> None:
    anvil_l1.automine(False)
    client = RecordingClient(anvil_l1.url)
    with pytest.raises(TxSendTimeout) as caught:
        TxManager(client, KEY, config(send_timeout=0.3, resubmission_timeout=0.1)).send(TRANSFER)
    assert caught.value.nonce == 0 and len(caught.value.tx_hashes) >= 2
    assert list(caught.value.tx_hashes) == [decode_transaction(raw).hash for raw in client.sent]
    assert isinstance(caught.value, TemporaryError)


def test_close_stops_a_waiting_send_reverts(anvil_l1: Anvil) -> None:
    anvil_l1.automine(False)
    client = RecordingClient(anvil_l1.url)
    manager = TxManager(client, KEY, FAST)
    thread, out = run_in_thread(lambda: manager.send(TRANSFER))
    wait_until(lambda: len(client.sent) == 1, "the first transaction")
    manager.close()
    with pytest.raises(TxManagerClosed):
        joined(thread, out, timeout=5)
    with pytest.raises(TxManagerClosed):
        manager.send(TRANSFER)


def test_wrong_chain_id_is_critical_reverts(anvil_l1: Anvil) -> None:
    client = L1Client(anvil_l1.url, chain_id=1)
    with pytest.raises(L1ChainIdMismatch) as caught:
        client.chain_id()
    assert (caught.value.expected, caught.value.actual) == (1, ANVIL_CHAIN_ID)
    assert severity_of(caught.value) is Severity.CRITICAL
    with pytest.raises(L1ChainIdMismatch):
        TxManager(client, KEY, FAST).send(TRANSFER)
    assert anvil_l1.nonce(SENDER, "pending") == 0


def test_unreachable_endpoint_is_temporary_reverts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        client = L1Client(url, timeout=2)
        with pytest.raises(L1Unavailable) as caught:
            client.chain_id()
        assert caught.value.endpoint == url and caught.value.method == "eth_chainId"
        assert url in str(caught.value) and "eth_chainId" in str(caught.value)
        assert severity_of(caught.value) is Severity.TEMPORARY
        with pytest.raises(TemporaryError):
            TxManager(client, KEY, FAST).send(TRANSFER)


@contextmanager
def stub_endpoint(status: int, body: bytes = b"", delay: float = 0.0) -> Iterator[str]:
    """An HTTP endpoint that answers every POST with `status` and `body` after `delay`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "delay", "error", "reason"),
    [
        (503, b"", 0.0, L1Unavailable, "HTTP 503"),
        (429, b"", 0.0, L1RateLimited, "429"),
        (200, b'{"jsonrpc":"2.0","id":0,"error":{"code":-32005,"message":"limit exceeded"}}', 0.0,
         L1RateLimited, "limit exceeded"),
        (200, b"<html>gateway</html>", 0.0, L1Unavailable, "malformed"),
        (200, b"{}", 1.0, L1Unavailable, "no answer within 0.3s"),
    ],
)
def test_endpoint_failures_are_temporary_reverts(
    status: int, body: bytes, delay: float, error: type[Exception], reason: str
) -> None:
    with stub_endpoint(status, body, delay) as url, pytest.raises(error, match=reason) as caught:
        L1Client(url, timeout=0.3).block_number()
    assert isinstance(caught.value, TemporaryError)
    assert url in str(caught.value) and "eth_blockNumber" in str(caught.value)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("nonce too low: next nonce 5, tx nonce 3", L1NonceTooLow),  # geth
        ("nonce too low", L1NonceTooLow),  # anvil
        ("replacement transaction underpriced", L1ReplacementUnderpriced),
        ("already known", L1AlreadyKnown),  # geth
        ("transaction already imported", L1AlreadyKnown),  # anvil
        ("transaction underpriced: tip needed 1, tip permitted 0", L1Underpriced),
        ("max fee per gas less than block base fee", L1Underpriced),
        ("insufficient funds for gas * price + value", TxRejected),
    ],
)
def test_send_raw_transaction_refusals_are_typed_reverts(message: str, error: type[TxRejected]) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": message}}).encode()
    with stub_endpoint(200, body) as url, pytest.raises(TxRejected) as caught:
        L1Client(url).send_raw_transaction(b"\x02")
    assert type(caught.value) is error and caught.value.message == message and caught.value.code == -32000


def test_client_reads_blocks_fees_and_logs_succeeds(anvil_l1: Anvil) -> None:
    client = L1Client(anvil_l1.url, chain_id=ANVIL_CHAIN_ID)
    receipt = TxManager(client, KEY, FAST).send(TRANSFER)
    block = client.block(receipt.block_number)
    assert block is not None and block.hash == receipt.block_hash and block.base_fee is not None
    parent = client.block(receipt.block_number - 1)
    assert parent is not None and block.parent_hash == parent.hash and block.timestamp >= parent.timestamp
    assert client.block("latest") == block and client.block(10**6) is None
    history = client.fee_history(2, "latest", [50])
    assert len(history.base_fees) == 3 and len(history.rewards) == 2
    assert client.transaction_count(SENDER, "latest") == client.transaction_count(SENDER, "pending") == 1
    assert client.logs(from_block=0, to_block="latest") == []
    assert client.call(RECIPIENT, b"") == b""


def test_config_check_names_the_field_reverts() -> None:
    with pytest.raises(ConfigError, match="txmgr.fee_bump_percent"):
        TxManagerConfig(fee_bump_percent=5)
    with pytest.raises(ConfigError, match="txmgr.confirmations"):
        TxManagerConfig(confirmations=0)
