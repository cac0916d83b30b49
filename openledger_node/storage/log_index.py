"""The log index: which canonical blocks hold a log from an address or with a topic.

One posting list per address and per topic, in the chain's LevelDB:

    a + address (20) + number (8)    a canonical block with a log from `address`
    o + topic (32) + number (8)      a canonical block with a log carrying `topic`
    I                                the index's version, once it covers every
                                     canonical block

The chain store writes a block's entries in the block's own write batch and
deletes them in the batch that forgets the block (a rewind, or another block
written at its height), so the index names canonical blocks only. A topic's
entry does not say at which position the topic appears, nor which address
logged it: the index narrows the blocks to read and the query then matches each
log of those blocks exactly.

A query is an AND of groups, each an OR of keys (the addresses; the
alternatives at one topic position). `matching_blocks` walks the groups' posting
lists together by seeking (a leapfrog join), so its cost grows with the blocks
the rarest group names, not with the length of the range.

A data directory written before the index was complete has no `I` entry; the
store rebuilds the index from the stored receipts when it opens one
(`rebuild`), logging its start and end, with a progress bar on a long chain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import plyvel
import rlp
from tqdm import tqdm

from openledger_node.execution.types import Receipt

log = logging.getLogger("openledger.storage")

ADDRESS_PREFIX = b"a"
TOPIC_PREFIX = b"o"
VERSION_KEY = b"I"
VERSION = b"\x01"
# Blocks indexed per write batch while rebuilding.
REBUILD_BATCH = 2_000
# A rebuild of at least this many blocks shows a progress bar.
PROGRESS_FROM = 10_000


def _num(number: int) -> bytes:
    return number.to_bytes(8, "big")


def index_key(key: bytes) -> bytes:
    """The posting list prefix of a 20-byte address or a 32-byte topic."""
    if len(key) == 20:
        return ADDRESS_PREFIX + key
    if len(key) == 32:
        return TOPIC_PREFIX + key
    raise ValueError(f"a log index key is a 20-byte address or a 32-byte topic, not {len(key)} bytes")


def block_keys(receipts: Iterable[Receipt]) -> set[bytes]:
    """The posting lists (prefixes) a block with these receipts belongs to."""
    keys: set[bytes] = set()
    for receipt in receipts:
        for entry in receipt.logs:
            keys.add(ADDRESS_PREFIX + entry.address)
            keys.update(TOPIC_PREFIX + topic for topic in entry.topics)
    return keys


def stored_block_keys(stored_receipts: bytes) -> set[bytes]:
    """`block_keys` of a block's receipts as the chain store keeps them (its `r`
    entry), read without decoding whole receipts."""
    keys: set[bytes] = set()
    for stored in rlp.decode(stored_receipts):
        for address, topics, _ in rlp.decode(stored)[3]:
            keys.add(ADDRESS_PREFIX + address)
            keys.update(TOPIC_PREFIX + topic for topic in topics)
    return keys


def put_block(batch: Any, number: int, receipts: Iterable[Receipt]) -> None:
    num = _num(number)
    for key in block_keys(receipts):
        batch.put(key + num, b"")


def delete_block(batch: Any, number: int, stored_receipts: bytes) -> None:
    """Remove a forgotten block's entries; `stored_receipts`: its `r` entry."""
    num = _num(number)
    for key in stored_block_keys(stored_receipts):
        batch.delete(key + num)


class _Postings:
    """The union of some posting lists over [first, last], read by seeking."""

    def __init__(self, db: plyvel.DB, keys: Collection[bytes], first: int, last: int) -> None:
        self._cursors: list[list[Any]] = []
        for key in keys:
            prefix = index_key(key)
            iterator = db.iterator(start=prefix + _num(first), stop=prefix + _num(last + 1), include_value=False)
            self._cursors.append([prefix, iterator, -1])  # current entry; -1: none read; None: past the end

    def seek(self, number: int) -> int | None:
        """The least block number >= `number` in any of the lists, or None."""
        best: int | None = None
        for cursor in self._cursors:
            prefix, iterator, current = cursor
            if current is None:
                continue
            if current < number:
                iterator.seek(prefix + _num(number))
                try:
                    current = int.from_bytes(next(iterator)[-8:], "big")
                except StopIteration:
                    current = None
                cursor[2] = current
                if current is None:
                    continue
            if best is None or current < best:
                best = current
        return best

    def close(self) -> None:
        for _, iterator, _ in self._cursors:
            iterator.close()


def matching_blocks(
    db: plyvel.DB, groups: Sequence[Collection[bytes]], first: int, last: int
) -> Iterator[int]:
    """Block numbers in [first, last], ascending, that appear in at least one
    posting list of every group (each group: addresses or topics, ORed)."""
    if not groups or any(not group for group in groups):
        raise ValueError("every group needs at least one address or topic")
    lists = [_Postings(db, group, first, last) for group in groups]
    try:
        candidate = first
        while candidate <= last:
            agreed = 0
            for postings in lists:
                found = postings.seek(candidate)
                if found is None:
                    return
                if found != candidate:
                    candidate = found
                    agreed = 0
                    break
                agreed += 1
            if agreed == len(lists):
                yield candidate
                candidate += 1
    finally:
        for postings in lists:
            postings.close()


def is_built(db: plyvel.DB) -> bool:
    return bool(db.get(VERSION_KEY) == VERSION)


def mark_built(db: plyvel.DB) -> None:
    """Record that the index covers every canonical block (a new data directory)."""
    db.put(VERSION_KEY, VERSION, sync=True)


def rebuild(db: plyvel.DB, head: int, stored_receipts: Callable[[int], bytes]) -> int:
    """Drop every index entry and index canonical blocks 0..head again from their
    receipts (`stored_receipts(number)`: the store's `r` entry of canonical block
    `number`); returns the number of entries written. Interrupted, it starts
    over on the next open: the version entry is written last."""
    started = time.monotonic()
    log.info("building the log index for blocks 0 to %d (a data directory written before it)", head)
    db.delete(VERSION_KEY, sync=True)
    for prefix in (ADDRESS_PREFIX, TOPIC_PREFIX):
        with db.write_batch() as batch:
            for key in db.iterator(prefix=prefix, include_value=False):
                batch.delete(key)
    entries = 0
    with tqdm(total=head + 1, unit="block", desc="building the log index", disable=head < PROGRESS_FROM,
              leave=False) as progress:
        for low in range(0, head + 1, REBUILD_BATCH):
            high = min(low + REBUILD_BATCH, head + 1)
            with db.write_batch() as batch:
                for number in range(low, high):
                    keys = stored_block_keys(stored_receipts(number))
                    num = _num(number)
                    for key in keys:
                        batch.put(key + num, b"")
                    entries += len(keys)
            progress.update(high - low)
    mark_built(db)
    log.info("log index built: %d blocks, %d entries, %.1f s", head + 1, entries, time.monotonic() - started)
    return entries
