"""The state transition: `apply_block`, and the `BlockExecutor` under it.

`apply_block` checks a given block against its parent and reads top to bottom as
the rules do: validate the header against the environment its parent and L1
origin give, check that the L1-info deposit opens the block, execute the body
(deposits before user transactions, every transaction valid), then compare gas
used, roots, bloom and hash, raising `BlockFieldMismatch` with the field, the
expected and the actual value. The sequencer builds blocks with the same parts:
`next_block_env`, `begin_block` (which applies the L1-info deposit) and the
executor, trying transactions one by one and skipping those that fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import AtomicDatabaseAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.exceptions import (
    BlockFieldMismatch,
    GasLimitExceeded,
    InvalidBlock,
    InvalidTransaction,
    OpenLedgerError,
)
from openledger_node.execution.env import (
    MAX_TIMESTAMP,
    ChainRules,
    ParentBlock,
    next_block_env,
    next_sequence_number,
)
from openledger_node.execution.l1_info import l1_info_deposit, l1_info_of
from openledger_node.execution.transactions import (
    Transaction,
    encode_transaction,
    is_deposit,
    tx_type,
)
from openledger_node.execution.trie_root import ordered_trie_root
from openledger_node.execution.types import BlockEnv, L1Origin, Log, Receipt, logs_bloom
from openledger_node.execution.vm import OpenLedgerVM, transaction_gas_used
from openledger_node.primitives import (
    ZERO_HASH,
    Address,
    BlockNumber,
    Hash32,
)

EMPTY_REQUESTS_HASH = Hash32(hashlib.sha256(b"").digest())
EMPTY_NONCE = b"\x00" * 8


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
        nonce=EMPTY_NONCE,
        base_fee_per_gas=env.base_fee,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )


@dataclass(frozen=True)
class Block:
    """A block as it is given to be checked: header and transactions."""

    header: PragueBlockHeader
    transactions: tuple[Transaction, ...]

    @property
    def number(self) -> int:
        return int(self.header.block_number)


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
    The first transaction applied must be the block's L1-info deposit: use
    `begin_block`, or `apply_block` for a block that carries its own.
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


def begin_block(env: BlockEnv, db: AtomicDatabaseAPI) -> BlockExecutor:
    """An executor for a new block on `env`, opened with its L1-info deposit."""
    executor = BlockExecutor(env, db)
    executor.apply(l1_info_deposit(env.l1_origin, env.sequence_number))
    return executor


def validate_header(rules: ChainRules, parent: ParentBlock, header: PragueBlockHeader) -> None:
    """Check the header fields that neither the L1 origin nor execution decide."""
    number = int(header.block_number)

    def check(field: str, expected: object, actual: object) -> None:
        if expected != actual:
            raise BlockFieldMismatch(number, field, expected, actual)

    check("block_number", parent.number + 1, number)
    check("parent_hash", bytes(parent.header.hash), bytes(header.parent_hash))
    if not int(parent.header.timestamp) < int(header.timestamp) <= MAX_TIMESTAMP:
        raise BlockFieldMismatch(
            number, "timestamp", f"after the parent's {int(parent.header.timestamp)}", int(header.timestamp)
        )
    check("gas_limit", rules.gas_limit, int(header.gas_limit))
    check("coinbase", bytes(rules.fee_recipient), bytes(header.coinbase))
    check("uncles_hash", bytes(EMPTY_UNCLE_HASH), bytes(header.uncles_hash))
    check("difficulty", 0, int(header.difficulty))
    check("nonce", EMPTY_NONCE, bytes(header.nonce))
    check("extra_data", b"", bytes(header.extra_data))
    check("withdrawals_root", BLANK_ROOT_HASH, header.withdrawals_root)
    check("blob_gas_used", 0, int(header.blob_gas_used))
    check("excess_blob_gas", 0, int(header.excess_blob_gas))
    check("parent_beacon_block_root", ZERO_HASH, header.parent_beacon_block_root)
    check("requests_hash", bytes(EMPTY_REQUESTS_HASH), bytes(header.requests_hash))


def validate_l1_info(parent: ParentBlock, block: Block) -> tuple[L1Origin, int]:
    """The block opens with the L1-info deposit of an L1 origin that is the
    parent's or the next L1 block, not after the block's time, with the right
    sequence number. Returns that origin and sequence number."""
    number = block.number
    if not block.transactions:
        raise BlockFieldMismatch(number, "transactions[0]", "the L1-info deposit", "no transactions")
    first = block.transactions[0]
    try:
        origin, sequence_number = l1_info_of(first)
    except InvalidBlock as exc:
        raise BlockFieldMismatch(number, "transactions[0]", "the L1-info deposit", str(exc)) from None
    previous = parent.l1_origin
    if origin.number not in (previous.number, previous.number + 1):
        raise BlockFieldMismatch(number, "l1_origin", f"{previous.number} or {previous.number + 1}", origin.number)
    if origin.number == previous.number:
        if origin.hash != previous.hash:
            raise BlockFieldMismatch(number, "l1_origin.hash", bytes(previous.hash), bytes(origin.hash))
        if origin != previous:  # same L1 block, other timestamp or base fee
            raise BlockFieldMismatch(number, "l1_origin", previous, origin)
    if origin.timestamp > int(block.header.timestamp):
        raise BlockFieldMismatch(
            number, "l1_origin.timestamp", f"at most the block's {int(block.header.timestamp)}", origin.timestamp
        )
    expected_sequence = next_sequence_number(previous, parent.sequence_number, origin)
    if sequence_number != expected_sequence:
        raise BlockFieldMismatch(number, "sequence_number", expected_sequence, sequence_number)
    deposit = l1_info_deposit(origin, sequence_number)
    if encode_transaction(first) != encode_transaction(deposit):
        raise BlockFieldMismatch(number, "transactions[0]", bytes(deposit.hash), bytes(first.hash))
    return origin, sequence_number


def apply_block(
    rules: ChainRules, db: AtomicDatabaseAPI, parent: ParentBlock, block: Block
) -> BlockOutput:
    """Check `block` on `parent` and execute it; `db` receives its state trie
    nodes. Raises `InvalidBlock` (`BlockFieldMismatch` naming the field, the
    expected and the actual value) for any block that breaks a rule."""
    header = block.header
    validate_header(rules, parent, header)
    origin, _ = validate_l1_info(parent, block)
    env = next_block_env(rules, parent, timestamp=int(header.timestamp), l1_origin=origin)
    if int(header.base_fee_per_gas or 0) != env.base_fee:
        raise BlockFieldMismatch(env.number, "base_fee_per_gas", env.base_fee, int(header.base_fee_per_gas or 0))
    if bytes(header.mix_hash) != bytes(origin.hash):
        raise BlockFieldMismatch(env.number, "mix_hash", bytes(origin.hash), bytes(header.mix_hash))

    executor = BlockExecutor(env, db)
    seen_user_tx = False
    for index, tx in enumerate(block.transactions):
        if is_deposit(tx):
            if seen_user_tx:
                raise BlockFieldMismatch(
                    env.number, f"transactions[{index}]", "a user transaction (deposits come first)", "a deposit"
                )
        else:
            seen_user_tx = True
        try:
            executor.apply(tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(
                f"block {env.number}: transaction {index} (0x{bytes(tx.hash).hex()}) is invalid: {exc}"
            ) from exc
    output = executor.seal()

    for field in ("gas_used", "transaction_root", "receipt_root", "bloom", "state_root", "hash"):
        expected, actual = getattr(output.header, field), getattr(header, field)
        if expected != actual:
            raise BlockFieldMismatch(env.number, field, expected, actual)
    return output
