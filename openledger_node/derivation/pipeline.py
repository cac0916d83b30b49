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

The rollup contract can take outputs back: a successful challenge deletes the
challenged output and every later one, and the sequencer posts those indexes
again. The derivation reads those rollbacks in L1 order with the batches, so
the derived chain always follows the outputs L1 holds: at a rollback the
blocks of the deleted batches leave the store (the chain rewinds to the last
block of the output before them), a halt at an invalid batch ends when that
batch is rolled back, and the batches posted again are derived as new ones.
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
from openledger_node.derivation.batches import BatchSource, PostedBatch, RolledBack, decode_posted
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
    l1_block: int = 0  # the L1 block that included the batch: with `index`, which submission
    data_hash: bytes = b""  # keccak256 of the batch data, as the contract stored it

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
        self._queue: list[PostedBatch | RolledBack] = []  # in L1 order
        # The batch of each live output index the derived chain follows (derived,
        # found invalid, or derived before a restart): what a rollback takes away.
        self._live: dict[int, PostedBatch] = {}
        self.verdicts: list[Verdict] = []
        self.rollbacks: list[RolledBack] = []
        self.halted: Verdict | None = None  # set by an invalid batch: the chain cannot go on past it

    def restart(self) -> None:
        """Read L1 again from the start (after an L1 reorganisation); batches the
        chain already holds are skipped."""
        self._queue.clear()
        self._live.clear()
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
            events: list[PostedBatch | RolledBack] = [
                *self.batches.posted_batches(self._scanned + 1, head),
                *self.batches.rollbacks(self._scanned + 1, head),
            ]
            events.sort(key=lambda event: (event.l1_block, event.log_index))
            self._queue.extend(events)
            self._scanned = head

    def pending(self) -> Sequence[PostedBatch]:
        self._fill()
        return tuple(item for item in self._queue if isinstance(item, PostedBatch))

    def step(self) -> Verdict | None:
        """Derive the next posted batch, if L1 has one; its verdict, or None.
        Rollbacks on the way are applied first."""
        self._fill()
        while self._queue:
            item = self._queue.pop(0)
            if isinstance(item, RolledBack):
                self._roll_back(item)
                continue
            if self.halted is not None:
                # Posted on top of an invalid batch: rolled back with it, or the
                # chain never goes on past it.
                continue
            head = int(self.store.head("unsafe").block_number)
            if item.last_block <= head:
                self._live[item.index] = item  # derived before a restart
                continue
            return self._judge(item, head)
        return None

    def _judge(self, posted: PostedBatch, head: int) -> Verdict:
        if posted.first_block != head + 1:
            verdict = self._verdict(posted, None, f"starts at block {posted.first_block}, the chain is at {head}")
        else:
            verdict = self._derive(posted)
        self._live[posted.index] = posted
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

    def _roll_back(self, event: RolledBack) -> None:
        """L1 deleted the outputs from `event.from_index` on: their blocks leave
        the derived chain, and a halt at one of them ends."""
        self.rollbacks.append(event)
        gone = sorted(index for index in self._live if index >= event.from_index)
        if gone:
            first = self._live[gone[0]].first_block
            for index in gone:
                del self._live[index]
            self._rewind_to(first - 1)
            log.warning("L1 rolled back outputs %d-%d: the derived chain goes back to block %d",
                        gone[0], gone[-1], int(self.store.head("unsafe").block_number))
        if self.halted is not None and self.halted.index >= event.from_index:
            log.warning("L1 rolled back invalid batch %d: derivation goes on", self.halted.index)
            self.halted = None

    @staticmethod
    def _verdict(posted: PostedBatch, root: bytes | None, reason: str = "") -> Verdict:
        return Verdict(posted.index, posted.first_block, posted.last_block, bytes(posted.output_root), root, reason,
                       posted.l1_block, bytes(posted.data_hash))

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
