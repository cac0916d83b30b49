"""Contract bindings: calldata checked against the ABI, return values, events and
custom errors decoded with the node's types, on contracts deployed to anvil
through the transaction manager."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from bridge.bindings import OPEN_TOKEN, PORTAL, ROLLUP, AbiError, Binding
from bridge.deploy import DeployConfig, L1Deployment, deploy_l1
from bridge.l1 import L1Client, Log
from bridge.txmgr import TxCandidate, TxManager, TxManagerConfig
from openledger_node.derivation.deposits import (
    TRANSACTION_DEPOSITED,
    decode_opaque_data,
)
from openledger_node.exceptions import ExecutionReverted
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.primitives import Address, BlockNumber, Hash32, addr
from tests.anvil import start_anvil, stop_anvil

KEY = dev_private_keys()[0]
OWNER = Address(bytes.fromhex(Account.from_key(KEY).address[2:]))
OPEN = 10**18
FAST = TxManagerConfig(receipt_poll_interval=0.02, send_timeout=30.0)


@dataclasses.dataclass(frozen=True)
class Env:
    client: L1Client
    txmgr: TxManager
    deployment: L1Deployment

    def call(self, binding: Binding, at: str, function: str, *args: object) -> object:
        return binding.decode_result(function, self.client.call(addr(at), binding.encode(function, *args)))

    def send(self, binding: Binding, at: str, function: str, *args: object) -> list[Log]:
        receipt = self.txmgr.send(TxCandidate(to=addr(at), data=binding.encode(function, *args)))
        return list(receipt.logs)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    process, url = start_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        client = L1Client(url)
        owner = "0x" + OWNER.hex()
        deployment = deploy_l1(client, KEY, DeployConfig(sequencer=owner, admin=owner, treasury=owner,
                                                         token_holder=owner), FAST)
        yield Env(client, TxManager(client, KEY, FAST), deployment)
    finally:
        stop_anvil(process)


def test_encode_checks_function_and_argument_count_reverts() -> None:
    with pytest.raises(AbiError, match=r"OpenLedgerRollup.submitBatch takes 5 arguments, got 2"):
        ROLLUP.encode("submitBatch", 0, 1)
    with pytest.raises(AbiError, match="has no function 'mint'"):
        OPEN_TOKEN.encode("mint", OWNER, 1)
    with pytest.raises(AbiError, match="OpenToken.transfer"):
        OPEN_TOKEN.encode("transfer", OWNER, -1)
    with pytest.raises(AbiError, match=r"missing \['maxDepositDataSize'\]"):
        PORTAL.encode_deploy(OWNER, OWNER, OWNER, {"maxDepositGasPerBlock": 1, "proofMaturityDelay": 2})


def test_encode_matches_the_solidity_selector_succeeds() -> None:
    data = OPEN_TOKEN.encode("transfer", OWNER, 5)
    assert data[:4] == keccak(b"transfer(address,uint256)")[:4]
    assert data[4:] == bytes(12) + OWNER + (5).to_bytes(32, "big")
    assert PORTAL.event("TransactionDeposited").topic == TRANSACTION_DEPOSITED
    assert ROLLUP.function("getBatch").outputs[0].type == "(bytes32,bytes32,uint64,uint64,uint64,uint64,address,uint64)"


def test_overloaded_function_is_chosen_by_argument_count_succeeds() -> None:
    abi = [{"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []},
           {"type": "function", "name": "f", "inputs": [], "outputs": []}]
    binding = Binding.from_abi("Overloads", abi)
    assert binding.encode("f") == keccak(b"f()")[:4]
    assert binding.encode("f", 1)[:4] == keccak(b"f(uint256)")[:4]
    with pytest.raises(AbiError, match="takes 1 or 0 arguments|takes 0 or 1 arguments"):
        binding.encode("f", 1, 2)


def test_views_decode_to_node_types_succeeds(env: Env) -> None:
    deployment = env.deployment
    assert env.call(OPEN_TOKEN, deployment.open_token, "symbol") == "OPEN"
    assert env.call(OPEN_TOKEN, deployment.open_token, "balanceOf", OWNER) == 1_000_000_000 * OPEN
    assert env.call(ROLLUP, deployment.rollup, "sequencer") == OWNER
    assert env.call(PORTAL, deployment.portal, "rollup") == addr(deployment.rollup)


def test_batch_submitted_event_and_struct_decode_succeeds(env: Env) -> None:
    rollup, token = env.deployment.rollup, env.deployment.open_token
    bond = env.call(ROLLUP, rollup, "minSequencerBond")
    env.send(OPEN_TOKEN, token, "approve", addr(rollup), bond)
    env.send(ROLLUP, rollup, "depositSequencerBond", bond)
    data, root = b"batch-0", Hash32(keccak(b"output"))
    logs = env.send(ROLLUP, rollup, "submitBatch", 0, 1, 10, root, data)
    (event,) = ROLLUP.decode_logs(logs, "BatchSubmitted")
    assert dict(event.args) == {"batchIndex": 0, "firstBlock": 1, "lastBlock": 10, "outputRoot": root,
                                "dataHash": keccak(data)}
    assert isinstance(event.log, Log) and event.log.address == addr(rollup)
    batch = env.call(ROLLUP, rollup, "getBatch", 0)
    assert isinstance(batch, dict)
    assert (batch["outputRoot"], batch["dataHash"], batch["firstBlock"], batch["lastBlock"], batch["proposer"]) == (
        root, keccak(data), 1, 10, OWNER)


def test_transaction_deposited_event_decodes_as_derivation_reads_it_succeeds(env: Env) -> None:
    portal, token = env.deployment.portal, env.deployment.open_token
    recipient = Address(b"\x11" * 20)
    env.send(OPEN_TOKEN, token, "approve", addr(portal), 3 * OPEN)
    logs = env.send(PORTAL, portal, "depositOPEN", recipient, 3 * OPEN, 100_000, b"\xca\xfe")
    (event,) = PORTAL.decode_logs(logs, "TransactionDeposited")
    assert (event.args["from"], event.args["to"], event.args["version"]) == (OWNER, recipient, 0)
    mint, value, gas_limit, is_creation, data = decode_opaque_data(event.args["opaqueData"])
    assert (mint, value, gas_limit, is_creation, data) == (3 * OPEN, 3 * OPEN, 100_000, False, b"\xca\xfe")
    # eth_getLogs by address and topic finds the same log.
    found = env.client.logs(from_block=0, to_block="latest", address=addr(portal),
                            topics=[PORTAL.event("TransactionDeposited").topic])
    assert [PORTAL.decode_log(log) for log in found] == [event]
    transfers = OPEN_TOKEN.decode_logs(logs, "Transfer")
    assert [(t.args["from"], t.args["to"], t.args["value"]) for t in transfers] == [(OWNER, addr(portal), 3 * OPEN)]


def test_custom_error_decodes_from_revert_data_reverts(env: Env) -> None:
    rollup = env.deployment.rollup
    stranger = Address(b"\x99" * 20)
    calldata = ROLLUP.encode("submitBatch", 7, 1, 10, Hash32(b"\x01" * 32), b"")
    with pytest.raises(ExecutionReverted) as caught:
        env.client.call(addr(rollup), calldata, sender=stranger)
    error = ROLLUP.decode_error(caught.value.data)
    assert error is not None and error.name == "NotSequencer" and dict(error.args) == {"caller": stranger}
    assert ROLLUP.decode_error(b"\xde\xad\xbe\xef") is None


def test_unknown_or_malformed_log_reverts() -> None:
    topic = ROLLUP.event("BatchSubmitted").topic
    unknown = Log(Address(bytes(20)), (Hash32(bytes(32)),), b"", BlockNumber(0), Hash32(bytes(32)), Hash32(bytes(32)), 0, 0)
    assert ROLLUP.decode_log(unknown) is None
    malformed = dataclasses.replace(unknown, topics=(topic,))  # batchIndex is indexed: one topic short
    with pytest.raises(AbiError, match="BatchSubmitted: 1 topics, expected 2"):
        ROLLUP.decode_log(malformed)
