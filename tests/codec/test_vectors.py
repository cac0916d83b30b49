"""The golden vectors of docs/protocol.md (tests/codec/vectors/): the committed
hex decodes to the committed blocks, the blocks encode to the committed payload
and frames, and every invalid vector is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openledger_node.codec import (
    BatchDecodeError,
    BlockEntry,
    decode_batch,
    decode_payload,
    encode_batch,
    encode_payload,
    join_frames,
    split_frames,
)
from openledger_node.codec.compression import decompress

VECTORS = Path(__file__).resolve().parent / "vectors"
VALID: list[dict[str, Any]] = json.loads((VECTORS / "valid.json").read_text())
INVALID: list[dict[str, Any]] = json.loads((VECTORS / "invalid.json").read_text())


def unhex(text: str) -> bytes:
    assert text.startswith("0x")
    return bytes.fromhex(text[2:])


def blocks_of(vector: dict[str, Any]) -> list[BlockEntry]:
    return [
        BlockEntry(b["number"], b["timestamp"], b["l1_origin_number"], unhex(b["l1_origin_hash"]),
                   unhex(b["parent_hash"]), tuple(unhex(t) for t in b["transactions"]))
        for b in vector["blocks"]
    ]


def test_the_vectors_cover_every_type_and_several_frames() -> None:
    assert [v["name"] for v in VALID] == ["one-transfer", "empty-blocks", "every-type"]
    every_type = blocks_of(VALID[2])
    first_bytes = {raw[0] if raw[0] < 0xC0 else 0 for b in every_type for raw in b.transactions}
    assert first_bytes == {0, 1, 2, 4}
    assert len(VALID[2]["frames"]) > 1


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_the_committed_batch_decodes_to_the_committed_blocks(vector: dict[str, Any]) -> None:
    blocks = blocks_of(vector)
    batch = decode_batch(unhex(vector["batch"]), vector["chain_id"])
    assert [(b.number, b.timestamp, b.l1_origin_number, b.transactions) for b in batch.blocks] == [
        (b.number, b.timestamp, b.l1_origin_number, b.transactions) for b in blocks
    ]
    assert batch.parent_check == blocks[0].parent_hash[:20]
    assert batch.l1_origin_check == blocks[-1].l1_origin_hash[:20]
    assert decode_payload(unhex(vector["payload"]), vector["chain_id"]) == batch


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_the_committed_blocks_encode_to_the_committed_payload(vector: dict[str, Any]) -> None:
    """The payload is canonical and compared byte for byte; the compressed bytes
    are compared through decompression (another brotli build may choose another
    stream for the same payload, and any valid stream is a valid batch)."""
    blocks = blocks_of(vector)
    payload = unhex(vector["payload"])
    assert encode_payload(blocks, vector["chain_id"]) == payload
    ours = encode_batch(blocks, vector["chain_id"])
    assert ours[0] == unhex(vector["batch"])[0] == 0x01
    assert decompress(ours[1:]) == decompress(unhex(vector["batch"])[1:]) == payload


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_the_committed_frames_join_to_the_committed_batch(vector: dict[str, Any]) -> None:
    batch = unhex(vector["batch"])
    frames = [unhex(f) for f in vector["frames"]]
    assert split_frames(batch, vector["max_frame_bytes"]) == frames
    assert join_frames(frames) == batch


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_every_invalid_vector_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(BatchDecodeError):
        decode_batch(unhex(vector["batch"]), vector["chain_id"])
