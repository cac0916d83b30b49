"""The block builder: the L1-info deposit, due deposits, then the pool's best
transactions; and, when L1 reorganises an origin the unsafe chain uses, the
rebuild of the unsafe blocks from there on.

It derives the next block's environment with the core's `next_block_env` (the
timestamp from its clock, the L1 origin from its `L1OriginSource`), opens the
block with `begin_block`, applies the deposits the L1 source says are due, then
takes transactions from the pool by effective tip (each sender's in nonce order)
until the block is full, skipping and reporting those that fail. The sealed
block goes to the chain store in one batch; the store announces it to whoever
listens (the pool, RPC subscriptions, filters).

Before each block the builder checks that the head's L1 origin is still on the
canonical L1 chain. When it is not, it rewinds the unsafe chain to the last
block whose origin is, puts the user transactions of the removed blocks back in
the pool, and builds on the new L1 chain: their deposits are derived again from
the new L1 blocks, so a deposit whose L1 block is gone is never credited.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from eth.abc import SignedTransactionAPI

from openledger_node.devclock import DevClock
from openledger_node.devstate import AccountPatch, StateEditsRefused, apply_patches
from openledger_node.exceptions import (
    FeeCapTooLow,
    OpenLedgerError,
    GasLimitExceeded,
    InsufficientFunds,
    InvalidBlock,
    InvalidTransaction,
    NonceTooHigh,
)
from openledger_node.execution.block import BlockExecutor, BlockOutput, begin_block
from openledger_node.execution.env import MAX_TIMESTAMP, ChainRules, next_block_env
from openledger_node.execution.impersonation import is_impersonated, stored_transaction
from openledger_node.execution.transactions import decode_transaction, is_deposit
from openledger_node.execution.types import BlockEnv
from openledger_node.execution.vm import OpenLedgerVM
from openledger_node.storage import ChainStore, OverlayDB
from sequencer.sources import DepositSource, L1OriginSource

log = logging.getLogger("openledger.sequencer")

MIN_TX_GAS = 21_000
# How often (in transactions) the fill loop looks at the clock.
DEADLINE_CHECK_EVERY = 16


class BestTransactions(Protocol):
    def __iter__(self) -> Iterator[SignedTransactionAPI]: ...

    def mark_invalid(self, tx: SignedTransactionAPI) -> None: ...


class Pool(Protocol):
    """What the builder needs from the transaction pool."""

    def best(self, base_fee: int) -> BestTransactions: ...

    def add(self, tx: Any) -> bytes: ...

    def add_impersonated(self, tx: Any) -> bytes: ...

    def remove(self, tx_hashes: Iterable[bytes], reason: str = ...) -> None: ...


@dataclass(frozen=True)
class SkippedTx:
    tx_hash: bytes
    sender: bytes
    reason: str


@dataclass(frozen=True)
class BuildResult:
    block: BlockOutput
    skipped: tuple[SkippedTx, ...]
    seconds: float


class BlockBuilder(DevClock):
    def __init__(
        self,
        store: ChainStore,
        pool: Pool,
        rules: ChainRules,
        l1_origins: L1OriginSource,
        deposits: DepositSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pool = pool
        self.rules = rules
        self.l1_origins = l1_origins
        self.deposits = deposits
        self.clock = clock
        # Dev-mode time controls (evm_increaseTime, evm_setNextBlockTimestamp).
        self.time_offset = 0
        self.next_timestamp: int | None = None
        # Why dev state edits are refused (a node that posts batches), or None.
        self.state_edits_refused: str | None = None
        self._lock = threading.Lock()

    def next_env(self, timestamp: int | None = None, lead: float = 0.0) -> BlockEnv:
        """The environment of the next block on the unsafe head: at `timestamp`
        (default: the requested next timestamp, else now, and always after the
        parent), with the L1 origin the L1 source chooses."""
        parent = self.store.parent_block(self.store.head("unsafe"))
        if timestamp is None:
            timestamp = self.next_timestamp
        if timestamp is None:
            timestamp = self.now(lead)
        timestamp = max(timestamp, int(parent.header.timestamp) + 1)
        if timestamp > MAX_TIMESTAMP:
            raise InvalidBlock(f"block timestamp {timestamp} exceeds the 64-bit limit {MAX_TIMESTAMP}")
        origin = self.l1_origins.next_origin(parent.l1_origin, timestamp)
        return next_block_env(self.rules, parent, timestamp=timestamp, l1_origin=origin)

    def pending_env(self) -> BlockEnv:
        """The block this sequencer would build next if asked now, without asking
        L1 for a new origin: what `eth_call` on `pending` simulates."""
        parent = self.store.parent_block(self.store.head("unsafe"))
        timestamp = max(self.next_timestamp or self.now(), int(parent.header.timestamp) + 1)
        return next_block_env(self.rules, parent, timestamp=timestamp, l1_origin=parent.l1_origin)


    def fork_name(self) -> str:
        return OpenLedgerVM.fork

    def build_block(
        self, timestamp: int | None = None, deadline: float | None = None, lead: float = 0.0
    ) -> BuildResult:
        """Build, seal and store the next block on the unsafe head. With a
        `deadline` (time.monotonic()), the block stops taking transactions from
        the pool once it has passed, so that blocks stay on schedule however
        full the pool is (op-geth's sealing deadline); the rest wait. `lead`:
        the block is the one of the time that many seconds from now, and is
        stored no earlier (the driver starts building before the block is
        due, as op-node asks op-geth for a payload ahead of its slot)."""
        return self._build(timestamp, deadline, (), lead)

    def patch_state(self, patches: tuple[AccountPatch, ...]) -> BuildResult:
        """Dev networks: seal the edits at once in a block of their own (its
        deposits, then the edits, no pool transaction); see openledger_node/devstate.py."""
        if self.state_edits_refused is not None:
            raise StateEditsRefused(self.state_edits_refused)
        return self._build(None, None, patches)

    def _build(
        self, timestamp: int | None, deadline: float | None, patches: tuple[AccountPatch, ...], lead: float = 0.0
    ) -> BuildResult:
        with self._lock:
            started = time.perf_counter()
            due = self.due(lead)
            self._follow_l1_reorgs()
            env = self.next_env(timestamp, lead)
            overlay = OverlayDB(self.store.state_db)
            executor = begin_block(env, overlay)
            for deposit in self.deposits.due_deposits(env.l1_origin, env.sequence_number == 0):
                executor.apply(deposit)  # a deposit never fails to be included
            if patches:
                apply_patches(executor.state, patches)
                skipped: list[SkippedTx] = []
            else:
                skipped = self._fill(executor, env.base_fee, deadline)
            block = executor.seal()
            self.next_timestamp = None
            held = self.hold(due)
            self.store.write_output(block, overlay)
            result = BuildResult(block, tuple(skipped), time.perf_counter() - started - held)
        log.info(
            "sealed block number=%d hash=0x%s txs=%d gas=%d skipped=%d ms=%.1f",
            env.number,
            block.hash.hex(),
            len(block.transactions),
            block.header.gas_used,
            len(skipped),
            result.seconds * 1000,
        )
        for patch in patches:
            log.info("dev state edit in block %d: %s", env.number, patch.describe())
        return result

    def _follow_l1_reorgs(self) -> None:
        """Rewind the unsafe blocks whose L1 origin is no longer canonical."""
        store = self.store
        head = store.head("unsafe")
        origin, _ = store.l1_origin(head)
        if self.l1_origins.is_canonical(origin):
            return
        keep = int(head.block_number) - 1
        checked = {bytes(origin.hash): False}
        while keep > 0:
            origin, _ = store.l1_origin(store.header_by_number(keep))
            key = bytes(origin.hash)
            if key not in checked:
                checked[key] = self.l1_origins.is_canonical(origin)
            if checked[key]:
                break
            keep -= 1
        safe = int(store.head("safe").block_number)
        if keep < safe:
            log.error("L1 reorganised the origin of safe block %d: rewinding below the safe head", keep + 1)
        removed = [store.block_by_number(n) for n in range(keep + 1, int(head.block_number) + 1)]
        store.rewind(keep)
        requeued = 0
        for block in removed:
            for raw, sender in zip(block.transactions, block.senders):
                # With its stored sender: an impersonated one (dev) has no signature to recover.
                tx = stored_transaction(decode_transaction(raw, recover_sender=False), sender)
                if is_deposit(tx):
                    continue  # derived again from the new L1 chain
                try:
                    if is_impersonated(tx):
                        self.pool.add_impersonated(tx)
                    else:
                        self.pool.add(tx)  # recovers the sender, checking the signature
                    requeued += 1
                except OpenLedgerError:
                    pass  # no longer valid on the rewound state (or already pooled)
        log.warning(
            "L1 reorganised the origin of L2 block %d: rebuilt the unsafe chain from block %d "
            "(%d blocks removed, %d transactions back in the pool)",
            keep + 1, keep + 1, len(removed), requeued,
        )

    def _fill(self, executor: BlockExecutor, base_fee: int, deadline: float | None = None) -> list[SkippedTx]:
        skipped: list[SkippedTx] = []
        stale: list[tuple[bytes, str]] = []
        best = self.pool.best(base_fee)
        for count, tx in enumerate(best):
            if executor.gas_remaining < MIN_TX_GAS:
                break
            if deadline is not None and count % DEADLINE_CHECK_EVERY == 0 and time.monotonic() > deadline:
                break
            try:
                executor.apply(tx)
            except (GasLimitExceeded, NonceTooHigh, InsufficientFunds, FeeCapTooLow) as exc:
                # Not includable in this block, maybe in a later one: keep it pooled.
                best.mark_invalid(tx)
                if not isinstance(exc, GasLimitExceeded):
                    skipped.append(SkippedTx(bytes(tx.hash), bytes(tx.sender), str(exc)))
            except InvalidTransaction as exc:
                best.mark_invalid(tx)
                stale.append((bytes(tx.hash), str(exc)))
                skipped.append(SkippedTx(bytes(tx.hash), bytes(tx.sender), str(exc)))
                log.warning("dropped transaction 0x%s: %s", bytes(tx.hash).hex(), exc)
        for tx_hash, reason in stale:
            self.pool.remove([tx_hash], f"dropped: invalid when building a block: {reason}")
        return skipped
