"""Persistence: py-evm's database interface over LevelDB, and the chain store."""

from openledger_node.storage.chain import (
    BlockAdded,
    ChainEvent,
    ChainListener,
    ChainRewound,
    ChainStore,
    HeadMoved,
    Heads,
    StoredBlock,
    StoredTx,
    TxLocation,
)
from openledger_node.storage.leveldb import LevelDB, OverlayDB

__all__ = [
    "BlockAdded",
    "ChainEvent",
    "ChainListener",
    "ChainRewound",
    "ChainStore",
    "HeadMoved",
    "Heads",
    "LevelDB",
    "OverlayDB",
    "StoredBlock",
    "StoredTx",
    "TxLocation",
]
