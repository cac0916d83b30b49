"""Persistence: py-evm's database interface over LevelDB, and the chain store."""

from openledger_node.storage.chain import ChainStore, Heads, StoredBlock, TxLocation
from openledger_node.storage.leveldb import LevelDB, OverlayDB

__all__ = ["ChainStore", "Heads", "LevelDB", "OverlayDB", "StoredBlock", "TxLocation"]
