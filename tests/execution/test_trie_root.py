import os

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from openledger_node.execution.trie_root import BLANK_ROOT, ordered_trie_root


def reference_root(values: list[bytes]) -> bytes:
    trie = HexaryTrie({})
    for i, value in enumerate(values):
        trie[rlp.encode(i)] = value
    return bytes(trie.root_hash)


def test_empty_list_gives_blank_root() -> None:
    assert ordered_trie_root([]) == BLANK_ROOT == reference_root([])


@pytest.mark.parametrize("count", [1, 2, 15, 16, 17, 127, 128, 129, 130, 256, 1000])
@pytest.mark.parametrize("size", [1, 3, 31, 32, 120])
def test_matches_hexary_trie(count: int, size: int) -> None:
    values = [os.urandom(size) for _ in range(count)]
    assert ordered_trie_root(values) == reference_root(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=70), max_size=300))
def test_matches_hexary_trie_random(values: list[bytes]) -> None:
    assert ordered_trie_root(values) == reference_root(values)
