"""The state transition of a plain Ethereum chain: `apply_l1_block`, and the
`L1BlockExecutor` under it that the block producer also builds with.

`apply_l1_block` checks a given block against its parent and reads top to
bottom as the rules do (execution-specs `state_transition`): validate the header
against the parent (number, parent hash, time, the fork's header layout, gas
limit, the post-merge constants, base fee, excess blob gas), validate the body
against the header (transactions root, no uncles, withdrawals), run the block's
system operations, execute every transaction, collect the requests, then compare
gas used, bloom, receipts root, blob gas used, requests hash and state root.
A broken rule raises `BlockFieldMismatch` naming the block, the field, the
expected and the actual value; an invalid transaction raises `InvalidBlock`
naming the block and the transaction.

The rules are py-evm's fork VMs as they are: the base fee is burned, the tip
goes to the coinbase, there are no deposits and no fee vaults (compare
`execution/vm.py`, the rollup's rules). Blob transactions are valid from
Cancun by the rules, but this node neither builds nor stores them (the chain
store and the RPC decode transactions without blobs), and it has no beacon
chain, so no withdrawals: under `NODE_RULES`, what the node runs with, a block
carrying either is refused by name. `ETHEREUM_RULES` lifts those two refusals,
so that Ethereum's own test vectors check the rules themselves
(tests/ethereum/).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH, POST_MERGE_DIFFICULTY, POST_MERGE_NONCE
from eth.vm.chain_context import ChainContext
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_hash.auto import keccak

from openledger_node.exceptions import (
    BlockFieldMismatch,
    FeeCapTooLow,
    GasLimitExceeded,
    InitCodeTooLarge,
    IntrinsicGasTooLow,
    InvalidBlock,
    InvalidTransaction,
    OpenLedgerError,
    TipAboveFeeCap,
    TxDecodeError,
    UnsupportedTxType,
    WrongChainId,
)
from openledger_node.execution.l1.forks import PRAGUE, SHANGHAI, CANCUN, Fork, ForkSchedule
from openledger_node.execution.l1.system import begin_block, end_block, requests_hash
from openledger_node.execution.transactions import chain_id_of, encode_transaction, recover, tx_type
from openledger_node.execution.trie_root import ordered_trie_root
from openledger_node.execution.types import Log, Receipt, logs_bloom
from openledger_node.execution.vm import data_floor_gas, validate_sender
from openledger_node.primitives import BLOB_TX_TYPE, Address, Hash32

GAS_LIMIT_BOUND_DIVISOR = 1024  # a block's gas limit moves by less than 1/1024 of its parent's
MIN_GAS_LIMIT = 5_000
MAX_GAS_LIMIT = 2**63 - 1  # geth's params.MaxGasLimit: gas counts in a signed 64-bit integer
MAX_EXTRA_DATA_BYTES = 32
GWEI = 10**9


@dataclass(frozen=True)
class L1Rules:
    """What a block may carry beyond what every fork's rules allow: the node
    refuses blob transactions (it has no blob store) and withdrawals (it has no
    beacon chain); Ethereum's rules allow both."""

    blob_transactions: bool
    withdrawals: bool


NODE_RULES = L1Rules(blob_transactions=False, withdrawals=False)
ETHEREUM_RULES = L1Rules(blob_transactions=True, withdrawals=True)


@dataclass(frozen=True)
class L1Block:
    """A block as it is given to be checked (from a chain file): its header and
    body, transactions in their canonical encodings."""

    header: BlockHeaderAPI
    transactions: tuple[bytes, ...]
    uncles: tuple[Any, ...] = ()
    withdrawals: tuple[Any, ...] | None = None  # None: a body without the list (before Shanghai)

    @property
    def number(self) -> int:
        return int(self.header.block_number)


@dataclass(frozen=True)
class L1BlockOutput:
    """An executed block: header, transactions (decoded and encoded) and receipts."""

    header: BlockHeaderAPI
    transactions: tuple[SignedTransactionAPI, ...]
    raw_transactions: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]

    @property
    def hash(self) -> bytes:
        return bytes(self.header.hash)

    @property
    def senders(self) -> tuple[bytes, ...]:
        return tuple(bytes(tx.sender) for tx in self.transactions)

    def tips(self) -> list[tuple[int, int]]:
        """(effective tip, gas used) of each transaction, for the fee oracle."""
        base_fee = int(self.header.base_fee_per_gas or 0)
        return [
            (min(int(tx.max_priority_fee_per_gas), int(tx.max_fee_per_gas) - base_fee), receipt.gas_used)
            for tx, receipt in zip(self.transactions, self.receipts)
        ]


# --- transactions ------------------------------------------------------------------


def decode_l1_transaction(fork: Fork, raw: bytes, rules: L1Rules = NODE_RULES) -> SignedTransactionAPI:
    """Decode a transaction with `fork`'s transaction classes (intrinsic gas and
    the valid types differ between forks) and recover its sender."""
    if not raw:
        raise TxDecodeError("empty input")
    if raw[0] < 0x7F:
        if raw[0] == BLOB_TX_TYPE and not rules.blob_transactions:
            raise UnsupportedTxType(BLOB_TX_TYPE, "this node neither builds nor stores blob transactions")
        if raw[0] not in fork.tx_types:
            raise UnsupportedTxType(raw[0], f"not a transaction type of the {fork.name} fork")
    try:
        tx = fork.transaction_builder.decode(raw)
    except Exception as exc:  # py-evm raises assorted rlp and validation errors
        raise TxDecodeError(str(exc) or type(exc).__name__) from exc
    recover(tx)
    return tx


def as_fork_transaction(fork: Fork, tx: SignedTransactionAPI) -> SignedTransactionAPI:
    """A transaction decoded elsewhere (the pool decodes with Prague's classes) as
    `fork`'s transaction object."""
    if fork is PRAGUE:
        return tx
    return decode_l1_transaction(fork, encode_transaction(tx))


def validate_l1_transaction(
    fork: Fork, state: StateAPI, tx: SignedTransactionAPI, rules: L1Rules = NODE_RULES
) -> None:
    """The checks a block applies to a transaction against the state before it,
    as typed errors (py-evm's own checks run after these, in the executor)."""
    kind = tx_type(tx)
    if kind not in fork.tx_types or (kind == BLOB_TX_TYPE and not rules.blob_transactions):
        raise UnsupportedTxType(kind, f"not a transaction type this node runs in the {fork.name} fork")
    chain_id = chain_id_of(tx)
    if chain_id is not None and chain_id != state.execution_context.chain_id:
        raise WrongChainId(chain_id, state.execution_context.chain_id)
    base_fee = int(state.execution_context.base_fee_per_gas or 0)
    fee_cap, tip = int(tx.max_fee_per_gas), int(tx.max_priority_fee_per_gas)
    if tip > fee_cap:
        raise TipAboveFeeCap(tip, fee_cap)
    if fee_cap < base_fee:
        raise FeeCapTooLow(fee_cap, base_fee, "base fee")
    need = int(tx.intrinsic_gas)
    if fork.at_least(PRAGUE):
        need = max(need, data_floor_gas(bytes(tx.data)))  # EIP-7623
    if tx.gas < need:
        raise IntrinsicGasTooLow(tx.gas, need)
    if fork.at_least(SHANGHAI) and not tx.to and len(tx.data) > MAX_INITCODE_SIZE:
        raise InitCodeTooLarge(len(tx.data), MAX_INITCODE_SIZE)
    validate_sender(state, tx, fee_cap)


# --- execution -----------------------------------------------------------------------


class L1BlockExecutor:
    """Executes one block on the state after its parent: the system operations
    when opened, then transactions one at a time (each applied, or refused with
    the state unchanged), then `seal`.

    `header` is the block's header as it is before execution (the producer's
    `next_header`) or as given (a block being checked): its environment fields
    (coinbase, time, number, gas limit, PREVRANDAO, base fee, excess blob gas)
    are read; its roots, gas used and bloom are what `seal` fills in. `db`
    receives the state trie nodes when the block is sealed."""

    def __init__(
        self,
        schedule: ForkSchedule,
        header: BlockHeaderAPI,
        parent_state_root: bytes,
        db: AtomicDatabaseAPI,
        prev_hashes: Iterable[Hash32] = (),
        rules: L1Rules = NODE_RULES,
    ) -> None:
        self.fork = schedule.fork_at(header.timestamp)
        self.rules = rules
        self.header = header
        vm = self.fork.vm_class
        context = vm.create_execution_context(header, prev_hashes, ChainContext(schedule.chain_id))
        self.state: StateAPI = self.fork.state_class(db, context, Hash32(parent_state_root))
        self.transactions: list[SignedTransactionAPI] = []
        self.raw_transactions: list[bytes] = []
        self.receipts: list[Receipt] = []
        self.gas_used = 0
        self.blob_gas_used = 0
        begin_block(self.fork, self.state, header)

    @property
    def gas_remaining(self) -> int:
        return int(self.header.gas_limit) - self.gas_used

    def apply(self, tx: SignedTransactionAPI) -> Receipt:
        """Apply one transaction (decoded with this block's fork); on error the
        state is unchanged and the typed error raised."""
        if tx.gas > self.gas_remaining:
            raise GasLimitExceeded(tx.gas, self.gas_remaining)
        state = self.state
        validate_l1_transaction(self.fork, state, tx, self.rules)
        if self.fork.at_least(CANCUN):
            blob_gas = get_total_blob_gas(tx)
            if self.blob_gas_used + blob_gas > self.fork.max_blob_gas_per_block:
                raise InvalidTransaction(
                    f"blob gas {blob_gas} exceeds the block's remaining "
                    f"{self.fork.max_blob_gas_per_block - self.blob_gas_used}"
                )
        sender = Address(tx.sender)
        nonce_before = state.get_nonce(sender)
        state.lock_changes()
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(tx)
        except OpenLedgerError:
            state.revert(snapshot)
            raise
        except Exception as exc:  # py-evm's own checks; never leave a half-applied tx
            state.revert(snapshot)
            raise InvalidTransaction(f"transaction could not be applied: {exc!r}") from exc
        state.commit(snapshot)
        gas_used = int(self.fork.vm_class.finalize_gas_used(tx, computation))
        self.gas_used += gas_used
        if self.fork.at_least(CANCUN):
            self.blob_gas_used += get_total_blob_gas(tx)
        logs = tuple(
            Log(bytes(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
            for address, topics, data in computation.get_log_entries()
        )
        base_fee = int(self.header.base_fee_per_gas or 0)
        receipt = Receipt(
            tx_type=tx_type(tx),
            status=0 if computation.is_error else 1,
            cumulative_gas_used=self.gas_used,
            logs=logs,
            bloom=logs_bloom(logs),
            gas_used=gas_used,
            effective_gas_price=min(int(tx.max_fee_per_gas), int(tx.max_priority_fee_per_gas) + base_fee),
            contract_address=None if tx.to else generate_contract_address(sender, nonce_before),
        )
        self.transactions.append(tx)
        self.raw_transactions.append(encode_transaction(tx))
        self.receipts.append(receipt)
        return receipt

    def seal(self, withdrawals: Sequence[Any] = ()) -> L1BlockOutput:
        """Apply the block's withdrawals (Shanghai on: [index, validator index,
        address, amount in gwei] each), collect the requests, write the state
        trie nodes to `db` and fill in the header's roots, gas used, bloom, blob
        gas used and requests hash."""
        touched: list[Address] = []
        for withdrawal in withdrawals:
            address = Address(bytes(withdrawal[2]))
            self.state.delta_balance(address, int.from_bytes(withdrawal[3], "big") * GWEI)
            touched.append(address)
        for address in touched:
            # EIP-4895 (as execution-specs' process_withdrawals): an account a
            # zero withdrawal leaves empty does not come into existence.
            if self.state.account_is_empty(address):
                self.state.delete_account(address)
        requests = end_block(self.fork, self.state, self.receipts)
        self.state.persist()
        bloom = 0
        for receipt in self.receipts:
            bloom |= receipt.bloom
        computed: dict[str, Any] = {
            "state_root": self.state.state_root,
            "transaction_root": ordered_trie_root(self.raw_transactions),
            "receipt_root": ordered_trie_root([r.encode() for r in self.receipts]),
            "bloom": bloom,
            "gas_used": self.gas_used,
        }
        if self.fork.at_least(CANCUN):
            computed["blob_gas_used"] = self.blob_gas_used
        if self.fork.at_least(PRAGUE):
            computed["requests_hash"] = requests_hash(requests)
        header = self.header.copy(**computed)
        return L1BlockOutput(header, tuple(self.transactions), tuple(self.raw_transactions), tuple(self.receipts))


# --- checking a given block ----------------------------------------------------------


def _checker(number: int) -> Any:
    def check(field: str, expected: object, actual: object) -> None:
        if expected != actual:
            raise BlockFieldMismatch(number, field, expected, actual)

    return check


def validate_l1_header(schedule: ForkSchedule, parent: BlockHeaderAPI, header: BlockHeaderAPI) -> Fork:
    """Check the header fields its parent and the rules decide; returns its fork."""
    number = int(header.block_number)
    check = _checker(number)
    check("block_number", int(parent.block_number) + 1, number)
    check("parent_hash", bytes(parent.hash), bytes(header.parent_hash))
    if not int(header.timestamp) > int(parent.timestamp):
        raise BlockFieldMismatch(
            number, "timestamp", f"after the parent's {int(parent.timestamp)}", int(header.timestamp)
        )
    fork = schedule.fork_at(int(header.timestamp))
    fields = tuple(type(header)._meta.field_names)  # type: ignore[attr-defined]
    if fields != fork.header_fields:
        raise BlockFieldMismatch(
            number, "header", f"a {fork.name} header of {len(fork.header_fields)} fields", f"{len(fields)} fields"
        )
    limit, parent_limit = int(header.gas_limit), int(parent.gas_limit)
    if limit > MAX_GAS_LIMIT:
        raise BlockFieldMismatch(number, "gas_limit", f"at most {MAX_GAS_LIMIT} (2^63 - 1)", limit)
    if abs(limit - parent_limit) >= parent_limit // GAS_LIMIT_BOUND_DIVISOR or limit < MIN_GAS_LIMIT:
        raise BlockFieldMismatch(
            number, "gas_limit", f"less than 1/1024 away from the parent's {parent_limit}", limit
        )
    if int(header.gas_used) > limit:
        raise BlockFieldMismatch(number, "gas_used", f"at most the gas limit {limit}", int(header.gas_used))
    if len(header.extra_data) > MAX_EXTRA_DATA_BYTES:
        raise BlockFieldMismatch(
            number, "extra_data", f"at most {MAX_EXTRA_DATA_BYTES} bytes", f"{len(header.extra_data)} bytes"
        )
    check("difficulty", POST_MERGE_DIFFICULTY, int(header.difficulty))
    check("nonce", POST_MERGE_NONCE, bytes(header.nonce))
    check("uncles_hash", bytes(EMPTY_UNCLE_HASH), bytes(header.uncles_hash))
    check("base_fee_per_gas", calculate_expected_base_fee_per_gas(parent), int(header.base_fee_per_gas or 0))
    if fork.excess_blob_gas is not None:
        check("excess_blob_gas", fork.excess_blob_gas(parent), int(header.excess_blob_gas))
    return fork


def validate_l1_body(fork: Fork, block: L1Block, rules: L1Rules = NODE_RULES) -> tuple[SignedTransactionAPI, ...]:
    """Check the body against the header; returns its decoded transactions."""
    header, number = block.header, block.number
    check = _checker(number)
    check("transaction_root", ordered_trie_root(block.transactions), bytes(header.transaction_root))
    if block.uncles:
        raise BlockFieldMismatch(number, "uncles", "none (post-merge)", f"{len(block.uncles)} uncles")
    if fork.at_least(SHANGHAI):
        if block.withdrawals is None:
            raise BlockFieldMismatch(number, "withdrawals", "a withdrawals list (Shanghai on)", "none")
        root = ordered_trie_root([rlp.encode(w) for w in block.withdrawals]) if block.withdrawals else BLANK_ROOT_HASH
        check("withdrawals_root", bytes(root), bytes(header.withdrawals_root or b""))
        if block.withdrawals and not rules.withdrawals:
            raise InvalidBlock(
                f"block {number}: carries {len(block.withdrawals)} withdrawals; this node runs chains "
                "without a beacon chain, which have none"
            )
    elif block.withdrawals is not None:
        raise BlockFieldMismatch(number, "withdrawals", "none before Shanghai", f"{len(block.withdrawals)} withdrawals")
    transactions = []
    for index, raw in enumerate(block.transactions):
        try:
            transactions.append(decode_l1_transaction(fork, raw, rules))
        except InvalidTransaction as exc:
            raise InvalidBlock(
                f"block {number}: transaction {index} (0x{keccak(raw).hex()}) is invalid: {exc}"
            ) from exc
    return tuple(transactions)


def apply_l1_block(
    schedule: ForkSchedule,
    db: AtomicDatabaseAPI,
    parent: BlockHeaderAPI,
    block: L1Block,
    prev_hashes: Iterable[Hash32] = (),
    *,
    rules: L1Rules = NODE_RULES,
) -> L1BlockOutput:
    """Check `block` on `parent` and execute it; `db` receives its state trie
    nodes. `prev_hashes`: the parent's hash and its ancestors', for BLOCKHASH.
    Raises `InvalidBlock` (`BlockFieldMismatch` naming the field) for any block
    that breaks a rule."""
    header = block.header
    fork = validate_l1_header(schedule, parent, header)
    transactions = validate_l1_body(fork, block, rules)
    executor = L1BlockExecutor(schedule, header, bytes(parent.state_root), db, prev_hashes, rules)
    for index, tx in enumerate(transactions):
        try:
            executor.apply(tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(
                f"block {block.number}: transaction {index} (0x{bytes(tx.hash).hex()}) is invalid: {exc}"
            ) from exc
    output = executor.seal(block.withdrawals or ())
    check = _checker(block.number)
    for name in ("gas_used", "bloom", "receipt_root", "blob_gas_used", "requests_hash", "state_root"):
        if name in fork.header_fields:
            check(name, getattr(output.header, name), getattr(header, name))
    return output
