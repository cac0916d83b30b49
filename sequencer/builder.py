"""The block builder: due deposits first, then the pool's best transactions.

It opens a `BlockExecutor` on the unsafe head, applies the deposits the L1 source
says are due, then takes transactions from the pool by effective tip (each
sender's in nonce order) until the block is full, skipping and reporting those
that fail. The sealed block is written to the chain store in one batch and the
pool is told about the new head.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.config import ChainConfig
from openledger_node.exceptions import (
    FeeCapTooLow,
    GasLimitExceeded,
    InsufficientFunds,
    InvalidBlock,
    InvalidTransaction,
    NonceTooHigh,
)
from openledger_node.execution.block import (
    BlockExecutor,
    BlockOutput,
    decode_l1_info,
    next_base_fee,
)
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import (
    DepositTransaction,
    decode_transaction,
    encode_transaction,
)
from openledger_node.execution.types import BlockEnv, L1Origin
from openledger_node.primitives import Address
from openledger_node.storage import ChainStore, OverlayDB
from sequencer.sources import DepositSource, L1OriginSource

log = logging.getLogger("openledger.sequencer")

MIN_TX_GAS = 21_000
MAX_TIMESTAMP = 2**64 - 1


class Pool(Protocol):
    """What the builder needs from the transaction pool."""

    def best(self, base_fee: int) -> Any: ...

    def remove(self, tx_hashes: Any) -> None: ...

    def on_new_head(self, state: Any, base_fee: int, block_gas_limit: int) -> None: ...


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


class BlockBuilder:
    def __init__(
        self,
        store: ChainStore,
        pool: Pool,
        chain: ChainConfig,
        fee_recipient: bytes,
        genesis_origin: L1Origin,
        l1_origins: L1OriginSource,
        deposits: DepositSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pool = pool
        self.chain = chain
        self.fee_recipient = fee_recipient
        self.genesis_origin = genesis_origin
        self.l1_origins = l1_origins
        self.deposits = deposits
        self.clock = clock
        # Dev-mode time controls (evm_increaseTime, evm_setNextBlockTimestamp).
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[BuildResult], None]] = []

    def on_block(self, listener: Callable[[BuildResult], None]) -> None:
        """Call `listener` after every sealed and stored block."""
        self._listeners.append(listener)

    def base_fee_after(self, parent: PragueBlockHeader) -> int:
        return next_base_fee(
            parent.gas_limit,
            parent.gas_used,
            int(parent.base_fee_per_gas or 0),
            self.chain.elasticity_multiplier,
            self.chain.base_fee_max_change_denominator,
            self.chain.min_base_fee,
        )

    def parent_origin(self, parent: PragueBlockHeader) -> tuple[L1Origin, int]:
        if parent.block_number == 0:
            return self.genesis_origin, 0
        first = self.store.block_by_hash(bytes(parent.hash)).transactions[0]
        info = decode_transaction(first)
        assert isinstance(info, DepositTransaction)
        return decode_l1_info(info.data)

    def next_env(self, timestamp: int | None = None) -> BlockEnv:
        parent = self.store.head("unsafe")
        if timestamp is None:
            timestamp = self.next_timestamp
        if timestamp is None:
            timestamp = int(self.clock()) + self.time_offset
        timestamp = max(timestamp, int(parent.timestamp) + 1)
        if timestamp > MAX_TIMESTAMP:
            raise InvalidBlock(f"block timestamp {timestamp} exceeds the 64-bit limit {MAX_TIMESTAMP}")
        parent_origin, parent_seq = self.parent_origin(parent)
        origin = self.l1_origins.next_origin(parent_origin, timestamp)
        sequence_number = parent_seq + 1 if origin.hash == parent_origin.hash and origin.number == parent_origin.number else 0
        return BlockEnv(
            chain_id=self.chain.chain_id,
            number=int(parent.block_number) + 1,
            parent_hash=parent.hash,
            parent_state_root=parent.state_root,
            timestamp=timestamp,
            coinbase=Address(self.fee_recipient),
            gas_limit=self.chain.gas_limit,
            base_fee=self.base_fee_after(parent),
            l1_origin=origin,
            sequence_number=sequence_number,
            prev_hashes=self.store.ancestor_hashes(parent),
        )

    def rewind(self, number: int) -> None:
        """Make block `number` the head again (dev-mode evm_revert)."""
        with self._lock:
            self.store.rewind(number)
            head = self.store.head("unsafe")
            self.pool.on_new_head(
                StateView(self.store.state_db, bytes(head.state_root)),
                self.base_fee_after(head),
                self.chain.gas_limit,
            )

    def build_block(self, timestamp: int | None = None) -> BuildResult:
        """Build, seal and store the next block on the unsafe head."""
        with self._lock:
            started = time.perf_counter()
            env = self.next_env(timestamp)
            overlay = OverlayDB(self.store.state_db)
            executor = BlockExecutor(env, overlay)
            for deposit in self.deposits.due_deposits(env.l1_origin, env.sequence_number == 0):
                executor.apply(deposit)  # a deposit never fails to be included
            skipped = self._fill(executor, env.base_fee)
            block = executor.seal()
            self.next_timestamp = None
            self.store.write_block(
                block.header,
                [encode_transaction(tx) for tx in block.transactions],
                [bytes(tx.sender) for tx in block.transactions],
                block.receipts,
                overlay,
            )
            head_state = StateView(self.store.state_db, bytes(block.header.state_root))
            self.pool.on_new_head(head_state, self.base_fee_after(block.header), self.chain.gas_limit)
            result = BuildResult(block, tuple(skipped), time.perf_counter() - started)
        log.info(
            "sealed block number=%d hash=0x%s txs=%d gas=%d skipped=%d ms=%.1f",
            env.number,
            block.hash.hex(),
            len(block.transactions),
            block.header.gas_used,
            len(skipped),
            result.seconds * 1000,
        )
        for listener in self._listeners:
            listener(result)
        return result

    def _fill(self, executor: BlockExecutor, base_fee: int) -> list[SkippedTx]:
        skipped: list[SkippedTx] = []
        stale: list[bytes] = []
        best = self.pool.best(base_fee)
        for tx in best:
            if executor.gas_remaining < MIN_TX_GAS:
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
                stale.append(bytes(tx.hash))
                skipped.append(SkippedTx(bytes(tx.hash), bytes(tx.sender), str(exc)))
                log.warning("dropped transaction 0x%s: %s", bytes(tx.hash).hex(), exc)
        if stale:
            self.pool.remove(stale)
        return skipped
