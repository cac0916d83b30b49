"""A validator as an operator runs it: `openledger-node validator` with an empty
data directory, the L1 endpoint and the deployment file. From L1 alone it
rebuilds the sequencer's chain block for block (same hashes, same state roots),
agrees with every posted output, serves the chain over JSON-RPC and forwards
transactions to the sequencer.
"""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

from openledger_node.execution.genesis import dev_private_keys
from tests.e2e.test_rollup_processes import deploy, l1_url, rollup_node  # noqa: F401  (fixture)
from tests.rpc.helpers import NodeProcess, start_node, wait_until

CHAIN_ID = 161299


def validator_node(tmp_path: Path, l1: str, deployment: Path, genesis: Path, sequencer: NodeProcess) -> NodeProcess:
    env = {
        "OPENLEDGER__L1__RPC_URL": l1,
        "OPENLEDGER__L1__DEPLOYMENT": str(deployment),
        "OPENLEDGER__L1__POLL_INTERVAL": "0.2",
        "OPENLEDGER__CHAIN__GENESIS": str(genesis),
        "OPENLEDGER__VALIDATOR__SEQUENCER_RPC": sequencer.http,
    }
    return start_node(tmp_path / "validator", env=env, command="validator")


def transfer(nonce: int) -> str:
    account = Account.from_key(dev_private_keys()[2])
    raw = account.sign_transaction({
        "type": 2, "chainId": CHAIN_ID, "nonce": nonce, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**8,
        "gas": 21_000, "to": "0x" + "71" * 20, "value": 10**15,
    }).raw_transaction
    return "0x" + bytes(raw).hex()


def test_a_fresh_validator_rebuilds_the_chain_from_l1(tmp_path: Path, l1_url: str) -> None:  # noqa: F811
    deployment, genesis = deploy(l1_url, tmp_path)
    sequencer = rollup_node(tmp_path, l1_url, deployment, genesis)
    validator = None
    try:
        for nonce in range(3):
            sequencer.rpc("eth_sendRawTransaction", transfer(nonce))
        wait_until(lambda: sequencer.rpc("openledger_syncStatus")["safe_l2"]["number"] >= 4, 60, "safe blocks")
        validator = validator_node(tmp_path, l1_url, deployment, genesis, sequencer)
        safe = sequencer.rpc("openledger_syncStatus")["safe_l2"]["number"]
        wait_until(lambda: validator.block_number() >= safe, 60, "the validator to derive the safe chain")
        for number in range(safe + 1):
            ours = validator.rpc("eth_getBlockByNumber", hex(number), False)
            theirs = sequencer.rpc("eth_getBlockByNumber", hex(number), False)
            assert (ours["hash"], ours["stateRoot"]) == (theirs["hash"], theirs["stateRoot"]), number
        # Everything it derived comes from L1: it is safe on the validator too.
        assert validator.rpc("eth_getBlockByNumber", "safe", False)["number"] == hex(validator.block_number())
        # A transaction sent to the validator reaches the sequencer.
        forwarded = validator.rpc("eth_sendRawTransaction", transfer(3))
        wait_until(lambda: sequencer.rpc("eth_getTransactionReceipt", forwarded), 30, "the forwarded transaction")
        failure = validator.error("eth_sendRawTransaction", transfer(0))  # nonce 0 is spent
        assert failure.code == -32000 and failure.message.startswith("nonce too low")
        assert "disagree" not in validator.log_text() and "is invalid" not in validator.log_text()
    finally:
        if validator is not None:
            assert validator.stop() == 0, validator.log_text()[-3000:]
        sequencer.stop()
