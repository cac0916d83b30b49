"""Blocks, transactions, receipts and logs as JSON, in geth's (and op-geth's for
deposits) field names and encodings: quantities as minimal hex, data as 0x-hex."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    chain_id_of,
    tx_type,
)
from openledger_node.execution.types import Log, Receipt
from openledger_node.primitives import DEPOSIT_TX_TYPE


def q(value: int) -> str:
    """A quantity: minimal hex."""
    return hex(value)


def d(value: bytes) -> str:
    """Data: 0x-prefixed hex."""
    return "0x" + bytes(value).hex()


def addr_or_none(value: bytes | None) -> str | None:
    return d(value) if value else None


def present(value: bytes | None, field: str) -> bytes:
    """A header field py-evm types as optional that every Prague header carries."""
    if value is None:
        raise ValueError(f"header without {field}")
    return value


# Fields each fork added to the header, in the order geth prints them: a block
# of an older fork (the L1 node's chains can start before Prague) has none of
# the later ones.
_FORK_FIELDS = (
    ("base_fee_per_gas", "baseFeePerGas", "q"),
    ("withdrawals_root", "withdrawalsRoot", "d"),
    ("blob_gas_used", "blobGasUsed", "q"),
    ("excess_blob_gas", "excessBlobGas", "q"),
    ("parent_beacon_block_root", "parentBeaconBlockRoot", "d"),
    ("requests_hash", "requestsHash", "d"),
)


def has_withdrawals(header: Any) -> bool:
    """Whether the header's fork has withdrawals (Shanghai and later)."""
    return "withdrawals_root" in header._meta.field_names


def format_header(header: PragueBlockHeader) -> dict[str, Any]:
    out = {
        "number": q(header.block_number),
        "hash": d(header.hash),
        "parentHash": d(header.parent_hash),
        "nonce": d(header.nonce),
        "sha3Uncles": d(header.uncles_hash),
        "logsBloom": d(int(header.bloom).to_bytes(256, "big")),
        "transactionsRoot": d(header.transaction_root),
        "stateRoot": d(header.state_root),
        "receiptsRoot": d(header.receipt_root),
        "miner": d(header.coinbase),
        "difficulty": q(header.difficulty),
        "totalDifficulty": q(0),
        "extraData": d(header.extra_data),
        "gasLimit": q(header.gas_limit),
        "gasUsed": q(header.gas_used),
        "timestamp": q(header.timestamp),
        "mixHash": d(header.mix_hash),
    }
    fields = header._meta.field_names
    for attribute, name, kind in _FORK_FIELDS:
        if attribute in fields:
            value = getattr(header, attribute)
            out[name] = q(value or 0) if kind == "q" else d(present(value, name))
    return out


def _rlp_length(payload: int) -> int:
    """Bytes of an RLP item (string or list) whose payload is `payload` bytes long,
    a payload not a single byte below 0x80."""
    return payload + 1 if payload < 56 else payload + 1 + (payload.bit_length() + 7) // 8


def block_size(header: PragueBlockHeader, raw_transactions: Sequence[bytes]) -> int:
    """Bytes of the block's RLP [header, transactions, uncles, withdrawals] (both
    lists empty on this chain), as geth's `size`: a legacy transaction is an RLP
    list of its own, a typed one a byte string, so the length comes from the
    raw bytes without encoding anything."""
    txs = sum(len(r) if r[0] >= 0xC0 else _rlp_length(len(r)) for r in raw_transactions)
    return _rlp_length(len(rlp.encode(header)) + _rlp_length(txs) + 2)


def format_block(
    header: PragueBlockHeader,
    transactions: Sequence[Transaction] | None,
    raw_transactions: Sequence[bytes],
    receipts: Sequence[Receipt] | None,
    full: bool,
    hashes: Sequence[bytes] | None = None,
) -> dict[str, Any]:
    """A block; without `full`, its transactions are their hashes, from
    `hashes` when given (and `transactions`, the decoded ones, may be None)."""
    block = format_header(header)
    block["size"] = q(block_size(header, raw_transactions))
    if full:
        assert transactions is not None
        block["transactions"] = [
            format_transaction(tx, header, index, receipts[index] if receipts else None)
            for index, tx in enumerate(transactions)
        ]
    elif hashes is not None:
        block["transactions"] = [d(h) for h in hashes]
    else:
        assert transactions is not None
        block["transactions"] = [d(tx.hash) for tx in transactions]
    block["uncles"] = []
    if has_withdrawals(header):
        block["withdrawals"] = []
    return block


def format_transaction(
    tx: Transaction,
    header: PragueBlockHeader | None = None,
    index: int | None = None,
    receipt: Receipt | None = None,
) -> dict[str, Any]:
    """A transaction; `header` None means pending (not in a block yet): geth then
    writes the location fields, blockTimestamp included, as null."""
    kind = tx_type(tx)
    out: dict[str, Any] = {
        "blockHash": d(header.hash) if header is not None else None,
        "blockNumber": q(header.block_number) if header is not None else None,
        "blockTimestamp": q(header.timestamp) if header is not None else None,
        "transactionIndex": q(index) if index is not None else None,
        "hash": d(tx.hash),
        "type": q(kind),
        "from": d(tx.sender),
        "to": addr_or_none(tx.to),
        "gas": q(tx.gas),
        "value": q(tx.value),
        "input": d(tx.data),
    }
    if isinstance(tx, DepositTransaction):
        # op-geth's RPCTransaction: `mint` only when there is one, `isSystemTx`
        # only when true. op-alloy's TxDeposit, which Foundry parses blocks
        # with, reads isSystemTx as a quantity when present: `false` breaks
        # `cast run` on every block.
        out.update(
            {
                "sourceHash": d(tx.source_hash),
                "gasPrice": q(0),
                "nonce": q(receipt.deposit_nonce or 0) if receipt is not None else q(0),
                "v": q(0),
                "r": q(0),
                "s": q(0),
            }
        )
        if tx.mint:
            out["mint"] = q(tx.mint)
        if tx.is_system_tx:
            out["isSystemTx"] = True
        if receipt is not None:
            out["depositReceiptVersion"] = q(1)
        return out
    base_fee = int(header.base_fee_per_gas or 0) if header is not None else None
    out["nonce"] = q(tx.nonce)
    out["v"] = q(int(getattr(tx, "v")) if kind == 0 else tx.y_parity)
    out["r"] = q(tx.r)
    out["s"] = q(tx.s)
    chain_id = chain_id_of(tx)
    if chain_id is not None:
        out["chainId"] = q(chain_id)
    if kind == 0:
        out["gasPrice"] = q(tx.gas_price)
        return out
    out["yParity"] = q(tx.y_parity)
    out["accessList"] = [
        {"address": d(address), "storageKeys": [d(int(k).to_bytes(32, "big")) for k in keys]}
        for address, keys in tx.access_list
    ]
    if kind == 1:
        out["gasPrice"] = q(tx.gas_price)
        return out
    out["maxFeePerGas"] = q(tx.max_fee_per_gas)
    out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
    if base_fee is not None:
        out["gasPrice"] = q(min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee))
    else:
        out["gasPrice"] = q(tx.max_fee_per_gas)
    if kind == 4:
        out["authorizationList"] = [
            {
                "chainId": q(a.chain_id),
                "address": d(a.address),
                "nonce": q(a.nonce),
                "yParity": q(a.y_parity),
                "r": q(a.r),
                "s": q(a.s),
            }
            for a in tx.authorization_list
        ]
    return out


def format_log(
    log: Log, header: PragueBlockHeader, tx_hash: bytes, tx_index: int, log_index: int, removed: bool = False
) -> dict[str, Any]:
    return {
        "address": d(log.address),
        "topics": [d(t) for t in log.topics],
        "data": d(log.data),
        "blockNumber": q(header.block_number),
        "blockHash": d(header.hash),
        "blockTimestamp": q(header.timestamp),
        "transactionHash": d(tx_hash),
        "transactionIndex": q(tx_index),
        "logIndex": q(log_index),
        "removed": removed,
    }


def format_receipt(
    tx: Transaction,
    receipt: Receipt,
    header: PragueBlockHeader,
    index: int,
    start: int,
) -> dict[str, Any]:
    """A receipt as geth shows it; `start` is the block-wide index of its first log."""
    out: dict[str, Any] = {
        "transactionHash": d(tx.hash),
        "transactionIndex": q(index),
        "blockHash": d(header.hash),
        "blockNumber": q(header.block_number),
        "from": d(tx.sender),
        "to": addr_or_none(tx.to),
        "cumulativeGasUsed": q(receipt.cumulative_gas_used),
        "gasUsed": q(receipt.gas_used),
        "effectiveGasPrice": q(receipt.effective_gas_price),
        "contractAddress": addr_or_none(receipt.contract_address),
        "logs": [
            format_log(log, header, bytes(tx.hash), index, start + i) for i, log in enumerate(receipt.logs)
        ],
        "logsBloom": d(receipt.bloom.to_bytes(256, "big")),
        "type": q(receipt.tx_type),
        "status": q(receipt.status),
    }
    if receipt.tx_type == DEPOSIT_TX_TYPE:
        out["depositNonce"] = q(receipt.deposit_nonce or 0)
        out["depositReceiptVersion"] = q(1)
    return out
