"""The tracing VM behind debug_trace*: computations that report every frame
(call, create) and every opcode to a `Tracer`, as geth's tracing hooks do.

The hooks live in subclasses of the node's VM classes, never in py-evm: a
`TraceState` runs its computations on `TracingComputation` only while a tracer
is attached (one transaction), and on the plain computation otherwise, so
replaying the transactions before the traced one costs what a block does.
`TraceVM` replays blocks (the node's executor, block rules included);
`CallTraceVM` runs calls (the simulation executor, eth_call's rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from eth.abc import (
    ComputationAPI,
    MessageAPI,
    OpcodeAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.exceptions import Halt, Revert, VMError
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.logic.invalid import InvalidOpcode

from openledger_node.execution.simulate.request import vm_error_message
from openledger_node.execution.simulate.vm import DeadlineComputation, SimulationState
from openledger_node.execution.vm import OpenLedgerState, OpenLedgerVM

CALL_OPS = {0xF1: "CALL", 0xF2: "CALLCODE", 0xF4: "DELEGATECALL", 0xFA: "STATICCALL"}
CREATE_OPS = {0xF0: "CREATE", 0xF5: "CREATE2"}


@dataclass
class Frame:
    """One call or create as the tracer sees it (geth's OnEnter arguments)."""

    kind: str  # CALL, STATICCALL, DELEGATECALL, CALLCODE, CREATE, CREATE2
    depth: int  # 0 for the transaction's own call
    sender: bytes
    to: bytes  # the created address for a create
    code_address: bytes
    value: int
    gas: int
    input: bytes
    computation: ComputationAPI | None = None  # set once the frame runs code
    op: int = -1  # the opcode running in this frame (a child's kind comes from it)
    gas_before: int = 0  # before the running opcode
    op_cost: int | None = None  # the running opcode's cost, when a child frame fixed it
    child_entered: bool = False  # whether the running CALL or CREATE opened a frame
    last_charge: int = 0  # the gas a running CREATE charged last (what it hands on)
    last_return: int = 0  # the gas a running CALL gave back last
    pc_after: int = -1  # the program counter after the last opcode


class Tracer:
    """geth's tracing hooks; every one a no-op here. `tx_start` comes before the
    transaction buys its gas, so what it reads is the state before the transaction."""

    hooks: TraceHooks | None = None  # set when the tracer is attached

    def tx_start(self, state: StateAPI, sender: bytes, gas: int, extra: tuple[bytes, ...]) -> None:
        pass

    def enter(self, state: StateAPI, frame: Frame) -> None:
        pass

    def exit(self, state: StateAPI, frame: Frame, computation: ComputationAPI) -> None:
        pass

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        """Before an opcode; may return a record whose gas cost `step_end` fills."""
        return None

    def step_end(self, record: dict[str, Any], gas_cost: int, error: str | None) -> None:
        pass

    def log(self, frame: Frame, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        pass

    def failed_frame(self, frame: Frame, error: str, gas_used: int) -> None:
        """A call or create that failed before it ran (geth still opens and closes
        a frame for it): call depth, the caller's balance, an address collision."""

    def tx_end(self, state: StateAPI, gas_used: int, output: bytes, error: str | None) -> None:
        pass

    def result(self) -> Any:
        return None


class TraceHooks:
    """The frame stack of one traced transaction, between the computations and the tracer."""

    def __init__(self, tracer: Tracer, gas_limit: int, precompiles: dict[bytes, Any] | None = None) -> None:
        self.tracer = tracer
        tracer.hooks = self
        self.gas_limit = gas_limit
        # eth_simulateV1's movePrecompileToAddress: the precompiles by address, when moved
        self.precompiles = precompiles
        self.frames: list[Frame] = []
        self.top: ComputationAPI | None = None

    def enter(self, state: StateAPI, message: MessageAPI) -> Frame:
        parent = self.frames[-1] if self.frames else None
        if parent is None:
            kind = "CREATE" if message.is_create else "CALL"
        elif message.is_create:
            kind = CREATE_OPS.get(parent.op, "CREATE")
        else:
            kind = CALL_OPS.get(parent.op, "CALL")
        if parent is not None and parent.computation is not None:
            # geth's cost of a CALL includes the gas it hands on; of a CREATE, not.
            spent = parent.gas_before - int(parent.computation.get_gas_remaining())
            if message.is_create:
                spent -= int(message.gas)
            parent.op_cost = spent
        if parent is not None:
            parent.child_entered = True
        to = bytes(message.storage_address)
        if parent is None or message.is_create:
            sender = bytes(message.sender)
        else:
            # geth: from the contract that calls, to the code called (DELEGATECALL and
            # CALLCODE run that code on the caller's storage).
            sender = bytes(parent.computation.msg.storage_address) if parent.computation else bytes(message.sender)
            to = bytes(message.code_address)
        frame = Frame(
            kind=kind,
            depth=len(self.frames),
            sender=sender,
            to=to,
            code_address=bytes(message.code_address) if not message.is_create else to,
            value=int(message.value),
            gas=int(message.gas),
            input=bytes(message.code if message.is_create else message.data),
        )
        self.frames.append(frame)
        self.tracer.enter(state, frame)
        return frame

    def exit(self, state: StateAPI, computation: ComputationAPI) -> None:
        frame = self.frames.pop()
        if not self.frames:
            self.top = computation
        self.tracer.exit(state, frame, computation)

    def refund(self) -> int:
        return sum(int(f.computation.get_gas_refund()) for f in self.frames if f.computation is not None)


class _Step(OpcodeAPI):
    """Reports an opcode to the state's hooks before and after it runs."""

    def __init__(self, value: int, inner: Callable[..., None]) -> None:
        self.value = value
        self.inner = inner
        named = getattr(inner, "__wrapped__", inner)
        self.mnemonic = str(getattr(inner, "mnemonic", getattr(named, "mnemonic", "")))

    def __call__(self, computation: ComputationAPI) -> None:
        hooks = cast(TraceState, computation.state).hooks
        if hooks is None or not hooks.frames or not len(computation.code):
            # geth runs no step for empty code (py-evm runs its implicit STOP)
            self.inner(computation=computation)
            return
        frame = hooks.frames[-1]
        frame.computation = computation
        frame.op = self.value
        gas = int(computation.get_gas_remaining())
        frame.gas_before = gas
        frame.op_cost = None
        counter = computation.code.program_counter
        # py-evm runs the STOP past the end of the code without moving the counter
        pc = counter if (self.value == 0 and counter == frame.pc_after) else max(0, counter - 1)
        record = hooks.tracer.step(computation, frame, pc, self.value, gas)
        error: str | None = None
        spawns = self.value in CALL_OPS or self.value in CREATE_OPS
        if spawns:
            frame.child_entered = False
            frame.last_charge = frame.last_return = 0
            stack = list(computation._stack.values)  # type: ignore[attr-defined]
        try:
            self.inner(computation=computation)
            if spawns and not frame.child_entered:
                _report_failed_frame(hooks, frame, computation, self.value, stack)
        except Halt:
            raise
        except Revert:
            raise
        except VMError as exc:
            error = vm_error_message(exc)
            raise
        finally:
            frame.op = -1
            frame.pc_after = computation.code.program_counter
            if record is not None:
                cost = frame.op_cost
                if cost is None:
                    # an opcode that runs out of gas takes all there is
                    cost = gas if error == "out of gas" else gas - int(computation.get_gas_remaining())
                hooks.tracer.step_end(record, max(0, cost), error)
            frame.op_cost = None

    @classmethod
    def as_opcode(cls, logic_fn: Callable[..., Any], mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("traced opcodes wrap an existing opcode")


def _word(item: int | bytes) -> int:
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _report_failed_frame(
    hooks: TraceHooks, frame: Frame, computation: ComputationAPI, op: int, stack: list[int | bytes]
) -> None:
    """A CALL or CREATE that py-evm refused before it made a child computation."""
    words = [_word(v) for v in reversed(stack)]  # top first
    contract = bytes(computation.msg.storage_address)
    memory = bytes(computation._memory._bytes)  # type: ignore[attr-defined]

    def read(offset: int, size: int) -> bytes:
        return memory[offset:offset + size].ljust(size, b"\0") if size else b""

    depth_exceeded = computation.msg.depth >= 1024
    if op in CREATE_OPS:
        if len(words) < (4 if op == 0xF5 else 3):
            return
        value, offset, size = words[0], words[1], words[2]
        if depth_exceeded:
            error, gas, used = "max call depth exceeded", 0, 0
        elif int(computation.state.get_balance(computation.msg.storage_address)) < value:
            error, gas, used = "insufficient balance for transfer", 0, 0
        else:
            error, gas, used = "contract address collision", frame.last_charge, frame.last_charge
        failed = Frame(CREATE_OPS[op], frame.depth + 1, contract, b"", b"", value, gas, read(offset, size))
    else:
        with_value = op in (0xF1, 0xF2)
        if len(words) < (7 if with_value else 6):
            return
        target = (words[1] & ((1 << 160) - 1)).to_bytes(20, "big")
        value = words[2] if with_value else int(computation.msg.value)
        offset, size = (words[3], words[4]) if with_value else (words[2], words[3])
        error = "max call depth exceeded" if depth_exceeded else "insufficient balance for transfer"
        failed = Frame(CALL_OPS[op], frame.depth + 1, contract, target, target, value, frame.last_return,
                       read(offset, size))
        used = 0
    hooks.tracer.failed_frame(failed, error, used)


def _traced_table(opcodes: dict[int, Any]) -> dict[int, OpcodeAPI]:
    # Every byte gets an entry, so that an undefined opcode is traced (and fails) too.
    return {value: _Step(value, opcodes.get(value) or InvalidOpcode(value)) for value in range(256)}


class TracingComputation(DeadlineComputation):
    opcodes = _traced_table(DeadlineComputation.opcodes)

    @classmethod
    def apply_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        hooks = cast(TraceState, state).hooks
        if hooks is None or message.is_create:  # a create's frame is opened in apply_create_message
            return super().apply_message(state, message, transaction_context, parent_computation)
        hooks.enter(state, message)
        computation = super().apply_message(state, message, transaction_context, parent_computation)
        hooks.exit(state, computation)
        return computation

    @classmethod
    def apply_create_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        hooks = cast(TraceState, state).hooks
        if hooks is None:
            return super().apply_create_message(state, message, transaction_context, parent_computation)
        hooks.enter(state, message)
        computation = super().apply_create_message(state, message, transaction_context, parent_computation)
        hooks.exit(state, computation)
        return computation

    def consume_gas(self, amount: int, reason: str) -> None:
        super().consume_gas(amount, reason)
        hooks = cast(TraceState, self.state).hooks
        if hooks is not None and hooks.frames and hooks.frames[-1].op in CREATE_OPS:
            hooks.frames[-1].last_charge = amount

    def return_gas(self, amount: int) -> None:
        super().return_gas(amount)
        hooks = cast(TraceState, self.state).hooks
        if hooks is not None and hooks.frames and hooks.frames[-1].op in CALL_OPS:
            hooks.frames[-1].last_return = amount

    @property
    def precompiles(self) -> dict[Any, Any]:
        hooks = cast(TraceState, self.state).hooks
        if hooks is not None and hooks.precompiles is not None:
            return hooks.precompiles
        return super().precompiles

    def add_log_entry(self, account: Any, topics: tuple[int, ...], data: bytes) -> None:
        super().add_log_entry(account, topics, data)
        hooks = cast(TraceState, self.state).hooks
        if hooks is not None and hooks.frames:
            hooks.tracer.log(hooks.frames[-1], bytes(account), tuple(topics), bytes(data))


class _Traceable:
    """A state that runs the next transactions on the tracing computation while
    `hooks` is set, and on its plain computation otherwise."""

    hooks: TraceHooks | None = None
    plain_computation: type[ComputationAPI] = PragueComputation

    @property
    def computation_class(self) -> type[ComputationAPI]:
        return TracingComputation if self.hooks is not None else self.plain_computation


# computation_class is a property here, a class attribute in py-evm.
class TraceState(_Traceable, OpenLedgerState):  # type: ignore[misc,override]
    plain_computation = OpenLedgerState.computation_class  # what the node's blocks run on


class CallTraceState(_Traceable, SimulationState):  # type: ignore[misc,override]
    plain_computation = SimulationState.computation_class

    def is_address_warm(self, address: Any) -> bool:
        # EIP-2929: precompiles are warm, where a simulation moved them too.
        hooks = self.hooks
        if hooks is not None and hooks.precompiles is not None:
            return bool(self._account_db.is_address_warm(address)) or address in hooks.precompiles
        return bool(super().is_address_warm(address))


class TraceVM(OpenLedgerVM):
    _state_class = TraceState


class CallTraceVM(OpenLedgerVM):
    _state_class = CallTraceState
