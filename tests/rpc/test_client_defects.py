"""What wallets and tools send and read, over HTTP, against our sequencer and
anvil (Foundry's reference node): the same assertion against both wherever anvil
has the behaviour.

- eth_call, eth_estimateGas and eth_createAccessList take any `nonce` (ethers,
  viem and web3.py fill in the pending one while earlier transactions wait);
- eth_feeHistory's block count as a JSON number, a decimal or a hex string
  (`cast rpc eth_feeHistory 4 latest []`);
- a fee cap below every base fee the chain can still have is refused at
  admission instead of holding its sender's later nonces forever;
- deposit transactions in op-geth's shape, which Foundry's `cast run` reads;
- no L1Block log in every block.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.endpoints import (
    ANVIL,
    ANVIL_MISSING,
    CAST,
    REPO,
    Endpoint,
    RpcClient,
    anvil,
    foundry_binary,
    openledger,
)
from tests.conformance.scenario import GWEI, address, contract_address, sign

pytestmark = [pytest.mark.skipif(not ANVIL.exists() or not CAST.exists(), reason=ANVIL_MISSING),
              pytest.mark.timeout(300)]

NAMES = ("anvil", "openledger")
BOTH = pytest.mark.parametrize("name", NAMES)
SINK = "0x" + "5e" * 20
L1_BLOCK = "0x4200000000000000000000000000000000000015"
DEPOSIT_TYPE = "0x7e"
# op-geth's RPCTransaction for a deposit (internal/ethapi newRPCTransaction), with
# geth's blockTimestamp; `mint` only when it mints, `isSystemTx` only when true.
OP_GETH_DEPOSIT_KEYS = {
    "blockHash", "blockNumber", "blockTimestamp", "transactionIndex", "hash", "type", "from", "to", "gas",
    "gasPrice", "value", "input", "nonce", "v", "r", "s", "sourceHash", "depositReceiptVersion",
}
# Init code that deploys its own address (ADDRESS PUSH0 MSTORE PUSH1 32 PUSH0 RETURN):
# eth_call of a creation answers the deployed code, so the CREATE address.
RETURNS_OWN_ADDRESS = "0x305f5260205ff3"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Endpoint]]:
    tmp: Path = tmp_path_factory.mktemp("client-defects")
    for name in NAMES:
        (tmp / name).mkdir()
    with anvil(tmp / "anvil") as ref, openledger(tmp / "openledger") as ours:
        yield {"anvil": ref, "openledger": ours}


def nonce_of(rpc: RpcClient, who: str, tag: str = "latest") -> int:
    return int(rpc.call("eth_getTransactionCount", who, tag), 16)


def cast(node: Endpoint, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run([str(foundry_binary("cast")), command, "--rpc-url", node.url, *rest], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


# --- simulations take any nonce ---------------------------------------------------------


@BOTH
def test_call_estimate_and_access_list_take_a_nonce_other_than_the_state_nonce(
    nodes: dict[str, Endpoint], name: str
) -> None:
    rpc = nodes[name].rpc
    sender = address(4)
    sent = rpc.call("eth_sendRawTransaction", sign(4, nonce=nonce_of(rpc, sender), to=SINK, value=1))
    rpc.wait_for_receipt(sent)
    state = nonce_of(rpc, sender)
    for nonce in (state + 1, state + 7, state - 1, state):  # pending, far ahead, behind, current
        request = {"from": sender, "to": SINK, "value": "0x1", "nonce": hex(nonce)}
        assert rpc.request("eth_call", request, "latest").get("result") == "0x", (nonce, name)
        assert rpc.request("eth_estimateGas", request, "latest").get("result") == hex(21_000), (nonce, name)
        listed = rpc.request("eth_createAccessList", request, "latest")
        assert listed.get("result") == {"accessList": [], "gasUsed": hex(21_000)}, (nonce, name, listed)


@BOTH
def test_wallet_estimates_the_next_transaction_before_the_first_is_mined(
    nodes: dict[str, Endpoint], name: str
) -> None:
    rpc = nodes[name].rpc
    sender = address(5)
    rpc.wait_for_next_block()  # a whole block time to send and estimate in
    first = rpc.call("eth_sendRawTransaction", sign(5, nonce=nonce_of(rpc, sender), to=SINK, value=1))
    pending = nonce_of(rpc, sender, "pending")
    request = {"from": sender, "to": SINK, "value": "0x1", "nonce": hex(pending)}
    assert rpc.request("eth_estimateGas", request).get("result") == hex(21_000), name
    second = rpc.call("eth_sendRawTransaction", sign(5, nonce=pending, to=SINK, value=1))
    for tx_hash in (first, second):
        assert rpc.wait_for_receipt(tx_hash)["status"] == "0x1"


@BOTH
def test_a_creation_with_a_nonce_takes_its_address_from_the_state_nonce(
    nodes: dict[str, Endpoint], name: str
) -> None:
    rpc = nodes[name].rpc
    sender = address(6)
    state = nonce_of(rpc, sender)
    for nonce in (state, state + 5):
        code = rpc.call("eth_call", {"from": sender, "data": RETURNS_OWN_ADDRESS, "nonce": hex(nonce)}, "latest")
        assert "0x" + code[-40:] == contract_address(sender, state), (name, nonce)


# --- eth_feeHistory's block count -------------------------------------------------------


@BOTH
def test_fee_history_block_count_as_number_decimal_or_hex(nodes: dict[str, Endpoint], name: str) -> None:
    rpc = nodes[name].rpc
    while rpc.wait_for_next_block() < 5:  # four whole blocks before the newest, run alone too
        pass
    newest = hex(int(rpc.call("eth_blockNumber"), 16) - 1)  # fixed, so every form sees the same blocks
    expected = rpc.call("eth_feeHistory", "0x4", newest, [50])
    assert len(expected["baseFeePerGas"]) == 5
    for count in (4, "4", "0x04"):
        assert rpc.call("eth_feeHistory", count, newest, [50]) == expected, (name, count)


@BOTH
def test_fee_history_block_count_refusals(nodes: dict[str, Endpoint], name: str) -> None:
    rpc = nodes[name].rpc
    for count in (4.5, -1, "abc", "1e2", True, 2**64):
        reply = rpc.request("eth_feeHistory", count, "latest", [])
        assert reply.get("error", {}).get("code") == -32602, (name, count, reply)


def test_fee_history_refusals_name_the_value_in_geths_words(nodes: dict[str, Endpoint]) -> None:
    rpc = nodes["openledger"].rpc
    for count, text in ((4.5, '"4.5"'), ("abc", '"abc"'), ("0x", '"0x"'), (2**64, '"18446744073709551616"')):
        error = rpc.request("eth_feeHistory", count, "latest", [])["error"]
        assert error == {"code": -32602, "message": f"invalid argument 0: invalid hex or decimal integer {text}"}


@BOTH
def test_cast_rpc_fee_history_with_a_plain_number(nodes: dict[str, Endpoint], name: str) -> None:
    while nodes[name].rpc.wait_for_next_block() < 4:  # four blocks to report, run alone too
        pass
    done = cast(nodes[name], "rpc", "eth_feeHistory", "4", "latest", "[]")
    assert done.returncode == 0, done.stderr
    history = json.loads(done.stdout)
    assert len(history["baseFeePerGas"]) == 5 and len(history["gasUsedRatio"]) == 4


# --- fee caps no block can take ---------------------------------------------------------


@BOTH
@pytest.mark.parametrize("fees", [{"maxFeePerGas": 6, "maxPriorityFeePerGas": 1}, {"type": 0, "gasPrice": 1}],
                         ids=["dynamic", "legacy"])
def test_a_fee_cap_below_every_reachable_base_fee_is_refused_and_holds_nothing_up(
    nodes: dict[str, Endpoint], name: str, fees: dict[str, Any]
) -> None:
    """Our base fee never falls below 8 wei (EIP-1559's denominator: every block
    holds its L1-info deposit); anvil refuses any fee cap below its base fee."""
    rpc = nodes[name].rpc
    key = 7 if fees.get("type") == 0 else 8
    sender = address(key)
    nonce = nonce_of(rpc, sender, "pending")
    reply = rpc.request("eth_sendRawTransaction", sign(key, nonce=nonce, to=SINK, value=1, **fees))
    message = reply.get("error", {}).get("message", "")
    assert message.startswith("max fee per gas less than block base fee"), (name, reply)
    if name == "openledger":  # geth's state-transition wording, in full
        assert message.startswith(f"max fee per gas less than block base fee: address {sender}, maxFeePerGas: ")
        assert reply["error"]["code"] == -32000
    assert nonce_of(rpc, sender, "pending") == nonce
    # The nonce is still free: the sender's next transaction is mined.
    sent = rpc.call("eth_sendRawTransaction", sign(key, nonce=nonce, to=SINK, value=2))
    assert rpc.wait_for_receipt(sent)["status"] == "0x1"


def test_a_fee_cap_the_base_fee_can_still_fall_to_waits_and_can_be_replaced(nodes: dict[str, Endpoint]) -> None:
    """geth's pool keeps it (anvil refuses it): quieter blocks lower the base fee
    to it; a replacement with +10% fees frees the nonce at once."""
    rpc = nodes["openledger"].rpc
    sender = address(9)
    block = rpc.call("eth_getBlockByNumber", "latest", False)
    base_fee = int(block["baseFeePerGas"], 16)
    if base_fee <= 20:
        pytest.skip(f"the base fee ({base_fee}) is already at its floor")
    nonce = nonce_of(rpc, sender, "pending")
    waiting = rpc.call("eth_sendRawTransaction", sign(9, nonce=nonce, to=SINK, value=1, maxFeePerGas=10,
                                                      maxPriorityFeePerGas=1))
    assert rpc.call("eth_getTransactionByHash", waiting)["blockNumber"] is None
    replacement = rpc.call("eth_sendRawTransaction", sign(9, nonce=nonce, to=SINK, value=1,
                                                          maxFeePerGas=100 * GWEI, maxPriorityFeePerGas=2))
    assert rpc.wait_for_receipt(replacement)["status"] == "0x1"
    assert rpc.call("eth_getTransactionByHash", waiting) is None


# --- deposits as op-geth shows them -----------------------------------------------------


def _block_with_deposit_and_transfer(rpc: RpcClient) -> tuple[dict[str, Any], str]:
    sender = address(3)
    sent = rpc.call("eth_sendRawTransaction", sign(3, nonce=nonce_of(rpc, sender, "pending"), to=SINK, value=1))
    receipt = rpc.wait_for_receipt(sent)
    return rpc.call("eth_getBlockByNumber", receipt["blockNumber"], True), sent


def test_deposit_transactions_have_op_geths_fields(nodes: dict[str, Endpoint]) -> None:
    rpc = nodes["openledger"].rpc
    block, _ = _block_with_deposit_and_transfer(rpc)
    deposit = block["transactions"][0]
    assert deposit["type"] == DEPOSIT_TYPE
    assert set(deposit) == OP_GETH_DEPOSIT_KEYS, set(deposit) ^ OP_GETH_DEPOSIT_KEYS
    assert (deposit["gasPrice"], deposit["v"], deposit["r"], deposit["s"]) == ("0x0",) * 4
    assert rpc.call("eth_getTransactionByHash", deposit["hash"]) == deposit


def test_cast_reads_a_deposit_transaction(nodes: dict[str, Endpoint]) -> None:
    node = nodes["openledger"]
    block, _ = _block_with_deposit_and_transfer(node.rpc)
    deposit = block["transactions"][0]
    done = cast(node, "tx", deposit["hash"], "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["type"], shown["sourceHash"], shown["hash"]) == (DEPOSIT_TYPE, deposit["sourceHash"], deposit["hash"])


def test_cast_run_replays_a_transaction_after_the_blocks_deposit(nodes: dict[str, Endpoint]) -> None:
    """Foundry reads deposits with op-alloy's types once the OP Stack network is
    on (`network = "optimism"` in foundry.toml, or FOUNDRY_NETWORK): it infers it
    from the chain id only for the OP chains it knows. op-alloy reads a present
    `isSystemTx` as a quantity, so op-geth's shape (no `"isSystemTx": false`) is
    what lets it parse the block."""
    node = nodes["openledger"]
    _, sent = _block_with_deposit_and_transfer(node.rpc)
    done = cast(node, "run", sent, env={"FOUNDRY_NETWORK": "optimism"})
    assert done.returncode == 0, done.stderr
    assert "Transaction successfully executed" in done.stdout
    assert "Gas used: 21000" in done.stdout


# --- no L1Block log in every block ------------------------------------------------------


@BOTH
def test_unfiltered_get_logs_holds_no_log_of_the_l1_info_deposit(nodes: dict[str, Endpoint], name: str) -> None:
    rpc = nodes[name].rpc
    rpc.wait_for_next_block()
    head = int(rpc.call("eth_blockNumber"), 16)
    logs = rpc.call("eth_getLogs", {"fromBlock": hex(max(head - 20, 0)), "toBlock": hex(head)})
    assert [log for log in logs if log["address"].lower() == L1_BLOCK] == []
    deposits = [r for r in rpc.call("eth_getBlockReceipts", hex(head)) if r["type"] == DEPOSIT_TYPE]
    if name == "openledger":  # anvil has no deposits
        assert [r["logs"] for r in deposits] == [[]]
