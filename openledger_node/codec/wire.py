"""The primitive fields of the batch payload: uvarints, u256, fixed bytes and
bitlists (docs/protocol.md, "Primitive types"). Writers append to a bytearray;
the `Reader` refuses anything non-canonical or past the end with
`BatchDecodeError`, and checks a count against the bytes left before a caller
allocates for it."""

from __future__ import annotations

from collections.abc import Iterable

from openledger_node.codec.params import MAX_UINT64, MAX_UINT256
from openledger_node.exceptions import BatchDecodeError


def write_uvarint(out: bytearray, value: int) -> None:
    """Unsigned LEB128, at most 64 bits."""
    if not 0 <= value <= MAX_UINT64:
        raise ValueError(f"uvarint out of range: {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_u256(out: bytearray, value: int) -> None:
    """A length byte (0..32) and the value big-endian without leading zeros."""
    if not 0 <= value <= MAX_UINT256:
        raise ValueError(f"u256 out of range: {value}")
    length = (value.bit_length() + 7) // 8
    out.append(length)
    out += value.to_bytes(length, "big")


def write_bits(out: bytearray, bits: Iterable[bool]) -> None:
    """Bit i is bit (i mod 8), least significant first, of byte i // 8; the
    unused bits of the last byte are zero."""
    byte = 0
    count = 0
    for bit in bits:
        if bit:
            byte |= 1 << (count % 8)
        count += 1
        if count % 8 == 0:
            out.append(byte)
            byte = 0
    if count % 8:
        out.append(byte)


class Reader:
    """A cursor over the payload; every method refuses short or non-canonical input."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def fail(self, reason: str) -> BatchDecodeError:
        return BatchDecodeError(f"{reason} (payload offset {self.pos})")

    def require(self, count: int, item_bytes: int, what: str) -> None:
        """Refuse a count of items of at least `item_bytes` each that the rest
        of the payload cannot hold, before anything is allocated for them."""
        if count * item_bytes > self.remaining:
            raise self.fail(f"{what}: {count} need at least {count * item_bytes} bytes, {self.remaining} left")

    def fixed(self, length: int, what: str) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise self.fail(f"{what}: truncated, need {length} bytes, {self.remaining} left")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise self.fail(f"{what}: truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uvarint(self, what: str, maximum: int = MAX_UINT64) -> int:
        data, pos = self.data, self.pos
        value = 0
        shift = 0
        while True:
            if pos >= len(data):
                raise self.fail(f"{what}: truncated uvarint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if byte == 0 and shift:
                    raise self.fail(f"{what}: uvarint not minimal")
                break
            shift += 7
            if shift > 63:
                raise self.fail(f"{what}: uvarint longer than 10 bytes")
        if value > maximum:
            raise self.fail(f"{what}: {value} is over the limit {maximum}")
        self.pos = pos
        return value

    def u256(self, what: str) -> int:
        length = self.byte(what)
        if length > 32:
            raise self.fail(f"{what}: u256 of {length} bytes")
        raw = self.fixed(length, what)
        if length and raw[0] == 0:
            raise self.fail(f"{what}: u256 with a leading zero byte")
        return int.from_bytes(raw, "big")

    def bits(self, count: int, what: str) -> list[bool]:
        raw = self.fixed((count + 7) // 8, what)
        if count % 8 and raw[-1] >> (count % 8):
            raise self.fail(f"{what}: padding bits are not zero")
        return [bool(raw[i >> 3] >> (i & 7) & 1) for i in range(count)]
