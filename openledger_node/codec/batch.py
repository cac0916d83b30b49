"""The batch: a contiguous range of sealed L2 blocks as the batcher posts it to L1
and a validator reads it back (docs/protocol.md, "Batch").

A batch carries, per block, only what L1 cannot give: the timestamp, the L1
origin number and the non-deposit transactions; the range as a whole carries a
prefix of its first block's parent hash and of its last block's L1 origin hash,
so that a validator can tell whether the batch continues its chain and was built
on the L1 chain it sees. The payload is written column by column and compressed
once; `encode_batch` and `decode_batch` are the two ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openledger_node.codec.columns import TxFields, parse_tx, read_txs, write_txs
from openledger_node.codec.compression import compress, decompress
from openledger_node.codec.params import (
    BATCH_VERSION,
    HASH_CHECK_BYTES,
    MAX_BATCH_BYTES,
    MAX_BLOCKS_PER_BATCH,
    MAX_PAYLOAD_BYTES,
    MAX_TXS_PER_BATCH,
    MAX_TXS_PER_BLOCK,
    MAX_UINT64,
    SIGNATURE_BYTES,
)
from openledger_node.codec.wire import Reader, write_bits, write_uvarint
from openledger_node.exceptions import BatchDecodeError, BlockFieldMismatch
from openledger_node.primitives import DEPOSIT_TX_TYPE


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """A sealed L2 block, as the encoder takes it: `transactions` are its
    non-deposit transactions in block order, each in the canonical encoding
    (`execution.transactions.encode_transaction`)."""

    number: int
    timestamp: int
    l1_origin_number: int
    l1_origin_hash: bytes
    parent_hash: bytes
    transactions: tuple[bytes, ...]


def block_entry(
    number: int,
    timestamp: int,
    l1_origin_number: int,
    l1_origin_hash: bytes,
    parent_hash: bytes,
    transactions: Iterable[bytes],
) -> BlockEntry:
    """The entry of a sealed block whose `transactions` still include its
    deposits (the L1-info deposit and user deposits), which are dropped: a
    validator re-derives them from L1."""
    user_txs = tuple(raw for raw in transactions if raw[:1] != bytes([DEPOSIT_TX_TYPE]))
    return BlockEntry(number, timestamp, l1_origin_number, l1_origin_hash, parent_hash, user_txs)


@dataclass(frozen=True, slots=True)
class BatchBlock:
    """One block as a batch gives it back."""

    number: int
    timestamp: int
    l1_origin_number: int
    transactions: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """A decoded batch: the blocks and the two checks against the chains."""

    parent_check: bytes  # the first 20 bytes of the first block's parent hash
    l1_origin_check: bytes  # the first 20 bytes of the last block's L1 origin hash
    blocks: tuple[BatchBlock, ...]

    @property
    def first_block(self) -> int:
        return self.blocks[0].number

    @property
    def last_block(self) -> int:
        return self.blocks[-1].number


def check_links(batch: Batch, parent_hash: bytes, last_l1_origin_hash: bytes) -> None:
    """Refuse a batch that does not continue the chain whose head is
    `parent_hash`, or whose last block's L1 origin is not the L1 block of that
    number the validator sees (`last_l1_origin_hash`)."""
    if parent_hash[:HASH_CHECK_BYTES] != batch.parent_check:
        raise BlockFieldMismatch(
            batch.first_block, "batch parent_check", parent_hash[:HASH_CHECK_BYTES], batch.parent_check
        )
    if last_l1_origin_hash[:HASH_CHECK_BYTES] != batch.l1_origin_check:
        raise BlockFieldMismatch(
            batch.last_block,
            "batch l1_origin_check",
            last_l1_origin_hash[:HASH_CHECK_BYTES],
            batch.l1_origin_check,
        )


# --- encoding ----------------------------------------------------------------------


def encode_payload(blocks: Sequence[BlockEntry], chain_id: int) -> bytes:
    """The uncompressed payload. Raises ValueError for blocks a batch cannot
    carry: none, not contiguous, time or L1 origin going backwards, an L1 origin
    that moves by more than one block, over a limit, or a transaction that is
    not one of this chain's signed types in its canonical encoding."""
    if not blocks:
        raise ValueError("a batch carries at least one block")
    if len(blocks) > MAX_BLOCKS_PER_BATCH:
        raise ValueError(f"{len(blocks)} blocks, over the limit {MAX_BLOCKS_PER_BATCH}")
    first, last = blocks[0], blocks[-1]
    if first.number < 1:
        raise ValueError("block 0 is genesis: it is never batched")
    if len(last.l1_origin_hash) != 32 or len(first.parent_hash) != 32:
        raise ValueError("hashes are 32 bytes")
    txs: list[TxFields] = []
    for previous, block in zip((None, *blocks), blocks):
        if len(block.transactions) > MAX_TXS_PER_BLOCK:
            raise ValueError(f"block {block.number}: {len(block.transactions)} transactions, over {MAX_TXS_PER_BLOCK}")
        if previous is not None:
            if block.number != previous.number + 1:
                raise ValueError(f"block {block.number} does not follow block {previous.number}")
            if block.timestamp < previous.timestamp:
                raise ValueError(f"block {block.number}: timestamp before its parent's")
            if block.l1_origin_number - previous.l1_origin_number not in (0, 1):
                raise ValueError(f"block {block.number}: L1 origin moves from {previous.l1_origin_number} "
                                 f"to {block.l1_origin_number}")
        for index, raw in enumerate(block.transactions):
            try:
                txs.append(parse_tx(raw, chain_id))
            except ValueError as exc:
                raise ValueError(f"block {block.number}, transaction {index}: {exc}") from None
    if len(txs) > MAX_TXS_PER_BATCH:
        raise ValueError(f"{len(txs)} transactions, over the limit {MAX_TXS_PER_BATCH}")

    out = bytearray()
    write_uvarint(out, first.number)
    write_uvarint(out, first.timestamp)
    write_uvarint(out, last.l1_origin_number)
    out += first.parent_hash[:HASH_CHECK_BYTES]
    out += last.l1_origin_hash[:HASH_CHECK_BYTES]
    write_uvarint(out, len(blocks))
    for previous, block in zip(blocks, blocks[1:]):
        write_uvarint(out, block.timestamp - previous.timestamp)
    write_bits(out, (b.l1_origin_number != a.l1_origin_number for a, b in zip(blocks, blocks[1:])))
    for block in blocks:
        write_uvarint(out, len(block.transactions))
    write_txs(out, txs)
    if len(out) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(out)} bytes, over the limit {MAX_PAYLOAD_BYTES}: batch fewer blocks")
    return bytes(out)


def encode_batch(blocks: Sequence[BlockEntry], chain_id: int) -> bytes:
    """The batch of `blocks` (contiguous, sealed, of chain `chain_id`): the
    version byte and the compressed payload. Raises ValueError as
    `encode_payload`, and when the batch passes `MAX_BATCH_BYTES`."""
    data = bytes([BATCH_VERSION]) + compress(encode_payload(blocks, chain_id))
    if len(data) > MAX_BATCH_BYTES:
        raise ValueError(f"batch of {len(data)} bytes, over the limit {MAX_BATCH_BYTES}: batch fewer blocks")
    return data


# --- decoding ----------------------------------------------------------------------


def decode_batch(data: bytes, chain_id: int) -> Batch:
    """The blocks of a batch. Raises `BatchDecodeError` for anything that is not
    a batch this format and its limits allow, and for nothing else."""
    if len(data) > MAX_BATCH_BYTES:
        raise BatchDecodeError(f"batch of {len(data)} bytes, over the limit {MAX_BATCH_BYTES}")
    if not data:
        raise BatchDecodeError("empty batch")
    if data[0] != BATCH_VERSION:
        raise BatchDecodeError(f"unknown batch version 0x{data[0]:02x}")
    return decode_payload(decompress(bytes(data[1:]), MAX_PAYLOAD_BYTES), chain_id)


def decode_payload(payload: bytes, chain_id: int) -> Batch:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BatchDecodeError(f"payload of {len(payload)} bytes, over the limit {MAX_PAYLOAD_BYTES}")
    reader = Reader(payload)
    first_block = reader.uvarint("first_block")
    if first_block < 1:
        raise reader.fail("first_block: block 0 is genesis")
    timestamp = reader.uvarint("first_timestamp")
    last_origin = reader.uvarint("l1_origin_number")
    parent_check = reader.fixed(HASH_CHECK_BYTES, "parent_check")
    l1_origin_check = reader.fixed(HASH_CHECK_BYTES, "l1_origin_check")

    block_count = reader.uvarint("block_count", MAX_BLOCKS_PER_BATCH)
    if block_count < 1:
        raise reader.fail("block_count: a batch carries at least one block")
    if first_block + block_count - 1 > MAX_UINT64:
        raise reader.fail("block_count: block numbers past 2**64 - 1")
    reader.require(block_count, 1, "blocks")
    timestamps = [timestamp]
    for _ in range(block_count - 1):
        timestamp += reader.uvarint("timestamp_deltas")
        if timestamp > MAX_UINT64:
            raise reader.fail("timestamp_deltas: timestamp past 2**64 - 1")
        timestamps.append(timestamp)
    origin_bits = reader.bits(block_count - 1, "origin_bits")
    origin = last_origin - sum(origin_bits)
    if origin < 0:
        raise reader.fail("origin_bits: more L1 origin changes than L1 blocks before l1_origin_number")
    origins = [origin]
    for changed in origin_bits:
        origin += changed
        origins.append(origin)
    tx_counts = [reader.uvarint("block_tx_counts", MAX_TXS_PER_BLOCK) for _ in range(block_count)]
    tx_total = sum(tx_counts)
    if tx_total > MAX_TXS_PER_BATCH:
        raise reader.fail(f"block_tx_counts: {tx_total} transactions, over the limit {MAX_TXS_PER_BATCH}")
    reader.require(tx_total, SIGNATURE_BYTES, "transactions")

    txs = read_txs(reader, tx_total, chain_id)
    if reader.remaining:
        raise reader.fail(f"trailing bytes after the last column: {reader.remaining}")

    blocks = []
    start = 0
    for i, count in enumerate(tx_counts):
        blocks.append(BatchBlock(first_block + i, timestamps[i], origins[i], tuple(txs[start : start + count])))
        start += count
    return Batch(parent_check, l1_origin_check, tuple(blocks))
