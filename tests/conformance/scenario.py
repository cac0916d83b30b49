"""The conformance scenario: one fixed sequence of JSON-RPC requests, run the same
way against any endpoint, whose raw responses the suite then compares.

Every transaction is signed here with fixed fields (dev keys, nonces, fees, gas
limits), so the same transaction has the same hash on every endpoint and the
contract lands at the same address: results can be compared by value, not only
by shape. Fees are set well above both nodes' base fees and the tips strictly
decrease in submission order, so tip-ordering block builders (anvil's and ours)
put the batch in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from contracts import load_artifact
from tests.conformance.endpoints import CHAIN_ID, DEV_KEYS, RpcClient

GWEI = 10**9
TOKEN_SUPPLY = 1_000_000 * 10**18
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
# Fresh recipients of the value transfers: nothing else touches them, so their
# balances must be equal on every endpoint.
RECIPIENTS = {0: "0x" + "a0" * 20, 1: "0x" + "a1" * 20, 2: "0x" + "a2" * 20}
# A key with no funds on either chain (not one of the test-mnemonic accounts).
BROKE_KEY = "0x" + "42" * 32


def account(index: int) -> Any:
    return Account.from_key(DEV_KEYS[index])


def address(index: int) -> str:
    return str(account(index).address).lower()


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def word(value: int | str) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:]).rjust(32, b"\0")
    return value.to_bytes(32, "big")


def transfer_data(to: str, amount: int) -> str:
    return "0x" + (selector("transfer(address,uint256)") + word(to) + word(amount)).hex()


def balance_of_data(owner: str) -> str:
    return "0x" + (selector("balanceOf(address)") + word(owner)).hex()


def balance_slot(owner: str) -> str:
    """OpenZeppelin 5 ERC20: `_balances` is the first state variable (slot 0)."""
    return "0x" + keccak(word(owner) + word(0)).hex()


def sign(key_index: int | str, **fields: Any) -> str:
    """Raw signed transaction; `type` 0, 1 or 2 picks the fee fields."""
    tx: dict[str, Any] = {"chainId": CHAIN_ID, "gas": 21_000, "value": 0, "data": "0x", **fields}
    if tx.get("to"):
        tx["to"] = to_checksum_address(tx["to"])
    for entry in tx.get("accessList", []):
        entry["address"] = to_checksum_address(entry["address"])
    kind = tx.pop("type", 2)
    if kind == 2:
        tx.setdefault("maxFeePerGas", 100 * GWEI)
        tx.setdefault("maxPriorityFeePerGas", GWEI)
        tx["type"] = 2
    else:
        tx.setdefault("gasPrice", 10 * GWEI)
        if kind == 1:
            tx["type"] = 1
            tx.setdefault("accessList", [])
    key = DEV_KEYS[key_index] if isinstance(key_index, int) else key_index
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


@dataclass
class Sent:
    """One scenario transaction: what was sent and what the endpoint answered."""

    label: str
    raw: str
    hash: str = ""
    receipt: dict[str, Any] = field(default_factory=dict)
    by_hash: dict[str, Any] = field(default_factory=dict)
    by_index: dict[str, Any] = field(default_factory=dict)  # by block number and index
    by_block_hash_index: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """Everything the scenario read from one endpoint, as raw JSON-RPC responses."""

    name: str
    token: str = ""
    deploy: Sent | None = None
    batch: list[Sent] = field(default_factory=list)
    reads: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> full response
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> full response
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> block object
    block_receipts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "deploy"/"batch" -> receipts
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    protocol: dict[str, tuple[int, Any]] = field(default_factory=dict)  # label -> (HTTP status, body)

    @property
    def sent(self) -> list[Sent]:
        assert self.deploy is not None
        return [self.deploy, *self.batch]

    def tx(self, label: str) -> Sent:
        return next(s for s in self.sent if s.label == label)

    def block_of(self, sent: Sent) -> str:
        """The label ("deploy" or "batch") of the block that holds `sent`."""
        return "deploy" if sent is self.deploy else "batch"

    def result(self, label: str) -> Any:
        response = self.reads[label]
        assert "result" in response, f"{self.name}: {label} failed: {response}"
        return response["result"]


# The batch sent in one block, in the order a tip-ordering builder includes it.
def batch_transactions(token: str) -> list[tuple[str, str]]:
    return [
        ("token_transfer_a", sign(0, nonce=1, to=token, gas=100_000, data=transfer_data(address(4), 100 * 10**18),
                                  maxPriorityFeePerGas=6 * GWEI)),
        ("token_transfer_b", sign(0, nonce=2, to=token, gas=100_000, data=transfer_data(address(5), 50 * 10**18),
                                  maxPriorityFeePerGas=6 * GWEI)),
        ("value_type2", sign(3, nonce=0, to=RECIPIENTS[2], value=3 * 10**15, maxPriorityFeePerGas=3 * GWEI)),
        # dev 6 holds no tokens: mined, but reverts (status 0) with ERC20InsufficientBalance.
        ("token_transfer_reverts", sign(6, nonce=0, to=token, gas=100_000, data=transfer_data(address(7), 1),
                                        maxPriorityFeePerGas=2 * GWEI)),
        # Legacy and access-list transactions last: geth and we rank them by
        # gasPrice - baseFee (< 2 gwei here), anvil ranks them below every tip.
        ("value_type0", sign(1, type=0, nonce=0, to=RECIPIENTS[0], value=10**15, gasPrice=2 * GWEI)),
        ("value_type1", sign(2, type=1, nonce=0, to=RECIPIENTS[1], value=2 * 10**15, gas=30_000,
                             gasPrice=int(1.9 * GWEI),
                             accessList=[{"address": RECIPIENTS[1], "storageKeys": ["0x" + "00" * 31 + "01"]}])),
    ]


def contract_address(sender: str, nonce: int) -> str:
    """CREATE's address: keccak(rlp([sender, nonce]))[12:]."""
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


def run_scenario(name: str, rpc: RpcClient) -> Run:
    run = Run(name)
    artifact = load_artifact("TestToken")
    init = "0x" + (artifact.bytecode + word(TOKEN_SUPPLY)).hex()
    run.token = contract_address(address(0), 0)

    # --- chain and fee reads before any transaction -----------------------------
    rpc.wait_for_next_block()
    for label, method, params in [
        ("eth_chainId", "eth_chainId", []),
        ("net_version", "net_version", []),
        ("eth_gasPrice", "eth_gasPrice", []),
        ("eth_maxPriorityFeePerGas", "eth_maxPriorityFeePerGas", []),
        ("eth_syncing", "eth_syncing", []),
        ("eth_getBlockByNumber_genesis", "eth_getBlockByNumber", ["0x0", False]),
    ]:
        run.reads[label] = rpc.request(method, *params)

    # --- deploy ---------------------------------------------------------------------
    deploy = Sent("deploy", sign(0, nonce=0, to=None, gas=2_000_000, data=init))
    deploy.hash = rpc.call("eth_sendRawTransaction", deploy.raw)
    deploy.receipt = rpc.wait_for_receipt(deploy.hash)
    run.deploy = deploy

    # --- one block with token transfers, value transfers of each type, a revert --
    rpc.wait_for_next_block()
    pairs = batch_transactions(run.token)
    replies = rpc.batch([("eth_sendRawTransaction", [raw]) for _, raw in pairs])
    for (label, raw), reply in zip(pairs, replies):
        assert "result" in reply, f"{name}: sending {label} failed: {reply}"
        run.batch.append(Sent(label, raw, reply["result"]))
    for sent in run.batch:
        sent.receipt = rpc.wait_for_receipt(sent.hash)
    blocks = {sent.receipt["blockNumber"] for sent in run.batch}
    # The comparisons rely on one block holding the whole batch (sent right after a
    # block was sealed, with a whole block time to land).
    assert len(blocks) == 1, f"{name}: the batch was split over blocks {sorted(blocks)}"
    rpc.wait_for_next_block()  # the batch's block is no longer the head

    # --- transactions, blocks, receipts ------------------------------------------------
    for sent in run.sent:
        sent.by_hash = rpc.call("eth_getTransactionByHash", sent.hash)
        sent.by_index = rpc.call("eth_getTransactionByBlockNumberAndIndex", sent.receipt["blockNumber"],
                                 sent.receipt["transactionIndex"])
        sent.by_block_hash_index = rpc.call("eth_getTransactionByBlockHashAndIndex", sent.receipt["blockHash"],
                                            sent.receipt["transactionIndex"])
    batch_block = run.batch[0].receipt["blockNumber"]
    batch_hash = run.batch[0].receipt["blockHash"]
    run.blocks["deploy"] = rpc.call("eth_getBlockByNumber", deploy.receipt["blockNumber"], False)
    run.blocks["batch"] = rpc.call("eth_getBlockByNumber", batch_block, False)
    run.blocks["batch_full"] = rpc.call("eth_getBlockByNumber", batch_block, True)
    run.blocks["batch_by_hash"] = rpc.call("eth_getBlockByHash", batch_hash, False)
    run.blocks["latest"] = rpc.call("eth_getBlockByNumber", "latest", False)
    run.block_receipts["deploy"] = rpc.call("eth_getBlockReceipts", deploy.receipt["blockNumber"])
    run.block_receipts["batch"] = rpc.call("eth_getBlockReceipts", batch_block)
    head = int(rpc.call("eth_blockNumber"), 16)

    reads: list[tuple[str, str, list[Any]]] = [
        ("tx_count_by_number", "eth_getBlockTransactionCountByNumber", [batch_block]),
        ("tx_count_by_hash", "eth_getBlockTransactionCountByHash", [batch_hash]),
        ("uncle_count", "eth_getUncleCountByBlockNumber", [batch_block]),
        ("block_future", "eth_getBlockByNumber", [hex(head + 1000), False]),
        ("block_unknown_hash", "eth_getBlockByHash", ["0x" + "ab" * 32, False]),
        ("tx_unknown", "eth_getTransactionByHash", ["0x" + "ab" * 32]),
        ("receipt_unknown", "eth_getTransactionReceipt", ["0x" + "ab" * 32]),
        ("tx_index_out_of_range", "eth_getTransactionByBlockNumberAndIndex", [batch_block, "0x64"]),
        ("code_token", "eth_getCode", [run.token, "latest"]),
        ("code_eoa", "eth_getCode", [address(0), "latest"]),
        ("code_before_deploy", "eth_getCode", [run.token, "0x0"]),
        ("storage_balance_dev0", "eth_getStorageAt", [run.token, balance_slot(address(0)), "latest"]),
        ("storage_balance_dev4", "eth_getStorageAt", [run.token, balance_slot(address(4)), "latest"]),
        ("storage_total_supply", "eth_getStorageAt", [run.token, "0x2", "latest"]),
        ("storage_empty", "eth_getStorageAt", [run.token, "0x" + "ff" * 32, "latest"]),
        ("storage_at_deploy_block", "eth_getStorageAt", [run.token, "0x2", deploy.receipt["blockNumber"]]),
        ("balance_unused", "eth_getBalance", ["0x" + "a9" * 20, "latest"]),
        ("balance_dev9", "eth_getBalance", [address(9), "latest"]),
        ("balance_dev9_earliest", "eth_getBalance", [address(9), "earliest"]),
        ("balance_checksummed_param", "eth_getBalance", [str(account(9).address), "latest"]),
        ("balance_eip1898_hash", "eth_getBalance", [RECIPIENTS[0], {"blockHash": batch_hash}]),
        ("balance_eip1898_number", "eth_getBalance", [RECIPIENTS[0], {"blockNumber": batch_block}]),
        ("balance_before_batch", "eth_getBalance", [RECIPIENTS[0], hex(int(batch_block, 16) - 1)]),
        ("fee_history", "eth_feeHistory", ["0x4", "latest", [25, 75]]),
        ("fee_history_no_percentiles", "eth_feeHistory", ["0x2", "latest"]),
        ("logs_token", "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": run.token}]),
        ("logs_to_dev4", "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest",
                                          "topics": [TRANSFER_TOPIC, None, "0x" + word(address(4)).hex()]}]),
        ("logs_or_topics", "eth_getLogs", [{"fromBlock": batch_block, "toBlock": batch_block,
                                            "topics": [TRANSFER_TOPIC, None,
                                                       ["0x" + word(address(4)).hex(),
                                                        "0x" + word(address(5)).hex()]]}]),
        ("logs_block_hash", "eth_getLogs", [{"blockHash": batch_hash}]),
        ("logs_none", "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": RECIPIENTS[0]}]),
        ("future_block_balance", "eth_getBalance", [address(9), hex(head + 1000)]),
        ("logs_unknown_block_hash", "eth_getLogs", [{"blockHash": "0x" + "ab" * 32}]),
        ("logs_reversed_range", "eth_getLogs", [{"fromBlock": batch_block, "toBlock": "0x1"}]),
        ("block_receipts_future", "eth_getBlockReceipts", [hex(head + 1000)]),
        ("block_earliest", "eth_getBlockByNumber", ["earliest", False]),
        ("block_pending", "eth_getBlockByNumber", ["pending", False]),
        ("fee_history_zero", "eth_feeHistory", ["0x0", "latest", []]),
        ("tx_count_future", "eth_getBlockTransactionCountByNumber", [hex(head + 1000)]),
    ]
    for index in RECIPIENTS:
        reads.append((f"balance_recipient_{index}", "eth_getBalance", [RECIPIENTS[index], "latest"]))
        reads.append((f"balance_recipient_{index}_at_batch", "eth_getBalance", [RECIPIENTS[index], batch_block]))
    for index in range(10):
        reads.append((f"nonce_dev{index}", "eth_getTransactionCount", [address(index), "latest"]))
        reads.append((f"nonce_dev{index}_pending", "eth_getTransactionCount", [address(index), "pending"]))
    for label, method, params in reads:
        run.reads[label] = rpc.request(method, *params)
    run.logs = {k: run.result(k) for k in ("logs_token", "logs_to_dev4", "logs_or_topics", "logs_block_hash")}

    # --- simulation --------------------------------------------------------------------
    run.reads["call_balance_of"] = rpc.request(
        "eth_call", {"to": run.token, "data": balance_of_data(address(4))}, "latest")
    run.reads["call_balance_of_at_deploy"] = rpc.request(
        "eth_call", {"to": run.token, "data": balance_of_data(address(0))}, deploy.receipt["blockNumber"])
    run.reads["estimate_transfer"] = rpc.request(
        "eth_estimateGas", {"from": address(0), "to": run.token, "data": transfer_data(address(8), 1)})
    run.errors["execution_reverted_call"] = rpc.request(
        "eth_call", {"from": address(6), "to": run.token, "data": transfer_data(address(7), 1)}, "latest")
    run.errors["execution_reverted_estimate"] = rpc.request(
        "eth_estimateGas", {"from": address(6), "to": run.token, "data": transfer_data(address(7), 1)})

    # --- errors ------------------------------------------------------------------------
    run.errors.update(collect_errors(rpc))
    run.protocol = collect_protocol(rpc)
    return run


def collect_errors(rpc: RpcClient) -> dict[str, dict[str, Any]]:
    errors: dict[str, dict[str, Any]] = {}

    def send(label: str, raw: str) -> None:
        errors[label] = rpc.request("eth_sendRawTransaction", raw)

    errors["unknown_method"] = rpc.request("eth_doesNotExist")
    errors["invalid_params_address"] = rpc.request("eth_getBalance", "0x1234", "latest")
    errors["invalid_params_block_tag"] = rpc.request("eth_getBalance", address(0), "newest")
    errors["invalid_params_not_hex"] = rpc.request("eth_getBlockByNumber", "12", False)
    errors["invalid_params_raw_tx"] = rpc.request("eth_sendRawTransaction", "0xzz")
    send("nonce_too_low", sign(1, type=0, nonce=0, to=RECIPIENTS[0], value=1))
    send("insufficient_funds", sign(BROKE_KEY, nonce=0, to=RECIPIENTS[0], value=1))
    send("intrinsic_gas_too_low", sign(7, nonce=0, to=RECIPIENTS[0], value=1, gas=20_000))
    send("intrinsic_gas_too_low_create", sign(7, nonce=0, to=None, gas=21_000, data="0x6000"))
    send("wrong_chain_id", sign(7, nonce=0, to=RECIPIENTS[0], value=1, chainId=CHAIN_ID + 1))
    send("tip_above_fee_cap", sign(7, nonce=0, to=RECIPIENTS[0], value=1, maxFeePerGas=GWEI,
                                   maxPriorityFeePerGas=2 * GWEI))
    # A nonce gap keeps these in the pool's queue: no block can include them while
    # the replacement rules are tested, so the answers do not race the builder.
    queued = sign(8, nonce=5, to=RECIPIENTS[0], value=1)
    errors["queued_accepted"] = rpc.request("eth_sendRawTransaction", queued)
    if "result" in errors["queued_accepted"]:
        errors["queued_by_hash"] = rpc.request("eth_getTransactionByHash", errors["queued_accepted"]["result"])
    send("already_known", queued)
    send("replacement_underpriced", sign(8, nonce=5, to=RECIPIENTS[0], value=2))
    errors["replacement_accepted"] = rpc.request(
        "eth_sendRawTransaction",
        sign(8, nonce=5, to=RECIPIENTS[0], value=3, maxFeePerGas=200 * GWEI, maxPriorityFeePerGas=2 * GWEI))
    return errors


PROTOCOL_REQUESTS: dict[str, bytes] = {
    "parse_error": b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"',
    "empty_batch": b"[]",
    "no_method": b'{"jsonrpc": "2.0", "id": 1}',
    "named_params": b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {}}',
    "too_many_params": b'{"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": [1, 2]}',
    "batch": b'[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},'
             b' {"jsonrpc": "2.0", "id": "two", "method": "eth_doesNotExist"},'
             b' {"jsonrpc": "2.0", "id": 3, "method": "net_version", "params": []}]',
    "string_id": b'{"jsonrpc": "2.0", "id": "abc", "method": "eth_chainId", "params": []}',
}


def collect_protocol(rpc: RpcClient) -> dict[str, tuple[int, Any]]:
    """Answers to requests that are malformed as JSON-RPC rather than as parameters."""
    return {label: rpc.post_raw(body) for label, body in PROTOCOL_REQUESTS.items()}
