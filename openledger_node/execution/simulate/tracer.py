"""Access-list tracing for eth_createAccessList (geth's logger.AccessListTracer):
a VM whose storage and account opcodes report their operand to an
`AccessListTracer` before they run. The `Simulator` switches to it only when it
builds an access list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from eth.abc import ComputationAPI, OpcodeAPI
from eth.exceptions import InsufficientStack
from eth.vm import opcode_values

from openledger_node.execution.simulate.request import AccessList
from openledger_node.execution.simulate.vm import CallState, DeadlineComputation
from openledger_node.execution.vm import OpenLedgerVM


@dataclass
class AccessListTracer:
    """Collects the addresses and slots the EVM touches, as geth's tracer does: the
    slots of SLOAD/SSTORE, the addresses of BALANCE, EXTCODE*, SELFDESTRUCT and the
    CALL family, reverted frames included. `excluded` addresses (sender, recipient
    or created contract, precompiles) are never added on their own, but an address
    whose slots are touched is listed with them."""

    excluded: frozenset[bytes]
    entries: dict[bytes, set[int]] = field(default_factory=dict)

    @classmethod
    def seeded(cls, access_list: AccessList, excluded: frozenset[bytes]) -> AccessListTracer:
        tracer = cls(excluded)
        for address, slots in access_list:
            tracer.add_address(address)
            for slot in slots:
                tracer.add_slot(address, slot)
        return tracer

    def add_address(self, address: bytes) -> None:
        if address not in self.excluded:
            self.entries.setdefault(address, set())

    def add_slot(self, address: bytes, slot: int) -> None:
        self.entries.setdefault(address, set()).add(slot)

    def access_list(self) -> AccessList:
        """Sorted by address, then slot, as geth sorts it."""
        return tuple((address, tuple(sorted(self.entries[address]))) for address in sorted(self.entries))


def _word_to_int(item: int | bytes) -> int:
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _word_to_address(item: int | bytes) -> bytes:
    return (_word_to_int(item) & ((1 << 160) - 1)).to_bytes(20, "big")


class _TracedOpcode(OpcodeAPI):
    """Reports an opcode's operand to the state's tracer, then runs the opcode.

    `depth` is the stack position of the operand (1: top); the stack is left as
    it was. With too few items nothing is recorded and the opcode fails as usual."""

    def __init__(self, inner: Callable[..., None], depth: int, is_slot: bool) -> None:
        self.inner = inner
        # Some table entries are plain functions wrapping an opcode (SELFDESTRUCT's
        # deprecation warning), so the mnemonic may sit one level down.
        named = getattr(inner, "__wrapped__", inner)
        self.mnemonic = str(getattr(inner, "mnemonic", getattr(named, "mnemonic", "")))
        self.depth = depth
        self.is_slot = is_slot

    def __call__(self, computation: ComputationAPI) -> None:
        tracer = cast(TracingState, computation.state).access_tracer
        if tracer is not None:
            try:
                items = computation.stack_pop_any(self.depth)
            except InsufficientStack:
                items = ()
            for item in reversed(items):
                if isinstance(item, int):
                    computation.stack_push_int(item)
                else:
                    computation.stack_push_bytes(item)
            if items:
                operand = items[-1]
                if self.is_slot:
                    tracer.add_slot(computation.msg.storage_address, _word_to_int(operand))
                else:
                    tracer.add_address(_word_to_address(operand))
        self.inner(computation=computation)

    @classmethod
    def as_opcode(cls, logic_fn: Callable[..., Any], mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("traced opcodes wrap an existing opcode")


_TRACED: dict[int, tuple[int, bool]] = {  # opcode -> (operand's stack position, is a slot)
    opcode_values.SLOAD: (1, True),
    opcode_values.SSTORE: (1, True),
    opcode_values.BALANCE: (1, False),
    opcode_values.EXTCODESIZE: (1, False),
    opcode_values.EXTCODECOPY: (1, False),
    opcode_values.EXTCODEHASH: (1, False),
    opcode_values.SELFDESTRUCT: (1, False),
    opcode_values.CALL: (2, False),
    opcode_values.CALLCODE: (2, False),
    opcode_values.DELEGATECALL: (2, False),
    opcode_values.STATICCALL: (2, False),
}


class TracingComputation(DeadlineComputation):
    opcodes = {  # noqa: RUF012  (py-evm's opcode table is a class attribute)
        value: _TracedOpcode(fn, *_TRACED[value]) if value in _TRACED else fn
        for value, fn in DeadlineComputation.opcodes.items()
    }


class TracingState(CallState):
    computation_class = TracingComputation  # type: ignore[assignment]
    access_tracer: AccessListTracer | None = None


class TracingVM(OpenLedgerVM):
    _state_class = TracingState
