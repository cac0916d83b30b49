"""Logs, filters and subscriptions.

`eth_getLogs` narrows the blocks to read with the chain store's log index (by
address and by topic) and then matches each log exactly. Polling filters
(`eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`) keep
their position and expire after five idle minutes, as in geth. Subscriptions
(`eth_subscribe`, WebSocket only) are fed by the block builder's listener and the
pool's pending-transaction callback, from their threads, through each
connection's thread-safe `notify`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openledger_node.execution.types import Log
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams, LimitExceeded, RpcError
from openledger_node.rpc.format import d, format_header, format_log, format_transaction
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.server import Connection

log = logging.getLogger("openledger.rpc")

FILTER_TIMEOUT = 300.0
MAX_TOPICS = 4
# geth's bounds on one criteria: each address and topic alternative costs an index scan.
MAX_ADDRESSES = 1000
MAX_SUB_TOPICS = 1000


class NotificationsUnsupported(RpcError):
    code = -32601

    def __init__(self) -> None:
        super().__init__("notifications not supported")


class UnknownBlock(RpcError):
    """geth's answer (-32000) for logs of a block hash it does not have."""

    def __init__(self) -> None:
        super().__init__("unknown block")


class FilterNotFound(RpcError):
    code = -32000

    def __init__(self) -> None:
        super().__init__("filter not found")


@dataclass(frozen=True)
class LogCriteria:
    from_block: BlockId | None
    to_block: BlockId | None
    block_hash: bytes | None
    addresses: frozenset[bytes]
    topics: tuple[frozenset[bytes] | None, ...]

    def matches(self, log: Log) -> bool:
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(wanted is None or log.topics[i] in wanted for i, wanted in enumerate(self.topics))


def _topic_entry(value: Any) -> frozenset[bytes] | None:
    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            return None
        if len(value) > MAX_SUB_TOPICS:
            raise ParamError(f"exceed max sub topics: {len(value)}, at most {MAX_SUB_TOPICS}")
        if any(v is None for v in value):
            return None  # null among alternatives matches anything
        return frozenset(p.hash32(v) for v in value)
    return frozenset([p.hash32(value)])


def log_criteria(value: Any) -> LogCriteria:
    spec = p.obj(value)
    unknown = set(spec) - {"fromBlock", "toBlock", "blockHash", "address", "topics"}
    if unknown:
        raise ParamError(f"unknown field {sorted(unknown)[0]!r} in filter")
    block_hash = p.optional(p.hash32)(spec.get("blockHash"))
    if block_hash is not None and (spec.get("fromBlock") is not None or spec.get("toBlock") is not None):
        raise ParamError("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
    raw_address = spec.get("address")
    if raw_address is None:
        addresses: frozenset[bytes] = frozenset()
    elif isinstance(raw_address, list):
        if len(raw_address) > MAX_ADDRESSES:
            raise ParamError(f"exceed max addresses: {len(raw_address)}, at most {MAX_ADDRESSES}")
        addresses = frozenset(p.address(a) for a in raw_address)
    else:
        addresses = frozenset([p.address(raw_address)])
    raw_topics = spec.get("topics") or []
    if not isinstance(raw_topics, list):
        raise ParamError("topics must be an array")
    if len(raw_topics) > MAX_TOPICS:
        raise ParamError(f"too many topics: {len(raw_topics)}, at most {MAX_TOPICS}")
    topics = tuple(_topic_entry(t) for t in raw_topics)
    while topics and topics[-1] is None:
        topics = topics[:-1]
    return LogCriteria(
        from_block=p.optional(p.block_number_or_tag)(spec.get("fromBlock")),
        to_block=p.optional(p.block_number_or_tag)(spec.get("toBlock")),
        block_hash=block_hash,
        addresses=addresses,
        topics=topics,
    )


class LogQuery:
    """Runs a log criteria over a block range with the chain store's indexes."""

    def __init__(self, backend: Backend, max_block_range: int, max_results: int) -> None:
        self.b = backend
        self.max_block_range = max_block_range
        self.max_results = max_results

    def _number(self, block: BlockId | None, default: str) -> int:
        header = self.b.header(block or BlockId(tag=default))
        if header is None:
            # A block beyond the head: geth clamps the range end to the head.
            return int(self.b.head().block_number) if block and block.number is not None else 0
        return int(header.block_number)

    def resolve_range(self, criteria: LogCriteria) -> tuple[int, int]:
        first = self._number(criteria.from_block, "latest")
        last = self._number(criteria.to_block, "latest")
        if criteria.from_block is not None and criteria.from_block.number is not None:
            first = criteria.from_block.number
        return first, last

    def run(self, criteria: LogCriteria) -> list[dict[str, Any]]:
        if criteria.block_hash is not None:
            header = self.b.header(BlockId(block_hash=criteria.block_hash))  # type: ignore[arg-type]
            if header is None:
                raise UnknownBlock()
            return self.logs_in_range(criteria, int(header.block_number), int(header.block_number), header)
        first, last = self.resolve_range(criteria)
        if first > last:
            raise InvalidParams(f"invalid block range params: fromBlock {first} is after toBlock {last}")
        if last - first + 1 > self.max_block_range:
            raise LimitExceeded(
                f"query exceeds max block range {self.max_block_range} "
                f"(asked for {last - first + 1} blocks, {first} to {last})"
            )
        return self.logs_in_range(criteria, first, last)

    def candidate_blocks(self, criteria: LogCriteria, first: int, last: int) -> list[int]:
        store = self.b.store
        sets: list[set[int]] = []
        if criteria.addresses:
            sets.append({n for a in criteria.addresses for n in store.log_block_numbers(a, first, last)})
        for wanted in criteria.topics:
            if wanted is not None:
                sets.append({n for t in wanted for n in store.log_block_numbers(t, first, last)})
        if not sets:
            return [
                n for n in range(first, last + 1)
                if (h := store.canonical_hash(n)) is not None and store.header_by_hash(h).bloom
            ]
        return sorted(set.intersection(*sets))

    def logs_in_range(self, criteria: LogCriteria, first: int, last: int, header: Any = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        numbers = [first] if header is not None else self.candidate_blocks(criteria, first, last)
        for number in numbers:
            block_header = header if header is not None else self.b.store.header_by_number(number)
            out.extend(self.block_logs(criteria, block_header))
            if len(out) > self.max_results:
                raise LimitExceeded(
                    f"query returned more than {self.max_results} results; narrow the block range or filter"
                )
        return out

    def block_logs(self, criteria: LogCriteria, header: Any) -> list[dict[str, Any]]:
        block = self.b.store.block_by_hash(bytes(header.hash))
        receipts = self.b.store.receipts(bytes(header.hash))
        out: list[dict[str, Any]] = []
        log_index = 0
        for tx_index, receipt in enumerate(receipts):
            for log in receipt.logs:
                if criteria.matches(log):
                    tx_hash = _hash_of(block.transactions[tx_index])
                    out.append(format_log(log, header, tx_hash, tx_index, log_index))
                log_index += 1
        return out


def _hash_of(raw: bytes) -> bytes:
    from eth_hash.auto import keccak

    return bytes(keccak(raw))


@dataclass
class _Filter:
    kind: str  # "logs" | "blocks" | "pending"
    last_block: int
    criteria: LogCriteria | None = None
    pending: list[str] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    unsubscribe: Callable[[], None] | None = None


class FilterApi:
    def __init__(self, backend: Backend, query: LogQuery, max_subscriptions: int) -> None:
        self.b = backend
        self.query = query
        self.max_subscriptions = max_subscriptions
        self._filters: dict[str, _Filter] = {}
        self._subs: dict[str, tuple[Connection, str, Any]] = {}
        self._lock = threading.Lock()
        backend.builder.on_block(self._on_block)
        backend.pool.subscribe(self._on_pending)

    # --- logs ------------------------------------------------------------------------

    @rpc("eth_getLogs", Param("filter", log_criteria), blocking=True)
    def get_logs(self, criteria: LogCriteria) -> list[dict[str, Any]]:
        return self.query.run(criteria)

    # --- polling filters --------------------------------------------------------------

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
            return [d(self.b.store.header_by_number(n).hash) for n in range(first, head + 1)]
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

    # --- subscriptions -------------------------------------------------------------

    @rpc("eth_subscribe", Param("kind", p.string), Param("options", p.any_value, None), connection=True)
    def subscribe(self, connection: Connection | None, kind: str, options: Any) -> str:
        if connection is None:
            raise NotificationsUnsupported()
        if kind == "newHeads":
            arg: Any = None
        elif kind == "logs":
            try:
                arg = log_criteria(options or {})
            except ParamError as exc:
                raise InvalidParams(f"invalid argument 1: {exc}") from None
        elif kind == "newPendingTransactions":
            arg = bool(options) if isinstance(options, bool) else False
        else:
            raise InvalidParams(f"no \"{kind}\" subscription in eth namespace")
        if len(connection.subscriptions) >= self.max_subscriptions:
            raise LimitExceeded(
                f"too many subscriptions on this connection: limit is {self.max_subscriptions}"
            )
        sub_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._subs[sub_id] = (connection, kind, arg)
        connection.subscriptions[sub_id] = lambda: self._drop(sub_id)
        return sub_id

    def _drop(self, sub_id: str) -> None:
        with self._lock:
            self._subs.pop(sub_id, None)

    @rpc("eth_unsubscribe", Param("id", p.string), connection=True)
    def unsubscribe(self, connection: Connection | None, sub_id: str) -> bool:
        if connection is None:
            raise NotificationsUnsupported()
        unsubscribe = connection.subscriptions.pop(sub_id.lower(), None)
        if unsubscribe is None:
            return False
        unsubscribe()
        return True

    def _on_block(self, result: Any) -> None:
        """Runs on the thread that sealed the block (the sequencer or evm_mine): it
        must not raise, or a stored block would look like a failed one."""
        with self._lock:
            subs = list(self._subs.items())
        if not subs:
            return
        header = result.block.header
        head_json = None
        for sub_id, (connection, kind, arg) in subs:
            try:
                if kind == "newHeads":
                    if head_json is None:
                        head_json = format_header(header)
                    connection.notify(sub_id, head_json)
                elif kind == "logs":
                    self._notify_logs(connection, sub_id, arg, result.block, header)
            except Exception:
                log.exception("notifying subscription %s of block %d failed", sub_id, header.block_number)

    @staticmethod
    def _notify_logs(connection: Connection, sub_id: str, criteria: LogCriteria, block: Any, header: Any) -> None:
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(zip(block.transactions, block.receipts)):
            for entry in receipt.logs:
                if criteria.matches(entry):
                    connection.notify(sub_id, format_log(entry, header, bytes(tx.hash), tx_index, log_index))
                log_index += 1

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            subs = [(s, c, a) for s, (c, k, a) in self._subs.items() if k == "newPendingTransactions"]
        for sub_id, connection, full in subs:
            if full:
                tx = self.b.pool.get(tx_hash)
                if tx is not None:
                    connection.notify(sub_id, format_transaction(tx))
            else:
                connection.notify(sub_id, d(tx_hash))
