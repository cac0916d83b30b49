"""anvil's dev controls (`anvil_set*`, `anvil_mine`, dropping transactions,
automine and interval mining, `anvil_nodeInfo`, the snapshot aliases) against
anvil and our node, the same assertions on both; then what only ours has to
show: edits survive a kill, and a node that posts batches refuses them."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import Node
from openledger_node.config import load_config
from openledger_node.devstate import AccountPatch, StateEditsRefused
from openledger_node.execution.genesis import DEV_ACCOUNTS
from openledger_node.execution.state import StateView
from tests.conformance.endpoints import CHAIN_ID, Endpoint
from tests.conftest import GENESIS_PATH
from tests.rpc.dev_nodes import KINDS, each_node, l1_node
from tests.rpc.helpers import start_node

ALICE, BOB = ("0x" + bytes(a).hex() for a in DEV_ACCOUNTS[:2])


@pytest.fixture(scope="module", params=KINDS)
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    yield from each_node(request, tmp_path_factory)


def fresh(tag: str) -> str:
    """An address no other test touches."""
    return "0x" + (tag * 40)[:40]


def error_of(chain: Endpoint, method: str, *params: Any) -> dict[str, Any]:
    reply = chain.rpc.request(method, *params)
    assert "error" in reply, f"{chain.name}: {method} answered {reply.get('result')!r}"
    return reply["error"]  # type: ignore[no-any-return]


def head(chain: Endpoint) -> dict[str, Any]:
    return chain.rpc.call("eth_getBlockByNumber", "latest", False)  # type: ignore[no-any-return]


def test_state_edits_are_read_at_once(chain: Endpoint) -> None:
    rpc = chain.rpc
    who = fresh("a1")
    assert rpc.call("anvil_setBalance", who, hex(10**21 + 7)) is None
    assert int(rpc.call("eth_getBalance", who, "latest"), 16) == 10**21 + 7
    assert int(rpc.call("eth_getBalance", who, "pending"), 16) == 10**21 + 7
    assert rpc.call("anvil_setNonce", who, hex(42)) is None
    assert int(rpc.call("eth_getTransactionCount", who, "latest"), 16) == 42
    assert int(rpc.call("eth_getTransactionCount", who, "pending"), 16) == 42
    # Runtime: return the 32-byte word in slot 0 (PUSH0 SLOAD PUSH0 MSTORE PUSH1 32 PUSH0 RETURN).
    code = "0x5f545f5260205ff3"
    assert rpc.call("anvil_setCode", who, code) is None
    assert rpc.call("eth_getCode", who, "latest") == code
    word = "0x" + "00" * 31 + "2a"
    assert rpc.call("anvil_setStorageAt", who, "0x0", word) is True
    assert rpc.call("eth_getStorageAt", who, "0x0", "latest") == word
    assert rpc.call("eth_call", {"to": who}, "latest") == word  # the EVM sees code and storage together
    # Sending from the account uses the nonce set.
    rpc.call("anvil_setCode", who, "0x")
    rpc.call("anvil_impersonateAccount", who)
    tx_hash = rpc.call("eth_sendTransaction", {"from": who, "to": BOB, "value": "0x1"})
    assert rpc.wait_for_receipt(tx_hash, timeout=10)["status"] == "0x1"
    assert int(rpc.call("eth_getTransactionByHash", tx_hash)["nonce"], 16) == 42
    rpc.call("anvil_stopImpersonatingAccount", who)


def test_hardhat_names_do_the_same(chain: Endpoint) -> None:
    """viem's test client in hardhat mode sends these; anvil answers them too."""
    rpc = chain.rpc
    who = fresh("a7")
    assert rpc.call("hardhat_setBalance", who, hex(31337)) is None
    assert rpc.call("hardhat_setNonce", who, hex(9)) is None
    assert rpc.call("hardhat_setCode", who, "0x00") is None
    assert rpc.call("hardhat_setStorageAt", who, "0x2", "0x" + "01" * 32) is True
    assert int(rpc.call("eth_getBalance", who, "latest"), 16) == 31337
    assert int(rpc.call("eth_getTransactionCount", who, "latest"), 16) == 9
    assert rpc.call("eth_getCode", who, "latest") == "0x00"
    assert rpc.call("eth_getStorageAt", who, "0x2", "latest") == "0x" + "01" * 32
    assert rpc.call("hardhat_dropTransaction", "0x" + "00" * 32) is None


def test_state_edit_errors_name_the_argument(chain: Endpoint) -> None:
    who = fresh("a2")
    for method, params in (
        ("anvil_setBalance", ["0x1234", "0x1"]),
        ("anvil_setBalance", [who, "-1"]),
        ("anvil_setStorageAt", [who, "0x0", "0x01"]),  # a storage value is 32 bytes
        ("anvil_setCode", [who, "0xzz"]),
        ("anvil_setNonce", [who, "nonce"]),
    ):
        assert error_of(chain, method, *params)["code"] == -32602, (method, params)


def test_snapshot_and_revert_undo_state_edits(chain: Endpoint) -> None:
    rpc = chain.rpc
    who = fresh("a3")
    rpc.call("anvil_setBalance", who, hex(5))
    snapshot = rpc.call("anvil_snapshot")
    rpc.call("anvil_setBalance", who, hex(6))
    rpc.call("anvil_setCode", who, "0x00")
    assert int(rpc.call("eth_getBalance", who, "latest"), 16) == 6
    assert rpc.call("anvil_revert", snapshot) is True
    assert int(rpc.call("eth_getBalance", who, "latest"), 16) == 5
    assert rpc.call("eth_getCode", who, "latest") == "0x"
    assert rpc.call("anvil_revert", snapshot) is False  # a snapshot is used once
    snapshot = rpc.call("evm_snapshot")
    rpc.call("anvil_setBalance", who, hex(9))
    assert rpc.call("evm_revert", snapshot) is True
    assert int(rpc.call("eth_getBalance", who, "latest"), 16) == 5


def test_mine_count_and_interval(chain: Endpoint) -> None:
    rpc = chain.rpc
    start = head(chain)
    assert rpc.call("anvil_mine") is None
    assert int(head(chain)["number"], 16) == int(start["number"], 16) + 1
    before = head(chain)
    rpc.call("anvil_mine", hex(5), hex(100))
    blocks = [rpc.call("eth_getBlockByNumber", hex(int(before["number"], 16) + i), False) for i in range(1, 6)]
    assert all(b is not None for b in blocks) and head(chain)["hash"] == blocks[-1]["hash"]
    times = [int(b["timestamp"], 16) for b in blocks]
    assert [b - a for a, b in itertools.pairwise(times)] == [100, 100, 100, 100]
    before = head(chain)
    rpc.call("hardhat_mine", "0x3")
    assert int(head(chain)["number"], 16) == int(before["number"], 16) + 3
    rpc.call("anvil_mine", 2)  # JSON numbers too
    assert int(head(chain)["number"], 16) == int(before["number"], 16) + 5
    assert error_of(chain, "anvil_mine", "0xzz")["code"] == -32602


def test_automine_off_keeps_transactions_until_mined_and_drop_removes_them(chain: Endpoint) -> None:
    rpc = chain.rpc
    assert rpc.call("anvil_getAutomine") is True
    assert rpc.call("hardhat_getAutomine") is True  # what Hardhat Ignition asks
    rpc.call("evm_setAutomine", False)
    try:
        assert rpc.call("anvil_getAutomine") is False
        assert rpc.call("hardhat_getAutomine") is False
        number = int(head(chain)["number"], 16)
        first = rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": "0x1"})
        second = rpc.call("eth_sendTransaction", {"from": BOB, "to": ALICE, "value": "0x1"})
        third = rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": "0x2"})
        time.sleep(0.3)
        assert int(head(chain)["number"], 16) == number
        assert rpc.call("eth_getTransactionReceipt", first) is None
        assert rpc.call("anvil_dropTransaction", second) == second
        assert rpc.call("eth_getTransactionByHash", second) is None
        assert rpc.call("anvil_dropTransaction", second) is None
        rpc.call("evm_mine")
        assert rpc.wait_for_receipt(first, timeout=10)["status"] == "0x1"
        assert rpc.wait_for_receipt(third, timeout=10)["status"] == "0x1"
        fourth = rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": "0x3"})
        fifth = rpc.call("eth_sendTransaction", {"from": BOB, "to": ALICE, "value": "0x3"})
        assert rpc.call("anvil_dropAllTransactions") is None
        assert rpc.call("eth_getTransactionByHash", fourth) is None
        assert rpc.call("eth_getTransactionByHash", fifth) is None
        assert rpc.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    finally:
        rpc.call("anvil_setAutomine", True)
    assert rpc.call("anvil_getAutomine") is True
    tx_hash = rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": "0x4"})
    assert rpc.wait_for_receipt(tx_hash, timeout=10)["status"] == "0x1"


def test_interval_mining_builds_blocks_on_its_own(chain: Endpoint) -> None:
    rpc = chain.rpc
    rpc.call("evm_setIntervalMining", 1)
    try:
        assert rpc.call("anvil_getAutomine") is False
        start = int(head(chain)["number"], 16)
        deadline = time.monotonic() + 10
        while int(head(chain)["number"], 16) < start + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(head(chain)["number"], 16) >= start + 2
        rpc.call("anvil_setIntervalMining", 0)
        time.sleep(0.2)
        stopped = int(head(chain)["number"], 16)
        time.sleep(1.5)
        assert int(head(chain)["number"], 16) == stopped
    finally:
        rpc.call("evm_setAutomine", True)


def test_node_info_names_the_chain(chain: Endpoint) -> None:
    info = chain.rpc.call("anvil_nodeInfo")
    latest = head(chain)
    assert info["currentBlockNumber"] == latest["number"]
    assert info["currentBlockHash"] == latest["hash"]
    assert info["currentBlockTimestamp"] == int(latest["timestamp"], 16)
    assert info["environment"]["chainId"] == CHAIN_ID
    assert int(info["environment"]["gasLimit"], 16) == int(latest["gasLimit"], 16)
    assert int(info["environment"]["baseFee"], 16) >= 0
    assert isinstance(info["hardFork"], str) and info["hardFork"]
    assert info["forkConfig"]["forkUrl"] is None
    if chain.name == "openledger":
        assert info["clientVersion"] == chain.rpc.call("web3_clientVersion")
        assert info["hardFork"] == "openledger-prague" and info["mining"] == "instant"


def test_non_dev_network_refuses_dev_controls(tmp_path: Path, write_genesis: Any) -> None:
    genesis = write_genesis({"0x" + "42" * 20: {"balance": hex(10**21)}})
    env = {"OPENLEDGER__CHAIN__NETWORK": "testnet", "OPENLEDGER__CHAIN__GENESIS": str(genesis)}
    testnet = start_node(tmp_path / "testnet", block_time=0.25, env=env, init=True)
    who = "0x" + "42" * 20
    try:
        for method, params in (
            ("anvil_setBalance", [who, "0x1"]), ("anvil_setCode", [who, "0x00"]), ("anvil_setNonce", [who, "0x1"]),
            ("anvil_setStorageAt", [who, "0x0", "0x" + "00" * 32]), ("anvil_mine", []), ("hardhat_mine", []),
            ("anvil_dropTransaction", ["0x" + "00" * 32]), ("anvil_dropAllTransactions", []),
            ("evm_setAutomine", [True]), ("anvil_setAutomine", [True]), ("evm_setIntervalMining", [1]),
            ("anvil_setIntervalMining", [1]), ("anvil_getAutomine", []), ("hardhat_getAutomine", []),
            ("anvil_nodeInfo", []),
            ("anvil_snapshot", []), ("anvil_revert", ["0x1"]), ("hardhat_setBalance", [who, "0x1"]),
            ("hardhat_setStorageAt", [who, "0x0", "0x" + "00" * 32]), ("hardhat_dropTransaction", ["0x" + "00" * 32]),
        ):
            error = testnet.error(method, *params)
            assert error.code == -32601 and method in error.message and "dev mode" in error.message
        assert testnet.rpc("eth_getBalance", who, "latest") == hex(10**21)
    finally:
        assert testnet.stop() == 0, testnet.log_text()[-3000:]


def test_state_edit_survives_a_kill(tmp_path: Path) -> None:
    """An edit the node acknowledged is on disk with its block: kill -9 right
    after the answer, restart, and it is there."""
    who = fresh("a4")
    data = tmp_path / "data"
    node = start_node(data, block_time=30, mode="instant")
    try:
        node.rpc("anvil_setBalance", who, hex(123456789))
        node.rpc("anvil_setStorageAt", who, "0x5", "0x" + "ab" * 32)
        number = node.block_number()
    finally:
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
    again = start_node(data, block_time=30, mode="instant")
    try:
        assert again.block_number() == number
        assert again.rpc("eth_getBalance", who, "latest") == hex(123456789)
        assert again.rpc("eth_getStorageAt", who, "0x5", "latest") == "0x" + "ab" * 32
    finally:
        assert again.stop() == 0, again.log_text()[-3000:]


def open_node(tmp_path: Path) -> Node:
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH), "block_time": 0.2},
        "storage": {"data_dir": str(tmp_path / "data")},
    })
    return Node.open(config)


def test_an_edit_is_a_block_of_its_own_and_a_batch_posting_node_refuses_it(tmp_path: Path) -> None:
    node = open_node(tmp_path)
    try:
        who = bytes.fromhex("a5" * 20)
        parent = node.store.head("unsafe")
        result = node.builder.patch_state((AccountPatch(who, balance=77, nonce=3, storage=((1, 2),)),))
        header = node.store.head("unsafe")
        assert int(header.block_number) == int(parent.block_number) + 1 and header.hash == result.block.header.hash
        assert len(result.block.transactions) == 1  # the L1-info deposit only: no pool transaction
        state = StateView(node.store.state_db, bytes(header.state_root))
        assert (state.get_balance(who), state.get_nonce(who), state.get_storage(who, 1)) == (77, 3, 2)
        node.builder.state_edits_refused = "it posts batches to L1"
        with pytest.raises(StateEditsRefused, match="it posts batches to L1"):
            node.builder.patch_state((AccountPatch(who, balance=1),))
        assert node.store.head("unsafe").hash == header.hash
    finally:
        node.stop()


def test_the_l1_node_kind_has_the_controls_but_no_impersonation(tmp_path: Path) -> None:
    with l1_node(tmp_path) as l1:
        rpc = l1.rpc
        who = fresh("a6")
        rpc.call("anvil_setBalance", who, hex(10**18))
        rpc.call("anvil_setStorageAt", who, "0x1", "0x" + "11" * 32)
        assert rpc.call("eth_getBalance", who, "latest") == hex(10**18)
        assert rpc.call("eth_getStorageAt", who, "0x1", "latest") == "0x" + "11" * 32
        info = rpc.call("anvil_nodeInfo")
        assert info["hardFork"] == "prague" and info["mining"] == "instant"
        assert rpc.call("eth_accounts")[:2] == [ALICE, BOB]
        error = error_of(l1, "anvil_impersonateAccount", who)
        assert error["code"] == -32002 and "signed transactions only" in error["message"]
        tx_hash = rpc.call("eth_sendTransaction", {"from": ALICE, "to": who, "value": "0x1"})
        assert rpc.call("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
