"""Long chains written straight into a chain store, for the log index tests and
the eth_getLogs bench: executing 50,000 blocks takes minutes, writing them takes
seconds.

`seed_chain` seals one real block with the node's builder (its L1-info deposit
gives every later block a valid L1 origin, so a node can go on building on top);
`append_blocks` then appends copies of it renumbered, each with the logs the
caller chooses in its one receipt, the header's bloom to match.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from openledger_node.config import NodeConfig, load_config
from openledger_node.execution.types import Log, logs_bloom
from openledger_node.storage import ChainStore, OverlayDB

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "devnet.toml"


def devnet_config(data_dir: Path) -> NodeConfig:
    return load_config(CONFIG, overrides={"storage": {"data_dir": data_dir}, "txpool": {"journal": False}})


def seed_chain(data_dir: Path, timestamp: int) -> None:
    """A devnet data directory holding genesis and one sealed block at `timestamp`."""
    from node.builder import Node

    node = Node.open(devnet_config(data_dir))
    try:
        node.builder.build_block(timestamp=timestamp)
    finally:
        node.stop()


def append_blocks(
    store: ChainStore, count: int, logs_of: Callable[[int], Sequence[Log]], spacing: int = 1
) -> None:
    """Append `count` blocks to the head, `spacing` seconds apart; block n carries `logs_of(n)`."""
    template = store.block_by_hash(bytes(store.head("unsafe").hash))
    receipt = store.receipts(template.hash)[0]
    raw, sender = template.transactions[0], template.senders[0]
    header = template.header
    empty = OverlayDB(store.state_db)
    for _ in range(count):
        number = int(header.block_number) + 1
        logs = tuple(logs_of(number))
        bloom = logs_bloom(logs)
        header = header.copy(
            block_number=number, parent_hash=header.hash, timestamp=int(header.timestamp) + spacing, bloom=bloom
        )
        store.write_block(
            header, (raw,), (sender,), (dataclasses.replace(receipt, logs=logs, bloom=bloom),), empty, tips=()
        )


def long_chain(data_dir: Path, count: int, logs_of: Callable[[int], Sequence[Log]]) -> None:
    """A devnet data directory with `count` + 1 blocks whose last is about now."""
    seed_chain(data_dir, int(time.time()) - count - 60)
    store = ChainStore(data_dir)
    try:
        append_blocks(store, count, logs_of)
    finally:
        store.close()
