"""py-evm's `AtomicDatabaseAPI` over LevelDB (plyvel), and an in-memory overlay.

State trie nodes live under one key prefix of the node's single LevelDB. While a
block executes, py-evm writes into an `OverlayDB`; the chain store then writes the
overlay's contents together with the block in one LevelDB write batch, so a crash
leaves either the whole block or none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import plyvel
from eth.abc import AtomicWriteBatchAPI, DatabaseAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB
from lru import LRU

_DELETED = object()


class LevelDB(BaseAtomicDB):
    """A LevelDB namespace (`prefix`) seen through py-evm's database interface.

    Reads go through an LRU cache of `cache_size` entries: state trie nodes are
    keyed by their hash, so the hot upper levels of the trie are read from LevelDB
    once instead of on every account lookup. Writes and deletes through this
    object, or through `write_batch`, keep the cache in step.
    """

    def __init__(self, db: plyvel.DB, prefix: bytes = b"", sync: bool = False, cache_size: int = 0) -> None:
        self._db = db
        self._prefix = prefix
        self._sync = sync
        self._cache: LRU[bytes, bytes] | None = LRU(cache_size) if cache_size else None

    def __getitem__(self, key: bytes) -> bytes:
        cache = self._cache
        if cache is not None:
            cached = cache.get(key)
            if cached is not None:
                return cached
        value = self._db.get(self._prefix + key)
        if value is None:
            raise KeyError(key)
        value = bytes(value)
        if cache is not None:
            cache[key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(self._prefix + key, value, sync=self._sync)
        if self._cache is not None:
            self._cache[key] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(self._prefix + key) is None:
            raise KeyError(key)
        self._db.delete(self._prefix + key, sync=self._sync)
        self.forget(key)

    def _exists(self, key: bytes) -> bool:
        if self._cache is not None and key in self._cache:
            return True
        return self._db.get(self._prefix + key) is not None

    def forget(self, key: bytes) -> None:
        if self._cache is not None and key in self._cache:
            del self._cache[key]

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        overlay = OverlayDB(self)
        yield overlay  # type: ignore[misc]
        self.write_batch(overlay)

    def write_batch(self, overlay: OverlayDB, extra: Callable[[Any], None] | None = None) -> None:
        """Write an overlay's changes (and `extra` puts into the same batch) atomically."""
        with self._db.write_batch(sync=self._sync) as batch:
            overlay.write_to(batch, self._prefix)
            if extra is not None:
                extra(batch)
        for key in overlay.deleted_keys():
            self.forget(key)


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

    def deleted_keys(self) -> list[bytes]:
        return [key for key, value in self._changes.items() if value is _DELETED]

    def __len__(self) -> int:
        return len(self._changes)

    def clear(self) -> None:
        self._changes.clear()


__all__ = ["BaseDB", "LevelDB", "OverlayDB"]
