"""The chain store: headers, bodies, receipts, indexes and heads in LevelDB.

Layout (one LevelDB, one key prefix per table):

    s + node hash            state trie nodes and code (py-evm's keys)
    h + block hash           header (RLP)
    n + number (8 bytes)     canonical block hash
    b + block hash           body: RLP list of [raw transaction, sender]
    r + block hash           receipts (RLP list of stored receipts)
    t + tx hash              block number (8) ++ block hash (32) ++ index (4)
    T + tx hash              RLP [raw transaction, sender, stored receipt, first log index]:
                             a lookup by hash reads one transaction, not its block
    f + block hash           RLP list of [effective tip, gas used] of its user transactions,
                             ascending: the fee oracle and eth_feeHistory read these
    a + address + number     log index by emitting address (empty value)
    o + topic + number       log index by topic (empty value); both name canonical
                             blocks only (storage/log_index.py)
    I                        log index version, once it covers every canonical block
    l + block hash           L1 origin and sequence number (from the L1-info deposit)
    H + name                 head hash: unsafe, safe, finalized
    g                        genesis hash
    G                        genesis L1 origin

`write_block` puts a block, its state trie nodes and every index that points at
it in one write batch: after a crash the store holds the whole block or none of
it, and the `unsafe` head always names a block whose state is complete.

The store is the one writer of the chain, so it is the one that announces it:
listeners registered with `subscribe` hear of every block written (`BlockAdded`),
every rewind (`ChainRewound`) and every move of the safe and finalized heads
(`HeadMoved`), whoever wrote them (a sequencer, a validator importing derived
blocks, a dev-mode `evm_revert`). They are called on the writer's thread after
the write is durable; an exception in one is logged and does not reach the
writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import plyvel
import rlp
from eth.vm.forks.prague.blocks import PragueBackwardsHeader, PragueBlockHeader
from eth_typing import Hash32

from openledger_node.exceptions import BlockNotFound, InvalidBlock, StorageError
from openledger_node.execution.block import BlockOutput
from openledger_node.execution.env import ParentBlock
from openledger_node.execution.impersonation import stored_tx_hash
from openledger_node.execution.l1_info import l1_info_of
from openledger_node.execution.rlp_codec import encode_rlp
from openledger_node.execution.transactions import (
    decode_transaction,
    encode_transaction,
    is_deposit,
    tx_fees,
)
from openledger_node.execution.types import L1Origin, Receipt
from openledger_node.storage import log_index
from openledger_node.storage.leveldb import LevelDB, OverlayDB

log = logging.getLogger("openledger.storage")

STATE_PREFIX = b"s"
# State trie nodes kept in memory (a few hundred bytes each).
STATE_CACHE_ENTRIES = 100_000
# LevelDB's own options, as geth sets them for its LevelDB. State trie nodes are
# keyed by hash, so every memtable flushed to level 0 overlaps the whole of
# level 1 and its compaction rewrites all of it: a larger write buffer flushes,
# and so rewrites, less often (at 1M accounts, LevelDB's background threads
# with the 4 MiB default spent as much CPU as block production itself). Bloom
# filters spare a read of a key a table does not hold (an unknown transaction
# hash, a fresh account) a block read per level; the block cache keeps the
# tables' blocks read most recently.
LEVELDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 64 * 2**20,
    "lru_cache_size": 64 * 2**20,
    "bloom_filter_bits": 10,
}
HEADS = ("unsafe", "safe", "finalized")


def _num(number: int) -> bytes:
    return number.to_bytes(8, "big")


@dataclass(frozen=True)
class StoredBlock:
    header: PragueBlockHeader
    transactions: tuple[bytes, ...]  # canonical encodings
    senders: tuple[bytes, ...]

    @property
    def hash(self) -> bytes:
        return bytes(self.header.hash)

    @property
    def number(self) -> int:
        return int(self.header.block_number)


@dataclass(frozen=True)
class TxLocation:
    block_number: int
    block_hash: bytes
    index: int


@dataclass(frozen=True)
class StoredTx:
    """One transaction with its receipt, found by hash."""

    location: TxLocation
    raw: bytes
    sender: bytes
    receipt: Receipt
    first_log_index: int


@dataclass(frozen=True)
class Heads:
    unsafe: PragueBlockHeader
    safe: PragueBlockHeader
    finalized: PragueBlockHeader


@dataclass(frozen=True)
class BlockAdded:
    """A block was written as the canonical block at its height (and is the
    unsafe head unless `heads` says otherwise)."""

    header: PragueBlockHeader
    tx_hashes: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]
    heads: tuple[str, ...]


@dataclass(frozen=True)
class ChainRewound:
    """The canonical chain was cut back to `header`; blocks above it are gone."""

    header: PragueBlockHeader
    removed: int  # how many canonical blocks were dropped
    heads: tuple[str, ...]  # the heads that moved down to `header`


@dataclass(frozen=True)
class HeadMoved:
    """The safe or finalized head moved to `header`."""

    name: str
    header: PragueBlockHeader


ChainEvent = Union[BlockAdded, ChainRewound, HeadMoved]
ChainListener = Callable[[ChainEvent], None]


def block_tips(output: BlockOutput) -> list[tuple[int, int]]:
    """(effective tip, gas used) of each user transaction of an executed block."""
    base_fee = int(output.header.base_fee_per_gas or 0)
    return [
        (tx_fees(tx).effective_tip(base_fee), receipt.gas_used)
        for tx, receipt in zip(output.transactions, output.receipts)
        if not is_deposit(tx)
    ]


def _encode_origin(origin: L1Origin, sequence_number: int) -> bytes:
    return bytes(rlp.encode([origin.number, origin.timestamp, origin.base_fee, origin.hash, sequence_number]))


def _decode_origin(value: bytes) -> tuple[L1Origin, int]:
    number, timestamp, base_fee, block_hash, sequence_number = rlp.decode(value)
    origin = L1Origin(_int(number), _int(timestamp), _int(base_fee), Hash32(bytes(block_hash)))
    return origin, _int(sequence_number)


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


class ChainStore:
    """Owns the node's LevelDB. Thread-safe for one writer and many readers."""

    def __init__(self, path: Path, *, sync_writes: bool = False, create: bool = True) -> None:
        path = Path(path)
        if not create and not path.exists():
            raise StorageError(f"data directory {path} does not exist; run `openledger-node init` first")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a regular file in the way, no permission, ...
            raise StorageError(f"cannot create data directory {path}: {exc.strerror or exc}") from None
        try:
            self._db = plyvel.DB(str(path), create_if_missing=create, **LEVELDB_OPTIONS)
        except plyvel.IOError as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from exc
        except plyvel.CorruptionError as exc:
            raise StorageError(f"LevelDB at {path} is corrupt: {exc}") from exc
        self.path = path
        self._sync = sync_writes
        self._lock = threading.Lock()
        self.state_db = LevelDB(self._db, STATE_PREFIX, sync=sync_writes, cache_size=STATE_CACHE_ENTRIES)
        self._header_cache: dict[bytes, PragueBlockHeader] = {}
        # Head hashes as last written by this store (the one writer): every
        # request asks for a head, and a LevelDB read releases and retakes the
        # GIL, which under load costs more than the read itself.
        self._heads: dict[str, bytes] = {}
        self._listeners: list[ChainListener] = []
        self._ensure_log_index()

    def _ensure_log_index(self) -> None:
        """Index a data directory written before the log index covered every
        canonical block (and dropped the entries of forgotten ones)."""
        if log_index.is_built(self._db):
            return
        if self._db.get(b"Hunsafe") is None:  # nothing written yet
            log_index.mark_built(self._db)
            return
        log_index.rebuild(self._db, int(self.head("unsafe").block_number), self._stored_receipts)

    def _stored_receipts(self, number: int) -> bytes:
        block_hash = self.canonical_hash(number)
        value = None if block_hash is None else self._db.get(b"r" + block_hash)
        if value is None:
            raise StorageError(f"canonical block {number} below the head has no receipts in {self.path}")
        return bytes(value)

    def subscribe(self, listener: ChainListener) -> Callable[[], None]:
        """Call `listener` with every chain event from now on; returns the
        function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _announce(self, event: ChainEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener must not make a stored block look failed
                log.exception("chain listener %r failed on %s", listener, type(event).__name__)

    def close(self) -> None:
        self._db.close()

    @property
    def closed(self) -> bool:
        return bool(self._db.closed)

    # --- writing ---------------------------------------------------------------

    def write_genesis(self, header: PragueBlockHeader, state: OverlayDB, l1_origin: L1Origin) -> None:
        """Write the genesis block and the L1 origin the chain starts from."""
        self._db.put(b"G", _encode_origin(l1_origin, 0), sync=True)
        self.write_block(header, (), (), (), state, heads=HEADS, tips=())
        self._db.put(b"g", bytes(header.hash), sync=True)
        log_index.mark_built(self._db)

    def ensure_genesis_origin(self, l1_origin: L1Origin) -> None:
        """Record the genesis L1 origin in a data directory written before the
        store kept it."""
        if self._db.get(b"G") is None:
            self._db.put(b"G", _encode_origin(l1_origin, 0), sync=True)

    def write_block(
        self,
        header: PragueBlockHeader,
        transactions: Sequence[bytes],
        senders: Sequence[bytes],
        receipts: Sequence[Receipt],
        state: OverlayDB,
        heads: Sequence[str] = ("unsafe",),
        tips: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        """Write a block as the canonical block at its height, atomically. `tips`:
        the (effective tip, gas used) of its user transactions, for the fee oracle."""
        block_hash = bytes(header.hash)
        number = int(header.block_number)
        num = _num(number)
        tx_hashes = tuple(bytes(stored_tx_hash(raw, sender)) for raw, sender in zip(transactions, senders))
        stored_receipts = [r.encode_stored() for r in receipts]
        origin = None
        if transactions:
            try:
                origin = _encode_origin(*l1_info_of(decode_transaction(transactions[0], recover_sender=False)))
            except InvalidBlock:
                origin = None  # not an L2 block opened by an L1-info deposit

        replaced = self._db.get(b"n" + num)
        replaced_receipts = None
        if replaced is not None and bytes(replaced) != block_hash:
            replaced_receipts = self._db.get(b"r" + bytes(replaced))

        def index(batch: Any) -> None:
            # The block this one replaces at its height leaves the log index first.
            if replaced_receipts is not None:
                log_index.delete_block(batch, number, bytes(replaced_receipts))
            batch.put(b"h" + block_hash, rlp.encode(header))
            batch.put(b"n" + num, block_hash)
            batch.put(
                b"b" + block_hash,
                encode_rlp([[raw, sender] for raw, sender in zip(transactions, senders, strict=True)]),
            )
            batch.put(b"r" + block_hash, encode_rlp(stored_receipts))
            if origin is not None:
                batch.put(b"l" + block_hash, origin)
            if tips is not None:
                batch.put(b"f" + block_hash, rlp.encode(sorted(tips)))
            first_log = 0
            for position, tx_hash in enumerate(tx_hashes):
                batch.put(b"t" + tx_hash, num + block_hash + position.to_bytes(4, "big"))
                batch.put(b"T" + tx_hash, encode_rlp(
                    [transactions[position], senders[position], stored_receipts[position], first_log]
                ))
                first_log += len(receipts[position].logs)
            log_index.put_block(batch, number, receipts)
            for name in heads:
                batch.put(b"H" + name.encode(), block_hash)

        with self._lock:
            self.state_db.write_batch(state, index)
        self._header_cache[block_hash] = header
        for name in heads:
            self._heads[name] = block_hash
        self._announce(BlockAdded(header, tx_hashes, tuple(receipts), tuple(heads)))

    def write_output(self, output: BlockOutput, state: OverlayDB) -> None:
        """Write an executed block (`apply_block`'s or a sealed one) and its state."""
        self.write_block(
            output.header,
            [encode_transaction(tx) for tx in output.transactions],
            [bytes(tx.sender) for tx in output.transactions],
            output.receipts,
            state,
            tips=block_tips(output),
        )

    def rewind(self, number: int) -> None:
        """Make canonical block `number` the unsafe head and forget the canonical
        blocks above it (their data stays, unreachable; their log index entries
        go). Heads above move down."""
        target = self.canonical_hash(number)
        if target is None:
            raise BlockNotFound(number)
        head = int(self.head("unsafe").block_number)
        moved = []
        with self._lock, self._db.write_batch(sync=self._sync) as batch:
            for n in range(number + 1, head + 1):
                forgotten = self._db.get(b"n" + _num(n))
                stored = None if forgotten is None else self._db.get(b"r" + bytes(forgotten))
                if stored is not None:
                    log_index.delete_block(batch, n, bytes(stored))
                batch.delete(b"n" + _num(n))
            for name in HEADS:
                current = self._db.get(b"H" + name.encode())
                if current is None or self.header_by_hash(bytes(current)).block_number > number:
                    batch.put(b"H" + name.encode(), target)
                    moved.append(name)
        for name in moved:
            self._heads[name] = target
        self._announce(ChainRewound(self.header_by_hash(target), head - number, tuple(moved)))

    def set_head(self, name: str, block_hash: bytes) -> None:
        if name not in HEADS:
            raise ValueError(f"unknown head {name!r}")
        header = self.header_by_hash(block_hash)
        self._db.put(b"H" + name.encode(), block_hash, sync=self._sync)
        self._heads[name] = bytes(block_hash)
        self._announce(HeadMoved(name, header))

    # --- reading ---------------------------------------------------------------

    @property
    def genesis_hash(self) -> bytes | None:
        value = self._db.get(b"g")
        return None if value is None else bytes(value)

    def head(self, name: str = "unsafe") -> PragueBlockHeader:
        block_hash = self._heads.get(name)
        if block_hash is None:
            value = self._db.get(b"H" + name.encode())
            if value is None:
                raise StorageError(f"no {name} head: the data directory has no genesis")
            block_hash = self._heads.setdefault(name, bytes(value))
        return self.header_by_hash(block_hash)

    def heads(self) -> Heads:
        return Heads(self.head("unsafe"), self.head("safe"), self.head("finalized"))

    def header_by_hash(self, block_hash: bytes) -> PragueBlockHeader:
        cached = self._header_cache.get(block_hash)
        if cached is not None:
            return cached
        value = self._db.get(b"h" + block_hash)
        if value is None:
            raise BlockNotFound(f"0x{block_hash.hex()}")
        try:
            header = rlp.decode(value, sedes=PragueBlockHeader)
        except rlp.DeserializationError:  # an earlier fork's header, on a plain L1 chain
            header = rlp.decode(value, sedes=PragueBackwardsHeader)
        if len(self._header_cache) > 4096:
            self._header_cache.clear()
        self._header_cache[block_hash] = header
        return header  # type: ignore[no-any-return]

    def canonical_hash(self, number: int) -> bytes | None:
        value = self._db.get(b"n" + _num(number))
        return None if value is None else bytes(value)

    def header_by_number(self, number: int) -> PragueBlockHeader:
        block_hash = self.canonical_hash(number)
        if block_hash is None:
            raise BlockNotFound(number)
        return self.header_by_hash(block_hash)

    def block_by_hash(self, block_hash: bytes) -> StoredBlock:
        header = self.header_by_hash(block_hash)
        body = self._db.get(b"b" + block_hash)
        if body is None:
            raise StorageError(f"block 0x{block_hash.hex()} has a header but no body")
        entries = rlp.decode(body)
        return StoredBlock(
            header,
            tuple(bytes(raw) for raw, _ in entries),
            tuple(bytes(sender) for _, sender in entries),
        )

    def block_by_number(self, number: int) -> StoredBlock:
        block_hash = self.canonical_hash(number)
        if block_hash is None:
            raise BlockNotFound(number)
        return self.block_by_hash(block_hash)

    def receipts(self, block_hash: bytes) -> tuple[Receipt, ...]:
        value = self._db.get(b"r" + block_hash)
        if value is None:
            raise BlockNotFound(f"0x{block_hash.hex()}")
        return tuple(Receipt.decode_stored(item) for item in rlp.decode(value))

    def tx_location(self, tx_hash: bytes) -> TxLocation | None:
        value = self._db.get(b"t" + tx_hash)
        if value is None:
            return None
        location = TxLocation(
            int.from_bytes(value[:8], "big"), bytes(value[8:40]), int.from_bytes(value[40:44], "big")
        )
        if self.canonical_hash(location.block_number) != location.block_hash:
            return None  # the block it pointed at is no longer canonical
        return location

    def block_tips(self, block_hash: bytes) -> list[tuple[int, int]] | None:
        """(effective tip, gas used) of a block's user transactions, ascending, or
        None for a block written without them."""
        value = self._db.get(b"f" + block_hash)
        if value is None:
            return None
        return [(_int(tip), _int(gas)) for tip, gas in rlp.decode(value)]

    def transaction(self, tx_hash: bytes) -> StoredTx | None:
        """A canonical transaction and its receipt, by hash, without reading its block."""
        location = self.tx_location(tx_hash)
        if location is None:
            return None
        value = self._db.get(b"T" + tx_hash)
        if value is None:  # written before the store kept the index: read the block
            block = self.block_by_hash(location.block_hash)
            receipts = self.receipts(location.block_hash)
            first = sum(len(r.logs) for r in receipts[: location.index])
            return StoredTx(
                location, block.transactions[location.index], block.senders[location.index],
                receipts[location.index], first,
            )
        raw, sender, receipt, first_log = rlp.decode(value)
        return StoredTx(location, bytes(raw), bytes(sender), Receipt.decode_stored(receipt), _int(first_log))

    def log_block_numbers(self, key: bytes, first: int, last: int) -> Iterator[int]:
        """Canonical block numbers in [first, last] with a log from `key` (a 20-byte
        address) or with `key` among its topics (a 32-byte topic), ascending."""
        return log_index.matching_blocks(self._db, [(key,)], first, last)

    def log_blocks(self, groups: Sequence[Collection[bytes]], first: int, last: int) -> Iterator[int]:
        """Canonical block numbers in [first, last], ascending, with a log of some
        key of every group (a group: addresses or topics, any of which will do).
        Candidates only: a topic's entry does not say at which position it was."""
        return log_index.matching_blocks(self._db, groups, first, last)

    def l1_origin(self, header: PragueBlockHeader) -> tuple[L1Origin, int]:
        """The L1 origin and sequence number of a stored block."""
        block_hash = bytes(header.hash)
        value = self._db.get(b"G" if header.block_number == 0 else b"l" + block_hash)
        if value is not None:
            return _decode_origin(bytes(value))
        if header.block_number == 0:
            raise StorageError("the data directory does not record the genesis L1 origin")
        # A block written before the store kept the index: read its first transaction.
        first = self.block_by_hash(block_hash).transactions[0]
        return l1_info_of(decode_transaction(first, recover_sender=False))

    def parent_block(self, header: PragueBlockHeader) -> ParentBlock:
        """`header` as the parent of the next block: with its L1 origin and
        (lazily) its ancestors' hashes."""
        origin, sequence_number = self.l1_origin(header)
        return ParentBlock(header, origin, sequence_number, self.ancestor_hashes(header))

    def ancestor_hashes(self, parent: PragueBlockHeader, count: int = 256) -> Iterator[Hash32]:
        """Hashes of `parent` and its ancestors, most recent first, read lazily
        (py-evm consumes them only when a contract executes BLOCKHASH)."""
        header = parent
        for _ in range(count):
            yield header.hash
            if header.block_number == 0:
                return
            header = self.header_by_hash(bytes(header.parent_hash))
