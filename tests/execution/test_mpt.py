import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from openledger_node.execution.mpt import BLANK_ROOT, NodeCache, get_value, update_trie

# Keys that share long prefixes make deep extensions, splits inside them and, near
# the bottom, leaves short enough to be inlined in their parent.
PREFIXES = [b"", b"\x12", b"\x12\x34", b"\xab" * 16, b"\x00" * 30, b"\x00" * 31, b"\x00" * 31 + b"\x10"]

keys_32 = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.tuples(st.sampled_from(PREFIXES), st.binary(min_size=32, max_size=32)).map(
        lambda parts: (parts[0] + parts[1])[:32]
    ),
)
values = st.one_of(
    st.none(),  # delete
    st.just(b""),  # delete, as HexaryTrie treats an empty value
    st.binary(min_size=1, max_size=3),  # short: the leaf may be inlined
    st.binary(min_size=28, max_size=80),
)


def apply_reference(trie: HexaryTrie, changes: dict[bytes, bytes | None]) -> None:
    for key, value in changes.items():
        if value:
            trie[key] = value
        else:
            del trie[key]


def rounds_of(keys: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[dict[bytes, bytes | None]]]:
    return st.lists(st.dictionaries(keys, values, max_size=40), min_size=1, max_size=5)


def check_rounds(rounds: list[dict[bytes, bytes | None]], data: st.DataObject, read_absent: bool) -> None:
    # Shared by every round's reads and commits; the small ones evict all the time.
    cache = NodeCache(limit=data.draw(st.sampled_from([1, 5, 10_000])))
    with_cache = data.draw(st.booleans())  # the commits read through it, or only the reads do
    reference = HexaryTrie({})
    db: dict[bytes, bytes] = {}
    root = BLANK_ROOT
    model: dict[bytes, bytes] = {}
    for changes in rounds:
        if model:
            # Touch keys that are in the trie too: update them, rewrite them, delete them.
            existing = data.draw(st.lists(st.sampled_from(sorted(model)), max_size=10))
            for key in existing:
                changes[key] = data.draw(st.one_of(values, st.just(model[key])))
        apply_reference(reference, changes)
        root = update_trie(db, root, changes, cache if with_cache else None)
        assert root == reference.root_hash
        for key, value in changes.items():
            if value:
                model[key] = value
            else:
                model.pop(key, None)
        readback = HexaryTrie(db, root)
        for key, value in model.items():
            assert readback[key] == value
            assert get_value(db, root, key) == value
            assert get_value(db, root, key, cache) == value
        if read_absent:
            for changes_seen in rounds:
                for key in changes_seen:
                    if key not in model:
                        assert readback[key] == b""
                        assert get_value(db, root, key) == b""
                        assert get_value(db, root, key, cache) == b""


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds_of(keys_32), st.data())
def test_update_trie_matches_hexary_trie(rounds: list[dict[bytes, bytes | None]], data: st.DataObject) -> None:
    check_rounds(rounds, data, read_absent=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds_of(st.binary(max_size=3)), st.data())
def test_update_trie_matches_hexary_trie_with_keys_of_any_length(
    rounds: list[dict[bytes, bytes | None]], data: st.DataObject
) -> None:
    # Keys that are prefixes of other keys use the branch's value slot. (HexaryTrie
    # itself fails on some reads of absent keys here, so only present ones are read.)
    check_rounds(rounds, data, read_absent=False)


def test_update_trie_large_batches_match_hexary_trie() -> None:
    reference = HexaryTrie({})
    db: dict[bytes, bytes] = {}
    root = BLANK_ROOT
    keys = [os.urandom(32) for _ in range(3000)]
    for start in range(0, 3000, 500):
        changes: dict[bytes, bytes | None] = {k: os.urandom(70) for k in keys[start : start + 500]}
        changes.update({k: None for k in keys[start // 2 : start // 2 + 100]})
        changes.update({k: os.urandom(2) for k in keys[start // 3 : start // 3 + 100]})
        apply_reference(reference, changes)
        root = update_trie(db, root, changes)
        assert root == reference.root_hash


def test_update_trie_with_no_changes_returns_root() -> None:
    assert update_trie({}, BLANK_ROOT, {}) == BLANK_ROOT
    db: dict[bytes, bytes] = {}
    root = update_trie(db, BLANK_ROOT, {b"\x01" * 32: b"value"})
    assert update_trie(db, root, {}) == root


def test_update_trie_noop_changes_write_nothing() -> None:
    db: dict[bytes, bytes] = {}
    changes = {os.urandom(32): os.urandom(40) for _ in range(50)}
    root = update_trie(db, BLANK_ROOT, changes)
    before = dict(db)
    key, value = next(iter(changes.items()))
    noop = {os.urandom(32): None, os.urandom(32): b"", key: value}
    assert update_trie(db, root, noop) == root
    assert db == before


def test_update_trie_deleting_everything_gives_blank_root() -> None:
    db: dict[bytes, bytes] = {}
    changes = {os.urandom(32): os.urandom(40) for _ in range(20)}
    root = update_trie(db, BLANK_ROOT, changes)
    assert update_trie(db, root, dict.fromkeys(changes)) == BLANK_ROOT


def test_update_trie_small_root_is_stored_under_its_hash() -> None:
    db: dict[bytes, bytes] = {}
    root = update_trie(db, BLANK_ROOT, {b"\x01": b"\x02"})
    reference = HexaryTrie({})
    reference[b"\x01"] = b"\x02"
    assert root == reference.root_hash
    assert len(db[root]) < 32
    assert HexaryTrie(db, root)[b"\x01"] == b"\x02"


def test_update_trie_keeps_old_roots_readable() -> None:
    db: dict[bytes, bytes] = {}
    first = {os.urandom(32): os.urandom(40) for _ in range(100)}
    root1 = update_trie(db, BLANK_ROOT, first)
    root2 = update_trie(db, root1, {**dict.fromkeys(list(first)[:50]), os.urandom(32): b"new"})
    assert root2 != root1
    old = HexaryTrie(db, root1)
    for key, value in first.items():
        assert old[key] == value


def test_update_trie_missing_node_raises_and_leaves_db_unchanged() -> None:
    db: dict[bytes, bytes] = {}
    keys = [os.urandom(32) for _ in range(200)]
    root = update_trie(db, BLANK_ROOT, {k: os.urandom(40) for k in keys})
    partial = {h: node for h, node in db.items() if h == root}  # only the root node
    before = dict(partial)
    with pytest.raises(MissingTrieNode) as raised:
        update_trie(partial, root, {keys[0]: b"changed"})
    assert raised.value.root_hash == root
    assert raised.value.requested_key == keys[0]
    assert partial == before
    with pytest.raises(MissingTrieNode) as raised_on_read:
        get_value(partial, root, keys[0])
    assert raised_on_read.value.requested_key == keys[0]
    cache = NodeCache()
    for _ in range(2):  # the root comes from the cache the second time; the missing child is still missing
        with pytest.raises(MissingTrieNode) as cached_root:
            get_value(partial, root, keys[0], cache)
        assert cached_root.value.missing_node_hash == raised_on_read.value.missing_node_hash
        with pytest.raises(MissingTrieNode) as cached_commit:
            update_trie(partial, root, {keys[0]: b"changed"}, cache)
        assert cached_commit.value.missing_node_hash == raised_on_read.value.missing_node_hash
        assert partial == before
    with pytest.raises(MissingTrieNode) as from_hexary_trie:
        HexaryTrie(partial, root).get(keys[0])
    assert raised_on_read.value.missing_node_hash == from_hexary_trie.value.missing_node_hash
    assert raised_on_read.value.prefix == from_hexary_trie.value.prefix


def test_commit_reads_through_the_cache_and_adds_what_it_writes() -> None:
    # The nodes a commit writes are cached, so the next block's lookups and commit
    # find them without the database; what they return is what the database holds.
    db: dict[bytes, bytes] = {}
    cache = NodeCache()
    keys = [os.urandom(32) for _ in range(300)]
    root = update_trie(db, BLANK_ROOT, {k: os.urandom(40) for k in keys}, cache)
    assert set(cache.nodes.keys()) == set(db)  # every node written, the root included
    reads = CountingReads(db)
    changed = {k: os.urandom(40) for k in keys[:50]}
    new_root = update_trie(reads, root, changed, cache)
    assert reads.count == 0  # every node on the changed paths came from the cache
    expected = {k: HexaryTrie(db, root)[k] for k in keys} | changed
    reference = HexaryTrie({})
    apply_reference(reference, dict(expected))
    assert new_root == reference.root_hash
    for key in keys:
        assert get_value(reads, new_root, key, cache) == expected[key]
    assert reads.count == 0
    assert {key: HexaryTrie(dict(reads), new_root)[key] for key in keys} == expected


class CountingReads(dict[bytes, bytes]):
    def __init__(self, db: dict[bytes, bytes]) -> None:
        super().__init__(db)
        self.count = 0

    def __getitem__(self, key: bytes) -> bytes:
        self.count += 1
        return super().__getitem__(key)


def test_get_value_of_blank_trie_is_empty() -> None:
    assert get_value({}, BLANK_ROOT, b"\x01" * 32) == b""


def test_update_trie_key_ending_inside_an_extension_splits_it() -> None:
    # Two keys under a common extension "12345"; b"\x12" ends two nibbles into it,
    # so the extension splits there and the new value sits in the branch's slot.
    initial = {b"\x12\x34\x56": b"a" * 40, b"\x12\x34\x57": b"b" * 40}
    reference = HexaryTrie({})
    apply_reference(reference, dict(initial))
    db: dict[bytes, bytes] = {}
    root = update_trie(db, BLANK_ROOT, initial)
    assert root == reference.root_hash
    reference[b"\x12"] = b"c"
    root = update_trie(db, root, {b"\x12": b"c"})
    assert root == reference.root_hash
    assert HexaryTrie(db, root)[b"\x12"] == b"c"
