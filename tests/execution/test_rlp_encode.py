"""encode_rlp gives rlp.encode's bytes for every plain value."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from openledger_node.execution.rlp_encode import encode_rlp

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
