"""Dev-mode controls of a block producer (the sequencer's builder, the L1
node's producer): the time the next block gets and going back in the chain,
as anvil's `evm_mine`, `evm_revert`, `evm_increaseTime` and
`evm_setNextBlockTimestamp` behave. The RPC's `DevControls` interface."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from openledger_node.storage import ChainStore


class DevClock:
    """Mixed into a block producer that has `clock`, `store`, `_lock` and
    `build_block(timestamp)`."""

    clock: Callable[[], float]
    store: ChainStore
    _lock: threading.Lock
    time_offset: int = 0
    next_timestamp: int | None = None

    def build_block(self, timestamp: int | None = None) -> Any:
        raise NotImplementedError

    def now(self, lead: float = 0.0) -> int:
        """The producer's clock, with the dev-mode offset; `lead` seconds ahead."""
        return int(self.clock() + lead) + self.time_offset

    @staticmethod
    def due(lead: float) -> float:
        """The time.monotonic() at which a block built `lead` seconds ahead of
        its time is due; `hold` waits for it before the block is stored, so
        that a block ready early appears on time, not early."""
        return time.monotonic() + lead

    @staticmethod
    def hold(due: float) -> float:
        """Wait until `due`; the seconds waited."""
        wait = due - time.monotonic()
        if wait <= 0:
            return 0.0
        time.sleep(wait)
        return wait

    def mine(self, timestamp: int | None) -> Any:
        return self.build_block(timestamp)

    def rewind(self, number: int) -> None:
        """Make block `number` the head again."""
        with self._lock:
            self.store.rewind(number)
            # As anvil's evm_revert: the clock goes back with the chain, so time
            # moved forward after the snapshot does not outlive it.
            head_time = int(self.store.head("unsafe").timestamp)
            self.time_offset = max(0, head_time - int(self.clock()))
            self.next_timestamp = None

    def increase_time(self, seconds: int) -> int:
        self.time_offset += seconds
        return self.time_offset

    def set_next_timestamp(self, timestamp: int) -> None:
        self.next_timestamp = timestamp
