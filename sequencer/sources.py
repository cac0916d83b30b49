"""What the block builder needs from L1, as small interfaces.

The bridge package implements these against a real L1 (deposit watcher, L1
traversal). Until a node is connected to L1, `StaticL1Origin` keeps every block on
the genesis L1 origin and `NoDeposits` supplies none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from openledger_node.execution.transactions import DepositTransaction
from openledger_node.execution.types import L1Origin


class L1OriginSource(Protocol):
    def next_origin(self, parent_origin: L1Origin, timestamp: int) -> L1Origin:
        """The L1 origin of the next L2 block: the parent's or a later L1 block
        whose timestamp is not after `timestamp`."""
        ...


class DepositSource(Protocol):
    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> Sequence[DepositTransaction]:
        """The user deposits the next L2 block must include, in order. An L1-backed
        source returns the deposits of `origin` when `epoch_start` (the block is the
        first with that origin) and none otherwise."""
        ...


class StaticL1Origin:
    def next_origin(self, parent_origin: L1Origin, timestamp: int) -> L1Origin:
        return parent_origin


class NoDeposits:
    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> Sequence[DepositTransaction]:
        return ()


class QueuedDeposits:
    """Deposits handed in by the caller (tests, dev tools), included in the next block."""

    def __init__(self) -> None:
        self._queue: list[DepositTransaction] = []

    def push(self, deposit: DepositTransaction) -> None:
        self._queue.append(deposit)

    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> Sequence[DepositTransaction]:
        due, self._queue = self._queue, []
        return due
