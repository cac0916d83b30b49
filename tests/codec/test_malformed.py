"""Every malformed batch and frame set is refused with `BatchDecodeError`, before
anything is allocated for a count that the input cannot back."""

from __future__ import annotations

import tracemalloc

import brotli
import pytest

from openledger_node.codec import (
    BatchDecodeError,
    Frame,
    decode_batch,
    decode_payload,
    encode_batch,
    encode_payload,
    join_frames,
    parse_frame,
    split_frames,
)
from openledger_node.codec.compression import compress, decompress
from openledger_node.codec.params import (
    BATCH_VERSION,
    MAX_BATCH_BYTES,
    MAX_BLOCKS_PER_BATCH,
    MAX_FRAME_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_TXS_PER_BLOCK,
)
from openledger_node.codec.wire import write_u256, write_uvarint
from tests.codec.samples import CHAIN_ID, entry, mixed_blocks, sample_txs


def refused(data: bytes, match: str | None = None) -> BatchDecodeError:
    with pytest.raises(BatchDecodeError, match=match) as info:
        decode_batch(data, CHAIN_ID)
    return info.value


def refused_payload(payload: bytes, match: str | None = None) -> BatchDecodeError:
    with pytest.raises(BatchDecodeError, match=match) as info:
        decode_payload(payload, CHAIN_ID)
    # and the same payload, compressed, through the front door
    with pytest.raises(BatchDecodeError, match=match):
        decode_batch(bytes([BATCH_VERSION]) + compress(payload), CHAIN_ID)
    return info.value


def uv(*values: int) -> bytes:
    out = bytearray()
    for value in values:
        write_uvarint(out, value)
    return bytes(out)


PREFIX = uv(5, 1_000, 3) + b"\xaa" * 20 + b"\xbb" * 20  # first block, timestamp, L1 origin, checks


def one_tx_payload(tx_type: int = 2, creation: int = 0, tail: bytes | None = None) -> bytes:
    """A one-block, one-transaction payload written by hand, up to the columns
    after the signature and recipient (`tail` replaces them)."""
    head = PREFIX + uv(1) + uv(1) + bytes([tx_type, creation, 0]) + (b"" if tx_type else b"\x00")
    body = b"\x11" * 64 + (b"" if creation else b"\x22" * 20)
    if tail is None:
        out = bytearray()
        write_uvarint(out, 0)  # nonce
        write_uvarint(out, 21_000)  # gas
        write_u256(out, 1)  # value
        write_u256(out, 10**9)  # fee cap
        if tx_type in (2, 4):
            write_u256(out, 1)  # tip
        write_uvarint(out, 0)  # data length
        if tx_type:
            write_uvarint(out, 0)  # access list
        if tx_type == 4:
            write_uvarint(out, 0)  # authorizations
        tail = bytes(out)
    return head + body + tail


def test_the_hand_written_payload_is_valid() -> None:
    for tx_type in (0, 1, 2, 4):
        [block] = decode_payload(one_tx_payload(tx_type), CHAIN_ID).blocks
        assert block.number == 5 and len(block.transactions) == 1


# --- truncation, version, trailing bytes ------------------------------------------------


def test_every_truncation_of_a_batch_is_refused() -> None:
    batch = encode_batch(mixed_blocks(), CHAIN_ID)
    for end in range(len(batch)):
        refused(batch[:end])


def test_every_truncation_of_a_payload_is_refused() -> None:
    payload = encode_payload(mixed_blocks(), CHAIN_ID)
    for end in range(len(payload)):
        with pytest.raises(BatchDecodeError):
            decode_payload(payload[:end], CHAIN_ID)


@pytest.mark.parametrize("version", [0x00, 0x02, 0x7E, 0xFF])
def test_an_unknown_version_is_refused(version: int) -> None:
    batch = encode_batch(mixed_blocks(), CHAIN_ID)
    refused(bytes([version]) + batch[1:], f"version 0x{version:02x}")


def test_bytes_after_the_stream_or_the_payload_are_refused() -> None:
    batch = encode_batch(mixed_blocks(), CHAIN_ID)
    refused(batch + b"\x00", "corrupt brotli")
    refused(batch + batch[1:], "corrupt brotli")
    refused_payload(encode_payload(mixed_blocks(), CHAIN_ID) + b"\x00", "trailing bytes")


def test_garbage_for_the_stream_is_refused() -> None:
    refused(b"\x01" + b"\xff" * 64, "brotli")
    refused(b"\x01", "brotli")


# --- sizes and counts -------------------------------------------------------------------


def test_a_batch_over_its_size_limit_is_refused_before_decompressing() -> None:
    refused(b"\x01" + bytes(MAX_BATCH_BYTES), "over the limit")


def test_a_payload_over_its_size_limit_is_refused() -> None:
    with pytest.raises(BatchDecodeError, match="over the limit"):
        decode_payload(bytes(MAX_PAYLOAD_BYTES + 1), CHAIN_ID)


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = bytes([BATCH_VERSION]) + brotli.compress(bytes(MAX_PAYLOAD_BYTES * 3), quality=11)
    assert len(bomb) < 1000
    tracemalloc.start()
    try:
        refused(bomb, f"over {MAX_PAYLOAD_BYTES} bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_PAYLOAD_BYTES * 1.5


def test_decompress_takes_a_smaller_limit() -> None:
    stream = compress(bytes(1000))
    assert decompress(stream, 1000) == bytes(1000)
    with pytest.raises(BatchDecodeError, match="over 999 bytes"):
        decompress(stream, 999)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (PREFIX + uv(MAX_BLOCKS_PER_BATCH + 1), "block_count.*over the limit"),
        (PREFIX + uv(0), "at least one block"),
        (PREFIX + uv(1000) + b"\x00" * 10, "blocks: 1000 need at least 1000 bytes"),
        (PREFIX + uv(1, MAX_TXS_PER_BLOCK + 1), "block_tx_counts.*over the limit"),
        (PREFIX + uv(17) + uv(*[1] * 16) + b"\x00\x00" + uv(*[MAX_TXS_PER_BLOCK] * 17), "over the limit 262144"),
        (PREFIX + uv(1, 100) + b"\x02" * 100, "transactions: 100 need at least 6400 bytes"),
        (uv(2**64 - 1, 1_000, 3) + b"\xaa" * 40 + uv(2, 1) + b"\x00" + uv(0, 0), "past 2\\*\\*64 - 1"),
        (PREFIX + uv(2, 2**64 - 1) + b"\x00" + uv(0, 0), "timestamp past"),
        (uv(5, 1_000, 0) + b"\xaa" * 40 + uv(2, 1) + b"\x01" + uv(0, 0), "more L1 origin changes"),
        (PREFIX + uv(2, 1) + b"\x02" + uv(0, 0), "padding bits"),
        (PREFIX + b"\x81\x00", "not minimal"),
        (b"\xff" * 11, "longer than 10 bytes"),
        (uv(0) + PREFIX[1:], "genesis"),
    ],
)
def test_counts_and_fields_out_of_bounds_are_refused(payload: bytes, match: str) -> None:
    refused_payload(payload, match)


@pytest.mark.parametrize("tx_type", [0x03, 0x05, 0x7E, 0xC0])
def test_a_type_a_batch_does_not_carry_is_refused(tx_type: int) -> None:
    refused_payload(one_tx_payload(tx_type), f"type 0x{tx_type:02x}")


def test_a_set_code_transaction_that_creates_is_refused() -> None:
    refused_payload(one_tx_payload(4, creation=1), "cannot create")


def test_bits_with_padding_set_are_refused() -> None:
    payload = bytearray(one_tx_payload(2))
    y_parity_at = len(PREFIX) + 2 + 2
    payload[y_parity_at] = 0x02
    refused_payload(bytes(payload), "y_parity_bits: padding")


def _tail(*parts: bytes) -> bytes:
    return b"".join(parts)


def u256(value: int) -> bytes:
    out = bytearray()
    write_u256(out, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("tail", "match"),
    [
        (b"\x80" * 9 + b"\x02", "over the limit"),
        (_tail(uv(0, 21_000), b"\x21" + b"\x01" * 33), "u256 of 33 bytes"),
        (_tail(uv(0, 21_000), b"\x02\x00\x01"), "leading zero"),
        (_tail(uv(0, 21_000), u256(1), u256(1), u256(1), uv(10**6)), "tx_datas: 1000000 need"),
        (_tail(uv(0, 21_000), u256(1), u256(1), u256(1), uv(0), uv(10**9)), "access list entries"),
        (_tail(uv(0, 21_000), u256(1), u256(1), u256(1), uv(0), uv(1), b"\x33" * 20, uv(10**6)),
         "storage keys: 1000000 need"),
    ],
)
def test_columns_out_of_bounds_are_refused(tail: bytes, match: str) -> None:
    refused_payload(one_tx_payload(2, tail=tail), match)


def test_an_authorization_count_past_the_input_is_refused() -> None:
    tail = _tail(uv(0, 21_000), u256(1), u256(1), u256(1), uv(0), uv(0), uv(10**8))
    refused_payload(one_tx_payload(4, tail=tail), "authorizations: 100000000 need")


# --- frames -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    made = split_frames(encode_batch(mixed_blocks(), CHAIN_ID), 200)
    assert len(made) >= 4
    return made


def rejoin(frames: list[bytes], match: str) -> None:
    with pytest.raises(BatchDecodeError, match=match):
        join_frames(frames)


def test_a_gap_is_refused(frames: list[bytes]) -> None:
    rejoin(frames[:1] + frames[2:], "frame 1 is missing")


def test_a_duplicate_is_refused(frames: list[bytes]) -> None:
    rejoin(frames + frames[1:2], "frame 1 appears twice")


def test_a_set_without_its_last_frame_is_refused(frames: list[bytes]) -> None:
    rejoin(frames[:-1], "no frame is marked last")


def test_two_last_frames_are_refused(frames: list[bytes]) -> None:
    early = parse_frame(frames[1])
    marked = Frame(early.batch_hash, early.number, early.data, True).encode()
    rejoin(frames[:1] + [marked] + frames[2:], "both marked last")


def test_a_frame_after_the_last_is_refused(frames: list[bytes]) -> None:
    last = parse_frame(frames[-1])
    after = Frame(last.batch_hash, last.number + 1, b"\x00", False).encode()
    rejoin(frames + [after], "after the last frame")


def test_frames_of_another_batch_are_refused(frames: list[bytes]) -> None:
    other = split_frames(encode_batch([entry(3, (sample_txs()["legacy"],))], CHAIN_ID), 200)
    rejoin(frames + other[:1], "is of batch")


def test_frames_whose_data_does_not_hash_to_their_name_are_refused(frames: list[bytes]) -> None:
    first = parse_frame(frames[0])
    changed = Frame(first.batch_hash, 0, bytes([first.data[0] ^ 1]) + first.data[1:], False).encode()
    rejoin([changed] + frames[1:], "do not hash")


def test_no_frames_is_refused() -> None:
    rejoin([], "no frames")


def test_an_oversized_frame_is_refused() -> None:
    big = Frame(b"\x00" * 32, 0, b"\x01" * MAX_FRAME_BYTES, True).encode()
    rejoin([big], "over the limit")


def test_frames_over_the_batch_limit_are_refused() -> None:
    piece = b"\x01" * (MAX_FRAME_BYTES - 100)
    many = [Frame(b"\x00" * 32, n, piece, False).encode() for n in range(MAX_BATCH_BYTES // len(piece) + 1)]
    rejoin(many, "frames carry over")


def test_every_truncation_of_a_frame_is_refused(frames: list[bytes]) -> None:
    for end in range(len(frames[0])):
        with pytest.raises(BatchDecodeError):
            parse_frame(frames[0][:end])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: b"\x01" + f[1:], "frame version"),
        (lambda f: f[:-1] + b"\x02", "is_last is 2"),
        (lambda f: f + b"\x00", "says"),
        (lambda f: f[:35] + (len(f) - 40 + 1).to_bytes(4, "big") + f[39:], "says"),
        (lambda f: f[:35] + bytes(4) + f[-1:], "no data"),
    ],
)
def test_a_malformed_frame_is_refused(frames: list[bytes], change: object, match: str) -> None:
    assert callable(change)
    with pytest.raises(BatchDecodeError, match=match):
        parse_frame(change(frames[0]))


def test_split_frames_refuses_impossible_sizes() -> None:
    with pytest.raises(ValueError):
        split_frames(b"\x01", 40)
    with pytest.raises(ValueError):
        split_frames(b"\x01", MAX_FRAME_BYTES + 1)
    with pytest.raises(ValueError):
        split_frames(b"", 1000)
