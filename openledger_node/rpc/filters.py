"""Polling filters: `eth_newFilter`, `eth_newBlockFilter`,
`eth_newPendingTransactionFilter`, polled with `eth_getFilterChanges`.

Each keeps its position and expires after five idle minutes, as in geth. Block
and log filters read the chain from their position on each poll; pending
transaction filters collect hashes from the pool's callback.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import FilterNotFound
from openledger_node.rpc.format import d
from openledger_node.rpc.logs import LogCriteria, LogQuery, log_criteria
from openledger_node.rpc.registry import Param, rpc

FILTER_TIMEOUT = 300.0


@dataclass
class _Filter:
    kind: str  # "logs" | "blocks" | "pending"
    last_block: int
    criteria: LogCriteria | None = None
    pending: list[str] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    unsubscribe: Callable[[], None] | None = None


class FilterApi:
    def __init__(self, backend: Backend, query: LogQuery) -> None:
        self.b = backend
        self.query = query
        self._filters: dict[str, _Filter] = {}
        self._lock = threading.Lock()

    def _install(self, flt: _Filter) -> str:
        filter_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._expire()
            self._filters[filter_id] = flt
        return filter_id

    def _expire(self) -> None:
        now = time.monotonic()
        for filter_id, flt in list(self._filters.items()):
            if now - flt.touched > FILTER_TIMEOUT:
                if flt.unsubscribe is not None:
                    flt.unsubscribe()
                del self._filters[filter_id]

    def _get(self, filter_id: str) -> _Filter:
        with self._lock:
            self._expire()
            flt = self._filters.get(filter_id.lower())
            if flt is None:
                raise FilterNotFound()
            flt.touched = time.monotonic()
            return flt

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
        flt = _Filter("pending", 0)

        def collect(tx_hash: bytes) -> None:
            with self._lock:
                if time.monotonic() - flt.touched > FILTER_TIMEOUT:
                    self._expire()  # nobody polls it: drop it rather than collect forever
                    return
                flt.pending.append(d(tx_hash))

        flt.unsubscribe = self.b.pool.subscribe(collect)
        return self._install(flt)

    @rpc("eth_getFilterChanges", Param("id", p.string), blocking=True)
    def get_filter_changes(self, filter_id: str) -> list[Any]:
        flt = self._get(filter_id)
        if flt.kind == "pending":
            with self._lock:
                out, flt.pending = flt.pending, []
            return out
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
            flt = self._filters.pop(filter_id.lower(), None)
        if flt is None:
            return False
        if flt.unsubscribe is not None:
            flt.unsubscribe()
        return True
