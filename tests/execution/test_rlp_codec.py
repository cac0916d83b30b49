"""encode_rlp gives rlp.encode's bytes for every plain value; decode_rlp reads what
rlp.decode(strict=True) reads, and refuses what it refuses."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from openledger_node.execution.rlp_codec import RlpDecodeError, decode_rlp, encode_rlp

values = st.recursive(
    st.binary(max_size=80) | st.integers(min_value=0, max_value=2**300),
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner),
    max_leaves=40,
)


@given(values)
def test_encode_rlp_matches_the_rlp_package(value: object) -> None:
    assert encode_rlp(value) == rlp.encode(value)  # type: ignore[arg-type]


def test_long_payloads_take_a_length_of_length() -> None:
    for size in (55, 56, 255, 256, 70_000):
        assert encode_rlp(b"\x01" * size) == rlp.encode(b"\x01" * size)
        assert encode_rlp([b"\x01"] * size) == rlp.encode([b"\x01"] * size)


def test_a_negative_integer_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="negative integer -1"):
        encode_rlp(-1)


def _rlp_package_decodes(data: bytes) -> object:
    try:
        return rlp.decode(data, strict=True)
    except Exception:  # the rlp package raises DecodingError, and IndexError on some truncations
        return None


def _ours(data: bytes) -> object:
    try:
        return decode_rlp(data)
    except RlpDecodeError:
        return None


@given(values)
def test_decode_rlp_reads_what_encode_wrote(value: object) -> None:
    encoded = encode_rlp(value)  # type: ignore[arg-type]
    assert decode_rlp(encoded) == rlp.decode(encoded)


@given(values, st.data())
def test_decode_rlp_accepts_and_refuses_what_the_rlp_package_does(value: object, data: st.DataObject) -> None:
    """Mutated encodings (a byte changed, inserted, dropped, or bytes appended):
    the same verdict and the same items as `rlp.decode(strict=True)`."""
    encoded = bytearray(encode_rlp(value))  # type: ignore[arg-type]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = data.draw(st.integers(min_value=0, max_value=len(encoded)))
        action = data.draw(st.sampled_from(["set", "insert", "drop", "append"]))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if action == "set" and where < len(encoded):
            encoded[where] = byte
        elif action == "insert":
            encoded.insert(where, byte)
        elif action == "drop" and where < len(encoded):
            del encoded[where]
        else:
            encoded += bytes([byte])
    assert _ours(bytes(encoded)) == _rlp_package_decodes(bytes(encoded))


@given(st.binary(max_size=64))
def test_decode_rlp_on_arbitrary_bytes_agrees_with_the_rlp_package(data: bytes) -> None:
    assert _ours(data) == _rlp_package_decodes(data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"\x81\x05", "must encode as itself"),
        (b"\xb8\x05hello", "long form for a length under 56"),
        (b"\xb9\x00\x40" + b"x" * 64, "starts with a zero byte"),
        (b"\x83ab", "3 bytes announced, 2 there"),
        (b"\xc2\x01\x02\x03", "trailing bytes"),
        (b"\xc3\x83ab", "3 bytes announced, 2 there"),
    ],
)
def test_decode_rlp_names_what_is_wrong(data: bytes, problem: str) -> None:
    with pytest.raises(RlpDecodeError, match=problem):
        decode_rlp(data)
