"""RLP of plain values (byte strings, non-negative integers, lists of them), in
one pass each way.

`encode_rlp` gives `rlp.encode`'s bytes without a sedes: the `rlp` package
infers a sedes for every item first, which made encoding receipts and block
bodies a tenth of sealing a block of transfers.

`decode_rlp` accepts exactly what `rlp.decode(data, strict=True)` accepts (the
canonical encoding, nothing after it) and gives the same nested lists of byte
strings: the `rlp` package builds each item's encoding beside it as it goes,
which made decoding half the cost of taking a transaction from the wire."""

from __future__ import annotations

from collections.abc import Sequence

Item = bytes | bytearray | int | Sequence["Item"]


def length_prefix(length: int, base: int) -> bytes:
    """The RLP prefix of a string (base 0x80) or list (base 0xC0) payload of `length` bytes."""
    if length < 56:
        return bytes((base + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((base + 55 + len(encoded),)) + encoded


def encode_string(value: bytes | bytearray) -> bytes:
    """RLP of a byte string."""
    if len(value) == 1 and value[0] < 0x80:
        return bytes(value)
    return length_prefix(len(value), 0x80) + bytes(value)


def encode_list(parts: Sequence[bytes]) -> bytes:
    """RLP of a list whose items are already encoded."""
    payload = b"".join(parts)
    return length_prefix(len(payload), 0xC0) + payload


def encode_rlp(item: Item) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return encode_string(item)
    if isinstance(item, int):
        if item < 0:
            raise ValueError(f"RLP cannot encode the negative integer {item}")
        return encode_string(item.to_bytes((item.bit_length() + 7) // 8, "big"))
    return encode_list([encode_rlp(part) for part in item])


class RlpDecodeError(ValueError):
    """Bytes that are not the canonical RLP of one item."""


def decode_rlp(data: bytes) -> Item:
    """The item `data` encodes; raises `RlpDecodeError` naming what is wrong."""
    data = bytes(data)
    if not data:
        raise RlpDecodeError("RLP input is empty")
    is_list, start, end = _header(data, 0, len(data))
    if end != len(data):
        raise RlpDecodeError(f"RLP item ends at byte {end} of {len(data)}: trailing bytes")
    return _list(data, start, end) if is_list else data[start:end]


def _header(data: bytes, pos: int, limit: int) -> tuple[bool, int, int]:
    """(is a list, payload start, payload end) of the item at `pos`, which must be
    in canonical form and end by `limit`."""
    b0 = data[pos]
    if b0 < 0x80:
        return False, pos, pos + 1
    if b0 < 0xB8:
        start = pos + 1
        end = start + b0 - 0x80
        if b0 == 0x81 and start < limit and data[start] < 0x80:
            raise RlpDecodeError(f"RLP byte at {pos}: a single byte below 0x80 must encode as itself")
        is_list = False
    elif b0 < 0xC0 or b0 >= 0xF8:
        width = b0 - (0xB7 if b0 < 0xC0 else 0xF7)
        start = pos + 1 + width
        if start > limit:
            raise RlpDecodeError(f"RLP item at {pos}: its length runs past the end")
        if data[pos + 1] == 0:
            raise RlpDecodeError(f"RLP item at {pos}: its length starts with a zero byte")
        length = int.from_bytes(data[pos + 1 : start], "big")
        if length < 56:
            raise RlpDecodeError(f"RLP item at {pos}: a long form for a length under 56")
        end = start + length
        is_list = b0 >= 0xC0
    else:
        start = pos + 1
        end = start + b0 - 0xC0
        is_list = True
    if end > limit:
        raise RlpDecodeError(f"RLP item at {pos}: {end - start} bytes announced, {limit - start} there")
    return is_list, start, end


def _list(data: bytes, pos: int, end: int) -> list[Item]:
    items: list[Item] = []
    append = items.append
    while pos < end:
        b0 = data[pos]
        if b0 < 0x80:  # the common cases first, inline: a single byte, a short string
            append(data[pos : pos + 1])
            pos += 1
            continue
        if 0x81 < b0 < 0xB8 or b0 == 0x80:
            stop = pos + b0 - 0x7F
            if stop > end:
                raise RlpDecodeError(f"RLP item at {pos}: {b0 - 0x80} bytes announced, {end - pos - 1} there")
            append(data[pos + 1 : stop])
            pos = stop
            continue
        is_list, start, stop = _header(data, pos, end)
        append(_list(data, start, stop) if is_list else data[start:stop])
        pos = stop
    return items
