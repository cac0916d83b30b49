"""Helpers of the L1 node's tests: geth-format genesis files, an in-process L1
node mining on demand, and signers for chain 900."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from node.l1 import L1Node, L1Options
from openledger_node.config import NodeConfig, load_config
from openledger_node.execution.genesis import DEV_ACCOUNTS, dev_private_keys
from tests.conformance.endpoints import Endpoint, _start
from tests.conftest import REPO
from tests.processes import stop_process_group

DEVNET_GENESIS = REPO / "configs" / "l1-genesis-devnet.json"
CHAIN_ID = 900
GWEI = 10**9


def devnet_genesis() -> dict[str, Any]:
    return dict(json.loads(DEVNET_GENESIS.read_text()))


def scheduled_genesis(timestamp: int, shanghai: int | None, cancun: int | None, prague: int | None,
                      alloc: dict[str, Any] | None = None) -> dict[str, Any]:
    """The devnet genesis with another fork schedule (times), genesis time and extra accounts."""
    genesis = copy.deepcopy(devnet_genesis())
    genesis["timestamp"] = hex(timestamp)
    for key, value in (("shanghaiTime", shanghai), ("cancunTime", cancun), ("pragueTime", prague)):
        if value is None:
            genesis["config"].pop(key, None)
        else:
            genesis["config"][key] = value
    genesis["alloc"].update(alloc or {})
    return genesis


def write_genesis(path: Path, genesis: dict[str, Any]) -> Path:
    path.write_text(json.dumps(genesis, indent=2))
    return path


def node_config(data_dir: Path) -> NodeConfig:
    return load_config(None, environ={}, overrides={
        "chain": {"network": "dev"}, "storage": {"data_dir": str(data_dir)}, "txpool": {"journal": False},
    })


def open_l1(data_dir: Path, genesis: Path = DEVNET_GENESIS, **options: Any) -> L1Node:
    """An L1 node whose producer is driven by the test (its driver is not started)."""
    return L1Node.open(node_config(data_dir), L1Options(genesis, **options))


@pytest.fixture()
def l1_node(tmp_path: Path) -> Iterator[L1Node]:
    node = open_l1(tmp_path / "l1")
    yield node
    node.stop()


class L1Signer:
    """Signs transactions of every type for one dev key on chain 900."""

    def __init__(self, index: int, chain_id: int = CHAIN_ID) -> None:
        self.key = dev_private_keys()[index]
        self.account = Account.from_key(self.key)
        self.address = bytes(DEV_ACCOUNTS[index])
        self.chain_id = chain_id
        self.nonce = 0

    def raw(self, **fields: Any) -> bytes:
        tx: dict[str, Any] = {
            "type": 2, "chainId": self.chain_id, "nonce": self.nonce, "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI, "gas": 100_000, "to": "0x" + "22" * 20, "value": 1,
        }
        tx.update(fields)
        if tx["type"] in (0, 1):
            tx.pop("maxFeePerGas")
            tx.pop("maxPriorityFeePerGas")
            tx.setdefault("gasPrice", 10 * GWEI)
            if tx["type"] == 0:
                del tx["type"]
        if tx.get("to") is None:
            tx.pop("to", None)
        else:
            tx["to"] = to_checksum_address(tx["to"])
        self.nonce = tx["nonce"] + 1
        return bytes(self.account.sign_transaction(tx).raw_transaction)

    def authorization(self, address: str, nonce: int, chain_id: int | None = None) -> Any:
        return self.account.sign_authorization({
            "chainId": self.chain_id if chain_id is None else chain_id,
            "address": to_checksum_address(address),
            "nonce": nonce,
        })


@contextmanager
def l1_process(tmp: Path, *args: str) -> Iterator[Endpoint]:
    """`openledger-node l1` as a real process on a free port."""
    argv = [sys.executable, "-m", "node.cli", "l1", "--data-dir", str(tmp / "data"), "--rpc-port", "0", *args]
    endpoint = _start("openledger-l1", argv, tmp / "l1.log", r"JSON-RPC: http://127\.0\.0\.1:(\d+)", REPO)
    try:
        yield endpoint
    finally:
        stop_process_group(endpoint.process)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
