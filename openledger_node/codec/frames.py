"""Frames: a batch cut into pieces that each fit one L1 transaction, and put
back together (docs/protocol.md, "Frames").

Every frame names its batch by the batch's keccak256, so frames of different
batches never mix and the joined bytes are checked against the name. A frame
set is valid only whole: numbers 0..n without gaps or repeats, exactly one last
frame and it is frame n, every frame within the size limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_hash.auto import keccak

from openledger_node.codec.params import (
    FRAME_OVERHEAD,
    FRAME_VERSION,
    MAX_BATCH_BYTES,
    MAX_FRAME_BYTES,
    MAX_FRAMES_PER_BATCH,
)
from openledger_node.exceptions import BatchDecodeError


@dataclass(frozen=True, slots=True)
class Frame:
    batch_hash: bytes
    number: int
    data: bytes
    is_last: bool

    def encode(self) -> bytes:
        return (
            bytes([FRAME_VERSION])
            + self.batch_hash
            + self.number.to_bytes(2, "big")
            + len(self.data).to_bytes(4, "big")
            + self.data
            + bytes([self.is_last])
        )


def split_frames(batch: bytes, max_frame_bytes: int) -> list[bytes]:
    """`batch` cut into frames of at most `max_frame_bytes` bytes each, header
    included, in order; the last one is marked."""
    if not FRAME_OVERHEAD < max_frame_bytes <= MAX_FRAME_BYTES:
        raise ValueError(f"max_frame_bytes must be in ({FRAME_OVERHEAD}, {MAX_FRAME_BYTES}]")
    if not 0 < len(batch) <= MAX_BATCH_BYTES:
        raise ValueError(f"a batch has 1 to {MAX_BATCH_BYTES} bytes, not {len(batch)}")
    size = max_frame_bytes - FRAME_OVERHEAD
    pieces = [batch[i : i + size] for i in range(0, len(batch), size)]
    if len(pieces) > MAX_FRAMES_PER_BATCH:
        raise ValueError(f"{len(pieces)} frames, over the limit {MAX_FRAMES_PER_BATCH}: use larger frames")
    batch_hash = bytes(keccak(batch))
    return [
        Frame(batch_hash, number, piece, number == len(pieces) - 1).encode()
        for number, piece in enumerate(pieces)
    ]


def parse_frame(data: bytes) -> Frame:
    """One frame, exactly: no byte before or after it."""
    if len(data) > MAX_FRAME_BYTES:
        raise BatchDecodeError(f"frame of {len(data)} bytes, over the limit {MAX_FRAME_BYTES}")
    if len(data) < FRAME_OVERHEAD:
        raise BatchDecodeError(f"frame of {len(data)} bytes, shorter than its header")
    if data[0] != FRAME_VERSION:
        raise BatchDecodeError(f"unknown frame version 0x{data[0]:02x}")
    batch_hash = bytes(data[1:33])
    number = int.from_bytes(data[33:35], "big")
    length = int.from_bytes(data[35:39], "big")
    if length == 0:
        raise BatchDecodeError(f"frame {number} carries no data")
    if len(data) != FRAME_OVERHEAD + length:
        raise BatchDecodeError(f"frame {number} says {length} bytes of data, has {len(data) - FRAME_OVERHEAD}")
    is_last = data[-1]
    if is_last > 1:
        raise BatchDecodeError(f"frame {number}: is_last is {is_last}, not 0 or 1")
    return Frame(batch_hash, number, bytes(data[39:-1]), bool(is_last))


def join_frames(frames: Iterable[bytes]) -> bytes:
    """The batch a whole frame set carries, whatever order the frames come in.
    Raises `BatchDecodeError` for a set that is not exactly one batch's frames."""
    by_number: dict[int, Frame] = {}
    batch_hash: bytes | None = None
    last: int | None = None
    total = 0
    for raw in frames:
        frame = parse_frame(raw)
        if batch_hash is None:
            batch_hash = frame.batch_hash
        elif frame.batch_hash != batch_hash:
            raise BatchDecodeError(
                f"frame {frame.number} is of batch 0x{frame.batch_hash.hex()}, not 0x{batch_hash.hex()}"
            )
        if frame.number in by_number:
            raise BatchDecodeError(f"frame {frame.number} appears twice")
        if frame.is_last:
            if last is not None:
                raise BatchDecodeError(f"frames {last} and {frame.number} are both marked last")
            last = frame.number
        total += len(frame.data)
        if total > MAX_BATCH_BYTES:
            raise BatchDecodeError(f"frames carry over {MAX_BATCH_BYTES} bytes")
        by_number[frame.number] = frame
    if batch_hash is None:
        raise BatchDecodeError("no frames")
    if last is None:
        raise BatchDecodeError("no frame is marked last")
    missing = [n for n in range(last + 1) if n not in by_number]
    if missing:
        raise BatchDecodeError(f"frame {missing[0]} is missing ({len(missing)} missing before the last, {last})")
    if len(by_number) != last + 1:
        raise BatchDecodeError(f"frame {max(by_number)} comes after the last frame, {last}")
    batch = b"".join(by_number[n].data for n in range(last + 1))
    if keccak(batch) != batch_hash:
        raise BatchDecodeError(f"joined frames do not hash to their batch hash 0x{batch_hash.hex()}")
    return batch
