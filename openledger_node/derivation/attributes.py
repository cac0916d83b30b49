"""Block attributes: the stage that turns one block of a batch into what a
block is built from, checking the derivation rules (docs/protocol.md) that the
batch alone cannot: the block follows its parent, its L1 origin is the
parent's or the next L1 block and is not after the block's time, the block's
time stays within the sequencer drift of its origin (unless L1 had no next
block yet), the epoch's deposits open its first block, and every carried
transaction is a signed user transaction.

The deposits and the L1-info deposit come from L1, never from the batch, so a
sequencer can neither skip nor forge them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openledger_node.codec import BatchBlock
from openledger_node.exceptions import InvalidBlock, OpenLedgerError, ResetError, TemporaryError
from openledger_node.execution.env import ChainRules, ParentBlock, next_block_env
from openledger_node.execution.transactions import DepositTransaction, Transaction, decode_transaction, is_deposit
from openledger_node.execution.types import BlockEnv, L1Origin


class InvalidBatch(InvalidBlock):
    """A posted batch that breaks a derivation rule: its blocks are not the chain."""

    def __init__(self, number: int, reason: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"block {number}: {reason}")


class L1Blocks(Protocol):
    def block(self, number: int) -> L1Origin | None: ...


class Deposits(Protocol):
    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> list[DepositTransaction]: ...


@dataclass(frozen=True)
class BlockAttributes:
    env: BlockEnv
    deposits: tuple[DepositTransaction, ...]  # user deposits, after the L1-info deposit
    transactions: tuple[Transaction, ...]


def block_attributes(
    rules: ChainRules,
    parent: ParentBlock,
    block: BatchBlock,
    l1: L1Blocks,
    deposits: Deposits,
    max_sequencer_drift: int,
) -> BlockAttributes:
    number = block.number
    if number != parent.number + 1:
        raise InvalidBatch(number, f"does not follow the head {parent.number}")
    previous = parent.l1_origin
    if block.l1_origin_number not in (previous.number, previous.number + 1):
        raise InvalidBatch(number, f"L1 origin {block.l1_origin_number} is neither {previous.number} nor the next")
    origin = l1.block(block.l1_origin_number)
    if origin is None:
        raise TemporaryError(f"block {number}: L1 block {block.l1_origin_number} is not confirmed yet")
    if origin.number == previous.number and origin.hash != previous.hash:
        raise ResetError(f"block {number}: L1 reorganised its origin {origin.number} under the derived chain")
    if block.timestamp <= int(parent.header.timestamp):
        raise InvalidBatch(number, f"timestamp {block.timestamp} is not after the parent's {int(parent.header.timestamp)}")
    if origin.timestamp > block.timestamp:
        raise InvalidBatch(number, f"L1 origin {origin.number}'s time {origin.timestamp} is after the block's {block.timestamp}")
    if block.timestamp > origin.timestamp + max_sequencer_drift:
        following = l1.block(origin.number + 1)
        if following is None:
            raise TemporaryError(f"block {number}: past the drift; L1 block {origin.number + 1} is not known yet")
        if following.timestamp <= block.timestamp:
            raise InvalidBatch(
                number, f"timestamp {block.timestamp} is over {max_sequencer_drift}s past L1 origin {origin.number} "
                f"while L1 block {following.number} was due"
            )
    env = next_block_env(rules, parent, timestamp=block.timestamp, l1_origin=origin)
    transactions = []
    for index, raw in enumerate(block.transactions):
        try:
            tx = decode_transaction(raw)
        except OpenLedgerError as exc:
            raise InvalidBatch(number, f"transaction {index} does not decode: {exc}") from None
        if is_deposit(tx):
            raise InvalidBatch(number, f"transaction {index} is a deposit: deposits come from L1 only")
        transactions.append(tx)
    due = deposits.due_deposits(origin, env.sequence_number == 0)
    return BlockAttributes(env, tuple(due), tuple(transactions))
