"""The batcher: sealed L2 blocks to L1, in batches with their output roots.

It takes the sealed unsafe blocks after the last one the batches on L1 cover,
in order, encodes them with the shared codec (`openledger_node.codec`), and
posts `submitBatch(batchIndex, firstBlock, lastBlock, outputRoot, data)`
through the rollup's L1 writer (the one transaction manager). A batch closes
when it reaches `max_batch_bytes`, when its oldest block is `max_age` seconds
old, or on shutdown (`flush`).

Restart-safe by construction: every step starts from what L1 says
(`nextBatchIndex` and the last batch's `lastBlock`), never from a local
counter, so a `kill -9` at any moment is followed by no gap and no duplicate;
a batch that lost a race to an earlier copy of itself reverts on L1 and the
next step reads L1 again. The `safe` head moves to a batch's last block once
its L1 transaction has its confirmations; `finalized` moves to the last block
of the last output L1 says is final. Both are persisted by the chain store.
When a challenge rolls outputs back on L1, the next step sees fewer blocks
covered: the safe head moves back with L1 and the blocks are posted again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from openledger_node.codec import block_entry, encode_batch
from openledger_node.exceptions import CriticalError
from openledger_node.execution.output import output_root
from openledger_node.execution.state import StateView
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.service import StepRunner
from openledger_node.storage import ChainStore

log = logging.getLogger("openledger.batcher")

# Compressed batches are rarely over a third of their transactions' bytes: a
# first guess of how many blocks fill a batch, corrected by encoding.
COMPRESSION_GUESS = 3


class Rollup(Protocol):
    """What the batcher needs of the rollup contract on L1."""

    def last_posted_block(self) -> tuple[int, int]:
        """(next batch index, last L2 block the posted batches cover)."""
        ...

    def finalized_output_count(self) -> int: ...

    def batch(self, index: int) -> Any: ...

    def submit_batch(self, index: int, first: int, last: int, output_root: bytes, data: bytes) -> Any:
        """Post a batch; returns once its L1 transaction is confirmed."""
        ...


@dataclass(frozen=True)
class BatcherConfig:
    max_batch_bytes: int = 100_000  # encoded batch, the calldata of one L1 transaction
    max_age: float = 60.0  # seconds from the oldest unposted block's timestamp
    poll_interval: float = 1.0


@dataclass(frozen=True)
class PostedRange:
    index: int
    first: int
    last: int
    data_bytes: int
    transactions: int


class Batcher:
    def __init__(
        self,
        store: ChainStore,
        rollup: Rollup,
        chain_id: int,
        config: BatcherConfig = BatcherConfig(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rollup = rollup
        self.chain_id = chain_id
        self.config = config
        self.clock = clock
        self.runner = StepRunner("batcher", log)
        self.posted: list[PostedRange] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    # --- one step ------------------------------------------------------------------

    def step(self, flush: bool = False) -> PostedRange | None:
        """Post the next batch if one is due (or any pending blocks with `flush`),
        then move the safe and finalized heads to what L1 says."""
        index, last_posted = self.rollup.last_posted_block()
        self._advance_safe(last_posted)
        head = int(self.store.head("unsafe").block_number)
        posted = None
        if last_posted > head:
            raise CriticalError(
                f"the batches on L1 cover L2 block {last_posted} but this node's chain ends at {head}: "
                "it is not the chain the rollup contract holds"
            )
        if last_posted < head:
            blocks = self._next_range(last_posted + 1, head, flush)
            if blocks is not None:
                first, last, data, transactions = blocks
                posted = self._post(index, first, last, data, transactions)
        self._advance_finalized()
        return posted

    def _next_range(self, first: int, head: int, flush: bool) -> tuple[int, int, bytes, int] | None:
        """The blocks of the next batch and its encoding, or None when no batch
        is due yet (under the size and younger than the age limit)."""
        budget = self.config.max_batch_bytes * COMPRESSION_GUESS
        entries = []
        size = 0
        for number in range(first, head + 1):
            stored = self.store.block_by_number(number)
            origin, _ = self.store.l1_origin(stored.header)
            entry = block_entry(
                number, int(stored.header.timestamp), origin.number, bytes(origin.hash),
                bytes(stored.header.parent_hash), stored.transactions,
            )
            entries.append(entry)
            size += sum(len(raw) for raw in entry.transactions) + 16
            if size >= budget:
                break
        data = encode_batch(entries, self.chain_id)
        while len(data) > self.config.max_batch_bytes and len(entries) > 1:
            entries = entries[: max(1, len(entries) * 3 // 4)]
            data = encode_batch(entries, self.chain_id)
        full = size >= budget or len(entries) < head - first + 1 or len(data) >= self.config.max_batch_bytes // 2
        oldest = int(self.store.header_by_number(first).timestamp)
        old = self.clock() - oldest >= self.config.max_age
        if not (full or old or flush):
            return None
        transactions = sum(len(entry.transactions) for entry in entries)
        return first, entries[-1].number, data, transactions

    def _post(self, index: int, first: int, last: int, data: bytes, transactions: int) -> PostedRange:
        header = self.store.header_by_number(last)
        state = StateView(self.store.state_db, bytes(header.state_root))
        root = output_root(
            bytes(header.state_root), bytes(state.storage_root(L2_TO_L1_MESSAGE_PASSER_ADDRESS)), bytes(header.hash)
        )
        started = time.monotonic()
        self.rollup.submit_batch(index, first, last, root, data)
        posted = PostedRange(index, first, last, len(data), transactions)
        self.posted.append(posted)
        log.info(
            "posted batch index=%d blocks=%d-%d txs=%d bytes=%d output=0x%s in %.2fs",
            index, first, last, transactions, len(data), root.hex(), time.monotonic() - started,
        )
        self._advance_safe(last)
        return posted

    def _advance_safe(self, last_posted: int) -> None:
        """The safe head: the last block a confirmed batch on L1 covers. It goes
        back when L1 does: a successful challenge deletes outputs (and the
        batches after it), whose blocks are then posted again."""
        safe = int(self.store.head("safe").block_number)
        if last_posted < safe:
            back_to = max(last_posted, int(self.store.head("finalized").block_number))
            log.warning("L1 holds batches up to block %d, the safe head was %d: outputs were rolled back, "
                        "posting again from block %d", last_posted, safe, last_posted + 1)
            self.store.set_head("safe", bytes(self.store.header_by_number(back_to).hash))
            return
        if last_posted == safe:
            return
        if last_posted > int(self.store.head("unsafe").block_number):
            return
        self.store.set_head("safe", bytes(self.store.header_by_number(last_posted).hash))

    def _advance_finalized(self) -> None:
        count = self.rollup.finalized_output_count()
        if count == 0:
            return
        last = int(self.rollup.batch(count - 1).last_block)
        if last > int(self.store.head("finalized").block_number) and last <= int(self.store.head("safe").block_number):
            self.store.set_head("finalized", bytes(self.store.header_by_number(last).hash))

    # --- the loop ------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the loop, then post what is left (the batch closes on shutdown).
        Safe to call more than once."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.failure is None:
            try:
                self.step(flush=True)
            except Exception as exc:  # the node is stopping: say so, do not raise
                log.warning("batcher could not post the last batch on shutdown: %s", exc)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.runner.run(self.step)
            except CriticalError as exc:
                self.failure = exc
                return
            self._stop.wait(delay or self.config.poll_interval)
