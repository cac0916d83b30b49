"""RLP encoding of plain values (byte strings, non-negative integers, lists of
them), as `rlp.encode` gives it without a sedes, in one pass: the `rlp`
package infers a sedes for every item first, which made encoding receipts and
block bodies a tenth of sealing a block of transfers."""

from __future__ import annotations

from collections.abc import Sequence

Item = bytes | bytearray | int | Sequence["Item"]


def length_prefix(length: int, base: int) -> bytes:
    """The RLP prefix of a string (base 0x80) or list (base 0xC0) payload of `length` bytes."""
    if length < 56:
        return bytes((base + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((base + 55 + len(encoded),)) + encoded


def encode_rlp(item: Item) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return length_prefix(len(item), 0x80) + bytes(item)
    if isinstance(item, int):
        if item < 0:
            raise ValueError(f"RLP cannot encode the negative integer {item}")
        return encode_rlp(item.to_bytes((item.bit_length() + 7) // 8, "big"))
    payload = b"".join([encode_rlp(part) for part in item])
    return length_prefix(len(payload), 0xC0) + payload
