"""The batcher under `kill -9`: a rollup sequencer process posting to an L1 is
killed at random moments and restarted on the same data directory, again and
again. After the last clean stop, the batches on L1 cover the chain from block
1 to the head with no gap and no block twice, and each batch's data (read back
from the L1 transaction, checked against the stored hash) decodes to exactly
the chain's blocks. The default run kills it 3 times; `-m slow` 20 times.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest
from eth_abi.abi import decode
from eth_hash.auto import keccak

from bridge.bindings import ROLLUP
from bridge.deploy import load_deployment
from bridge.l1 import L1Client
from openledger_node.codec import decode_batch
from openledger_node.primitives import addr
from openledger_node.storage import ChainStore
from tests.e2e.test_rollup_processes import deploy, l1_url, rollup_node  # noqa: F401  (fixture)
from tests.rpc.helpers import NodeProcess

CHAIN_ID = 161299


def kill_cycles(tmp_path: Path, url: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    deployment_path, genesis = deploy(url, tmp_path)
    deployment = load_deployment(deployment_path)
    for _ in range(kills):
        node = rollup_node(tmp_path, url, deployment_path, genesis)
        node.wait_for_block(node.block_number() + rng.randint(1, 8), timeout=60)
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(30)
    node = rollup_node(tmp_path, url, deployment_path, genesis)
    head = node.wait_for_block(node.block_number() + 2, timeout=60)
    code = node.stop()  # a clean stop posts the rest
    assert code == 0, node.log_text()[-3000:]
    check_l1_covers_chain(node, url, deployment.rollup)
    assert head > 0


def check_l1_covers_chain(node: NodeProcess, url: str, rollup: str) -> None:
    client = L1Client(url)
    topic = ROLLUP.event("BatchSubmitted").topic
    logs = client.logs(from_block=0, to_block="latest", address=addr(rollup), topics=[topic])
    events = [ROLLUP.decode_log(log) for log in logs]
    assert [e.args["batchIndex"] for e in events if e is not None] == list(range(len(events)))
    store = ChainStore(node.data_dir, create=False)  # the stopped node's chain, read offline
    try:
        expected_first = 1
        for log, event in zip(logs, events, strict=True):
            assert event is not None
            first, last = event.args["firstBlock"], event.args["lastBlock"]
            assert first == expected_first, f"gap or overlap at batch {event.args['batchIndex']}"
            tx = client.request("eth_getTransactionByHash", ["0x" + bytes(log.transaction_hash).hex()])
            _, _, _, _, data = decode(["uint256", "uint64", "uint64", "bytes32", "bytes"], bytes.fromhex(tx["input"][10:]))
            assert keccak(data) == event.args["dataHash"]
            batch = decode_batch(bytes(data), CHAIN_ID)
            for block in batch.blocks:
                stored = store.block_by_number(block.number)
                assert block.timestamp == stored.header.timestamp
                assert list(block.transactions) == [raw for raw in stored.transactions if raw[:1] != b"\x7e"]
            expected_first = last + 1
        assert expected_first - 1 == int(store.head("unsafe").block_number)
    finally:
        store.close()


def test_batcher_survives_kills(tmp_path: Path, l1_url: str) -> None:  # noqa: F811
    kill_cycles(tmp_path, l1_url, kills=3, seed=1)


@pytest.mark.slow
def test_batcher_survives_kill_sweep(tmp_path: Path, l1_url: str) -> None:  # noqa: F811
    kill_cycles(tmp_path, l1_url, kills=20, seed=2)
