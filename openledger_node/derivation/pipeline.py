"""The derivation pipeline: the L2 chain from L1 alone, wired in one place.

    L1 traversal -> batches (posted, checked against their hash, decoded)
        -> attributes (origin, time and deposit rules; L1-info and deposits
           from L1) -> execution (the core's executor) -> chain store

Each step derives the next posted batch: its blocks are built from their
attributes exactly as the sequencer built them (`begin_block`, the epoch's
deposits, the batch's transactions, any invalid one making the batch invalid),
stored, and the output root at the batch's last block is compared with the one
the sequencer posted. A batch that breaks a rule is not applied: nothing of it
enters the store, and the verdict says why. Derived blocks are final enough to
be `safe`: they come from L1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from openledger_node.codec import BatchBlock, check_links
from openledger_node.exceptions import BatchDecodeError, InvalidTransaction
from openledger_node.execution.block import begin_block
from openledger_node.execution.env import ChainRules
from openledger_node.execution.output import output_root
from openledger_node.derivation.attributes import Deposits, InvalidBatch, L1Blocks, block_attributes
from openledger_node.derivation.batches import BatchSource, PostedBatch, decode_posted
from openledger_node.execution.state import StateView
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.storage import ChainStore, OverlayDB

log = logging.getLogger("openledger.derivation")


class L1Head(L1Blocks, Protocol):
    def head(self) -> int: ...

    def latest(self) -> L1Origin: ...


@dataclass(frozen=True)
class Verdict:
    """What derivation made of one posted batch."""

    index: int
    first_block: int
    last_block: int
    posted_root: bytes
    derived_root: bytes | None  # None: the batch was invalid, no block of it applied
    reason: str = ""

    @property
    def agrees(self) -> bool:
        return self.derived_root is not None and self.derived_root == self.posted_root


class Derivation:
    def __init__(
        self,
        rules: ChainRules,
        store: ChainStore,
        l1: L1Head,
        batches: BatchSource,
        deposits: Deposits,
        max_sequencer_drift: int,
        start_l1_block: int,
    ) -> None:
        self.rules = rules
        self.store = store
        self.l1 = l1
        self.batches = batches
        self.deposits = deposits
        self.max_sequencer_drift = max_sequencer_drift
        self._start = start_l1_block
        self._scanned = start_l1_block - 1  # the last L1 block whose batches are queued
        self._queue: list[PostedBatch] = []
        self.verdicts: list[Verdict] = []
        self.halted: Verdict | None = None  # set by an invalid batch: the chain cannot go on past it

    def restart(self) -> None:
        """Read L1 again from the start (after an L1 reorganisation); batches the
        chain already holds are skipped."""
        self._queue.clear()
        self._scanned = self._start - 1
        self.halted = None

    def output_root_at(self, number: int) -> bytes:
        header = self.store.header_by_number(number)
        state = StateView(self.store.state_db, bytes(header.state_root))
        return bytes(output_root(
            bytes(header.state_root), bytes(state.storage_root(L2_TO_L1_MESSAGE_PASSER_ADDRESS)), bytes(header.hash)
        ))

    def _fill(self) -> None:
        head = self.l1.head()
        if head > self._scanned:
            self._queue.extend(self.batches.posted_batches(self._scanned + 1, head))
            self._scanned = head

    def pending(self) -> Sequence[PostedBatch]:
        self._fill()
        return tuple(self._queue)

    def step(self) -> Verdict | None:
        """Derive the next posted batch, if L1 has one; its verdict, or None."""
        if self.halted is not None:
            return None
        self._fill()
        head = int(self.store.head("unsafe").block_number)
        while self._queue and self._queue[0].last_block <= head:
            self._queue.pop(0)  # derived before a restart
        if not self._queue:
            return None
        posted = self._queue.pop(0)
        if posted.first_block != head + 1:
            verdict = self._verdict(posted, None, f"starts at block {posted.first_block}, the chain is at {head}")
        else:
            verdict = self._derive(posted)
        self.verdicts.append(verdict)
        if verdict.derived_root is None:
            self.halted = verdict
            log.error("batch %d is invalid: %s", posted.index, verdict.reason)
        elif not verdict.agrees:
            log.error(
                "batch %d: output root at block %d is 0x%s, the sequencer posted 0x%s",
                posted.index, posted.last_block, verdict.derived_root.hex(), bytes(posted.output_root).hex(),
            )
        else:
            log.info("derived batch %d: blocks %d-%d agree with the posted output", posted.index,
                     posted.first_block, posted.last_block)
        return verdict

    @staticmethod
    def _verdict(posted: PostedBatch, root: bytes | None, reason: str = "") -> Verdict:
        return Verdict(posted.index, posted.first_block, posted.last_block, bytes(posted.output_root), root, reason)

    def _derive(self, posted: PostedBatch) -> Verdict:
        try:
            batch = decode_posted(posted, self.rules.chain_id)
            parent = self.store.head("unsafe")
            last_origin = self.l1.block(batch.blocks[-1].l1_origin_number)
            if last_origin is None:
                raise InvalidBatch(batch.last_block, f"L1 origin {batch.blocks[-1].l1_origin_number} does not exist")
            check_links(batch, bytes(parent.hash), bytes(last_origin.hash))
            for block in batch.blocks:
                self._build(block)
        except (BatchDecodeError, InvalidBatch) as exc:
            self._rewind_to(posted.first_block - 1)
            return self._verdict(posted, None, str(exc))
        except BaseException:
            self._rewind_to(posted.first_block - 1)  # a temporary failure: derive the batch again later
            self._queue.insert(0, posted)
            raise
        last = self.store.header_by_number(posted.last_block)
        self.store.set_head("safe", bytes(last.hash))
        return self._verdict(posted, self.output_root_at(posted.last_block))

    def _build(self, block: BatchBlock) -> None:
        """Build one block of the batch on the head and store it (rewound with
        the batch if a later block is invalid)."""
        parent = self.store.parent_block(self.store.head("unsafe"))
        attributes = block_attributes(self.rules, parent, block, self.l1, self.deposits, self.max_sequencer_drift)
        overlay = OverlayDB(self.store.state_db)
        executor = begin_block(attributes.env, overlay)
        for deposit in attributes.deposits:
            executor.apply(deposit)
        for index, tx in enumerate(attributes.transactions):
            try:
                executor.apply(tx)
            except InvalidTransaction as exc:
                raise InvalidBatch(attributes.env.number, f"transaction {index} is invalid: {exc}") from None
        self.store.write_output(executor.seal(), overlay)

    def _rewind_to(self, number: int) -> None:
        if int(self.store.head("unsafe").block_number) > number:
            self.store.rewind(number)
