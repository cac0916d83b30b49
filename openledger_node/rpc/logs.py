"""`eth_getLogs` and the log query engine that filters and subscriptions share.

A query with an address or a topic narrows the blocks to read with the chain
store's log index (storage/log_index.py) and then matches each log of those
blocks exactly, so it costs what it finds, not the length of its range: like
geth, it has no block range limit. A query with neither reads every block of
its range that has logs, so only it is bounded by `logs_max_block_range`. The
result count is bounded for every query (`logs_max_results`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from openledger_node.execution.impersonation import stored_tx_hash
from openledger_node.execution.types import Log
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams, LimitExceeded, UnknownBlock
from openledger_node.rpc.format import format_log
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc

MAX_TOPICS = 4
# geth's bounds on one criteria: each address and topic alternative costs an index scan.
MAX_ADDRESSES = 1000
MAX_SUB_TOPICS = 1000


@dataclass(frozen=True)
class LogCriteria:
    from_block: BlockId | None
    to_block: BlockId | None
    block_hash: bytes | None
    addresses: frozenset[bytes]
    topics: tuple[frozenset[bytes] | None, ...]

    @property
    def filtered(self) -> bool:
        """Whether the query names an address or a topic (the log index can serve it)."""
        return bool(self.addresses) or any(wanted is not None for wanted in self.topics)

    def index_groups(self) -> list[frozenset[bytes]]:
        """The log index lookups, ANDed: the addresses, then each topic position's alternatives."""
        groups = [self.addresses] if self.addresses else []
        groups.extend(wanted for wanted in self.topics if wanted is not None)
        return groups

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
        if not criteria.filtered and last - first + 1 > self.max_block_range:
            raise LimitExceeded(
                f"query exceeds max block range {self.max_block_range} for a query with no address "
                f"or topic (asked for {last - first + 1} blocks, {first} to {last}); filter by "
                f"address or topic, or narrow the range"
            )
        return self.logs_in_range(criteria, first, last)

    def candidate_blocks(self, criteria: LogCriteria, first: int, last: int) -> Iterator[int]:
        """The blocks that may hold a matching log, ascending, read lazily so that
        a query stops reading the index once it has too many results."""
        store = self.b.chain
        if criteria.filtered:
            return store.log_blocks(criteria.index_groups(), first, last)
        return (
            n for n in range(first, last + 1)
            if (h := store.canonical_hash(n)) is not None and store.header_by_hash(h).bloom
        )

    def logs_in_range(self, criteria: LogCriteria, first: int, last: int, header: Any = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        numbers = [first] if header is not None else self.candidate_blocks(criteria, first, last)
        for number in numbers:
            if header is not None:
                block_header = header
            else:
                block_hash = self.b.chain.canonical_hash(number)
                if block_hash is None:  # rewound while the query ran
                    continue
                block_header = self.b.chain.header_by_hash(block_hash)
            out.extend(self.block_logs(criteria, block_header))
            if len(out) > self.max_results:
                raise LimitExceeded(
                    f"query returned more than {self.max_results} results; narrow the block range or filter"
                )
        return out

    def block_logs(self, criteria: LogCriteria, header: Any) -> list[dict[str, Any]]:
        receipts = self.b.chain.receipts(bytes(header.hash))
        block = None  # read only for a block with a matching log: the index's candidates may have none
        out: list[dict[str, Any]] = []
        log_index = 0
        for tx_index, receipt in enumerate(receipts):
            for log in receipt.logs:
                if criteria.matches(log):
                    if block is None:
                        block = self.b.chain.block_by_hash(bytes(header.hash))
                    tx_hash = bytes(stored_tx_hash(block.transactions[tx_index], block.senders[tx_index]))
                    out.append(format_log(log, header, tx_hash, tx_index, log_index))
                log_index += 1
        return out



class LogsApi:
    def __init__(self, query: LogQuery) -> None:
        self.query = query

    @rpc("eth_getLogs", Param("filter", log_criteria), blocking=True)
    def get_logs(self, criteria: LogCriteria) -> list[dict[str, Any]]:
        return self.query.run(criteria)
