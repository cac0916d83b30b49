"""The py-evm machinery a simulation runs on: the node's VM and executor without
the block's transaction validation (the `Simulator` checks a call by eth_call's
rules before it reaches them), fed an unsigned `SimulatedTransaction`, with a
computation that stops at the simulation's deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from eth.abc import BlockHeaderAPI
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

    @property
    def intrinsic_gas(self) -> int:
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

    def consume_gas(self, amount: int, reason: str) -> None:
        at = getattr(_deadline, "at", None)
        if at is not None and time.monotonic() > at:
            raise ExecutionTimeout(_deadline.seconds)
        super().consume_gas(amount, reason)


@console_logging
class SimulationState(OpenLedgerState):
    account_db_class = SharedReadAccountDB
    transaction_executor_class = SimulationExecutor
    computation_class = DeadlineComputation


class SimulationVM(OpenLedgerVM):
    _state_class = SimulationState


_FREE_CALL_HEADERS: LRU[bytes, BlockHeaderAPI] = LRU(64)


def free_call_header(header: BlockHeaderAPI) -> BlockHeaderAPI:
    """`header` with base fee 0, for a call that pays nothing, made once per
    header (a copy validates every field: about a tenth of a simple eth_call)."""
    key = bytes(header.hash)
    free = _FREE_CALL_HEADERS.get(key)
    if free is None:
        free = header.copy(base_fee_per_gas=0)
        _FREE_CALL_HEADERS[key] = free
    return free
