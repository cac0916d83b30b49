"""Write the golden vectors of docs/protocol.md to tests/codec/vectors/.

Run it only when the format changes on purpose (a new version), then review the
diff: `test_vectors.py` holds the encoder and decoder to these files.
Usage: python -m tests.codec.make_vectors
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openledger_node.codec import BlockEntry, encode_batch, encode_payload, split_frames
from openledger_node.codec.compression import compress
from openledger_node.codec.params import BATCH_VERSION
from tests.codec.samples import CHAIN_ID, entry, mixed_blocks, sample_txs

VECTORS = Path(__file__).resolve().parent / "vectors"


def _block_json(block: BlockEntry) -> dict[str, Any]:
    return {
        "number": block.number,
        "timestamp": block.timestamp,
        "l1_origin_number": block.l1_origin_number,
        "l1_origin_hash": "0x" + block.l1_origin_hash.hex(),
        "parent_hash": "0x" + block.parent_hash.hex(),
        "transactions": ["0x" + raw.hex() for raw in block.transactions],
    }


def valid_vectors() -> list[dict[str, Any]]:
    txs = sample_txs()
    cases = [
        ("one-transfer", "one block with one EIP-1559 transfer", [entry(1, (txs["dynamic-fee"],), origin=0)], 1000),
        ("empty-blocks", "three blocks without transactions; the L1 origin moves at the third",
         [entry(5, origin=3), entry(6, origin=3), entry(7, origin=4)], 1000),
        ("every-type", "legacy (EIP-155 and unprotected, a creation), EIP-2930 with an access list, "
                       "EIP-1559 (a creation, a 2**40 nonce, a 2**255 value), EIP-7702; an empty block",
         mixed_blocks(), 300),
    ]
    vectors = []
    for name, about, blocks, frame_bytes in cases:
        batch = encode_batch(blocks, CHAIN_ID)
        vectors.append({
            "name": name,
            "about": about,
            "chain_id": CHAIN_ID,
            "blocks": [_block_json(b) for b in blocks],
            "payload": "0x" + encode_payload(blocks, CHAIN_ID).hex(),
            "batch": "0x" + batch.hex(),
            "max_frame_bytes": frame_bytes,
            "frames": ["0x" + f.hex() for f in split_frames(batch, frame_bytes)],
        })
    return vectors


def invalid_vectors() -> list[dict[str, Any]]:
    """Batches every decoder must refuse, each with the rule it breaks."""
    good = encode_payload([entry(5, origin=3)], CHAIN_ID)
    version = bytes([BATCH_VERSION])

    def batch(payload: bytes) -> bytes:
        return version + compress(payload)

    cases = [
        ("empty", "no version byte", b""),
        ("unknown-version", "version 0x02", b"\x02" + compress(good)),
        ("bytes-after-stream", "a byte after the end of the brotli stream", batch(good) + b"\x00"),
        ("truncated-stream", "the brotli stream cut one byte short", batch(good)[:-1]),
        ("bytes-after-payload", "a byte after the last column", batch(good + b"\x00")),
        ("truncated-payload", "the payload cut one byte short", batch(good[:-1])),
        ("zero-blocks", "block_count 0", batch(good[:-2] + b"\x00")),
        ("uvarint-not-minimal", "first_block written as 0x85 0x00",
         batch(b"\x85\x00" + good[1:])),
        ("genesis", "first_block 0", batch(b"\x00" + good[1:])),
    ]
    return [{"name": n, "about": a, "chain_id": CHAIN_ID, "batch": "0x" + data.hex()} for n, a, data in cases]


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    for name, vectors in (("valid.json", valid_vectors()), ("invalid.json", invalid_vectors())):
        path = VECTORS / name
        path.write_text(json.dumps(vectors, indent=1) + "\n")
        print(f"wrote {path} ({len(vectors)} vectors)")


if __name__ == "__main__":
    main()
