"""What the block builder needs from L1, as small interfaces.

`FollowL1` chooses each block's L1 origin from any source of L1 blocks (an L1
node over JSON-RPC, the in-process L1 of the actor tests) by op-node's rule.
Without an L1, `StaticL1Origin` keeps every block on the genesis L1 origin and
`NoDeposits` supplies none; `QueuedDeposits` takes deposits handed in directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from openledger_node.exceptions import TemporaryError
from openledger_node.execution.transactions import DepositTransaction
from openledger_node.execution.types import L1Origin


class L1OriginSource(Protocol):
    def next_origin(self, parent_origin: L1Origin, timestamp: int) -> L1Origin:
        """The L1 origin of the next L2 block: the parent's or a later L1 block
        whose timestamp is not after `timestamp`."""
        ...

    def is_canonical(self, origin: L1Origin) -> bool:
        """Whether `origin` is still the L1 block at its height (False after an L1
        reorganisation removed it)."""
        ...


class DepositSource(Protocol):
    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> Sequence[DepositTransaction]:
        """The user deposits the next L2 block must include, in order. An L1-backed
        source returns the deposits of `origin` when `epoch_start` (the block is the
        first with that origin) and none otherwise."""
        ...


class L1Blocks(Protocol):
    def block(self, number: int) -> L1Origin | None:
        """The L1 block at `number` on the chain being followed (already past the
        confirmation depth), or None when there is none yet."""
        ...

    def is_canonical(self, origin: L1Origin) -> bool: ...


class NextOriginUnknown(TemporaryError):
    """The L2 clock is past the sequencer drift and the next L1 block is not known."""

    def __init__(self, number: int, timestamp: int, drift: int) -> None:
        self.number = number
        self.timestamp = timestamp
        self.drift = drift
        super().__init__(
            f"L2 time {timestamp} is more than {drift}s past L1 origin {number}'s and "
            f"L1 block {number + 1} is not known yet"
        )


class FollowL1:
    """op-node's origin rule: stay on the parent's origin until the next L1 block
    is known and its timestamp is not after the L2 block's. The L2 time may run at
    most `max_sequencer_drift` seconds past the origin's while the next L1 block
    is unknown; past that the sequencer waits for L1 (a temporary error)."""

    def __init__(self, l1: L1Blocks, max_sequencer_drift: int = 600) -> None:
        self.l1 = l1
        self.max_sequencer_drift = max_sequencer_drift

    def next_origin(self, parent_origin: L1Origin, timestamp: int) -> L1Origin:
        following = self.l1.block(parent_origin.number + 1)
        if following is not None and following.timestamp <= timestamp:
            return following
        if following is None and timestamp > parent_origin.timestamp + self.max_sequencer_drift:
            raise NextOriginUnknown(parent_origin.number, timestamp, self.max_sequencer_drift)
        # Past the drift with the next L1 block still ahead in time the rule
        # allows staying: there is no other origin to take.
        return parent_origin

    def is_canonical(self, origin: L1Origin) -> bool:
        return self.l1.is_canonical(origin)


class StaticL1Origin:
    def next_origin(self, parent_origin: L1Origin, timestamp: int) -> L1Origin:
        return parent_origin

    def is_canonical(self, origin: L1Origin) -> bool:
        return True


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
