"""py-evm's AccountDB with a batched commit of accounts and storage slots to their tries.

Sealing a block (`BlockExecutor.seal` -> `state.persist()`) ends in
`AccountDB.make_state_root`, where py-evm inserts every changed account, and every
changed storage slot, into a HexaryTrie one key at a time. These subclasses hand
each trie's whole change set to `mpt.update_trie` instead (and read storage slots
with `mpt.get_value`, HexaryTrie.get's walk on a faster decoder). Everything else is
py-evm's: journaling, snapshots and reverts, caches, the `_batchtrie` /
`_batchdb` batches and the atomic write in `persist()`. The nodes written are
those HexaryTrie writes, so the state roots are the same and a stock AccountDB
reads the result.

`SharedReadAccountDB`, for the states that only read (eth_call and friends,
RPC state views, the pool's checks), shares what each one reads at a root with
all the others of the process.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from eth.abc import AccountStorageDatabaseAPI, AtomicDatabaseAPI, DatabaseAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth.vm.interrupt import MissingAccountTrieNode, MissingStorageTrieNode
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from lru import LRU
from rlp.exceptions import DeserializationError
from trie.exceptions import MissingTrieNode

from openledger_node.execution.mpt import NodeCache, decode_node, get_value, update_trie
from openledger_node.execution.rlp_codec import decode_rlp, encode_rlp

# Decoded nodes of the account and storage tries, for every reader and commit in
# the process (the builder, RPC state views, the pool's checks).
TRIE_NODES = NodeCache()


class BatchedStorageLookup(StorageLookup):
    """StorageLookup that queues slot writes and applies them to the trie in one
    batch when the storage root is asked for (or the trie is committed, or swapped
    for an empty one by a self-destruct), instead of on every write.

    The queued writes are keyed by hashed slot; reads see them first, so the lookup
    answers exactly as py-evm's does at every point."""

    def __init__(self, db: DatabaseAPI, storage_root: Hash32, address: Address) -> None:
        self._pending: dict[bytes, bytes | None] = {}
        super().__init__(db, storage_root, address)

    def _initialize_to_root_hash(self, root_hash: Hash32) -> None:
        super()._initialize_to_root_hash(root_hash)
        self._pending = {}

    def _flush(self) -> None:
        if not self._pending:
            return
        write_trie = self._get_write_trie()
        try:
            new_root = update_trie(self._trie_nodes_batch, write_trie.root_hash, self._pending, TRIE_NODES)
        except MissingTrieNode as exc:
            raise self._missing(exc) from exc
        write_trie.root_hash = new_root
        self._pending = {}

    def _missing(self, exc: MissingTrieNode) -> MissingStorageTrieNode:
        """py-evm's error for a storage node absent from the database."""
        return MissingStorageTrieNode(
            Hash32(exc.missing_node_hash),
            self._starting_root_hash,
            Hash32(exc.requested_key),
            exc.prefix,
            self._address,
        )

    def __getitem__(self, key: bytes) -> bytes:
        hashed_slot = self._decode_key(key)
        if hashed_slot in self._pending:
            # HexaryTrie answers b"" for an absent key, and so does py-evm's lookup.
            return self._pending[hashed_slot] or b""
        # The trie py-evm's lookup reads (the write trie once there is one), walked
        # with mpt's decoder rather than HexaryTrie's: same nodes, same answers.
        if self._write_trie is not None:
            db, root = self._trie_nodes_batch, self._write_trie.root_hash
        else:
            db, root = self._db, self._starting_root_hash
        try:
            return get_value(db, root, hashed_slot, TRIE_NODES)
        except MissingTrieNode as exc:
            raise self._missing(exc) from exc

    def _exists(self, key: bytes) -> bool:
        return self[key] != b""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._get_write_trie()  # marks the root as changed, as a real write would
        self._pending[self._decode_key(key)] = value

    def __delitem__(self, key: bytes) -> None:
        self._get_write_trie()
        self._pending[self._decode_key(key)] = None

    def get_changed_root(self) -> Hash32:
        self._flush()
        return super().get_changed_root()

    def commit_to(self, db: DatabaseAPI) -> None:
        self._flush()
        super().commit_to(db)

    def new_trie(self) -> int:
        # The trie kept for a revert must hold every write made before the wipe.
        self._flush()
        return super().new_trie()

    def rollback_trie(self, trie_index: int) -> None:
        # Queued writes belong to the trie being thrown away.
        self._pending = {}
        super().rollback_trie(trie_index)


class OpenLedgerAccountStorageDB(AccountStorageDB):
    """AccountStorageDB over a BatchedStorageLookup, whose slot values are read
    and written with our RLP codec; otherwise py-evm's."""

    def __init__(self, db: AtomicDatabaseAPI, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        # py-evm's pipe (lookup -> cache -> locked changes -> journal), rebuilt on
        # the batching lookup; nothing has gone through the first one yet.
        self._storage_lookup = BatchedStorageLookup(db, storage_root, address)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)

    def get(self, slot: int, from_journal: bool = True) -> int:
        # py-evm's, with the value decoded by `decode_storage_value`: the rlp
        # package's decode with a sedes was most of an SLOAD's and an
        # eth_getStorageAt's cost.
        self._accessed_slots.add(slot)
        lookup_db = self._journal_storage if from_journal else self._locked_changes
        try:
            encoded_value = lookup_db[_slot_key(slot)]
        except KeyError:  # MissingStorageTrieNode is not a KeyError: it goes up
            return 0
        return decode_storage_value(encoded_value) if encoded_value else 0

    def set(self, slot: int, value: int) -> None:
        if value:
            self._journal_storage[_slot_key(slot)] = encode_rlp(value)
        else:
            super().set(slot, value)


def _slot_key(slot: int) -> bytes:
    """The key py-evm's storage keeps a slot under (eth_utils' int_to_big_endian)."""
    return slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")


def decode_storage_value(encoded: bytes) -> int:
    """A storage slot's value from its RLP, as `rlp.decode(encoded, sedes=big_endian_int)`."""
    item = decode_rlp(encoded)
    if not isinstance(item, bytes) or item[:1] == b"\x00":
        raise DeserializationError(f"storage value is not a minimal RLP integer: 0x{bytes(encoded).hex()}", encoded)
    return int.from_bytes(item, "big")


class _Account(NamedTuple):
    """An account as the AccountDB keeps it between reads and writes: py-evm's
    `Account` fields and its `copy(**changes)`, without the rlp Serializable's
    per-instance validation and field machinery (a value transfer reads and
    rewrites four accounts, and building and copying those objects was a sixth
    of a transfer's execution)."""

    nonce: int = 0
    balance: int = 0
    storage_root: bytes = BLANK_ROOT_HASH
    code_hash: bytes = EMPTY_SHA3

    def copy(self, **changes: Any) -> _Account:
        return self._replace(**changes)


def _quantity(value: int) -> bytes:
    """RLP of a non-negative integer below 2**256."""
    if value == 0:
        return b"\x80"
    if value < 0x80:
        return bytes((value,))
    encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(encoded),)) + encoded


def encode_account(account: _Account) -> bytes:
    """The account's RLP, as `rlp.encode(account, sedes=Account)` gives it. Every
    balance and nonce change encodes the account again, so the common shape (two
    32-byte hashes, a payload of 56 to 255 bytes) is written out directly."""
    nonce, balance, storage_root, code_hash = account
    if len(storage_root) != 32 or len(code_hash) != 32 or balance >> 256 or nonce >> 256:
        return encode_rlp(account)
    payload = b"".join((_quantity(nonce), _quantity(balance), b"\xa0", storage_root, b"\xa0", code_hash))
    return b"\xf8" + bytes((len(payload),)) + payload


def decode_account(encoded: bytes) -> _Account:
    fields = decode_node(encoded)
    if not isinstance(fields, list) or len(fields) != 4 or not all(isinstance(f, bytes) for f in fields):
        raise ValueError(f"malformed account RLP: 0x{bytes(encoded).hex()}")
    nonce, balance, storage_root, code_hash = fields
    return _Account(int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), storage_root, code_hash)


class _AccountTrieReader:
    """The account trie at the AccountDB's current root, read by address with
    `mpt.get_value` (HexaryTrie.get's walk on a faster decoder); py-evm reads it
    through HashTrie -> HexaryTrie. Read-only: the commit writes the trie itself
    (`OpenLedgerAccountDB.make_state_root`)."""

    def __init__(self, nodes: DatabaseAPI, trie: Any) -> None:
        self._nodes = nodes
        self._trie = trie  # py-evm's HashTrie, whose root_hash moves on commit

    def __getitem__(self, address: bytes) -> bytes:
        # b"" for an absent account, as HexaryTrie answers (and so, as there,
        # every address is "in" the trie and deleting an absent one is allowed).
        return get_value(self._nodes, self._trie.root_hash, keccak(address), TRIE_NODES)


class OpenLedgerAccountDB(AccountDB):
    """AccountDB whose commit step updates the account trie in one batch, and
    whose accounts are read and written with a lighter account object and codec
    (the same RLP, so the same state roots)."""

    storage_db_class: type[AccountStorageDB] = OpenLedgerAccountStorageDB

    def __init__(self, db: AtomicDatabaseAPI, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self._account_reader = _AccountTrieReader(self._batchtrie, self._trie)
        self._trie_cache = CacheDB(self._account_reader)  # type: ignore[arg-type]
        self._journaltrie = JournalDB(self._trie_cache)

    def _get_account(self, address: Address, from_journal: bool = True) -> _Account:  # type: ignore[override]
        cache = self._account_cache
        if from_journal and address in cache:
            return cache[address]
        encoded = self._get_encoded_account(address, from_journal)
        account = decode_account(encoded) if encoded else _Account()
        if from_journal:
            cache[address] = account  # type: ignore[assignment]
        return account

    def _set_account(self, address: Address, account: _Account) -> None:
        self._account_cache[address] = account  # type: ignore[assignment]
        self._journaltrie[address] = encode_account(account)

    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        if address in self._account_stores:
            return self._account_stores[address]
        storage_root = self._get_storage_root(address)
        store = self.storage_db_class(self._raw_store_db, storage_root, address)
        self._account_stores[address] = store
        return store

    def make_state_root(self) -> Hash32:
        # As py-evm's, up to the account trie update.
        for _address, store in self._dirty_account_stores():
            store.make_storage_root()

        for address, storage_root in self._get_changed_roots():
            if self.account_exists(address) or storage_root != BLANK_ROOT_HASH:
                self._set_storage_root(address, storage_root)

        self._journaldb.persist()

        diff = self._journaltrie.diff()
        changes: dict[bytes, bytes | None] = {key: None for key in diff.deleted_keys()}
        changes.update(diff.pending_items())
        if changes:
            # The trie is keyed by keccak(address), as py-evm's HashTrie does. New
            # nodes go to _batchtrie, where HexaryTrie would have put them, and only
            # once the whole update has succeeded.
            try:
                new_root = update_trie(
                    self._batchtrie,
                    self.state_root,
                    {keccak(address): value for address, value in changes.items()},
                    TRIE_NODES,
                )
            except MissingTrieNode as exc:
                raise MissingAccountTrieNode(
                    Hash32(exc.missing_node_hash),
                    self._root_hash_at_last_persist,
                    exc.requested_key,
                ) from exc
            self._trie.root_hash = Hash32(new_root)

        self._journaltrie.reset()
        self._trie_cache.reset_cache()

        return self.state_root


# --- reads shared between read-only states (simulations, state views) ----------------

_ABSENT = object()  # cached "no such key" (KeyError) answer


class SharedReadCacheDB(CacheDB):
    """CacheDB over a trie read at `root`, whose answers go to (and come from)
    `shared`, an LRU keyed by root + key that every read-only state of the
    process uses: a trie at a given root never changes, so an answer read at that root
    holds for every later reader. The first write, or a reset (the trie moved to
    another root), turns it into a plain per-instance CacheDB."""

    def __init__(self, db: DatabaseAPI, root: bytes, shared: LRU[bytes, object]) -> None:
        super().__init__(db)
        self._prefix: bytes | None = bytes(root)
        self._shared = shared

    def reset_cache(self) -> None:
        super().reset_cache()
        self._prefix = None

    def __getitem__(self, key: bytes) -> bytes:
        if self._prefix is None:
            return super().__getitem__(key)
        shared_key = self._prefix + key
        cached = self._shared.get(shared_key, None)
        if cached is _ABSENT:
            raise KeyError(key)
        if isinstance(cached, bytes):
            return cached
        try:
            value: bytes = self._db[key]
        except KeyError:
            self._shared[shared_key] = _ABSENT
            raise
        self._shared[shared_key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.reset_cache()
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.reset_cache()
        super().__delitem__(key)


# Sized for the hot set of a busy RPC node: accounts (about 110 bytes of key and
# RLP each) and storage slots read by eth_call / eth_estimateGas at recent roots.
SHARED_ACCOUNT_READS: LRU[bytes, object] = LRU(65_536)
SHARED_STORAGE_READS: LRU[bytes, object] = LRU(262_144)


class SharedReadStorageDB(OpenLedgerAccountStorageDB):
    def __init__(self, db: AtomicDatabaseAPI, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        self._storage_cache = SharedReadCacheDB(self._storage_lookup, storage_root, SHARED_STORAGE_READS)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)


class SharedReadAccountDB(OpenLedgerAccountDB):
    """The AccountDB of eth_call and friends and of the read-only state views
    (RPC reads, the pool's nonce and balance checks): account and storage reads
    at a root are shared by all of them (each request builds a fresh state, and
    without this each one walked the tries from the root again for the same
    accounts: the sender, the target, the system contracts)."""

    storage_db_class: type[AccountStorageDB] = SharedReadStorageDB

    def __init__(self, db: AtomicDatabaseAPI, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self._trie_cache = SharedReadCacheDB(
            self._account_reader, state_root, SHARED_ACCOUNT_READS  # type: ignore[arg-type]
        )
        self._journaltrie = JournalDB(self._trie_cache)
