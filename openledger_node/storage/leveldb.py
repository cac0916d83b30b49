"""py-evm's `AtomicDatabaseAPI` over LevelDB (plyvel), and an in-memory overlay.

State trie nodes live under one key prefix of the node's single LevelDB. While a
block executes, py-evm writes into an `OverlayDB`; the chain store then writes the
overlay's contents together with the block in one LevelDB write batch, so a crash
leaves either the whole block or none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import plyvel
from eth.abc import AtomicWriteBatchAPI, DatabaseAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB

_DELETED = object()


class LevelDB(BaseAtomicDB):
    """A LevelDB namespace (`prefix`) seen through py-evm's database interface."""

    def __init__(self, db: plyvel.DB, prefix: bytes = b"", sync: bool = False) -> None:
        self._db = db
        self._prefix = prefix
        self._sync = sync

    def __getitem__(self, key: bytes) -> bytes:
        value = self._db.get(self._prefix + key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(self._prefix + key, value, sync=self._sync)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(self._prefix + key) is None:
            raise KeyError(key)
        self._db.delete(self._prefix + key, sync=self._sync)

    def _exists(self, key: bytes) -> bool:
        return self._db.get(self._prefix + key) is not None

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        overlay = OverlayDB(self)
        yield overlay  # type: ignore[misc]
        with self._db.write_batch(sync=self._sync) as batch:
            overlay.write_to(batch, self._prefix)


class OverlayDB(BaseAtomicDB):
    """Buffers writes in memory over a base database until `write_to` flushes them."""

    def __init__(self, base: DatabaseAPI) -> None:
        self._base = base
        self._changes: dict[bytes, Any] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self._changes.get(key)
        if value is None:
            return self._base[key]
        if value is _DELETED:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._changes[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        value = self._changes.get(key)
        if value is None:
            return key in self._base
        return value is not _DELETED

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        inner = OverlayDB(self)
        yield inner  # type: ignore[misc]
        self._changes.update(inner._changes)

    def write_to(self, batch: Any, prefix: bytes) -> None:
        """Write the buffered changes into a plyvel write batch under `prefix`."""
        for key, value in self._changes.items():
            if value is _DELETED:
                batch.delete(prefix + key)
            else:
                batch.put(prefix + key, value)

    def __len__(self) -> int:
        return len(self._changes)

    def clear(self) -> None:
        self._changes.clear()


__all__ = ["BaseDB", "LevelDB", "OverlayDB"]
