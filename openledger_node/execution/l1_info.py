"""The L1-info deposit: the system transaction that opens every L2 block.

It writes the block's L1 origin (number, timestamp, base fee, hash) and its
sequence number within the epoch into the `L1Block` predeploy, so contracts can
read L1 and the derivation of each block is fully determined by L1. The same
calldata is how anyone reads a stored block's L1 origin back.
"""

from __future__ import annotations

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from openledger_node.exceptions import InvalidBlock
from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    is_deposit,
    l1_info_source_hash,
)
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import (
    DEPOSITOR_ACCOUNT,
    L1_BLOCK_ADDRESS,
    L1_INFO_DEPOSIT_GAS,
    Hash32,
)

SET_L1_BLOCK_VALUES_SIGNATURE = "setL1BlockValues(uint64,uint64,uint256,bytes32,uint64)"
SET_L1_BLOCK_VALUES_SELECTOR = keccak(SET_L1_BLOCK_VALUES_SIGNATURE.encode())[:4]
_ARGS = ["uint64", "uint64", "uint256", "bytes32", "uint64"]


def l1_info_deposit(origin: L1Origin, sequence_number: int) -> DepositTransaction:
    """The system deposit that opens a block with L1 origin `origin`."""
    data = SET_L1_BLOCK_VALUES_SELECTOR + abi_encode(
        _ARGS, [origin.number, origin.timestamp, origin.base_fee, origin.hash, sequence_number]
    )
    return DepositTransaction(
        source_hash=l1_info_source_hash(origin.hash, sequence_number),
        sender=DEPOSITOR_ACCOUNT,
        to=L1_BLOCK_ADDRESS,
        mint=0,
        value=0,
        gas=L1_INFO_DEPOSIT_GAS,
        is_system_tx=False,  # post-Regolith semantics: metered like any deposit
        data=data,
    )


def decode_l1_info(data: bytes) -> tuple[L1Origin, int]:
    """The L1 origin and sequence number an L1-info deposit's calldata records."""
    if data[:4] != SET_L1_BLOCK_VALUES_SELECTOR:
        raise InvalidBlock("first transaction is not an L1-info deposit (wrong selector)")
    try:
        number, timestamp, base_fee, block_hash, sequence_number = abi_decode(_ARGS, data[4:])
    except DecodingError as exc:
        raise InvalidBlock(f"L1-info deposit calldata does not decode: {exc}") from None
    return L1Origin(number, timestamp, base_fee, Hash32(bytes(block_hash))), int(sequence_number)


def l1_info_of(first: Transaction) -> tuple[L1Origin, int]:
    """The L1 origin and sequence number of a block, read from its first
    transaction, which must be an L1-info deposit."""
    if not is_deposit(first) or bytes(first.to) != L1_BLOCK_ADDRESS:
        raise InvalidBlock("first transaction is not an L1-info deposit")
    return decode_l1_info(bytes(first.data))
