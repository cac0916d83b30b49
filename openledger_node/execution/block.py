"""The state transition: `apply_block` and the incremental `BlockExecutor` under it.

The sequencer seals blocks with `BlockExecutor` (it tries transactions one by one
and skips those that fail); a validator re-executes with `apply_block`, which uses
the same executor and turns any failing transaction into `InvalidBlock`. Both
start every block with the L1-info deposit derived from the block's L1 origin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import AtomicDatabaseAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from openledger_node.exceptions import (
    GasLimitExceeded,
    InvalidBlock,
    InvalidTransaction,
    OpenLedgerError,
)
from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    encode_transaction,
    is_deposit,
    l1_info_source_hash,
    tx_type,
)
from openledger_node.execution.trie_root import ordered_trie_root
from openledger_node.execution.types import BlockEnv, L1Origin, Log, Receipt, logs_bloom
from openledger_node.execution.vm import OpenLedgerVM, transaction_gas_used
from openledger_node.primitives import (
    DEPOSITOR_ACCOUNT,
    L1_BLOCK_ADDRESS,
    L1_INFO_DEPOSIT_GAS,
    ZERO_HASH,
    Address,
    BlockNumber,
    Hash32,
)

# setL1BlockValues(uint64,uint64,uint256,bytes32,uint64)
SET_L1_BLOCK_VALUES_SELECTOR = keccak(b"setL1BlockValues(uint64,uint64,uint256,bytes32,uint64)")[:4]
EMPTY_REQUESTS_HASH = Hash32(hashlib.sha256(b"").digest())


def l1_info_deposit(origin: L1Origin, sequence_number: int) -> DepositTransaction:
    """The system deposit that opens every block and records its L1 origin."""
    data = SET_L1_BLOCK_VALUES_SELECTOR + abi_encode(
        ["uint64", "uint64", "uint256", "bytes32", "uint64"],
        [origin.number, origin.timestamp, origin.base_fee, origin.hash, sequence_number],
    )
    return DepositTransaction(
        source_hash=l1_info_source_hash(origin.hash, sequence_number),
        sender=DEPOSITOR_ACCOUNT,
        to=L1_BLOCK_ADDRESS,
        mint=0,
        value=0,
        gas=L1_INFO_DEPOSIT_GAS,
        is_system_tx=False,  # post-Regolith semantics: metered like any deposit
        data=data,
    )


def decode_l1_info(data: bytes) -> tuple[L1Origin, int]:
    """The L1 origin and sequence number recorded by an L1-info deposit's calldata."""
    if data[:4] != SET_L1_BLOCK_VALUES_SELECTOR:
        raise InvalidBlock("first transaction is not an L1-info deposit")
    number, timestamp, base_fee, block_hash, sequence_number = abi_decode(
        ["uint64", "uint64", "uint256", "bytes32", "uint64"], data[4:]
    )
    return L1Origin(number, timestamp, base_fee, Hash32(bytes(block_hash))), int(sequence_number)


def execution_header(env: BlockEnv) -> PragueBlockHeader:
    """The header py-evm builds its execution context from (roots not yet known)."""
    return PragueBlockHeader(
        parent_hash=env.parent_hash,
        uncles_hash=EMPTY_UNCLE_HASH,
        coinbase=env.coinbase,
        state_root=env.parent_state_root,
        transaction_root=BLANK_ROOT_HASH,
        receipt_root=BLANK_ROOT_HASH,
        bloom=0,
        difficulty=0,
        block_number=BlockNumber(env.number),
        gas_limit=env.gas_limit,
        gas_used=0,
        timestamp=env.timestamp,
        extra_data=b"",
        mix_hash=env.l1_origin.hash,  # PREVRANDAO reads the L1 origin's hash
        nonce=b"\x00" * 8,
        base_fee_per_gas=env.base_fee,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )


@dataclass(frozen=True)
class BlockOutput:
    header: PragueBlockHeader
    transactions: tuple[Transaction, ...]
    receipts: tuple[Receipt, ...]

    @property
    def hash(self) -> bytes:
        return bytes(self.header.hash)


class BlockExecutor:
    """Applies transactions to one block's state, one at a time, then seals it.

    `db` receives the state trie nodes when the block is sealed; the caller decides
    when they reach disk (the chain store writes them with the block, atomically).
    """

    def __init__(self, env: BlockEnv, db: AtomicDatabaseAPI) -> None:
        self.env = env
        self._header = execution_header(env)
        self.state: StateAPI = OpenLedgerVM.build_state(
            db, self._header, ChainContext(env.chain_id), env.prev_hashes
        )
        self.transactions: list[Transaction] = []
        self.receipts: list[Receipt] = []
        self.gas_used = 0
        self.apply(l1_info_deposit(env.l1_origin, env.sequence_number))

    @property
    def gas_remaining(self) -> int:
        return self.env.gas_limit - self.gas_used

    def apply(self, tx: Transaction) -> Receipt:
        """Apply one transaction; on error the state is unchanged and the error raised."""
        if tx.gas > self.gas_remaining:
            raise GasLimitExceeded(tx.gas, self.gas_remaining)
        state = self.state
        sender = tx.sender
        nonce_before = state.get_nonce(Address(sender))
        state.lock_changes()
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(tx)
        except OpenLedgerError:
            state.revert(snapshot)
            if not is_deposit(tx):
                raise
            return self._failed_deposit(tx, nonce_before)
        except Exception as exc:  # py-evm internals; never leave a half-applied tx
            state.revert(snapshot)
            if is_deposit(tx):
                return self._failed_deposit(tx, nonce_before)
            raise InvalidTransaction(f"transaction could not be applied: {exc!r}") from exc
        state.commit(snapshot)
        gas_used = transaction_gas_used(tx, computation)
        logs = tuple(
            Log(address, tuple(t.to_bytes(32, "big") for t in topics), data)
            for address, topics, data in computation.get_log_entries()
        )
        contract = generate_contract_address(Address(sender), nonce_before) if not tx.to else None
        return self._record(
            tx,
            status=0 if computation.is_error else 1,
            gas_used=gas_used,
            logs=logs,
            contract=contract,
            deposit_nonce=nonce_before if is_deposit(tx) else None,
        )

    def _failed_deposit(self, tx: Any, nonce_before: int) -> Receipt:
        # A deposit that cannot execute still mints and still uses its nonce, so that
        # the L1 funds are never lost and every deposit has a receipt.
        state = self.state
        state.delta_balance(tx.sender, tx.mint)
        state.increment_nonce(tx.sender)
        return self._record(
            tx, status=0, gas_used=tx.gas, logs=(), contract=None, deposit_nonce=nonce_before
        )

    def _record(
        self,
        tx: Transaction,
        *,
        status: int,
        gas_used: int,
        logs: tuple[Log, ...],
        contract: bytes | None,
        deposit_nonce: int | None,
    ) -> Receipt:
        self.gas_used += gas_used
        price = 0 if is_deposit(tx) else min(
            int(tx.max_fee_per_gas), int(tx.max_priority_fee_per_gas) + self.env.base_fee
        )
        receipt = Receipt(
            tx_type=tx_type(tx),
            status=status,
            cumulative_gas_used=self.gas_used,
            logs=logs,
            bloom=logs_bloom(logs),
            gas_used=gas_used,
            effective_gas_price=price,
            contract_address=contract,
            deposit_nonce=deposit_nonce,
        )
        self.transactions.append(tx)
        self.receipts.append(receipt)
        return receipt

    def seal(self) -> BlockOutput:
        """Compute the roots, write the state trie nodes to `db` and build the header."""
        self.state.persist()
        state_root = self.state.state_root
        bloom = 0
        for receipt in self.receipts:
            bloom |= receipt.bloom
        header: PragueBlockHeader = self._header.copy(  # type: ignore[assignment]
            state_root=state_root,
            transaction_root=ordered_trie_root([encode_transaction(tx) for tx in self.transactions]),
            receipt_root=ordered_trie_root([r.encode() for r in self.receipts]),
            bloom=bloom,
            gas_used=self.gas_used,
        )
        return BlockOutput(header, tuple(self.transactions), tuple(self.receipts))


def apply_block(
    env: BlockEnv, db: AtomicDatabaseAPI, transactions: Iterable[Transaction]
) -> BlockOutput:
    """Execute a block's transactions (after the L1-info deposit, which is derived
    from `env`) and seal it. Any transaction that cannot be included, or a deposit
    after a user transaction, makes the block invalid."""
    executor = BlockExecutor(env, db)
    seen_user_tx = False
    for index, tx in enumerate(transactions, start=1):
        if is_deposit(tx):
            if seen_user_tx:
                raise InvalidBlock(
                    f"block {env.number}: deposit at index {index} follows a user transaction"
                )
        else:
            seen_user_tx = True
        try:
            executor.apply(tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(
                f"block {env.number}: transaction {index} (0x{bytes(tx.hash).hex()}) is invalid: {exc}"
            ) from exc
    return executor.seal()


def next_base_fee(
    parent_gas_limit: int,
    parent_gas_used: int,
    parent_base_fee: int,
    elasticity: int,
    denominator: int,
    minimum: int = 0,
) -> int:
    """EIP-1559 base fee of a child block, with configurable parameters and floor."""
    target = parent_gas_limit // elasticity
    if parent_gas_used == target:
        fee = parent_base_fee
    elif parent_gas_used > target:
        delta = max(parent_base_fee * (parent_gas_used - target) // target // denominator, 1)
        fee = parent_base_fee + delta
    else:
        delta = parent_base_fee * (target - parent_gas_used) // target // denominator
        fee = parent_base_fee - delta
    return max(fee, minimum)
