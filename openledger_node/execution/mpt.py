"""Batch update of a Merkle-Patricia trie: one pass over all of a block's changes.

Sealing a block commits every changed account (and every changed storage slot) to
its trie. py-evm does it with one HexaryTrie insertion per key, which decodes,
re-encodes and hashes the whole path again for each key. `update_trie` takes the
block's changes at once, sorted, and walks the trie a single time: each node on a
changed path is read once, each new node is encoded and hashed once, and untouched
subtrees keep their references. The resulting nodes are exactly those HexaryTrie
would produce, in the same database layout, so py-evm reads them back unchanged.

Inside this module keys are hex strings, one character per nibble: slicing,
comparing and sorting them runs in C, and the hex-prefix path encoding of a node
is a `bytes.fromhex` away.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, TypeAlias, cast

from eth_hash.auto import keccak
from eth_typing import Hash32
from lru import LRU
from trie.exceptions import MissingTrieNode
from trie.typing import Nibbles

from openledger_node.execution.rlp_codec import length_prefix

BLANK_NODE = b""
BLANK_ROOT = keccak(b"\x80")  # keccak(rlp(b""))

# A decoded node: b"" (blank), [path, value] (leaf), [path, child] (extension) or a
# 17-item branch. A child reference is a 32-byte hash, or the child itself (a list)
# when its encoding is under 32 bytes, as HexaryTrie and rlp.decode represent them.
Node: TypeAlias = bytes | list[Any]
_Item: TypeAlias = tuple[str, bytes | None]  # (hex key, new value or None to delete)

_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}
_HEX = "0123456789abcdef"


class _MissingNode(Exception):
    def __init__(self, node_hash: bytes, key: str, depth: int) -> None:
        super().__init__(node_hash)
        self.node_hash = node_hash
        self.key = key
        self.depth = depth


# --- RLP, just what trie nodes need -------------------------------------------------


def _encode(node: list[Any]) -> bytes:
    """RLP of a (non-blank) node: a list of byte strings and inlined child nodes."""
    parts = []
    for item in node:
        if isinstance(item, list):
            parts.append(_encode(item))
            continue
        length = len(item)
        if length == 32:  # the common case: a child hash
            parts.append(b"\xa0" + item)
        elif length == 0:
            parts.append(b"\x80")
        elif length == 1 and item[0] < 0x80:
            parts.append(bytes(item))
        else:
            parts.append(length_prefix(length, 0x80) + item)
    payload = b"".join(parts)
    return length_prefix(len(payload), 0xC0) + payload


def _decode_list(data: bytes, start: int, end: int) -> list[Any]:
    items: list[Any] = []
    append = items.append
    pos = start
    while pos < end:
        prefix = data[pos]
        if prefix == 0xA0:
            append(data[pos + 1 : pos + 33])
            pos += 33
        elif prefix < 0x80:
            append(data[pos : pos + 1])
            pos += 1
        elif prefix < 0xB8:
            stop = pos + 1 + prefix - 0x80
            append(data[pos + 1 : stop])
            pos = stop
        elif prefix < 0xC0:
            width = prefix - 0xB7
            length = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
            pos += 1 + width
            append(data[pos : pos + length])
            pos += length
        else:
            if prefix < 0xF8:
                length = prefix - 0xC0
                pos += 1
            else:
                width = prefix - 0xF7
                length = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
                pos += 1 + width
            append(_decode_list(data, pos, pos + length))
            pos += length
    if pos != end:
        raise ValueError("malformed trie node: list payload overruns its length")
    return items


def _decode(data: bytes) -> Node:
    """A trie node from its RLP (always a list, or b"" for the blank node)."""
    data = bytes(data)
    prefix = data[0]
    if prefix == 0x80:
        return BLANK_NODE
    if prefix < 0xC0:
        raise ValueError("malformed trie node: not a list")
    if prefix < 0xF8:
        start = 1
        length = prefix - 0xC0
    else:
        width = prefix - 0xF7
        start = 1 + width
        length = int.from_bytes(data[1:start], "big")
    if start + length != len(data):
        raise ValueError("malformed trie node: trailing bytes")
    return _decode_list(data, start, start + length)


# The node decoder serves other RLP lists of byte strings too (accounts).
decode_node = _decode


# --- Hex-prefix paths ----------------------------------------------------------------


def _compact(path: str, leaf: bool) -> bytes:
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _split_compact(compact: bytes) -> tuple[str, bool]:
    """(path as hex nibbles, is_leaf) of a leaf or extension node's first item."""
    hexed = compact.hex()
    flag = hexed[0]
    path = hexed[1:] if flag in "13" else hexed[2:]
    return path, flag in "23"


# --- The update ----------------------------------------------------------------------


class _Updater:
    """One batch update. New nodes are collected in `writes` and reach the db only
    once the whole batch has succeeded, so a missing node leaves the db untouched."""

    def __init__(self, db: Mapping[bytes, bytes], cache: NodeCache | None) -> None:
        self.db = db
        self.cache = cache
        self.writes: dict[bytes, bytes] = {}
        self.new_nodes: dict[bytes, list[Any]] = {}  # the decoded `writes`, for the cache

    def resolve(self, ref: Node, key: str, depth: int) -> Node:
        if isinstance(ref, list) or ref == BLANK_NODE:
            return ref
        cache = self.cache
        if cache is not None:
            node = cache.nodes.get(ref)
            if node is not None:
                return node
        try:
            encoded = self.db[ref]
        except KeyError:
            raise _MissingNode(ref, key, depth) from None
        decoded = _decode(encoded)
        if cache is not None and isinstance(decoded, list):
            cache.add(ref, decoded)
        return decoded

    def ref(self, node: list[Any]) -> Node:
        """The node as its parent holds it, stored in the db when 32 bytes or more."""
        encoded = _encode(node)
        if len(encoded) < 32:
            return node
        node_hash = keccak(encoded)
        self.writes[node_hash] = encoded
        self.new_nodes[node_hash] = node
        return node_hash

    # Nodes built from scratch (no old node below this point).

    def build(self, depth: int, items: list[_Item]) -> list[Any]:
        """The subtree holding `items` (sorted, none a deletion, at least one) below
        `depth`."""
        if len(items) == 1:
            key, value = items[0]
            return [_compact(key[depth:], True), value]
        first, last = items[0][0], items[-1][0]
        common = depth
        limit = min(len(first), len(last))
        while common < limit and first[common] == last[common]:
            common += 1
        if common > depth:
            return [_compact(first[depth:common], False), self.ref(self.build_branch(common, items))]
        return self.build_branch(depth, items)

    def build_branch(self, depth: int, items: list[_Item]) -> list[Any]:
        branch: list[Any] = [BLANK_NODE] * 17
        start = 0
        if len(items[0][0]) == depth:
            branch[16] = items[0][1]
            start = 1
        for nibble, group in _groups(items, start, depth):
            branch[nibble] = self.ref(self.build(depth + 1, group))
        return branch

    # Updates of existing nodes. Each returns the new node, or the old node object
    # itself when nothing under it changed.

    def apply(self, node: Node, depth: int, items: list[_Item]) -> Node:
        if not isinstance(node, list):  # the blank node
            inserts = [item for item in items if item[1] is not None]
            return self.build(depth, inserts) if inserts else node
        if len(node) == 17:
            return self.apply_branch(node, depth, items)
        path, is_leaf = _split_compact(node[0])
        if is_leaf:
            return self.apply_leaf(node, path, depth, items)
        return self.apply_extension(node, path, node[1], depth, items)

    def apply_leaf(self, node: list[Any], path: str, depth: int, items: list[_Item]) -> Node:
        # A leaf holds one key: merge it with the changes and build the subtree anew.
        end = depth + len(path)
        merged: list[_Item] = []
        leaf_seen = False
        for item in items:
            key, value = item
            if len(key) == end and key.endswith(path):
                leaf_seen = True
                if value is not None and len(items) == 1:
                    return node if value == node[1] else [node[0], value]
            if value is not None:
                merged.append(item)
        if not leaf_seen:
            merged.append((items[0][0][:depth] + path, node[1]))
            merged.sort()
        if not merged:
            return BLANK_NODE
        new = self.build(depth, merged)
        return node if new == node else new

    def apply_extension(
        self, node: list[Any], path: str, child_ref: Node, depth: int, items: list[_Item]
    ) -> Node:
        end = depth + len(path)
        inside: list[_Item] = []
        diverging: list[_Item] = []
        for item in items:
            key = item[0]
            if len(key) >= end and key.startswith(path, depth):
                inside.append(item)
            elif item[1] is not None:  # deleting a key that is not here changes nothing
                diverging.append(item)
        if not diverging:
            if not inside:
                return node
            child = self.resolve(child_ref, inside[0][0], end)
            new_child = self.apply(child, end, inside)
            if new_child is child:
                return node
            return self.prefixed(path, new_child, None)

        # A new key leaves the path: the extension splits at the first nibble where
        # one does, into (shorter extension ->) branch -> (rest of the old extension).
        split = len(path)
        for key, _ in diverging:
            common = 0
            limit = min(split, len(key) - depth)
            while common < limit and key[depth + common] == path[common]:
                common += 1
            split = common
        at = depth + split
        head = path[: split + 1]
        old_side = [item for item in items if item[0].startswith(head, depth)]
        new_side = [
            item for item in items if item[1] is not None and not item[0].startswith(head, depth)
        ]
        slots: list[Any] = [BLANK_NODE] * 17
        new_nodes: dict[int, Node] = {}
        old_nibble = _NIBBLE[path[split]]
        rest = path[split + 1 :]
        if rest:
            shortened = [_compact(rest, False), child_ref]
            new_nodes[old_nibble] = (
                self.apply_extension(shortened, rest, child_ref, at + 1, old_side)
                if old_side
                else shortened
            )
        elif old_side:
            child = self.resolve(child_ref, old_side[0][0], at + 1)
            new_nodes[old_nibble] = self.apply(child, at + 1, old_side)
        else:
            slots[old_nibble] = child_ref  # unchanged below the split: keep its reference
        start = 0
        if new_side and len(new_side[0][0]) == at:
            slots[16] = new_side[0][1]
            start = 1
        for nibble, group in _groups(new_side, start, at):
            new_nodes[nibble] = self.build(at + 1, group)
        branch = self.finish_branch(slots, new_nodes, items[0][0], at)
        return self.prefixed(path[:split], branch, None) if split else branch

    def apply_branch(self, node: list[Any], depth: int, items: list[_Item]) -> Node:
        slots = list(node)
        new_nodes: dict[int, Node] = {}
        start = 0
        if len(items[0][0]) == depth:
            value = items[0][1]
            slots[16] = BLANK_NODE if value is None else value
            start = 1
        for nibble, group in _groups(items, start, depth):
            child = self.resolve(slots[nibble], group[0][0], depth + 1)
            new_child = self.apply(child, depth + 1, group)
            if new_child is not child:
                new_nodes[nibble] = new_child
        if not new_nodes and slots[16] == node[16]:
            return node
        return self.finish_branch(slots, new_nodes, items[0][0], depth)

    def finish_branch(
        self, slots: list[Any], new_nodes: dict[int, Node], key: str, depth: int
    ) -> Node:
        """A branch from its kept references (`slots`) and its new children; one
        left with a single entry collapses into a leaf or extension."""
        for nibble, child in new_nodes.items():
            if not isinstance(child, list):
                slots[nibble] = BLANK_NODE
        occupied = [nibble for nibble in range(16) if slots[nibble] != BLANK_NODE
                    or isinstance(new_nodes.get(nibble), list)]
        if len(occupied) + (slots[16] != BLANK_NODE) >= 2:
            for nibble, child in new_nodes.items():
                if isinstance(child, list):
                    slots[nibble] = self.ref(child)
            return slots
        if not occupied:
            return [_compact("", True), slots[16]] if slots[16] != BLANK_NODE else BLANK_NODE
        (nibble,) = occupied
        if nibble in new_nodes:
            return self.prefixed(_HEX[nibble], new_nodes[nibble], None)
        # The only child left was not touched: read it to merge its path into ours.
        child_ref = slots[nibble]
        child = self.resolve(child_ref, key, depth + 1)
        return self.prefixed(_HEX[nibble], child, child_ref)

    def prefixed(self, prefix: str, node: Node, known_ref: Node | None) -> Node:
        """`node` reached through the nibbles `prefix`: paths of leaves and extensions
        merge, a branch gets an extension above it."""
        if not isinstance(node, list):
            return BLANK_NODE
        if len(node) == 17:
            return [_compact(prefix, False), self.ref(node) if known_ref is None else known_ref]
        path, is_leaf = _split_compact(node[0])
        return [_compact(prefix + path, is_leaf), node[1]]


def _groups(items: list[_Item], start: int, depth: int) -> Iterator[tuple[int, list[_Item]]]:
    """(nibble, items) runs of sorted `items[start:]` by their nibble at `depth`."""
    count = len(items)
    i = start
    while i < count:
        char = items[i][0][depth]
        j = i + 1
        while j < count and items[j][0][depth] == char:
            j += 1
        yield _NIBBLE[char], items[i:j]
        i = j


def update_trie(
    db: MutableMapping[bytes, bytes],
    root: bytes,
    changes: Mapping[bytes, bytes | None],
    cache: NodeCache | None = None,
) -> bytes:
    """Apply `changes` (key -> new value; None or b"" deletes) to the trie at `root`
    in `db` and return the new root hash.

    New nodes are written to `db`; old ones are left in place (history is kept).
    The root node is stored under its hash even when it is shorter than 32 bytes,
    and the blank root is not stored, both as HexaryTrie does. A node that the
    update needs but `db` lacks raises trie's MissingTrieNode, with `db` unchanged.
    With `cache`, the nodes read come from (and go to) that cache, and so do the
    nodes written, once the update has succeeded.
    """
    items: list[_Item] = sorted((bytes(key).hex(), value or None) for key, value in changes.items())
    if not items:
        return root
    updater = _Updater(db, cache)
    try:
        old = updater.resolve(root, items[0][0], 0) if root != BLANK_ROOT else BLANK_NODE
        new = updater.apply(old, 0, items)
    except _MissingNode as missing:
        key = bytes.fromhex(missing.key)
        prefix = tuple(_NIBBLE[c] for c in missing.key[: missing.depth])
        raise MissingTrieNode(
            Hash32(missing.node_hash), Hash32(root), key, cast(Nibbles, prefix)
        ) from None
    if new is old:
        return root
    if not isinstance(new, list):
        new_root = BLANK_ROOT
    else:
        encoded = _encode(new)
        new_root = keccak(encoded)
        updater.writes[new_root] = encoded
        updater.new_nodes[new_root] = new
    for node_hash, encoded in updater.writes.items():
        db[node_hash] = encoded
    if cache is not None:
        for node_hash, node in updater.new_nodes.items():
            cache.add(node_hash, node)
    return new_root


class NodeCache:
    """Decoded trie nodes by hash, the most recently used `limit` of them, shared
    by every read and every commit of the process.

    A lookup walks the trie from the root and a block's commit walks the same
    paths again; without a cache each step is a database read and a decode. A
    node is named by its hash, so a cached node is right for as long as anything
    refers to it. A commit adds the nodes it writes, which the next block's
    lookups start from (the root and the levels under it change every block).
    Cached nodes are shared lists: nothing may change one in place."""

    def __init__(self, limit: int = 100_000) -> None:
        self.nodes: LRU[bytes, list[Any]] = LRU(limit)  # the walks read `nodes.get` directly

    def add(self, node_hash: bytes, node: list[Any]) -> None:
        self.nodes[node_hash] = node


def get_value(db: Mapping[bytes, bytes], root: bytes, key: bytes, cache: NodeCache | None = None) -> bytes:
    """The value at `key` in the trie at `root`, or b"" when absent, as
    HexaryTrie.get answers; a node missing from `db` raises MissingTrieNode.
    With `cache`, nodes come from (and go to) that cache."""
    if root == BLANK_ROOT:
        return b""
    nibbles = bytes(key).hex()
    depth = 0
    ref: Node = root
    while True:
        if isinstance(ref, list):
            node = ref
        elif ref == BLANK_NODE:
            return b""
        else:
            found = cache.nodes.get(ref) if cache is not None else None
            if found is not None:
                node = found
            else:
                try:
                    encoded = db[ref]
                except KeyError:
                    prefix = tuple(_NIBBLE[c] for c in nibbles[:depth])
                    raise MissingTrieNode(
                        Hash32(ref), Hash32(root), key, cast(Nibbles, prefix)
                    ) from None
                node = cast(list[Any], _decode(encoded))
                if cache is not None:
                    cache.add(ref, node)
        if len(node) == 17:
            if depth == len(nibbles):
                return bytes(node[16])
            ref = node[_NIBBLE[nibbles[depth]]]
            depth += 1
            continue
        path, is_leaf = _split_compact(node[0])
        if is_leaf:
            return bytes(node[1]) if nibbles[depth:] == path else b""
        if not nibbles.startswith(path, depth):
            return b""
        depth += len(path)
        ref = node[1]
