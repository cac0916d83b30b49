"""Dev accounts, node-side signing and impersonation, against anvil and our
node (the same assertions), and their absence on a network that is not dev."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3

from node import Node
from node.builder import dev_accounts
from openledger_node.config import load_config
from openledger_node.exceptions import InvalidSignature
from openledger_node.execution.genesis import DEV_ACCOUNTS, dev_private_keys
from openledger_node.execution.impersonation import build_impersonated
from sequencer.sources import StaticL1Origin
from tests.conformance.endpoints import CHAIN_ID, Endpoint, RpcFailure, foundry_binary
from tests.conftest import GENESIS_PATH
from tests.rpc.dev_nodes import KINDS, anvil_available, dev_node, each_node
from tests.rpc.helpers import start_node

KEYS = dev_private_keys()
ALICE, BOB = ("0x" + bytes(a).hex() for a in DEV_ACCOUNTS[:2])
STRANGER = "0x" + "5a" * 20

TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail", "version": "1", "chainId": CHAIN_ID,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}


@pytest.fixture(scope="module", params=KINDS)
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    yield from each_node(request, tmp_path_factory)


def error_of(chain: Endpoint, method: str, *params: Any) -> dict[str, Any]:
    reply = chain.rpc.request(method, *params)
    assert "error" in reply, f"{chain.name}: {method} answered {reply.get('result')!r}"
    return reply["error"]  # type: ignore[no-any-return]


def mined(chain: Endpoint, tx_hash: str) -> dict[str, Any]:
    """The receipt. Ours is asked for once, right after the send answered: its
    automine seals first. anvil mines on a task of its own, a moment later."""
    if chain.name == "anvil":
        return chain.rpc.wait_for_receipt(tx_hash, timeout=10)
    receipt = chain.rpc.call("eth_getTransactionReceipt", tx_hash)
    assert receipt is not None, f"{chain.name}: no receipt right after eth_sendTransaction"
    return receipt  # type: ignore[no-any-return]


def test_eth_accounts_lists_the_funded_dev_accounts(chain: Endpoint) -> None:
    accounts = chain.rpc.call("eth_accounts")
    assert accounts[:10] == ["0x" + bytes(a).hex() for a in DEV_ACCOUNTS]
    for account in accounts[:10]:
        assert int(chain.rpc.call("eth_getBalance", account, "latest"), 16) > 10**21


def test_send_transaction_fills_in_and_signs_with_the_dev_key(chain: Endpoint) -> None:
    rpc = chain.rpc
    before = int(rpc.call("eth_getBalance", BOB, "latest"), 16)
    nonce = int(rpc.call("eth_getTransactionCount", ALICE, "pending"), 16)
    tx_hash = rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": hex(12345)})
    receipt = mined(chain, tx_hash)
    assert receipt["status"] == "0x1" and receipt["from"] == ALICE
    tx = rpc.call("eth_getTransactionByHash", tx_hash)
    assert tx["type"] == "0x2" and int(tx["nonce"], 16) == nonce and int(tx["gas"], 16) == 21000
    assert int(tx["chainId"], 16) == CHAIN_ID
    assert int(rpc.call("eth_getBalance", BOB, "latest"), 16) == before + 12345
    # It is a real signature by the dev key: the raw bytes recover to it.
    raw = rpc.call("eth_getRawTransactionByHash", tx_hash)
    assert Account.recover_transaction(raw).lower() == ALICE
    if chain.name == "openledger":  # geth's default fee cap: twice the base fee plus the tip
        block = rpc.call("eth_getBlockByHash", receipt["blockHash"], False)
        assert int(tx["maxFeePerGas"], 16) == 2 * int(block["baseFeePerGas"], 16) + int(tx["maxPriorityFeePerGas"], 16)


@pytest.mark.parametrize(
    ("fields", "tx_type"),
    [
        ({"gasPrice": hex(3 * 10**9)}, "0x0"),
        ({"gasPrice": hex(3 * 10**9), "accessList": [{"address": BOB, "storageKeys": ["0x" + "00" * 32]}]}, "0x1"),
        ({"maxFeePerGas": hex(4 * 10**9), "maxPriorityFeePerGas": hex(10**9)}, "0x2"),
    ],
)
def test_send_transaction_takes_each_shape(chain: Endpoint, fields: dict[str, Any], tx_type: str) -> None:
    tx_hash = chain.rpc.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": "0x1", **fields})
    assert mined(chain, tx_hash)["status"] == "0x1"
    tx = chain.rpc.call("eth_getTransactionByHash", tx_hash)
    assert tx["type"] == tx_type
    for name, value in fields.items():
        if name != "accessList":
            assert int(tx[name], 16) == int(value, 16)
    if tx_type == "0x1":
        assert tx["accessList"] == [{"address": BOB, "storageKeys": ["0x" + "00" * 32]}]


def test_send_transaction_deploys_a_contract(chain: Endpoint) -> None:
    # Init code that returns the one-byte runtime code 0x00 (STOP).
    init = "0x600160" + "0c" + "60003960016000f3" + "00" + "00"
    tx_hash = chain.rpc.call("eth_sendTransaction", {"from": ALICE, "data": init})
    receipt = mined(chain, tx_hash)
    assert receipt["status"] == "0x1" and receipt["contractAddress"] is not None
    assert chain.rpc.call("eth_getCode", receipt["contractAddress"], "latest") == "0x00"


def test_an_account_the_node_holds_no_key_for_is_refused(chain: Endpoint) -> None:
    error = error_of(chain, "eth_sendTransaction", {"from": STRANGER, "to": BOB, "value": "0x1"})
    assert error["code"] in (-32000, -32602)
    if chain.name == "openledger":
        assert error == {"code": -32000, "message": "unknown account"}  # geth's keystore error
    assert error_of(chain, "eth_sign", STRANGER, "0x00")["code"] in (-32000, -32602)


def test_message_signatures_are_the_dev_keys(chain: Endpoint) -> None:
    message = b"hello openledger"
    expected = "0x" + bytes(Account.sign_message(encode_defunct(primitive=message), KEYS[0]).signature).hex()
    assert chain.rpc.call("eth_sign", ALICE, "0x" + message.hex()) == expected
    assert chain.rpc.call("personal_sign", "0x" + message.hex(), ALICE) == expected
    typed = "0x" + bytes(Account.sign_message(encode_typed_data(full_message=TYPED_DATA), KEYS[0]).signature).hex()
    assert chain.rpc.call("eth_signTypedData_v4", ALICE, TYPED_DATA) == typed
    assert chain.rpc.call("eth_signTypedData_v4", ALICE, json.dumps(TYPED_DATA)) == typed  # MetaMask's form


def test_sign_transaction_signs_without_sending(chain: Endpoint) -> None:
    rpc = chain.rpc
    nonce = rpc.call("eth_getTransactionCount", ALICE, "pending")
    raw = rpc.call("eth_signTransaction", {
        "from": ALICE, "to": BOB, "value": "0x7", "gas": hex(21000), "nonce": nonce,
        "maxFeePerGas": hex(5 * 10**9), "maxPriorityFeePerGas": hex(10**9),
    })
    assert Account.recover_transaction(raw).lower() == ALICE
    assert rpc.call("eth_getTransactionCount", ALICE, "pending") == nonce  # nothing was sent
    tx_hash = rpc.call("eth_sendRawTransaction", raw)
    assert tx_hash == "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    assert mined(chain, tx_hash)["status"] == "0x1"


def test_impersonated_sender_needs_no_key(chain: Endpoint) -> None:
    rpc = chain.rpc
    whale = "0x" + "77" * 20
    rpc.call("anvil_setBalance", whale, hex(10**20))
    assert error_of(chain, "eth_sendTransaction", {"from": whale, "to": BOB, "value": "0x1"})
    rpc.call("anvil_impersonateAccount", whale)
    assert whale in rpc.call("eth_accounts")  # anvil lists impersonated accounts too
    before = int(rpc.call("eth_getBalance", BOB, "latest"), 16)
    tx_hash = rpc.call("eth_sendTransaction", {"from": whale, "to": BOB, "value": hex(10**18)})
    receipt = mined(chain, tx_hash)
    assert receipt["status"] == "0x1" and receipt["from"] == whale
    assert int(rpc.call("eth_getBalance", BOB, "latest"), 16) == before + 10**18
    tx = rpc.call("eth_getTransactionByHash", tx_hash)
    assert tx["from"] == whale and tx["hash"] == tx_hash and int(tx["r"], 16) == 0 and int(tx["s"], 16) == 0
    block = rpc.call("eth_getBlockByHash", receipt["blockHash"], False)
    assert tx_hash in block["transactions"]
    # The unsigned bytes it carries are refused from the wire, on both nodes.
    raw = rpc.call("eth_getRawTransactionByHash", tx_hash)
    assert error_of(chain, "eth_sendRawTransaction", raw)
    rpc.call("anvil_stopImpersonatingAccount", whale)
    assert error_of(chain, "eth_sendTransaction", {"from": whale, "to": BOB, "value": "0x1"})
    # Hardhat's names do the same.
    assert rpc.call("hardhat_impersonateAccount", whale) is None
    assert mined(chain, rpc.call("eth_sendTransaction", {"from": whale, "to": BOB}))["status"] == "0x1"
    assert rpc.call("hardhat_stopImpersonatingAccount", whale) is None
    assert error_of(chain, "eth_sendTransaction", {"from": whale, "to": BOB, "value": "0x1"})
    rpc.call("anvil_autoImpersonateAccount", True)
    try:
        assert mined(chain, rpc.call("eth_sendTransaction", {"from": whale, "to": BOB}))["status"] == "0x1"
    finally:
        rpc.call("anvil_autoImpersonateAccount", False)


@pytest.mark.skipif(not anvil_available(), reason="anvil is not installed")
def test_impersonated_transaction_hashes_are_anvils(tmp_path: Path) -> None:
    """The same unsigned transaction has the same hash here and on anvil, and two
    senders of the same fields get different hashes."""
    hashes: dict[str, list[str]] = {}
    for kind in ("anvil", "openledger"):
        (tmp_path / kind).mkdir()
        with dev_node(kind, tmp_path / kind) as node:
            hashes[kind] = []
            for sender in ("0x" + "61" * 20, "0x" + "62" * 20):
                node.rpc.call("anvil_setBalance", sender, hex(10**20))
                node.rpc.call("anvil_impersonateAccount", sender)
                for fees in ({"gasPrice": hex(5 * 10**9)}, {"gasPrice": hex(5 * 10**9), "accessList": []},
                             {"maxFeePerGas": hex(5 * 10**9), "maxPriorityFeePerGas": hex(10**9)}):
                    nonce = node.rpc.call("eth_getTransactionCount", sender, "pending")
                    tx = {"from": sender, "to": BOB, "value": "0x2", "gas": hex(30000), "nonce": nonce,
                          "chainId": hex(CHAIN_ID), **fees}
                    hashes[kind].append(node.rpc.call("eth_sendTransaction", tx))
    assert hashes["openledger"] == hashes["anvil"]
    assert len(set(hashes["openledger"])) == 6


def test_non_dev_network_holds_no_keys(tmp_path: Path, write_genesis: Any) -> None:
    genesis = write_genesis({"0x" + "42" * 20: {"balance": hex(10**21)}})
    env = {"OPENLEDGER__CHAIN__NETWORK": "testnet", "OPENLEDGER__CHAIN__GENESIS": str(genesis)}
    testnet = start_node(tmp_path / "testnet", block_time=0.25, env=env, init=True)
    try:
        assert testnet.rpc("eth_accounts") == []
        for method, params in (
            ("eth_sendTransaction", [{"from": ALICE, "to": BOB}]), ("eth_signTransaction", [{"from": ALICE}]),
            ("eth_sign", [ALICE, "0x00"]), ("personal_sign", ["0x00", ALICE]),
            ("eth_signTypedData_v4", [ALICE, TYPED_DATA]), ("anvil_impersonateAccount", [ALICE]),
            ("anvil_autoImpersonateAccount", [True]),
        ):
            error = testnet.error(method, *params)
            assert error.code == -32601 and method in error.message and "dev mode" in error.message
    finally:
        assert testnet.stop() == 0, testnet.log_text()[-3000:]


def test_web3_and_ethers_style_clients_send_through_the_node(chain: Endpoint) -> None:
    """web3.py's `eth.send_transaction` (what ethers' JsonRpcSigner and viem's
    JSON-RPC accounts also call): the node fills in and signs."""
    w3 = Web3(HTTPProvider(chain.url))
    tx_hash = w3.eth.send_transaction({"from": to_checksum_address(ALICE), "to": to_checksum_address(BOB),
                                       "value": 5})
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1


def test_bad_transaction_objects_are_named(chain: Endpoint) -> None:
    if chain.name != "openledger":
        pytest.skip("our wording")
    for spec, words in (
        ({"from": ALICE, "to": BOB, "chainId": "0x1"}, "chainId does not match"),
        ({"from": ALICE, "to": BOB, "gasPrice": "0x1", "maxFeePerGas": "0x2"}, "both gasPrice and"),
        ({"from": ALICE, "to": BOB, "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"}, "maxFeePerGas (1) <"),
        ({"from": ALICE, "to": BOB, "type": "0x3"}, "transaction type 3"),
        ({"from": ALICE, "to": BOB, "bogus": 1}, "unknown field 'bogus'"),
    ):
        error = error_of(chain, "eth_sendTransaction", spec)
        assert error["code"] == -32602 and words in error["message"], (spec, error)
    with pytest.raises(RpcFailure):
        chain.rpc.call("eth_signTypedData_v4", ALICE, {"types": {}})


def test_impersonation_is_off_where_blocks_go_to_l1(tmp_path: Path) -> None:
    """A dev node that posts batches takes no impersonated transaction: its pool
    refuses them until a node that posts nothing turns them on."""
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH)}, "storage": {"data_dir": str(tmp_path / "data")},
        "sequencer": {"enabled": False},
    })
    node = Node.open(config)
    try:
        sender = bytes.fromhex("63" * 20)
        fields = {"type": 2, "nonce": 0, "gas": 21000, "to": sender, "value": 0, "data": b"",
                  "max_fee_per_gas": 10**10, "max_priority_fee_per_gas": 1, "access_list": ()}
        assert dev_accounts(config, node.pool, posts_batches=True).impersonation is False
        with pytest.raises(InvalidSignature, match="only on a dev network"):
            node.pool.add_impersonated(build_impersonated(fields, sender, CHAIN_ID))
        backend = node.rpc_backend()  # no batcher: impersonation on
        assert backend.accounts.impersonation is True and len(backend.accounts.keys) == 10
        funded = bytes(DEV_ACCOUNTS[3])
        tx = build_impersonated({**fields, "to": funded}, funded, CHAIN_ID)
        assert node.pool.add_impersonated(tx) == bytes(tx.hash)
        assert node.pool.get(bytes(tx.hash)).sender == funded
    finally:
        node.stop()


@pytest.mark.skipif(not anvil_available(), reason="Foundry is not installed")
@pytest.mark.parametrize("extra", [[], ["--legacy"]])
def test_cast_send_unlocked(chain: Endpoint, extra: list[str]) -> None:
    """Foundry's `cast send --unlocked`: the node fills in, signs and mines."""
    before = int(chain.rpc.call("eth_getBalance", BOB, "latest"), 16)
    result = subprocess.run(
        [str(foundry_binary("cast")), "send", "--unlocked", "--from", ALICE, BOB, "--value", "3", *extra,
         "--rpc-url", chain.url, "--json"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    receipt = json.loads(result.stdout)
    assert receipt["status"] == "0x1" and receipt["from"] == ALICE
    assert receipt["type"] == ("0x0" if extra else "0x2")
    assert int(chain.rpc.call("eth_getBalance", BOB, "latest"), 16) == before + 3


class ForgetsOneOrigin(StaticL1Origin):
    """The L1 origin of the head is reported gone once (an L1 reorganisation)."""

    def __init__(self) -> None:
        self.reorg = False

    def is_canonical(self, origin: Any) -> bool:
        if self.reorg:
            self.reorg = False
            return False
        return True


def test_an_impersonated_transaction_is_requeued_when_l1_reorganises(tmp_path: Path) -> None:
    """Blocks rebuilt after an L1 reorganisation take their transactions back
    from the pool: an impersonated one goes back with its stored sender."""
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH)}, "storage": {"data_dir": str(tmp_path / "data")},
        "sequencer": {"enabled": False},
    })
    node = Node.open(config)
    try:
        node.rpc_backend()  # a dev node without a batcher: impersonation on
        origins = ForgetsOneOrigin()
        node.builder.l1_origins = origins
        sender = bytes(DEV_ACCOUNTS[4])
        fields = {"type": 2, "nonce": node.pool.pending_nonce(sender), "gas": 21000, "to": bytes(DEV_ACCOUNTS[5]),
                  "value": 9, "data": b"", "max_fee_per_gas": 10**10, "max_priority_fee_per_gas": 1,
                  "access_list": ()}
        tx_hash = node.pool.add_impersonated(build_impersonated(fields, sender, CHAIN_ID))
        node.builder.build_block()
        first = node.store.tx_location(tx_hash)
        assert first is not None
        origins.reorg = True
        result = node.builder.build_block()  # rewinds, requeues, rebuilds
        again = node.store.tx_location(tx_hash)
        assert again is not None and again.block_hash == result.block.hash
        stored = node.store.transaction(tx_hash)
        assert stored is not None and stored.sender == sender
    finally:
        node.stop()
