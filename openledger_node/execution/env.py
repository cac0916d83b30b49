"""The next block's environment: the one place its rules are written.

Given a parent block (its header, L1 origin and sequence number) and the L1
origin and timestamp chosen for the child, `next_block_env` derives everything
else the child's execution depends on: number, parent links, gas limit, the
EIP-1559 base fee and the sequence number within the epoch. The sequencer calls
it to build a block, `eth_call` to simulate the pending one, and `apply_block`
to check a given header against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.execution.types import BlockEnv, L1Origin
from openledger_node.primitives import SEQUENCER_FEE_VAULT_ADDRESS, Address, Hash32

# Headers store timestamps as 64-bit integers.
MAX_TIMESTAMP = 2**64 - 1


@dataclass(frozen=True, slots=True)
class ChainRules:
    """The chain parameters that every node must agree on to agree on blocks."""

    chain_id: int
    gas_limit: int
    elasticity_multiplier: int = 2
    base_fee_max_change_denominator: int = 8
    min_base_fee: int = 0
    # Every block's coinbase: batches do not carry it, so a validator must know it.
    fee_recipient: Address = SEQUENCER_FEE_VAULT_ADDRESS


@dataclass(frozen=True, slots=True)
class ParentBlock:
    """What a child block's environment reads from its parent."""

    header: PragueBlockHeader
    l1_origin: L1Origin
    sequence_number: int
    # The parent's hash and its ancestors', most recent first, for BLOCKHASH;
    # may be lazy (py-evm reads them only when a contract executes BLOCKHASH).
    ancestor_hashes: Iterable[Hash32] = field(default=(), compare=False)

    @property
    def number(self) -> int:
        return int(self.header.block_number)


def next_base_fee(
    parent_gas_limit: int,
    parent_gas_used: int,
    parent_base_fee: int,
    elasticity: int,
    denominator: int,
    minimum: int = 0,
) -> int:
    """EIP-1559 base fee of a child block, with configurable parameters and floor."""
    target = parent_gas_limit // elasticity
    if parent_gas_used == target:
        fee = parent_base_fee
    elif parent_gas_used > target:
        delta = max(parent_base_fee * (parent_gas_used - target) // target // denominator, 1)
        fee = parent_base_fee + delta
    else:
        delta = parent_base_fee * (target - parent_gas_used) // target // denominator
        fee = parent_base_fee - delta
    return max(fee, minimum)


def base_fee_after(rules: ChainRules, parent: PragueBlockHeader) -> int:
    """The base fee of the block after `parent`."""
    return next_base_fee(
        int(parent.gas_limit),
        int(parent.gas_used),
        int(parent.base_fee_per_gas or 0),
        rules.elasticity_multiplier,
        rules.base_fee_max_change_denominator,
        rules.min_base_fee,
    )


def next_sequence_number(parent_origin: L1Origin, parent_sequence_number: int, origin: L1Origin) -> int:
    """A block's index among the blocks of its epoch (those with the same L1
    origin): one more than the parent's in the same epoch, 0 when a new one starts."""
    if origin.number == parent_origin.number and origin.hash == parent_origin.hash:
        return parent_sequence_number + 1
    return 0


def next_block_env(
    rules: ChainRules,
    parent: ParentBlock,
    *,
    timestamp: int,
    l1_origin: L1Origin,
) -> BlockEnv:
    """The environment of the block after `parent` with the chosen timestamp and
    L1 origin. The caller chooses those two (the sequencer from its clock and L1,
    a validator from the block it checks); the rules fix the rest."""
    return BlockEnv(
        chain_id=rules.chain_id,
        number=parent.number + 1,
        parent_hash=Hash32(bytes(parent.header.hash)),
        parent_state_root=Hash32(bytes(parent.header.state_root)),
        timestamp=timestamp,
        coinbase=rules.fee_recipient,
        gas_limit=rules.gas_limit,
        base_fee=base_fee_after(rules, parent.header),
        l1_origin=l1_origin,
        sequence_number=next_sequence_number(parent.l1_origin, parent.sequence_number, l1_origin),
        prev_hashes=parent.ancestor_hashes,
    )
