"""eth_simulateV1's execution (geth's internal/ethapi/simulate.go): a chain of
simulated blocks over one state, each block with its header fields, state
overrides (precompiles may move), and calls run one after another.

The JSON-RPC handler (`rpc/simulate_v1.py`) checks the block sequence and
builds `SimBlock`s; `simulate_blocks` runs them and returns what happened.
Calls that cannot start raise the node's transaction errors (`NonceTooLow`,
`InsufficientFunds`, ...), which the handler maps to the spec's codes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import rlp
from eth._utils.generator import CachedIterable
from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, EMPTY_UNCLE_HASH
from eth.exceptions import Revert
from eth.vm.chain_context import ChainContext
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_hash.auto import keccak
from eth_typing import Address

from openledger_node.exceptions import (
    FeeCapTooLow,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    TipAboveFeeCap,
)
from openledger_node.execution.simulate.request import (
    AccountOverride,
    CallRequest,
    vm_error_message,
)
from openledger_node.execution.simulate.simulator import apply_state_overrides
from openledger_node.execution.simulate.tracing import (
    CallTraceState,
    CallTraceVM,
    TraceHooks,
)
from openledger_node.execution.simulate.transfers import LogCollector, LogEntry
from openledger_node.execution.simulate.vm import (
    DeadlineComputation,
    SimulatedTransaction,
)
from openledger_node.execution.trie_root import ordered_trie_root
from openledger_node.execution.types import Log, Receipt, logs_bloom
from openledger_node.execution.vm import required_gas, transaction_gas_used
from openledger_node.primitives import ZERO_ADDRESS
from openledger_node.storage import OverlayDB


class BlockGasLimitReached(InvalidTransaction):
    """The calls of a simulated block ask for more gas than the block has (geth's wording)."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"block gas limit reached: {used} >= {limit}")


class PrecompileMoveError(InvalidTransaction):
    """A movePrecompileToAddress that cannot be done; `code` tells which."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # "self", "duplicate" or "not-precompile"


@dataclass(frozen=True)
class SimBlock:
    """One simulated block, its header fields already decided."""

    number: int
    timestamp: int
    gas_limit: int
    coinbase: bytes
    prev_randao: bytes
    base_fee: int | None  # None: the rule's (0 without validation, EIP-1559 with it)
    state: Mapping[bytes, AccountOverride] = field(default_factory=dict)
    moves: Mapping[bytes, bytes] = field(default_factory=dict)  # precompile -> its new address
    calls: tuple[CallRequest, ...] = ()


@dataclass(frozen=True)
class SimTransaction:
    """The transaction a call stands for (geth's unsigned dynamic-fee transaction)."""

    tx: SimulatedTransaction
    chain_id: int

    @property
    def encoded(self) -> bytes:
        t = self.tx
        return b"\x02" + bytes(rlp.encode([
            self.chain_id, t.nonce, t.max_priority_fee_per_gas, t.max_fee_per_gas, t.gas, bytes(t.to), t.value,
            t.data, [[address, [slot.to_bytes(32, "big") for slot in slots]] for address, slots in t.access_list],
            0, 0, 0,
        ]))

    @property
    def hash(self) -> bytes:
        return bytes(keccak(self.encoded))


@dataclass(frozen=True)
class SimCall:
    transaction: SimTransaction
    output: bytes  # return data, or the revert data
    logs: tuple[LogEntry, ...]
    gas_used: int
    max_used_gas: int  # before refunds
    error: str | None
    reverted: bool
    effective_gas_price: int
    receipt_logs: tuple[Log, ...] = ()  # the contracts' own logs (no transfer pseudo-logs)

    @property
    def success(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SimBlockResult:
    header: BlockHeaderAPI
    calls: tuple[SimCall, ...]


def moved_precompiles(current: dict[bytes, Any], moves: Mapping[bytes, bytes]) -> dict[bytes, Any]:
    """The precompile table after `moves` (geth's StateOverride.Apply)."""
    table = dict(current)
    targets: set[bytes] = set()
    for source, target in moves.items():
        if source == target:
            raise PrecompileMoveError(f"account {_hex(source)} requested to be moved to itself", "self")
        if target in targets:
            raise PrecompileMoveError(f"account {_hex(target)} is already overridden", "duplicate")
        if source not in current:
            raise PrecompileMoveError(f"account {_hex(source)} is not a precompile", "not-precompile")
        targets.add(target)
    for source in moves:
        table.pop(source, None)
    for source, target in moves.items():
        table[target] = current[source]
    return table


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class _Chain:
    def __init__(self, db: AtomicDatabaseAPI, chain_id: int, base: BlockHeaderAPI, ancestors: Iterable[Any],
                 validation: bool, trace_transfers: bool, gas_cap: int, next_base_fee: Any) -> None:
        self.db = OverlayDB(db)
        self.chain_id = chain_id
        self.context = ChainContext(chain_id)
        self.validation = validation
        self.trace_transfers = trace_transfers
        self.gas_cap = gas_cap
        self.next_base_fee = next_base_fee
        self.root = bytes(base.state_root)
        self.parent = base
        # BLOCKHASH: the simulated blocks (most recent first), then the base and its
        # ancestors, read lazily and once
        self.simulated: list[Any] = []
        self.ancestors: CachedIterable[Any] = CachedIterable(itertools.chain((base.hash,), ancestors))
        self.precompiles: dict[bytes, Any] = {bytes(a): fn for a, fn in DeadlineComputation.get_precompiles().items()}

    def run(self, block: SimBlock) -> SimBlockResult:
        base_fee = block.base_fee
        if base_fee is None:
            base_fee = int(self.next_base_fee(self.parent)) if self.validation else 0
        header = self.parent.copy(
            parent_hash=self.parent.hash, block_number=block.number, timestamp=block.timestamp,
            gas_limit=block.gas_limit, coinbase=block.coinbase, mix_hash=block.prev_randao,
            base_fee_per_gas=base_fee, state_root=self.root, gas_used=0, bloom=0,
            extra_data=b"", nonce=b"\x00" * 8, uncles_hash=EMPTY_UNCLE_HASH, blob_gas_used=0, excess_blob_gas=0,
            parent_beacon_block_root=b"\x00" * 32,
        )
        prev_hashes = itertools.chain(list(self.simulated), self.ancestors)
        state = CallTraceVM.build_state(self.db, header, self.context, prev_hashes)
        apply_state_overrides(state, block.state)
        if block.moves:
            self.precompiles = moved_precompiles(self.precompiles, block.moves)
        moved = self.precompiles if self.precompiles.keys() != DeadlineComputation.get_precompiles().keys() else None
        gas_used = 0
        calls = []
        for request in block.calls:
            call = self._call(state, header, request, gas_used, moved)
            gas_used += call.gas_used
            calls.append(call)
        state.persist()
        self.root = bytes(state.state_root)
        receipts, cumulative = [], 0
        for call in calls:
            cumulative += call.gas_used
            receipts.append(Receipt(
                tx_type=2, status=1 if call.success else 0, cumulative_gas_used=cumulative, logs=call.receipt_logs,
                bloom=logs_bloom(call.receipt_logs), gas_used=call.gas_used,
                effective_gas_price=call.effective_gas_price, contract_address=None,
            ))
        bloom = 0
        for receipt in receipts:
            bloom |= receipt.bloom
        sealed = header.copy(
            state_root=self.root, gas_used=gas_used, bloom=bloom,
            transaction_root=ordered_trie_root([c.transaction.encoded for c in calls]),
            receipt_root=ordered_trie_root([r.encode() for r in receipts]),
        )
        self.simulated.insert(0, sealed.hash)
        self.parent = sealed
        return SimBlockResult(sealed, tuple(calls))

    def _call(self, state: StateAPI, header: BlockHeaderAPI, request: CallRequest, block_gas_used: int,
              precompiles: dict[bytes, Any] | None) -> SimCall:
        sender = Address(request.sender or ZERO_ADDRESS)
        state_nonce = int(state.get_nonce(sender))
        gas_limit = int(header.gas_limit)
        gas = request.gas if request.gas is not None else gas_limit - block_gas_used
        if block_gas_used + gas > gas_limit:
            raise BlockGasLimitReached(block_gas_used, gas_limit)
        if self.gas_cap and gas > self.gas_cap:
            gas = self.gas_cap
        base_fee = int(header.base_fee_per_gas or 0)
        # geth's TransactionArgs.ToMessage with a base fee
        if request.gas_price is not None:
            fee_cap = tip = price = request.gas_price
        else:
            fee_cap = request.max_fee_per_gas or 0
            tip = request.max_priority_fee_per_gas or 0
            price = min(tip + base_fee, fee_cap) if (fee_cap or tip) else 0
        nonce = state_nonce if request.nonce is None else request.nonce
        tx = SimulatedTransaction(
            sender=sender, to=Address(request.to or CREATE_CONTRACT_ADDRESS), gas=gas, max_fee_per_gas=fee_cap,
            max_priority_fee_per_gas=tip, value=request.value, data=request.data, nonce=nonce,
            access_list=request.access_list,
        )
        if self.validation:
            if nonce < state_nonce:
                raise NonceTooLow(sender, nonce, state_nonce)
            if nonce > state_nonce:
                raise NonceTooHigh(sender, nonce, state_nonce)
        if self.validation or fee_cap or tip:  # geth's NoBaseFee skips these for a free call
            if tip > fee_cap:
                raise TipAboveFeeCap(tip, fee_cap)
            if fee_cap < base_fee:
                raise FeeCapTooLow(fee_cap, base_fee, "base fee", sender)
        balance = int(state.get_balance(sender))
        cost = gas * (fee_cap if self.validation else price) + request.value
        if balance < cost:
            raise InsufficientFunds(sender, balance, cost)
        need = required_gas(tx)
        if gas < need:
            raise IntrinsicGasTooLow(gas, need)
        if not request.to and len(request.data) > MAX_INITCODE_SIZE:
            raise InitCodeTooLarge(len(request.data), MAX_INITCODE_SIZE)

        charged = tx
        if not (fee_cap or tip) and base_fee:
            # A free call in a block whose base fee is overridden: py-evm cannot run a
            # fee cap under the base fee, so the call pays the base fee (geth: nothing).
            charged = replace(tx, max_fee_per_gas=base_fee)
            if balance < gas * base_fee + request.value:
                raise InsufficientFunds(sender, balance, gas * base_fee + request.value)
        collector = LogCollector(self.trace_transfers)
        traced = cast(CallTraceState, state)
        traced.hooks = TraceHooks(collector, gas, precompiles)
        try:
            computation = state.get_transaction_executor()(cast(Any, charged))
        finally:
            traced.hooks = None
        used = transaction_gas_used(charged, computation)
        peak = gas - int(computation.get_gas_remaining()) + int(getattr(computation, "data_floor_gas", 0))
        error = None if computation.is_success else vm_error_message(computation.error)
        reverted = isinstance(computation.error, Revert) if not computation.is_success else False
        output = bytes(computation.output) if (computation.is_success or reverted) else b""
        return SimCall(
            transaction=SimTransaction(tx, self.chain_id),
            output=output,
            logs=tuple(collector.logs) if computation.is_success else (),
            gas_used=used,
            max_used_gas=max(used, peak),
            error=error,
            reverted=reverted,
            effective_gas_price=price,
            receipt_logs=tuple(
                Log(bytes(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
                for address, topics, data in (computation.get_log_entries() if computation.is_success else ())
            ),
        )


def simulate_blocks(
    db: AtomicDatabaseAPI,
    chain_id: int,
    base: BlockHeaderAPI,
    ancestors: Iterable[Any],
    blocks: Iterable[SimBlock],
    *,
    validation: bool,
    trace_transfers: bool,
    gas_cap: int,
    next_base_fee: Any,
) -> list[SimBlockResult]:
    """Run `blocks` one after another on `base`'s state; nothing is written to `db`."""
    chain = _Chain(db, chain_id, base, ancestors, validation, trace_transfers, gas_cap, next_base_fee)
    return [chain.run(block) for block in blocks]
