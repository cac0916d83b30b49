"""Developer toolchains against our node: ethers v6 (a Node.js dapp script) and
Foundry's `cast`, both from the pinned npm devDependencies.

One sequencer per module. The ethers script deploys from dev account 0, the cast
test from dev account 1, so their nonces never interfere. Neither passes gas
limits: both tools estimate them through eth_estimateGas, as users do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from contracts import load_artifact
from tests.conformance.endpoints import (
    ANVIL,
    ANVIL_MISSING,
    CAST,
    CHAIN_ID,
    DEV_KEYS,
    REPO,
    Endpoint,
    foundry_binary,
    openledger,
)
from tests.conformance.scenario import contract_address

ETHERS_SCRIPT = Path(__file__).with_name("ethers_deploy.mjs")
NODE = shutil.which("node")
TOKEN_SUPPLY = 1_000_000 * 10**18
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()

pytestmark = [
    pytest.mark.skipif(not ANVIL.exists() or not CAST.exists(), reason=ANVIL_MISSING),
    pytest.mark.skipif(NODE is None, reason="Node.js (`node`) is not on PATH"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with openledger(tmp_path_factory.mktemp("toolchains")) as endpoint:
        yield endpoint


# --- ethers v6 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ethers_summary(node: Endpoint) -> dict[str, Any]:
    result = subprocess.run([NODE, str(ETHERS_SCRIPT), node.url], cwd=REPO, check=False, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, f"ethers script failed:\n{result.stderr}\n--- node log ---\n{node.log_tail()}"
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_ethers_deploys_transfers_and_reads_the_event(node: Endpoint, ethers_summary: dict[str, Any]) -> None:
    s = ethers_summary
    deployer = Account.from_key(DEV_KEYS[0]).address
    recipient = Account.from_key(DEV_KEYS[1]).address
    assert s["chainId"] == str(CHAIN_ID)
    assert s["deployer"] == deployer
    assert s["deploy"]["status"] == 1 and s["deploy"]["type"] == 2
    assert s["deploy"]["contractAddress"] == s["token"]
    assert s["codeSize"] == len(load_artifact("TestToken").deployed_bytecode)
    assert s["transfer"]["status"] == 1 and s["transfer"]["logs"] == 1
    # ethers took the gas limit from eth_estimateGas: enough, and not the block gas limit.
    assert int(s["transfer"]["gasUsed"]) <= int(s["transfer"]["gasLimit"]) < 2 * int(s["transfer"]["gasUsed"])
    assert s["transfer"]["nonce"] == 1 and s["transfer"]["blockNumber"] > s["deploy"]["blockNumber"]
    assert s["events"] == [{
        "event": "Transfer", "from": deployer, "to": recipient, "value": str(125 * 10**17),
        "blockNumber": s["transfer"]["blockNumber"], "logIndex": s["events"][0]["logIndex"],
        "transactionHash": s["transfer"]["hash"],
    }]
    # Our blocks open with the L1-info deposit, which (as on op-geth) emits no log:
    # the transfer's event is the block's first.
    assert s["events"][0]["logIndex"] == 0
    assert s["block"]["number"] == s["transfer"]["blockNumber"]
    assert s["transfer"]["hash"] in s["block"]["transactions"]
    # The node saw what ethers says it did.
    receipt = node.rpc.call("eth_getTransactionReceipt", s["transfer"]["hash"])
    assert int(receipt["gasUsed"], 16) == int(s["transfer"]["gasUsed"])


def test_ethers_balance_of(ethers_summary: dict[str, Any]) -> None:
    assert ethers_summary["balanceBefore"] == str(TOKEN_SUPPLY)
    assert ethers_summary["balancesAfter"] == {"sender": str(TOKEN_SUPPLY - 125 * 10**17),
                                               "recipient": str(125 * 10**17)}


# --- Foundry cast ------------------------------------------------------------------------


def cast(node: Endpoint, *args: str) -> str:
    env = {**os.environ, "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1", "NO_COLOR": "1"}
    # --rpc-url right after the subcommand: `send --create CODE [SIG] [ARGS]...` takes every
    # later word as a constructor argument.
    command, *rest = args
    result = subprocess.run([str(foundry_binary("cast")), command, "--rpc-url", node.url, *rest], cwd=REPO,
                            check=False, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, (f"cast {' '.join(args)[:200]} failed:\n{result.stderr}"
                                    f"\n--- node log ---\n{node.log_tail()}")
    return result.stdout.strip()


CAST_KEY = DEV_KEYS[1]
CAST_SENDER = Account.from_key(CAST_KEY).address
CAST_RECIPIENT = Account.from_key(DEV_KEYS[2]).address


def test_cast_chain_reads(node: Endpoint) -> None:
    assert cast(node, "chain-id") == str(CHAIN_ID)
    head = int(node.rpc.call("eth_blockNumber"), 16)
    assert head <= int(cast(node, "block-number")) <= head + 5
    assert cast(node, "balance", Account.from_key(DEV_KEYS[9]).address) == str(10_000 * 10**18)
    assert cast(node, "balance", "--ether", Account.from_key(DEV_KEYS[9]).address) == "10000.000000000000000000"
    assert cast(node, "nonce", CAST_SENDER) == str(int(node.rpc.call("eth_getTransactionCount", CAST_SENDER,
                                                                        "latest"), 16))


@pytest.fixture(scope="module")
def cast_token(node: Endpoint) -> dict[str, Any]:
    """Deploy TestToken with `cast send --create`; returns the receipt."""
    init = "0x" + load_artifact("TestToken").bytecode.hex() + TOKEN_SUPPLY.to_bytes(32, "big").hex()
    receipt: dict[str, Any] = json.loads(cast(node, "send", "--private-key", CAST_KEY, "--json",
                                              "--create", init))
    return receipt


def test_cast_send_create_deploys(node: Endpoint, cast_token: dict[str, Any]) -> None:
    assert cast_token["status"] == "0x1"
    token = cast_token["contractAddress"]
    nonce = int(node.rpc.call("eth_getTransactionByHash", cast_token["transactionHash"])["nonce"], 16)
    assert token.lower() == contract_address(CAST_SENDER.lower(), nonce)
    assert cast(node, "code", token) == "0x" + load_artifact("TestToken").deployed_bytecode.hex()
    assert cast(node, "storage", token, "2") == "0x" + TOKEN_SUPPLY.to_bytes(32, "big").hex()  # totalSupply


@pytest.fixture(scope="module")
def cast_transfer(node: Endpoint, cast_token: dict[str, Any]) -> dict[str, Any]:
    """7000 token units from the deployer to dev 2 with `cast send`; returns the receipt."""
    receipt: dict[str, Any] = json.loads(cast(node, "send", "--private-key", CAST_KEY, "--json",
                                              to_checksum_address(cast_token["contractAddress"]),
                                              "transfer(address,uint256)", CAST_RECIPIENT, "7000"))
    return receipt


def test_cast_transfer_receipt_and_logs(node: Endpoint, cast_token: dict[str, Any],
                                        cast_transfer: dict[str, Any]) -> None:
    token = to_checksum_address(cast_token["contractAddress"])
    sent = cast_transfer
    assert sent["status"] == "0x1" and len(sent["logs"]) == 1
    tx_hash = sent["transactionHash"]

    receipt = json.loads(cast(node, "receipt", "--json", tx_hash))
    assert receipt["transactionHash"] == tx_hash and receipt["status"] == "0x1"
    assert receipt["blockNumber"] == sent["blockNumber"]
    assert cast(node, "receipt", tx_hash, "status") == "true"
    assert int(cast(node, "receipt", tx_hash, "gasUsed")) == int(receipt["gasUsed"], 16)

    block = str(int(sent["blockNumber"], 16))
    logs = json.loads(cast(node, "logs", "--json", "--from-block", block, "--to-block", block, "--address", token,
                           "Transfer(address indexed from,address indexed to,uint256 value)"))
    assert len(logs) == 1
    log = logs[0]
    assert log["transactionHash"] == tx_hash and log["topics"][0] == TRANSFER_TOPIC
    assert log["topics"][1] == "0x" + "00" * 12 + CAST_SENDER[2:].lower()
    assert log["topics"][2] == "0x" + "00" * 12 + CAST_RECIPIENT[2:].lower()
    assert int(log["data"], 16) == 7000
    assert log == receipt["logs"][0]

    # cast's own decoding of the same transaction.
    tx = json.loads(cast(node, "tx", "--json", tx_hash))
    assert tx["hash"] == tx_hash and tx["from"].lower() == CAST_SENDER.lower()
    assert re.fullmatch(r"0x[0-9a-f]+", tx["input"]) and tx["input"].startswith("0xa9059cbb")


def test_cast_call_balance_of(node: Endpoint, cast_token: dict[str, Any], cast_transfer: dict[str, Any]) -> None:
    token = cast_token["contractAddress"]
    out = cast(node, "call", token, "balanceOf(address)(uint256)", CAST_SENDER)
    assert out.split()[0] == str(TOKEN_SUPPLY - 7000)
    assert cast(node, "call", token, "balanceOf(address)(uint256)", CAST_RECIPIENT).split()[0] == "7000"
