"""Crash-recovery harness: a real node process under load, killed with SIGKILL.

`python -m tests.e2e.crash worker DATA_DIR` runs a sequencer (interval mode, short
blocks) on DATA_DIR while the main thread signs transfers from the dev accounts
and adds them to the pool, printing `ACK <hash>` once each is accepted. The
parent (`kill_cycle`) kills it at a random instant, then checks what a restart
must find: a head block whose state is complete, a consistent chain and tx index,
and every acknowledged transaction either in a block or back in the pool.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_ACK = re.compile(r"ACK ([0-9a-f]{64})")


def worker(data_dir: Path, block_time: float) -> None:
    from eth_account import Account

    from openledger_node.config import load_config
    from openledger_node.execution.genesis import dev_private_keys
    from node import Node

    config = load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(REPO / "configs" / "genesis-devnet.json"), "block_time": block_time},
            "storage": {"data_dir": str(data_dir)},
        },
    )
    node = Node.open(config)
    node.start()
    accounts = [Account.from_key(k) for k in dev_private_keys()[:4]]
    nonces = {a.address: node.pool.pending_nonce(bytes.fromhex(a.address[2:])) for a in accounts}
    print("READY", flush=True)
    rng = random.Random(os.getpid())
    while True:
        account = rng.choice(accounts)
        raw = account.sign_transaction(
            {
                "type": 2,
                "chainId": config.chain.chain_id,
                "nonce": nonces[account.address],
                "maxFeePerGas": 5 * 10**9,
                "maxPriorityFeePerGas": 10**8,
                "gas": 21_000,
                "to": os.urandom(20),
                "value": rng.randrange(1, 10**15),
            }
        ).raw_transaction
        tx_hash = node.pool.add_raw(bytes(raw))
        nonces[account.address] += 1
        print("ACK", tx_hash.hex(), flush=True)
        if node.pool.status()[0] > 2000:
            time.sleep(0.05)


@dataclass
class KillReport:
    acked: int
    head: int
    recovered_in_chain: int
    recovered_in_pool: int
    reopen_seconds: float


def kill_cycle(data_dir: Path, rng: random.Random, *, min_wait: float = 0.5, max_wait: float = 2.5) -> KillReport:
    """Start a worker on `data_dir`, kill -9 it at a random moment, verify the data."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.crash", "worker", str(data_dir), "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip()
    if ready != "READY":
        proc.kill()
        raise AssertionError(f"worker did not start: {ready!r}")
    # Drain the pipe while the worker runs: a full pipe would block its prints and
    # with them the load.
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    time.sleep(rng.uniform(min_wait, max_wait))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    # A line cut by the kill was never fully delivered, so it does not count as an ack.
    acked = [bytes.fromhex(m.group(1)) for m in map(_ACK.fullmatch, (l.rstrip("\n") for l in lines)) if m]
    return verify(data_dir, acked)


def verify(data_dir: Path, acked: list[bytes]) -> KillReport:
    from trie import HexaryTrie
    from trie.iter import NodeIterator

    from openledger_node.config import load_config
    from node import Node
    from openledger_node.execution.transactions import decode_transaction

    started = time.perf_counter()
    config = load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(REPO / "configs" / "genesis-devnet.json")},
            "storage": {"data_dir": str(data_dir)},
        },
    )
    node = Node.open(config)
    reopen = time.perf_counter() - started
    try:
        store = node.store
        head = store.head("unsafe")
        # The head's state trie is complete: every node from the root down is present.
        account_trie = HexaryTrie(store.state_db, bytes(head.state_root))
        accounts = sum(1 for _ in NodeIterator(account_trie).keys())
        assert accounts > 10, "state trie of the head is incomplete"
        # The chain links up and the head block re-executes to the same state root.
        for number in range(max(1, head.block_number - 3), head.block_number + 1):
            block = store.block_by_number(number)
            parent = store.header_by_number(number - 1)
            assert block.header.parent_hash == parent.hash, f"block {number} does not link to its parent"
            for index, raw in enumerate(block.transactions):
                location = store.tx_location(decode_transaction(raw, recover_sender=False).hash)
                assert location is not None and location.index == index
        if head.block_number > 0:
            replay_head(node, head)
        in_chain = in_pool = 0
        for tx_hash in acked:
            if store.tx_location(tx_hash) is not None:
                in_chain += 1
            elif node.pool.contains(tx_hash):
                in_pool += 1
            else:
                raise AssertionError(f"acknowledged transaction 0x{tx_hash.hex()} was lost")
        return KillReport(len(acked), int(head.block_number), in_chain, in_pool, reopen)
    finally:
        node.stop()


def replay_head(node, head) -> None:  # type: ignore[no-untyped-def]
    """Re-execute the head block on its parent's state with the core's state
    transition, which checks every field and root."""
    from openledger_node.execution.block import Block, apply_block
    from openledger_node.execution.transactions import decode_transaction
    from openledger_node.storage import OverlayDB

    store = node.store
    stored = store.block_by_hash(bytes(head.hash))
    parent = store.parent_block(store.header_by_hash(bytes(head.parent_hash)))
    block = Block(head, tuple(decode_transaction(raw) for raw in stored.transactions))
    output = apply_block(node.rules, OverlayDB(store.state_db), parent, block)
    assert output.hash == bytes(head.hash), "re-executed head block differs from the stored one"


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "worker":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        worker(Path(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.05)
    else:
        sys.exit("usage: python -m tests.e2e.crash worker DATA_DIR [BLOCK_TIME]")
