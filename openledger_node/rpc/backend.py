"""What the RPC handlers need from a node, as small interfaces, and the one
object that answers block parameters with them.

The same server serves a sequencer, a validator or a plain L1 node: each hands
in a chain reader (its chain store), a pool, the head events, how it would build
the pending block, and, on a dev network with a block producer, dev controls.
The rules for block tags (latest, pending, safe, finalized, earliest, EIP-1898)
live in `Backend`; handlers never reach past these interfaces.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from eth.abc import AtomicDatabaseAPI
from eth.vm.forks.prague.blocks import PragueBlockHeader
from lru import LRU

from openledger_node.devstate import AccountPatch
from openledger_node.exceptions import BlockNotFound
from openledger_node.execution.env import ChainRules, base_fee_after
from openledger_node.execution.impersonation import as_impersonated, is_bypass_signature
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    decode_transaction,
    tx_fees,
)
from openledger_node.execution.types import BlockEnv, L1Origin, Receipt
from openledger_node.primitives import DEPOSIT_TX_TYPE
from openledger_node.rpc.errors import HeaderNotFound, NotCanonical
from openledger_node.rpc.params import BlockId
from openledger_node.storage import (
    ChainListener,
    Heads,
    StoredBlock,
    StoredTx,
    TxLocation,
)

# Reads one shared state view serves before a fresh one replaces it (see Backend.state_at).
STATE_VIEW_READS = 4096


class ChainReader(Protocol):
    """Read access to a chain (the chain store satisfies it)."""

    @property
    def state_db(self) -> AtomicDatabaseAPI: ...

    def head(self, name: str = "unsafe") -> PragueBlockHeader: ...

    def heads(self) -> Heads: ...

    def header_by_hash(self, block_hash: bytes) -> PragueBlockHeader: ...

    def header_by_number(self, number: int) -> PragueBlockHeader: ...

    def canonical_hash(self, number: int) -> bytes | None: ...

    def block_by_hash(self, block_hash: bytes) -> StoredBlock: ...

    def receipts(self, block_hash: bytes) -> tuple[Receipt, ...]: ...

    def tx_location(self, tx_hash: bytes) -> TxLocation | None: ...

    def transaction(self, tx_hash: bytes) -> StoredTx | None: ...

    def block_tips(self, block_hash: bytes) -> list[tuple[int, int]] | None: ...

    def log_block_numbers(self, key: bytes, first: int, last: int) -> Iterator[int]: ...

    def log_blocks(self, groups: Sequence[Collection[bytes]], first: int, last: int) -> Iterator[int]: ...

    def ancestor_hashes(self, parent: PragueBlockHeader, count: int = 256) -> Iterator[Any]: ...

    def l1_origin(self, header: PragueBlockHeader) -> tuple[L1Origin, int]: ...


class HeadEvents(Protocol):
    """Where new blocks, rewinds and head moves are announced (the chain store)."""

    def subscribe(self, listener: ChainListener) -> Callable[[], None]: ...


class Pool(Protocol):
    """The transaction pool as RPC uses it."""

    def add_raw(self, raw: bytes) -> bytes: ...

    def get(self, tx_hash: bytes) -> Any: ...

    def pending_nonce(self, sender: bytes) -> int: ...

    def status(self) -> tuple[int, int]: ...

    def content(self) -> tuple[Any, Any]: ...

    def subscribe(self, callback: Callable[[bytes], None]) -> Callable[[], None]: ...

    def dropped_from(self, sender: bytes) -> list[Any]: ...


class DevPool(Protocol):
    """What a dev node's RPC does to its own pool (a sequencer's or the L1
    node's, never a validator's forwarding pool)."""

    def remove(self, tx_hashes: Iterable[bytes], reason: str = ...) -> None: ...

    def add_impersonated(self, tx: Any) -> bytes: ...


class DevControls(Protocol):
    """Dev-mode block production, time and state controls (a sequencer's
    builder, the L1 node's producer)."""

    def mine(self, timestamp: int | None) -> object: ...

    def patch_state(self, patches: tuple[AccountPatch, ...]) -> object: ...

    def fork_name(self) -> str: ...

    def rewind(self, number: int) -> None: ...

    def now(self) -> int: ...

    def increase_time(self, seconds: int) -> int: ...

    def set_next_timestamp(self, timestamp: int) -> None: ...


class Mining(Protocol):
    """When blocks are built (the block producer's driver loop): `submit` adds a
    transaction and, in automine mode, answers once its block is sealed."""

    @property
    def automine(self) -> bool: ...

    @property
    def mode(self) -> str: ...

    def submit(self, add: Callable[[], bytes]) -> bytes: ...

    def set_automine(self, enabled: bool) -> None: ...

    def set_interval(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class DevAccounts:
    """The keys a dev node signs with (`eth_accounts`), and why its pool takes
    no impersonated transactions (None: it takes them). Empty on every other network."""

    keys: tuple[bytes, ...] = ()
    impersonation_refused: str | None = "this node holds no dev accounts"

    @property
    def impersonation(self) -> bool:
        return self.impersonation_refused is None


@dataclass(frozen=True)
class FullBlock:
    header: PragueBlockHeader
    transactions: tuple[Transaction, ...]
    raw_transactions: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True)
class IncludedTx:
    header: PragueBlockHeader
    tx: Transaction
    raw: bytes
    index: int
    receipt: Receipt
    first_log_index: int


def _with_sender(raw: bytes, sender: bytes) -> Transaction:
    """Decode a stored transaction without recovering its sender again."""
    tx = decode_transaction(raw, recover_sender=False)
    if isinstance(tx, DepositTransaction):
        return tx
    if is_bypass_signature(tx):  # impersonated on a dev network: no key made it
        return as_impersonated(tx, sender)
    # py-evm's `sender` is a cached property: seeding the cache skips the recovery.
    tx.__dict__["sender"] = sender
    inner = getattr(tx, "_inner", None)
    if inner is not None:
        inner.__dict__["sender"] = sender
    return tx


class Backend:
    def __init__(
        self,
        chain: ChainReader,
        pool: Pool,
        events: HeadEvents,
        rules: ChainRules,
        pending_env: Callable[[], BlockEnv],
        dev: DevControls | None = None,
        mining: Mining | None = None,
        accounts: DevAccounts = DevAccounts(),
        dev_pool: DevPool | None = None,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.events = events
        self.rules = rules
        self.chain_id = rules.chain_id
        self.pending_env = pending_env
        self.dev = dev
        self.mining = mining
        self.accounts = accounts
        self.dev_pool = dev_pool
        self._tips: LRU[bytes, list[tuple[int, int]]] = LRU(4096)
        self._states: LRU[bytes, list[Any]] = LRU(8)  # state root -> [its view, reads served]

    # --- transactions ------------------------------------------------------------

    def submit(self, add: Callable[[], bytes]) -> bytes:
        """Add a transaction with `add`; with automine on, return once the block
        that takes it is sealed (anvil's automine), so its receipt is there."""
        if self.mining is None:
            return add()
        return self.mining.submit(add)

    # --- blocks ----------------------------------------------------------------

    def head(self) -> PragueBlockHeader:
        return self.chain.head("unsafe")

    def next_base_fee(self, parent: PragueBlockHeader | None = None) -> int:
        return base_fee_after(self.rules, parent if parent is not None else self.head())

    def header(self, block: BlockId) -> PragueBlockHeader | None:
        """The header a block parameter names, or None when there is no such block."""
        if block.tag is not None:
            if block.tag in ("latest", "pending"):
                return self.chain.head("unsafe")
            if block.tag in ("safe", "finalized"):
                return self.chain.head(block.tag)
            return self.chain.header_by_number(0)
        try:
            if block.number is not None:
                return self.chain.header_by_number(block.number)
            assert block.block_hash is not None
            header = self.chain.header_by_hash(block.block_hash)
        except BlockNotFound:
            return None
        if block.require_canonical and self.chain.canonical_hash(header.block_number) != header.hash:
            raise NotCanonical()
        return header

    def header_or_error(self, block: BlockId) -> PragueBlockHeader:
        header = self.header(block)
        if header is None:
            raise HeaderNotFound(by_hash=block.block_hash is not None)
        return header

    def state(self, block: BlockId) -> StateView:
        return self.state_at(self.header_or_error(block))

    def state_at(self, header: PragueBlockHeader) -> StateView:
        """The view of the state at `header`, shared by the reads at its root:
        building one costs more than a read, and its account cache answers a
        repeated read without decoding the account again. Replaced after
        STATE_VIEW_READS reads, so that reads of ever new addresses at a root
        that does not move (an idle chain) cannot grow its caches without bound."""
        root = bytes(header.state_root)
        shared = self._states.get(root)
        if shared is None or shared[1] >= STATE_VIEW_READS:
            shared = [StateView(self.chain.state_db, root), 0]
            self._states[root] = shared
        shared[1] += 1
        return cast(StateView, shared[0])

    def stored_block(self, header: PragueBlockHeader) -> StoredBlock:
        """A block's transactions and senders as stored, undecoded."""
        return self.chain.block_by_hash(bytes(header.hash))

    def full_block(self, header: PragueBlockHeader) -> FullBlock:
        stored = self.stored_block(header)
        txs = tuple(_with_sender(raw, sender) for raw, sender in zip(stored.transactions, stored.senders))
        return FullBlock(header, txs, stored.transactions, self.chain.receipts(bytes(header.hash)))

    def transaction(self, tx_hash: bytes) -> IncludedTx | None:
        """A canonical transaction by hash: one index read, never its whole block."""
        stored = self.chain.transaction(tx_hash)
        if stored is None:
            return None
        header = self.chain.header_by_hash(stored.location.block_hash)
        return IncludedTx(
            header, _with_sender(stored.raw, stored.sender), stored.raw, stored.location.index,
            stored.receipt, stored.first_log_index,
        )

    def tips(self, header: PragueBlockHeader) -> list[tuple[int, int]]:
        """(effective tip, gas used) of a block's user transactions, ascending:
        stored with the block; worked out from the block (and kept) otherwise."""
        block_hash = bytes(header.hash)
        stored = self.chain.block_tips(block_hash)
        if stored is not None:
            return stored
        cached = self._tips.get(block_hash)
        if cached is None:
            fb = self.full_block(header)
            base_fee = int(header.base_fee_per_gas or 0)
            cached = sorted(
                (tx_fees(tx).effective_tip(base_fee), receipt.gas_used)
                for tx, receipt in zip(fb.transactions, fb.receipts)
                if tx.type_id != DEPOSIT_TX_TYPE
            )
            self._tips[block_hash] = cached
        return cached

    def ancestors(self, header: PragueBlockHeader) -> Iterable[Any]:
        """Hashes of the blocks before `header`, most recent first (BLOCKHASH)."""
        if header.block_number == 0:
            return iter(())
        return self.chain.ancestor_hashes(self.chain.header_by_hash(bytes(header.parent_hash)))
