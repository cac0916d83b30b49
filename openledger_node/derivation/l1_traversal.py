"""L1 traversal: the L1 blocks the rollup builds on, past a confirmation depth.

The first stage of the derivation and the sequencer's view of L1 (op-node's
`l1_traversal`): it answers which L1 block is at a height once that block is
`confirmations` deep, and whether an L1 block an L2 block used as its origin is
still on the canonical L1 chain, so that a reorganisation of L1 is noticed. The
L1 itself is anything with `block(number_or_tag)` (an L1 node over JSON-RPC,
`bridge.L1Client`; an in-process chain in tests).
"""

from __future__ import annotations

from typing import Literal, Protocol

from openledger_node.exceptions import TemporaryError
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import Hash32


class L1BlockRef(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def hash(self) -> bytes: ...

    @property
    def parent_hash(self) -> bytes: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def base_fee(self) -> int | None: ...


class L1Source(Protocol):
    def block(self, at: int | Literal["latest"] = "latest") -> L1BlockRef | None: ...


def origin_of(block: L1BlockRef) -> L1Origin:
    return L1Origin(int(block.number), int(block.timestamp), int(block.base_fee or 0), Hash32(bytes(block.hash)))


class L1Traversal:
    """L1 blocks at least `confirmations` deep (0: the head itself)."""

    def __init__(self, source: L1Source, confirmations: int = 0) -> None:
        self.source = source
        self.confirmations = confirmations

    def latest(self) -> L1Origin:
        """The L1 head itself (not confirmed): its number and time."""
        latest = self.source.block("latest")
        if latest is None:
            raise TemporaryError("the L1 has no latest block")
        return origin_of(latest)

    def head(self) -> int:
        """The highest L1 block number this traversal hands out now."""
        latest = self.source.block("latest")
        return -1 if latest is None else int(latest.number) - self.confirmations

    def block(self, number: int) -> L1Origin | None:
        """The canonical L1 block at `number` once it is confirmed, else None (the
        `L1Blocks` interface of the sequencer's origin rule)."""
        if number > self.head():
            return None
        block = self.source.block(number)
        return None if block is None else origin_of(block)

    def is_canonical(self, origin: L1Origin) -> bool:
        """Whether `origin` is still the L1 block at its height."""
        block = self.source.block(origin.number)
        return block is not None and bytes(block.hash) == bytes(origin.hash)
