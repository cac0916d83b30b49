"""Blocks go through the batch codec and come back unchanged: every transaction
type byte for byte, block numbers, timestamps and L1 origins; the encoder
refuses what a batch cannot carry."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account

from openledger_node.codec import (
    BlockEntry,
    block_entry,
    check_links,
    decode_batch,
    decode_payload,
    encode_batch,
    encode_payload,
    join_frames,
    split_frames,
)
from openledger_node.codec.columns import parse_tx
from openledger_node.codec.compression import decompress
from openledger_node.codec.params import FRAME_OVERHEAD
from openledger_node.exceptions import BlockFieldMismatch
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.execution.l1_info import l1_info_deposit
from openledger_node.execution.transactions import decode_transaction, encode_transaction
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import Hash32
from tests.codec.samples import CHAIN_ID, entry, mixed_blocks, sample_txs


def round_trip(blocks: list[BlockEntry]) -> list[tuple[int, int, int, tuple[bytes, ...]]]:
    batch = decode_batch(encode_batch(blocks, CHAIN_ID), CHAIN_ID)
    return [(b.number, b.timestamp, b.l1_origin_number, b.transactions) for b in batch.blocks]


def fields(blocks: list[BlockEntry]) -> list[tuple[int, int, int, tuple[bytes, ...]]]:
    return [(b.number, b.timestamp, b.l1_origin_number, b.transactions) for b in blocks]


@pytest.mark.parametrize("name", sorted(sample_txs()))
def test_each_transaction_type_comes_back_byte_for_byte(name: str) -> None:
    raw = sample_txs()[name]
    [block] = decode_batch(encode_batch([entry(1, (raw,))], CHAIN_ID), CHAIN_ID).blocks
    assert block.transactions == (raw,)
    decoded, original = decode_transaction(block.transactions[0]), decode_transaction(raw)
    assert encode_transaction(decoded) == raw
    assert bytes(decoded.sender) == bytes(original.sender)
    assert bytes(decoded.hash) == bytes(original.hash)


def test_blocks_come_back_with_numbers_times_origins_and_order() -> None:
    blocks = mixed_blocks()
    assert round_trip(blocks) == fields(blocks)


def test_many_blocks_and_origins_come_back() -> None:
    txs = list(sample_txs().values())
    blocks = [entry(100 + i, tuple(txs[: i % 4]), timestamp=10 + 3 * i + i % 2, origin=50 + i // 3)
              for i in range(40)]
    assert round_trip(blocks) == fields(blocks)


def test_the_checks_are_prefixes_of_the_first_parent_and_the_last_origin() -> None:
    blocks = mixed_blocks()
    batch = decode_batch(encode_batch(blocks, CHAIN_ID), CHAIN_ID)
    assert batch.parent_check == blocks[0].parent_hash[:20]
    assert batch.l1_origin_check == blocks[-1].l1_origin_hash[:20]
    assert (batch.first_block, batch.last_block) == (10, 13)
    check_links(batch, blocks[0].parent_hash, blocks[-1].l1_origin_hash)


def test_check_links_refuses_another_parent_or_l1_origin() -> None:
    blocks = mixed_blocks()
    batch = decode_batch(encode_batch(blocks, CHAIN_ID), CHAIN_ID)
    with pytest.raises(BlockFieldMismatch, match="parent_check") as parent:
        check_links(batch, b"\x01" * 32, blocks[-1].l1_origin_hash)
    assert parent.value.number == 10
    with pytest.raises(BlockFieldMismatch, match="l1_origin_check") as origin:
        check_links(batch, blocks[0].parent_hash, blocks[0].l1_origin_hash)
    assert origin.value.number == 13


def test_the_payload_is_canonical() -> None:
    """Decoding and encoding again gives the same payload: one batch has one payload."""
    blocks = mixed_blocks()
    payload = encode_payload(blocks, CHAIN_ID)
    batch = decode_payload(payload, CHAIN_ID)
    again = [
        BlockEntry(b.number, b.timestamp, b.l1_origin_number, batch.l1_origin_check + bytes(12),
                   batch.parent_check + bytes(12), b.transactions)
        for b in batch.blocks
    ]
    assert encode_payload(again, CHAIN_ID) == payload
    assert decompress(encode_batch(blocks, CHAIN_ID)[1:]) == payload


def test_block_entry_drops_the_deposits() -> None:
    origin = L1Origin(3, 1_700_000_000, 10**9, Hash32(b"\xe3" * 32))
    deposit = encode_transaction(l1_info_deposit(origin, 0))
    user = sample_txs()["dynamic-fee"]
    made = block_entry(1, 5, 3, origin.hash, b"\x00" * 32, [deposit, user])
    assert made.transactions == (user,)
    with pytest.raises(ValueError, match="0x7e"):
        encode_batch([dataclasses.replace(made, transactions=(deposit, user))], CHAIN_ID)


def test_frames_carry_a_batch_at_any_size_in_any_order() -> None:
    batch = encode_batch(mixed_blocks(), CHAIN_ID)
    for size in (FRAME_OVERHEAD + 1, FRAME_OVERHEAD + 7, 300, len(batch) + FRAME_OVERHEAD):
        frames = split_frames(batch, size)
        assert all(len(f) <= size for f in frames)
        assert len(frames) == -(-len(batch) // (size - FRAME_OVERHEAD))
        assert join_frames(frames) == batch
        assert join_frames(reversed(frames)) == batch


# --- what the encoder refuses ----------------------------------------------------------


def _other_chain_tx() -> bytes:
    key = dev_private_keys()[0]
    return bytes(Account.from_key(key).sign_transaction(
        {"type": 2, "chainId": 1, "nonce": 0, "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1,
         "gas": 21_000, "to": b"\x11" * 20, "value": 1}).raw_transaction)


def _other_chain_legacy() -> bytes:
    key = dev_private_keys()[0]
    return bytes(Account.from_key(key).sign_transaction(
        {"chainId": 1, "nonce": 0, "gasPrice": 10**9, "gas": 21_000, "to": b"\x11" * 20, "value": 1}).raw_transaction)


@pytest.mark.parametrize(
    ("blocks", "match"),
    [
        ([], "at least one block"),
        ([entry(0)], "genesis"),
        ([entry(5), entry(7)], "does not follow"),
        ([entry(5, timestamp=10), entry(6, timestamp=9)], "timestamp"),
        ([entry(5, origin=3), entry(6, origin=5)], "L1 origin moves"),
        ([entry(5, origin=3), entry(6, origin=2)], "L1 origin moves"),
        ([entry(5, (_other_chain_tx(),))], "chain 1, not 161299"),
        ([entry(5, (_other_chain_legacy(),))], "not of chain 161299"),
        ([entry(5, (b"\x03" + b"\xc0",))], "0x03"),
        ([entry(5, (b"",))], "empty"),
        ([entry(5, (sample_txs()["legacy"] + b"\x00",))], "not RLP"),
        ([entry(5, (b"\x02\xc3\x01\x02\x03",))], "fields"),
    ],
)
def test_the_encoder_refuses_what_a_batch_cannot_carry(blocks: list[BlockEntry], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_batch(blocks, CHAIN_ID)


def test_the_encoder_refuses_a_non_canonical_transaction() -> None:
    raw = bytearray(sample_txs()["dynamic-fee"])
    # the nonce (1, one byte 0x01) written as the one-byte string 0x81 0x01
    tx_body = bytes(raw)
    index = tx_body.index(bytes([0x83, 0x02, 0x76, 0x13, 0x01])) + 4
    longer = tx_body[:index] + b"\x81\x01" + tx_body[index + 1 :]
    longer = longer[:1] + bytes([longer[1], longer[2] + 1]) + longer[3:]
    with pytest.raises(ValueError, match="canonical|RLP"):
        parse_tx(longer, CHAIN_ID)
