"""eth_getLogs served by the log index, on real node processes.

- Randomized logs, snapshots and reverts (rewinds): every address / topic query
  answers exactly what a brute-force scan of every block's receipts finds, on
  our node and, as the reference for the filter semantics, on anvil.
- A 50,000-block chain (written straight into the store: executing it would take
  minutes): a `fromBlock: 0` address query answers; an unfiltered one is refused
  by the block range limit and an address that logs in every block by the result
  limit, each with a message that names it.
- A data directory written before the index was complete is indexed when the
  node starts.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import plyvel
import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from openledger_node.execution.genesis import dev_private_keys
from openledger_node.execution.types import Log
from openledger_node.storage import log_index
from tests.conformance.endpoints import (
    ANVIL,
    ANVIL_MISSING,
    RpcClient,
    RpcFailure,
    anvil,
)
from tests.rpc.helpers import start_node
from tests.storage.synthetic import long_chain

KEY = dev_private_keys()[3]
SENDER = Account.from_key(KEY).address
TOPICS = ["0x" + (bytes([i]) * 32).hex() for i in range(1, 5)]
MANUAL = {"OPENLEDGER__SEQUENCER__ENABLED": "false"}


def _logger_code(topics: int) -> bytes:
    """Init code of a contract that logs LOG<topics>: topics from calldata words
    0..topics-1, data the word after them."""
    runtime = bytes([0x60, 32 * topics, 0x35, 0x60, 0x00, 0x52])  # mstore(0, calldataload(32 * topics))
    for i in reversed(range(topics)):
        runtime += bytes([0x60, 32 * i, 0x35])
    runtime += bytes([0x60, 0x20, 0x60, 0x00, 0xA0 + topics, 0x00])
    size = len(runtime)
    return bytes([0x60, size, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xF3]) + runtime


class Chain:
    """Sends from one dev account and mines on demand, on either node."""

    def __init__(self, client: RpcClient) -> None:
        self.c = client

    def send(self, to: str | None, data: bytes) -> None:
        nonce = int(self.c.call("eth_getTransactionCount", SENDER, "pending"), 16)
        tx = {"nonce": nonce, "gas": 200_000, "maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9,
              "chainId": int(self.c.call("eth_chainId"), 16), "data": data, "value": 0, "type": 2}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, KEY)
        self.c.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())

    def deploy_loggers(self) -> list[str]:
        nonce = int(self.c.call("eth_getTransactionCount", SENDER, "pending"), 16)
        addresses = []
        for topics in range(4):
            self.send(None, _logger_code(topics))
            created = keccak(rlp.encode([bytes.fromhex(SENDER[2:]), nonce + topics]))[12:]
            addresses.append("0x" + created.hex())
        self.c.call("evm_mine")
        return addresses


def _wildcard(wanted: Any) -> bool:
    return wanted is None or (isinstance(wanted, list) and (not wanted or None in wanted))


def _matches(entry: dict[str, Any], addresses: list[str] | None, topics: list[Any]) -> bool:
    if addresses and entry["address"].lower() not in [a.lower() for a in addresses]:
        return False
    while topics and _wildcard(topics[-1]):  # trailing wildcards ask nothing of the log (as anvil)
        topics = topics[:-1]
    if len(topics) > len(entry["topics"]):
        return False
    for wanted, got in zip(topics, entry["topics"]):
        if not _wildcard(wanted) and got not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    return True


def _brute_force(client: RpcClient, first: int, last: int, addresses: list[str] | None, topics: list[Any]) -> list:
    found = []
    for number in range(first, last + 1):
        for receipt in client.call("eth_getBlockReceipts", hex(number)):
            found.extend(entry for entry in receipt["logs"] if _matches(entry, addresses, topics))
    return found


def _random_criteria(rng: random.Random, loggers: list[str], head: int) -> tuple[dict[str, Any], int, int]:
    first = rng.choice([0, rng.randint(0, head)])
    last = rng.choice([head, rng.randint(first, head)])
    spec: dict[str, Any] = {"fromBlock": hex(first) if first or rng.random() < 0.5 else "earliest",
                            "toBlock": hex(last) if last < head or rng.random() < 0.5 else hex(head)}
    stranger = "0x" + "5e" * 20  # never logs
    if rng.random() < 0.6:
        chosen = rng.sample(loggers + [stranger], rng.randint(1, 3))
        spec["address"] = chosen[0] if len(chosen) == 1 and rng.random() < 0.5 else chosen
    topics: list[Any] = []
    for _ in range(rng.randint(0 if "address" in spec else 1, 4)):
        kind = rng.random()
        if kind < 0.25:
            topics.append(None)
        elif kind < 0.6:
            topics.append(rng.choice(TOPICS))
        elif kind < 0.9:
            topics.append(rng.sample(TOPICS, rng.randint(1, 3)))
        else:
            topics.append([rng.choice(TOPICS), None])  # null among alternatives matches anything
    if not any(t is not None for t in topics) and "address" not in spec:
        topics[0] = rng.choice(TOPICS)
    spec["topics"] = topics
    return spec, first, last


def _randomized_run(client: RpcClient, seed: int) -> int:
    """Random logging blocks with snapshots and reverts, then random queries
    compared with a scan of every block; returns how many logs they found."""
    rng = random.Random(seed)
    chain = Chain(client)
    loggers = chain.deploy_loggers()
    snapshots: list[str] = []
    reverts = 0
    for _ in range(40):
        roll = rng.random()
        if roll < 0.15:
            snapshots.append(client.call("evm_snapshot"))
        elif roll < 0.3 and snapshots:
            index = rng.randrange(len(snapshots))
            assert client.call("evm_revert", snapshots[index]) is True
            del snapshots[index:]  # a revert drops that snapshot and every later one
            reverts += 1
        for _ in range(rng.randint(0, 4)):
            count = rng.randrange(4)
            words = [bytes.fromhex(rng.choice(TOPICS)[2:]) for _ in range(count)] + [rng.randbytes(32)]
            chain.send(loggers[count], b"".join(words))
        client.call("evm_mine")
    assert reverts > 0
    head = int(client.call("eth_blockNumber"), 16)
    found = 0
    for _ in range(60):
        spec, first, last = _random_criteria(rng, loggers, head)
        addresses = spec.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        expected = _brute_force(client, first, last, addresses, spec["topics"])
        assert client.call("eth_getLogs", spec) == expected, spec
        found += len(expected)
    return found


def test_indexed_queries_match_a_scan_through_reverts(tmp_path: Path) -> None:
    node = start_node(tmp_path / "data", env=MANUAL)
    try:
        assert _randomized_run(RpcClient(node.http), seed=20) > 0
    finally:
        node.stop()


def test_the_brute_force_scan_is_what_anvil_answers(tmp_path: Path) -> None:
    if not ANVIL.exists():
        pytest.skip(ANVIL_MISSING)
    with anvil(tmp_path, block_time=3600) as reference:
        assert _randomized_run(reference.rpc, seed=20) > 0


def _impersonated_log(client: RpcClient) -> None:
    """The log of an impersonated transaction (no signature) names the hash the
    node gave that transaction."""
    logger = Chain(client).deploy_loggers()[1]
    whale = "0x" + "77" * 20
    client.call("anvil_setBalance", whale, hex(10**20))
    client.call("anvil_impersonateAccount", whale)
    tx_hash = client.call("eth_sendTransaction", {"from": whale, "to": logger, "gas": hex(100_000),
                                                  "data": TOPICS[0] + "00" * 32})
    client.call("evm_mine")
    assert client.call("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
    (entry,) = client.call("eth_getLogs", {"fromBlock": "0x0", "address": logger})
    assert entry["transactionHash"] == tx_hash and entry["topics"] == [TOPICS[0]]


def test_an_impersonated_transaction_log_carries_its_hash(tmp_path: Path) -> None:
    node = start_node(tmp_path / "data", env=MANUAL)
    try:
        _impersonated_log(RpcClient(node.http))
    finally:
        node.stop()
    if ANVIL.exists():
        with anvil(tmp_path, block_time=3600) as reference:
            _impersonated_log(reference.rpc)


# --- a long chain ------------------------------------------------------------------

RARE = b"\x0a" * 20  # logs in a handful of blocks
BUSY = b"\x0b" * 20  # logs in every block
RARE_TOPIC = b"\x0c" * 32
LENGTH = 50_000
RARE_BLOCKS = [2, 9_999, 25_000, 40_001, LENGTH + 1]


def _long_chain_logs(number: int) -> list[Log]:
    logs = [Log(BUSY, (), b"")]
    if number in RARE_BLOCKS:
        logs.append(Log(RARE, (RARE_TOPIC,), number.to_bytes(32, "big")))
    return logs


def _strip_index(data_dir: Path) -> None:
    """Make a data directory look as a node before the log index left it."""
    db = plyvel.DB(str(data_dir))
    db.delete(log_index.VERSION_KEY)
    with db.write_batch() as batch:
        for key in db.iterator(prefix=b"a", include_value=False):
            batch.delete(key)
    db.close()


def test_a_whole_chain_address_query_over_50000_blocks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    long_chain(data_dir, LENGTH, _long_chain_logs)
    node = start_node(data_dir, env={**MANUAL, "OPENLEDGER__RPC__LOGS_MAX_RESULTS": "1000"})
    try:
        client = RpcClient(node.http)
        head = int(client.call("eth_blockNumber"), 16)
        assert head == LENGTH + 1
        logs = client.call("eth_getLogs", {"fromBlock": "0x0", "address": "0x" + RARE.hex()})
        assert [int(entry["blockNumber"], 16) for entry in logs] == RARE_BLOCKS
        assert [int(entry["data"], 16) for entry in logs] == RARE_BLOCKS
        by_topic = client.call("eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest",
                                               "topics": [["0x" + RARE_TOPIC.hex(), "0x" + "dd" * 32]]})
        assert by_topic == logs
        both = client.call("eth_getLogs", {"fromBlock": hex(10_000), "address": ["0x" + RARE.hex(), "0x" + "ee" * 20],
                                           "topics": ["0x" + RARE_TOPIC.hex()]})
        assert both == logs[2:]
        with pytest.raises(RpcFailure) as refused:
            client.call("eth_getLogs", {"fromBlock": "0x0", "address": "0x" + BUSY.hex()})
        assert refused.value.error["code"] == -32005
        assert "query returned more than 1000 results" in refused.value.error["message"]
        with pytest.raises(RpcFailure) as refused:
            client.call("eth_getLogs", {"fromBlock": "0x0"})
        assert refused.value.error["code"] == -32005
        assert "max block range 10000 for a query with no address or topic" in refused.value.error["message"]
    finally:
        assert node.stop() == 0


def test_a_data_directory_from_before_the_index_is_indexed_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    long_chain(data_dir, 3_000, lambda n: [Log(RARE, (RARE_TOPIC,), b"")] if n % 1000 == 0 else [])
    _strip_index(data_dir)
    node = start_node(data_dir, env=MANUAL)
    try:
        logs = RpcClient(node.http).call("eth_getLogs", {"fromBlock": "0x0", "address": "0x" + RARE.hex()})
        assert [int(entry["blockNumber"], 16) for entry in logs] == [1000, 2000, 3000]
        assert "building the log index for blocks 0 to 3001" in node.log_text()
    finally:
        assert node.stop() == 0
