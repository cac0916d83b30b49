"""Root of an ordered Merkle-Patricia trie (transactions, receipts) in one pass.

Blocks commit to their transactions and receipts as the trie keyed by
rlp(index). Building it with insertions into a HexaryTrie re-hashes the path on
every insert; here the keys are known up front, so the trie is built bottom-up
once, each node encoded and hashed a single time, and a parent takes its
children's encodings as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth_hash.auto import keccak

from openledger_node.execution.rlp_codec import encode_list, encode_rlp, encode_string

BLANK_ROOT = keccak(rlp.encode(b""))


def _nibbles(key: bytes) -> tuple[int, ...]:
    out: list[int] = []
    for byte in key:
        out.append(byte >> 4)
        out.append(byte & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        prefixed = [flag + 1, *nibbles]
    else:
        prefixed = [flag, 0, *nibbles]
    return bytes(prefixed[i] * 16 + prefixed[i + 1] for i in range(0, len(prefixed), 2))


def _reference(encoded: bytes) -> bytes:
    """A child as its parent holds it (encoded): inline when its encoding is
    under 32 bytes, else its hash."""
    return encoded if len(encoded) < 32 else b"\xa0" + keccak(encoded)


def _build(items: Sequence[tuple[tuple[int, ...], bytes]], depth: int) -> bytes:
    """The encoded node over `items` (sorted by key) below `depth` nibbles: each
    node is encoded once, and its parent takes those bytes as they are."""
    if len(items) == 1:
        key, value = items[0]
        return encode_list([encode_string(_hex_prefix(key[depth:], True)), encode_string(value)])
    # Longest common prefix beyond `depth` becomes an extension node.
    first, last = items[0][0], items[-1][0]  # items are sorted, so these bound the prefix
    common = depth
    while common < len(first) and common < len(last) and first[common] == last[common]:
        common += 1
    if common > depth:
        child = _build(items, common)
        return encode_list([encode_string(_hex_prefix(first[depth:common], False)), _reference(child)])
    branch = [b"\x80"] * 17
    start = 0
    if len(items[0][0]) == depth:  # a key ends here: its value sits in the branch
        branch[16] = encode_string(items[0][1])
        start = 1
    group_start = start
    for i in range(start, len(items) + 1):
        if i == len(items) or (i > group_start and items[i][0][depth] != items[group_start][0][depth]):
            nibble = items[group_start][0][depth]
            branch[nibble] = _reference(_build(items[group_start:i], depth + 1))
            group_start = i
    return encode_list(branch)


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """Root of the trie {rlp(i): values[i]}."""
    if not values:
        return BLANK_ROOT
    items = sorted((_nibbles(encode_rlp(i)), bytes(v)) for i, v in enumerate(values))
    return keccak(_build(items, 0))
