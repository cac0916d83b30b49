"""Headers of a plain chain: the fields each fork's header has, and the child
header a block producer starts from.

Post-merge headers (EIP-3675) have difficulty 0, an empty nonce and no uncles,
and carry PREVRANDAO in `mix_hash`; Shanghai adds the withdrawals root, Cancun
the blob gas fields and the parent beacon block root, Prague the requests hash.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI
from eth.constants import (
    BLANK_ROOT_HASH,
    EMPTY_SHA256,
    EMPTY_UNCLE_HASH,
    POST_MERGE_DIFFICULTY,
    POST_MERGE_NONCE,
)
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

from openledger_node.execution.l1.forks import Fork, ForkSchedule
from openledger_node.primitives import ZERO_HASH, Address, BlockNumber, Hash32

# What a header holds before its block is executed: no transactions, no
# receipts, no withdrawals, no blobs, no requests, and (on this node) a zero
# parent beacon block root, since there is no beacon chain.
DEFAULT_FIELDS: dict[str, Any] = {
    "uncles_hash": EMPTY_UNCLE_HASH,
    "transaction_root": BLANK_ROOT_HASH,
    "receipt_root": BLANK_ROOT_HASH,
    "bloom": 0,
    "withdrawals_root": BLANK_ROOT_HASH,
    "blob_gas_used": 0,
    "excess_blob_gas": 0,
    "parent_beacon_block_root": ZERO_HASH,
    "requests_hash": EMPTY_SHA256,
}


def header_for_fork(fork: Fork, **fields: Any) -> BlockHeaderAPI:
    """A header of `fork`'s class from `fields`: those the fork's header lacks are
    dropped, those it has and `fields` lacks take their DEFAULT_FIELDS value."""
    values = {**DEFAULT_FIELDS, **fields}
    header: BlockHeaderAPI = fork.header_class(**{name: values[name] for name in fork.header_fields})
    return header


def next_header(
    schedule: ForkSchedule,
    parent: BlockHeaderAPI,
    *,
    timestamp: int,
    coinbase: Address,
    gas_limit: int,
    prevrandao: Hash32,
    extra_data: bytes = b"",
) -> BlockHeaderAPI:
    """The header of the child of `parent` as it is before execution: what the
    rules fix (number, parent, base fee, excess blob gas) and what the producer
    chooses (timestamp, coinbase, gas limit, PREVRANDAO, extra data)."""
    fork = schedule.fork_at(timestamp)
    return header_for_fork(
        fork,
        parent_hash=parent.hash,
        coinbase=coinbase,
        state_root=parent.state_root,
        difficulty=POST_MERGE_DIFFICULTY,
        block_number=BlockNumber(parent.block_number + 1),
        gas_limit=gas_limit,
        gas_used=0,
        timestamp=timestamp,
        extra_data=extra_data,
        mix_hash=prevrandao,
        nonce=POST_MERGE_NONCE,
        base_fee_per_gas=calculate_expected_base_fee_per_gas(parent),
        excess_blob_gas=fork.excess_blob_gas(parent) if fork.excess_blob_gas is not None else 0,
    )
