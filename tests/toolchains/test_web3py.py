"""web3.py against anvil and our node: deploy, call, events, a custom error, and
two transactions in flight from one sender; each assertion the same on both."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.middleware import SignAndSendRawMiddlewareBuilder

from tests.conformance.endpoints import CHAIN_ID, DEV_KEYS, REPO, Endpoint
from tests.toolchains.conftest import NODE, requires_node_modules, tool_env

pytestmark = [requires_node_modules, pytest.mark.timeout(300)]

ACCOUNT = Account.from_key(DEV_KEYS[2])


@pytest.fixture(scope="module")
def counter_artifact() -> dict[str, Any]:
    out = subprocess.run([str(NODE), str(Path(__file__).with_name("compile_counter.mjs"))], cwd=REPO,
                         capture_output=True, text=True, timeout=120, env=tool_env(), check=True).stdout
    artifact: dict[str, Any] = json.loads(out)
    return artifact


@pytest.fixture(scope="module")
def w3(chain: Endpoint) -> Web3:
    web3 = Web3(Web3.HTTPProvider(chain.url))
    web3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(ACCOUNT), layer=0)
    web3.eth.default_account = ACCOUNT.address
    return web3


@pytest.fixture(scope="module")
def counter(w3: Web3, counter_artifact: dict[str, Any]) -> Contract:
    factory = w3.eth.contract(abi=counter_artifact["abi"], bytecode=counter_artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(5).transact(), timeout=30)
    assert receipt["status"] == 1
    deployed = w3.eth.contract(address=receipt["contractAddress"], abi=counter_artifact["abi"])
    assert isinstance(deployed, Contract)
    return deployed


def test_web3_connects(w3: Web3) -> None:
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.eth.get_balance(Account.from_key(DEV_KEYS[9]).address) >= 10_000 * 10**18 - 10**18


def test_web3_deploys_and_calls(w3: Web3, counter: Contract, counter_artifact: dict[str, Any]) -> None:
    assert counter.functions.x().call() == 5
    assert counter.functions.owner().call() == ACCOUNT.address
    assert counter.functions.requirePositive(7).call() == 7
    assert len(w3.eth.get_code(counter.address)) > 0


def test_web3_events(w3: Web3, counter: Contract) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(counter.functions.incBy(4).transact(), timeout=30)
    assert receipt["status"] == 1
    (event,) = counter.events.Increment().process_receipt(receipt)
    assert event["args"]["by"] == ACCOUNT.address and event["args"]["amount"] == 4
    logs = counter.events.Increment().get_logs(from_block=receipt["blockNumber"], to_block=receipt["blockNumber"],
                                               argument_filters={"by": ACCOUNT.address})
    assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
    assert counter.functions.x().call(block_identifier=receipt["blockNumber"]) == 9
    assert counter.functions.x().call(block_identifier=receipt["blockNumber"] - 1) == 5


def test_web3_custom_error(counter: Contract) -> None:
    with pytest.raises(ContractCustomError) as raised:
        counter.functions.incBy(0).call()
    assert raised.value.data == "0x" + keccak(text="ZeroAmount()")[:4].hex()


def test_web3_two_transactions_in_flight(w3: Web3) -> None:
    sender = Account.from_key(DEV_KEYS[7])
    nonce = w3.eth.get_transaction_count(sender.address, "pending")
    fees = {"maxFeePerGas": w3.eth.gas_price * 2 + 10**9, "maxPriorityFeePerGas": 10**9}
    hashes = [
        w3.eth.send_raw_transaction(sender.sign_transaction({
            "to": ACCOUNT.address, "value": value, "gas": 21_000, "nonce": nonce + i, "chainId": CHAIN_ID, **fees,
        }).raw_transaction)
        for i, value in enumerate((1, 2))
    ]
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
    assert [r["status"] for r in receipts] == [1, 1]
    assert [w3.eth.get_transaction(h)["nonce"] for h in hashes] == [nonce, nonce + 1]
    assert w3.eth.get_transaction_count(sender.address, "latest") == nonce + 2
