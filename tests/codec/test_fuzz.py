"""Fuzzing the decoder: random bytes and random mutations of valid batches,
payloads and frame sets either decode or raise `BatchDecodeError`, never
another exception; and whatever payload decodes is the one its blocks encode to
(the payload is canonical). A small budget by default; the `slow` variants run
a large one (`pytest -m slow tests/codec/test_fuzz.py`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openledger_node.codec import (
    Batch,
    BatchDecodeError,
    BlockEntry,
    decode_batch,
    decode_payload,
    encode_batch,
    encode_payload,
    join_frames,
    split_frames,
)
from openledger_node.codec.params import BATCH_VERSION
from tests.codec.samples import CHAIN_ID, entry, mixed_blocks, sample_txs

FAST = 150
SLOW = 20_000
FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@lru_cache(maxsize=1)
def seeds() -> list[list[BlockEntry]]:
    txs = sample_txs()
    return [mixed_blocks(), [entry(7, origin=1), entry(8, origin=2)]] + [[entry(3, (raw,))] for raw in txs.values()]


def reencoded(batch: Batch) -> bytes:
    """The payload of a decoded batch's blocks (the checks padded to hashes)."""
    blocks = [
        BlockEntry(b.number, b.timestamp, b.l1_origin_number, batch.l1_origin_check + bytes(12),
                   batch.parent_check + bytes(12), b.transactions)
        for b in batch.blocks
    ]
    return encode_payload(blocks, CHAIN_ID)


def payload_decodes_or_refuses(payload: bytes) -> None:
    try:
        batch = decode_payload(payload, CHAIN_ID)
    except BatchDecodeError:
        return
    assert reencoded(batch) == payload


def batch_decodes_or_refuses(data: bytes) -> None:
    try:
        decode_batch(data, CHAIN_ID)
    except BatchDecodeError:
        pass


def frames_join_or_refuse(frames: list[bytes]) -> None:
    try:
        join_frames(frames)
    except BatchDecodeError:
        pass


Mutation = tuple[str, int, int]
mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "cut", "repeat"]),
              st.integers(0, 1 << 16), st.integers(0, 255)),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, changes: list[Mutation]) -> bytes:
    out = bytearray(data)
    for op, where, value in changes:
        at = where % (len(out) + 1)
        if op == "flip" and at < len(out):
            out[at] ^= 1 << (value % 8)
        elif op == "set" and at < len(out):
            out[at] = value
        elif op == "insert":
            out[at:at] = bytes([value])
        elif op == "delete":
            del out[at : at + 1 + value % 4]
        elif op == "cut":
            del out[at:]
        elif op == "repeat":
            out[at:at] = out[at : at + 1 + value % 32]
    return bytes(out)


def random_bytes_case(data: bytes) -> None:
    batch_decodes_or_refuses(data)
    batch_decodes_or_refuses(bytes([BATCH_VERSION]) + data)
    payload_decodes_or_refuses(data)


def mutated_payload_case(seed: int, changes: list[Mutation]) -> None:
    blocks = seeds()[seed % len(seeds())]
    payload_decodes_or_refuses(mutate(encode_payload(blocks, CHAIN_ID), changes))


def mutated_batch_case(seed: int, changes: list[Mutation]) -> None:
    blocks = seeds()[seed % len(seeds())]
    batch_decodes_or_refuses(mutate(encode_batch(blocks, CHAIN_ID), changes))


def mutated_frames_case(seed: int, changes: list[Mutation], order: list[int]) -> None:
    frames = split_frames(encode_batch(seeds()[seed % len(seeds())], CHAIN_ID), 120)
    chosen = [frames[i % len(frames)] for i in order]
    if chosen:
        chosen[0] = mutate(chosen[0], changes)
    frames_join_or_refuse(chosen)


def _variants(case: Callable[..., None], *strategies: st.SearchStrategy[object]) -> tuple[object, object]:
    fast = settings(max_examples=FAST, **FUZZ)(given(*strategies)(case))
    slow = pytest.mark.slow(settings(max_examples=SLOW, **FUZZ)(given(*strategies)(case)))
    return fast, slow


seed_index = st.integers(0, 100)
test_random_bytes_only_raise_the_typed_error, test_random_bytes_only_raise_the_typed_error_long = _variants(
    random_bytes_case, st.binary(max_size=512)
)
test_mutated_payloads_decode_canonically_or_raise, test_mutated_payloads_decode_canonically_or_raise_long = (
    _variants(mutated_payload_case, seed_index, mutations)
)
test_mutated_batches_only_raise_the_typed_error, test_mutated_batches_only_raise_the_typed_error_long = _variants(
    mutated_batch_case, seed_index, mutations
)
test_mutated_frame_sets_only_raise_the_typed_error, test_mutated_frame_sets_only_raise_the_typed_error_long = (
    _variants(mutated_frames_case, seed_index, mutations, st.lists(st.integers(0, 40), max_size=12))
)
