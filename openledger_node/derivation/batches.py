"""Batches: the stage that turns the rollup contract's `BatchSubmitted`
records on L1 into decoded batches, each checked against the data hash the
contract stored.

A posted batch is the calldata of a `submitBatch` transaction; the rollup
contract keeps only `keccak256(data)`, so the bytes read back from the L1
transaction must hash to it, or they are not the batch (a node that serves
altered transaction data is caught here). The source of posted batches is
anything that lists them in L1 order (`bridge.rollup.RollupClient` in a node),
together with the contract's rollbacks: a successful challenge deletes an
output and every later one (`OutputsRolledBack`), and the sequencer posts
those indexes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eth_hash.auto import keccak

from openledger_node.codec import Batch, decode_batch
from openledger_node.exceptions import BatchDecodeError


@dataclass(frozen=True)
class PostedBatch:
    """One `submitBatch` as L1 recorded it, with the data its transaction carried."""

    index: int
    first_block: int
    last_block: int
    output_root: bytes
    data_hash: bytes
    data: bytes
    l1_block: int  # the L1 block that included it
    log_index: int = 0  # its BatchSubmitted log's index in that block


@dataclass(frozen=True)
class RolledBack:
    """An `OutputsRolledBack` of the rollup contract: the outputs from
    `from_index` on were deleted from L1 (a challenge of `from_index` succeeded)."""

    from_index: int
    l1_block: int
    log_index: int = 0


class BatchSource(Protocol):
    def posted_batches(self, from_l1_block: int, to_l1_block: int) -> Sequence[PostedBatch]:
        """The batches posted in L1 blocks [from, to], in L1 order."""
        ...

    def rollbacks(self, from_l1_block: int, to_l1_block: int) -> Sequence[RolledBack]:
        """The rollbacks of outputs in L1 blocks [from, to], in L1 order."""
        ...


def decode_posted(posted: PostedBatch, chain_id: int) -> Batch:
    """The blocks of a posted batch. Raises `BatchDecodeError` when its data is
    not what the contract committed to, or not a batch of this format, or its
    blocks are not the range the contract recorded."""
    if bytes(keccak(posted.data)) != bytes(posted.data_hash):
        raise BatchDecodeError(
            f"batch {posted.index}: the transaction's data hashes to 0x{bytes(keccak(posted.data)).hex()}, "
            f"L1 stored 0x{bytes(posted.data_hash).hex()}"
        )
    batch = decode_batch(posted.data, chain_id)
    if (batch.first_block, batch.last_block) != (posted.first_block, posted.last_block):
        raise BatchDecodeError(
            f"batch {posted.index}: carries blocks {batch.first_block}-{batch.last_block}, "
            f"L1 recorded {posted.first_block}-{posted.last_block}"
        )
    return batch
