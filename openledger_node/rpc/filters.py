"""Polling filters: `eth_newFilter`, `eth_newBlockFilter`,
`eth_newPendingTransactionFilter`, polled with `eth_getFilterChanges`.

Each keeps its position and expires after five idle minutes, as in geth. Block
and log filters read the chain from their position on each poll; pending
transaction filters read one shared log of the pool's new hashes from their
position, so their memory is that one bounded log (`pending_buffer` hashes)
however many filters there are, and a filter polled too rarely loses the oldest.
At most `max_filters` are installed at once. Filters are kept in order of last
use, so installing one and expiring the idle ones cost O(1) each.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import FilterNotFound, LimitExceeded
from openledger_node.rpc.format import d
from openledger_node.rpc.logs import LogCriteria, LogQuery, log_criteria
from openledger_node.rpc.registry import Param, rpc

FILTER_TIMEOUT = 300.0


@dataclass
class _Filter:
    kind: str  # "logs" | "blocks" | "pending"
    last_block: int
    criteria: LogCriteria | None = None
    touched: float = field(default_factory=time.monotonic)


class FilterApi:
    def __init__(
        self, backend: Backend, query: LogQuery, max_filters: int = 10_000, pending_buffer: int = 65_536
    ) -> None:
        self.b = backend
        self.query = query
        self.max_filters = max_filters
        self._filters: OrderedDict[str, _Filter] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        # The pool's new hashes, numbered; a pending filter's last_block is the
        # number of the last hash it returned.
        self._pending: deque[tuple[int, bytes]] = deque(maxlen=pending_buffer)
        self._pending_count = 0
        self._unsubscribe = backend.pool.subscribe(self._on_pending)

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            self._pending_count += 1
            self._pending.append((self._pending_count, tx_hash))

    def _install(self, flt: _Filter) -> str:
        filter_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._expire()
            if len(self._filters) >= self.max_filters:
                raise LimitExceeded(
                    f"too many filters: limit is {self.max_filters}; uninstall unused ones or wait "
                    f"{FILTER_TIMEOUT:g} s for idle ones to expire"
                )
            self._filters[filter_id] = flt
        return filter_id

    def _expire(self) -> None:
        """Drop the filters idle for longer than the timeout: they are at the front."""
        now = time.monotonic()
        while self._filters:
            filter_id, flt = next(iter(self._filters.items()))
            if now - flt.touched <= FILTER_TIMEOUT:
                return
            del self._filters[filter_id]

    def _get(self, filter_id: str) -> _Filter:
        key = filter_id.lower()
        with self._lock:
            self._expire()
            flt = self._filters.get(key)
            if flt is None:
                raise FilterNotFound()
            flt.touched = time.monotonic()
            self._filters.move_to_end(key)
            return flt

    def close(self) -> None:
        self._unsubscribe()
        with self._lock:
            self._filters.clear()

    @rpc("eth_newFilter", Param("filter", log_criteria))
    def new_filter(self, criteria: LogCriteria) -> str:
        start = self.query.resolve_range(criteria)[0] if criteria.from_block is not None else None
        head = int(self.b.head().block_number)
        last = (start - 1) if start is not None else head
        return self._install(_Filter("logs", last, criteria))

    @rpc("eth_newBlockFilter")
    def new_block_filter(self) -> str:
        return self._install(_Filter("blocks", int(self.b.head().block_number)))

    @rpc("eth_newPendingTransactionFilter")
    def new_pending_filter(self) -> str:
        with self._lock:
            position = self._pending_count
        return self._install(_Filter("pending", position))

    @rpc("eth_getFilterChanges", Param("id", p.string), blocking=True)
    def get_filter_changes(self, filter_id: str) -> list[Any]:
        flt = self._get(filter_id)
        if flt.kind == "pending":
            with self._lock:
                first = self._pending[0][0] if self._pending else self._pending_count + 1
                skip = max(flt.last_block + 1 - first, 0)
                fresh = [tx_hash for _, tx_hash in itertools.islice(self._pending, skip, None)]
                flt.last_block = self._pending_count
            return [d(tx_hash) for tx_hash in fresh]
        head = int(self.b.head().block_number)
        if flt.kind == "blocks":
            with self._lock:
                first, flt.last_block = flt.last_block + 1, head
            return [d(self.b.chain.header_by_number(n).hash) for n in range(first, head + 1)]
        assert flt.criteria is not None
        to_block = flt.criteria.to_block
        last = head if to_block is None or to_block.number is None else min(head, to_block.number)
        with self._lock:
            first = flt.last_block + 1
            if first > last:
                flt.last_block = last  # below the old position after evm_revert
                return []
            # At most one query's range per poll; the next poll goes on from there, so
            # a filter far behind the head catches up without losing logs.
            end = min(last, first + self.query.max_block_range - 1)
            flt.last_block = end
        return self.query.logs_in_range(flt.criteria, first, end)

    @rpc("eth_getFilterLogs", Param("id", p.string), blocking=True)
    def get_filter_logs(self, filter_id: str) -> list[dict[str, Any]]:
        flt = self._get(filter_id)
        if flt.kind != "logs" or flt.criteria is None:
            raise FilterNotFound()
        return self.query.run(flt.criteria)

    @rpc("eth_uninstallFilter", Param("id", p.string))
    def uninstall_filter(self, filter_id: str) -> bool:
        with self._lock:
            return self._filters.pop(filter_id.lower(), None) is not None
