"""`openledger-node l1` as a real process, answered by web3.py: what the rollup's
deployment, tests and devnet need from an L1 in place of anvil."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import TxReceipt

from bridge.deploy import load_deployment
from contracts import load_artifact
from openledger_node.execution.genesis import DEV_ACCOUNTS, dev_private_keys
from tests.conformance.endpoints import Endpoint
from tests.l1.conftest import CHAIN_ID, DEVNET_GENESIS, GWEI, cli, l1_process

ETHER = 10**18
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def l1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with l1_process(tmp_path_factory.mktemp("l1")) as endpoint:  # instant mode, the default
        yield endpoint


@pytest.fixture(scope="module")
def w3(l1: Endpoint) -> Web3:
    return Web3(Web3.HTTPProvider(l1.url, request_kwargs={"timeout": 30}))


def address(index: int) -> str:
    return Web3.to_checksum_address("0x" + DEV_ACCOUNTS[index].hex())


def send(w3: Web3, index: int, **fields: Any) -> TxReceipt:
    """Sign with dev key `index` (fees and nonce filled in) and wait for the receipt."""
    account = Account.from_key(dev_private_keys()[index])
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID, "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "maxFeePerGas": 20 * GWEI, "maxPriorityFeePerGas": GWEI, "gas": 21_000, "value": 0,
    }
    tx.update(fields)
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def test_chain_id_and_funded_accounts_succeeds(w3: Web3) -> None:
    assert w3.eth.chain_id == CHAIN_ID
    assert int(rpc(w3, "net_version")) == CHAIN_ID
    for index in range(5, 10):  # accounts no test spends from
        assert w3.eth.get_balance(address(index)) == 10_000 * ETHER
    genesis = w3.eth.get_block(0)
    assert genesis["difficulty"] == 0 and genesis["baseFeePerGas"] == GWEI
    assert genesis["requestsHash"].hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_transfer_is_mined_at_once_and_burns_the_base_fee_succeeds(w3: Web3) -> None:
    recipient = Web3.to_checksum_address("0x" + "ab" * 20)
    sender = address(1)
    head = w3.eth.block_number
    before = {a: w3.eth.get_balance(a) for a in (sender, recipient, ZERO)}
    receipt = send(w3, 1, to=recipient, value=ETHER)
    assert receipt["status"] == 1 and receipt["gasUsed"] == 21_000
    assert receipt["blockNumber"] == head + 1  # instant mode: a block for the transaction
    block = w3.eth.get_block(receipt["blockNumber"])
    base_fee, gas = block["baseFeePerGas"], receipt["gasUsed"]
    assert receipt["effectiveGasPrice"] == base_fee + GWEI
    after = {a: w3.eth.get_balance(a) for a in (sender, recipient, ZERO)}
    assert after[recipient] - before[recipient] == ETHER
    assert before[sender] - after[sender] == ETHER + gas * (base_fee + GWEI)
    assert after[ZERO] - before[ZERO] == gas * GWEI  # the tip goes to the coinbase
    # The base fee goes nowhere: the supply of ether drops by base fee x gas.
    assert sum(before.values()) - sum(after.values()) == base_fee * gas
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["from"] == sender and tx["value"] == ETHER


def test_contract_deployment_call_and_logs_succeeds(w3: Web3) -> None:
    artifact = load_artifact("OpenToken")
    holder = address(2)
    factory = w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
    data = factory.constructor(holder).build_transaction({"from": holder, "gas": 3_000_000})["data"]
    created = send(w3, 2, data=data, gas=3_000_000)
    assert created["status"] == 1 and created["contractAddress"]
    token = w3.eth.contract(address=created["contractAddress"], abi=list(artifact.abi))
    supply = token.functions.totalSupply().call()
    assert token.functions.balanceOf(holder).call() == supply > 0
    to = Web3.to_checksum_address("0x" + "cd" * 20)
    call = token.functions.transfer(to, 5 * ETHER).build_transaction({"from": holder, "gas": 100_000})
    receipt = send(w3, 2, to=token.address, data=call["data"], gas=100_000)
    assert receipt["status"] == 1 and len(receipt["logs"]) == 1
    assert token.functions.balanceOf(to).call() == 5 * ETHER
    (event,) = token.events.Transfer().process_receipt(receipt)
    assert event["args"]["to"] == to and event["args"]["value"] == 5 * ETHER
    logs = w3.eth.get_logs({"address": token.address, "fromBlock": created["blockNumber"], "toBlock": "latest"})
    transfers = [log for log in logs if log["transactionHash"] == receipt["transactionHash"]]
    assert len(transfers) == 1 and transfers[0]["blockNumber"] == receipt["blockNumber"]


def test_fee_history_succeeds(w3: Web3) -> None:
    send(w3, 3, to=address(4), value=1)
    head = w3.eth.block_number
    history = w3.eth.fee_history(3, "latest", [50])
    assert history["oldestBlock"] == head - 2
    assert len(history["baseFeePerGas"]) == 4 and len(history["gasUsedRatio"]) == 3
    assert history["baseFeePerGas"][-2] == w3.eth.get_block(head)["baseFeePerGas"]
    assert history["reward"][-1] == [GWEI]


def test_snapshot_revert_and_time_controls_succeeds(w3: Web3) -> None:
    snapshot = rpc(w3, "evm_snapshot")
    head = w3.eth.block_number
    balance = w3.eth.get_balance(address(3))
    receipt = send(w3, 3, to=address(4), value=ETHER)
    assert w3.eth.block_number == head + 1
    timestamp = w3.eth.get_block("latest")["timestamp"] + 1000
    rpc(w3, "evm_setNextBlockTimestamp", timestamp)
    rpc(w3, "evm_mine")
    assert w3.eth.get_block("latest")["timestamp"] == timestamp
    rpc(w3, "evm_increaseTime", 3600)
    rpc(w3, "evm_mine")
    assert w3.eth.get_block("latest")["timestamp"] >= timestamp + 3600
    assert rpc(w3, "evm_revert", snapshot) is True
    assert w3.eth.block_number == head
    assert w3.eth.get_balance(address(3)) == balance
    assert rpc(w3, "eth_getTransactionReceipt", receipt["transactionHash"].to_0x_hex()) is None
    assert rpc(w3, "evm_revert", snapshot) is False  # a snapshot is used up by a revert


def test_deploy_l1_on_our_l1_node_succeeds(l1: Endpoint, w3: Web3, tmp_path: Path) -> None:
    out = tmp_path / "l1.json"
    result = cli("deploy-l1", "--l1-rpc", l1.url, "--dev", "--out", str(out))
    assert result.returncode == 0, result.stderr + l1.log_tail()
    deployment = load_deployment(out)
    assert deployment.chain_id == CHAIN_ID
    for contract in (deployment.open_token, deployment.rollup, deployment.portal):
        assert len(w3.eth.get_code(Web3.to_checksum_address(contract))) > 0
    portal = w3.eth.contract(address=Web3.to_checksum_address(deployment.portal),
                             abi=list(load_artifact("OpenLedgerPortal").abi))
    assert portal.functions.rollup().call().lower() == deployment.rollup.lower()


def test_interval_mode_mines_on_time_and_restarts_from_its_head_succeeds(tmp_path: Path) -> None:
    args = ("l1", "--data-dir", str(tmp_path / "data"), "--rpc-port", "0", "--block-time", "0.2")
    first = cli(*args, "--stop-after-blocks", "3")
    assert first.returncode == 0, first.stderr
    assert "interval mode (a block every 0.2s)" in first.stdout and "chain id 900" in first.stdout
    assert "mined block number=3" in first.stderr and "fork=prague" in first.stderr
    again = cli(*args, "--stop-after-blocks", "4")
    assert again.returncode == 0, again.stderr
    last = max(int(n) for n in re.findall(r"mined block number=(\d+)", first.stderr))
    assert f"head {last}," in again.stdout


def test_l1_with_a_genesis_it_cannot_run_exits_with_the_field(tmp_path: Path) -> None:
    genesis = tmp_path / "pow.json"
    genesis.write_text(DEVNET_GENESIS.read_text().replace('"berlinBlock": 0', '"berlinBlock": 5'))
    result = cli("l1", "--genesis", str(genesis), "--data-dir", str(tmp_path / "data"), "--rpc-port", "0",
                 timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "config.berlinBlock: is 5; must be 0" in result.stderr
