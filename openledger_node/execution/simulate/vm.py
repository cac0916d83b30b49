"""The py-evm machinery a simulation runs on: the node's VM and executor without
the block's transaction validation (the `Simulator` checks a call by eth_call's
rules before it reaches them), fed an unsigned `SimulatedTransaction`, with a
computation that stops at the simulation's deadline.

`CallVM` is what the `Simulator` (eth_call, eth_estimateGas,
eth_createAccessList) runs on: its state is thrown away after one transaction,
so it skips the work whose only effect is on that state after the call: the
fee settlement (refund, tip, base-fee vault, EIP-161 clean-up) and balance
changes of zero (a free call's gas purchase).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.vm.forks.berlin.transactions import calculate_txn_intrinsic_gas_berlin
from eth.vm.forks.prague.computation import PragueComputation
from eth_typing import Address
from lru import LRU

from openledger_node.exceptions import ExecutionTimeout
from openledger_node.execution.accountdb import SharedReadAccountDB
from openledger_node.execution.console import console_logging
from openledger_node.execution.simulate.request import AccessList
from openledger_node.execution.vm import (
    OpenLedgerState,
    OpenLedgerTransactionExecutor,
    OpenLedgerVM,
)


@dataclass(frozen=True)
class SimulatedTransaction:
    """The fields py-evm's transaction executor reads, with no signature: the
    sender is given. Fee fields are EIP-1559 (a legacy price is cap = tip)."""

    sender: Address
    to: Address  # CREATE_CONTRACT_ADDRESS (b"") for a creation
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    value: int
    data: bytes
    nonce: int
    access_list: AccessList
    type_id: int = 2

    @property
    def gas_price(self) -> int:
        return self.max_fee_per_gas

    @cached_property
    def intrinsic_gas(self) -> int:  # asked for three times a run
        return int(calculate_txn_intrinsic_gas_berlin(cast(Any, self)))

    @property
    def authorization_list(self) -> tuple[()]:
        return ()


class SimulationExecutor(OpenLedgerTransactionExecutor):
    """The node's executor (fees, vaults, refunds, EIP-7623 floor) minus the block's
    transaction validation: the Simulator checks the call by eth_call's rules first."""

    def validate_transaction(self, transaction: Any) -> None:
        pass


_deadline = threading.local()


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Simulations on this thread stop with `ExecutionTimeout` once `seconds`
    have passed (None: no deadline)."""
    previous = getattr(_deadline, "at", None), getattr(_deadline, "seconds", None)
    _deadline.at = None if seconds is None else time.monotonic() + seconds
    _deadline.seconds = seconds
    try:
        yield
    finally:
        _deadline.at, _deadline.seconds = previous


class DeadlineComputation(PragueComputation):
    """Checks the thread's deadline each time gas is charged, which every opcode
    does: an endless loop under a large gas cap stops on time, not on gas."""

    def __init__(self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI) -> None:
        super().__init__(state, message, transaction_context)
        # Read once per frame: the thread-local lookup on every opcode cost more than the clock.
        self._deadline_at: float | None = getattr(_deadline, "at", None)
        # Which positions are JUMPDESTs rather than PUSH data depends on the
        # code alone: the answers py-evm's code stream works out one jump at a
        # time are kept for every later frame running the same code.
        code = bytes(message.code)
        positions = _JUMP_ANALYSIS.get(code)
        if positions is None:
            positions = _JUMP_ANALYSIS[code] = (set(), set())
        stream = cast(Any, self.code)
        stream.valid_positions, stream.invalid_positions = positions

    def consume_gas(self, amount: int, reason: str) -> None:
        at = self._deadline_at
        if at is not None and time.monotonic() > at:
            raise ExecutionTimeout(_deadline.seconds)
        self._gas_meter.consume_gas(amount, reason)  # BaseComputation.consume_gas, one call less


@console_logging
class SimulationState(OpenLedgerState):
    account_db_class = SharedReadAccountDB
    transaction_executor_class = SimulationExecutor
    computation_class = DeadlineComputation  # type: ignore[assignment]  # py-evm types it as PragueComputation


class SimulationVM(OpenLedgerVM):
    _state_class = SimulationState


class CallExecutor(SimulationExecutor):
    """The executor of a one-transaction simulation whose state is then thrown
    away (`CallState`)."""

    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        """Only what the caller reads from the computation: the EIP-7623 floor
        (gas used). The refund, the fees and the EIP-161 clean-up change the
        state after the call, and nothing reads that state."""
        gas_used = transaction.gas - computation.get_gas_remaining()
        computation.data_floor_gas = self.calc_data_floor_gas(
            transaction, gas_used, self.calculate_gas_refund(computation, gas_used)
        )
        return computation


class CallState(SimulationState):
    """The state of one simulated call, thrown away after it."""

    transaction_executor_class = CallExecutor

    def get_code(self, address: Address) -> bytes:
        # Code by its hash never changes: the database read is made once per
        # process for the contracts that calls keep running (an override's code
        # is stored under its own hash, so the cache stays right).
        code_hash = self.get_code_hash(address)
        code = _CODE_BY_HASH.get(code_hash)
        if code is None:
            code = bytes(super().get_code(address))
            _CODE_BY_HASH[code_hash] = code
        return code

    def delta_balance(self, address: Address, delta: int) -> None:
        # A zero change would only write the account back as it is (py-evm
        # reads, copies and re-encodes it); emptiness, not existence, is what
        # the EVM looks at after EIP-161, so skipping it changes nothing a
        # call can see.
        if delta:
            super().delta_balance(address, delta)


class CallVM(OpenLedgerVM):
    _state_class = CallState


_FREE_CALL_HEADERS: LRU[bytes, BlockHeaderAPI] = LRU(64)
# Contract code (up to 24 KiB each) kept by hash, and the jump analysis of the
# code that frames ran, for the contracts that calls keep running.
_CODE_BY_HASH: LRU[bytes, bytes] = LRU(256)
_JUMP_ANALYSIS: LRU[bytes, tuple[set[int], set[int]]] = LRU(256)


def free_call_header(header: BlockHeaderAPI) -> BlockHeaderAPI:
    """`header` with base fee 0, for a call that pays nothing, made once per
    header (a copy validates every field: about a tenth of a simple eth_call)."""
    key = bytes(header.hash)
    free = _FREE_CALL_HEADERS.get(key)
    if free is None:
        free = header.copy(base_fee_per_gas=0)
        _FREE_CALL_HEADERS[key] = free
    return free
