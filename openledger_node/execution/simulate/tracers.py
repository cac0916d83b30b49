"""geth's built-in tracers on the tracing VM (`tracing`): the struct logger (the
default, one record per opcode), `callTracer` (the tree of calls) and
`prestateTracer` (the accounts a transaction touched, before it and, in diff
mode, after it). Each returns the JSON geth returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_safe_contract_address
from eth.abc import ComputationAPI, StateAPI
from eth.exceptions import Revert
from eth_typing import Address

from openledger_node.execution.simulate.request import (
    decode_revert_reason,
    vm_error_message,
)
from openledger_node.execution.simulate.tracing import Frame, TraceHooks, Tracer
from openledger_node.execution.simulate.vm import DeadlineComputation

SLOAD, SSTORE, SELFDESTRUCT = 0x54, 0x55, 0xFF
_ADDRESS_OPS = {0x31, 0x3B, 0x3C, 0x3F, 0xFF}  # BALANCE, EXTCODESIZE, EXTCODECOPY, EXTCODEHASH, SELFDESTRUCT
_CALLS = {0xF1, 0xF2, 0xF4, 0xFA}
PRECOMPILES = frozenset(bytes(a) for a in DeadlineComputation.get_precompiles())
DEFINED = frozenset(DeadlineComputation.opcodes)  # the fork's opcodes, before tracing wraps them
# py-evm's mnemonics where geth's differ.
_GETH_NAMES = {"SHA3": "KECCAK256"}


def op_name(computation: ComputationAPI, op: int) -> str:
    """geth's name for an opcode (vm.OpCode.String()): an undefined one is
    `opcode 0x.. not defined`, 0xFE is INVALID."""
    if op == 0xFE:
        return "INVALID"
    if op not in DEFINED:
        return f"opcode {op:#x} not defined"
    name = str(getattr(computation.opcodes.get(op), "mnemonic", ""))
    return _GETH_NAMES.get(name, name)


def _int(item: int | bytes) -> int:
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _stack(computation: ComputationAPI) -> list[int]:
    return [_int(v) for v in computation._stack.values]  # type: ignore[attr-defined]


def _memory(computation: ComputationAPI) -> bytes:
    return bytes(computation._memory._bytes)  # type: ignore[attr-defined]


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _address(value: int) -> bytes:
    return (value & ((1 << 160) - 1)).to_bytes(20, "big")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


# --- the struct logger ----------------------------------------------------------------


@dataclass(frozen=True)
class StructLogConfig:
    disable_stack: bool = False
    disable_storage: bool = False
    enable_memory: bool = False
    enable_return_data: bool = False
    limit: int = 0  # 0: no limit


class StructLogger(Tracer):
    """geth's logger.StructLogger: one record per opcode executed, with the gas
    before it, its cost, the depth, and (by the options) stack, memory, the
    contract's storage as far as the transaction read or wrote it, return data."""

    def __init__(self, config: StructLogConfig) -> None:
        self.config = config
        self.logs: list[dict[str, Any]] = []
        self.storage: dict[bytes, dict[str, str]] = {}
        self.outcome: tuple[int, bytes, str | None] = (0, b"", None)

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        config = self.config
        if config.limit and len(self.logs) >= config.limit:
            return None
        record: dict[str, Any] = {
            "pc": pc, "op": op_name(computation, op), "gas": gas, "gasCost": 0, "depth": frame.depth + 1,
        }
        storage_op = op in (SLOAD, SSTORE) and not config.disable_storage
        stack = _stack(computation) if (storage_op or not config.disable_stack) else []
        if not config.disable_stack:
            record["stack"] = [hex(v) for v in stack]
        if config.enable_return_data and computation.return_data:
            record["returnData"] = _hex(bytes(computation.return_data))
        if config.enable_memory:
            memory = _memory(computation)
            record["memory"] = ["0x" + memory[i:i + 32].hex() for i in range(0, len(memory), 32)]
        if storage_op and len(stack) >= (1 if op == SLOAD else 2):
            address = bytes(computation.msg.storage_address)
            key = stack[-1]
            if op == SLOAD:
                value = int(computation.state.get_storage(Address(address), key))
            else:
                value = stack[-2]
            seen = self.storage.setdefault(address, {})
            seen[word(key)] = word(value)
            record["storage"] = dict(seen)
        hooks = self.hooks
        refund = hooks.refund() if hooks is not None else 0
        if refund:
            record["refund"] = refund
        self.logs.append(record)
        return record

    def step_end(self, record: dict[str, Any], gas_cost: int, error: str | None) -> None:
        record["gasCost"] = gas_cost
        if error is not None:
            record["error"] = error

    def tx_end(self, state: StateAPI, gas_used: int, output: bytes, error: str | None) -> None:
        self.outcome = (gas_used, output, error)

    def result(self) -> dict[str, Any]:
        gas_used, output, error = self.outcome
        return {"gas": gas_used, "failed": error is not None, "returnValue": _hex(output), "structLogs": self.logs}


# --- callTracer ------------------------------------------------------------------------


class CallTracer(Tracer):
    """geth's native callTracer: the transaction's call as a tree of frames."""

    def __init__(self, only_top_call: bool = False, with_log: bool = False) -> None:
        self.only_top_call = only_top_call
        self.with_log = with_log
        self.stack: list[dict[str, Any]] = []
        self.done: dict[str, Any] | None = None

    def enter(self, state: StateAPI, frame: Frame) -> None:
        if self.only_top_call and frame.depth > 0:
            return
        call: dict[str, Any] = {
            "from": _hex(frame.sender),
            "gas": frame.gas,
            "gasUsed": 0,
            "to": _hex(frame.to),
            "input": _hex(frame.input),
            "value": None if frame.kind == "STATICCALL" else frame.value,
            "type": frame.kind,
        }
        if frame.depth == 0 and self.hooks is not None:
            call["gas"] = self.hooks.gas_limit  # geth: the transaction's gas limit
        self.stack.append(call)

    def exit(self, state: StateAPI, frame: Frame, computation: ComputationAPI) -> None:
        if self.only_top_call and frame.depth > 0:
            return
        call = self.stack.pop()
        call["gasUsed"] = frame.gas - int(computation.get_gas_remaining())
        if computation.is_error:
            error = computation.error
            call["error"] = vm_error_message(error)
            if frame.kind in ("CREATE", "CREATE2"):
                call.pop("to", None)
            output = bytes(computation.output) if isinstance(error, Revert) else b""
            if output:
                call["output"] = _hex(output)
                reason = decode_revert_reason(output) if len(output) >= 4 else None
                if reason is not None:
                    call["revertReason"] = reason
        else:
            output = bytes(computation.output)
            if output:
                call["output"] = _hex(output)
        if self.stack:
            self.stack[-1].setdefault("calls", []).append(call)
        else:
            self.done = call

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        if op == SELFDESTRUCT and self.stack and not (self.only_top_call and frame.depth > 0):
            stack = _stack(computation)
            if stack:
                contract = bytes(computation.msg.storage_address)
                balance = int(computation.state.get_balance(Address(contract)))
                self.stack[-1].setdefault("calls", []).append({
                    "from": _hex(contract), "gas": 0, "gasUsed": 0, "to": _hex(_address(stack[-1])),
                    "input": "0x", "value": balance, "type": "SELFDESTRUCT",
                })
        return None

    def failed_frame(self, frame: Frame, error: str, gas_used: int) -> None:
        if self.only_top_call or not self.stack:
            return
        call: dict[str, Any] = {
            "from": _hex(frame.sender), "gas": frame.gas, "gasUsed": gas_used, "input": _hex(frame.input),
            "error": error, "value": None if frame.kind == "STATICCALL" else frame.value, "type": frame.kind,
        }
        if frame.kind not in ("CREATE", "CREATE2"):
            call["to"] = _hex(frame.to)
        self.stack[-1].setdefault("calls", []).append(call)

    def log(self, frame: Frame, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        if not self.with_log or (self.only_top_call and frame.depth > 0) or not self.stack:
            return
        current = self.stack[-1]
        current.setdefault("logs", []).append({
            "address": _hex(address),
            "topics": [word(t) for t in topics],
            "data": _hex(data),
            "position": hex(len(current.get("calls", []))),
        })

    def tx_end(self, state: StateAPI, gas_used: int, output: bytes, error: str | None) -> None:
        if self.done is not None:
            self.done["gasUsed"] = gas_used
            _clear_failed_logs(self.done, False)

    def result(self) -> dict[str, Any]:
        if self.done is None:
            return {}
        return _format_call(self.done)


def _clear_failed_logs(call: dict[str, Any], parent_failed: bool) -> None:
    failed = parent_failed or "error" in call
    if failed:
        call.pop("logs", None)
    for child in call.get("calls", []):
        _clear_failed_logs(child, failed)


_CALL_FIELDS = ("from", "gas", "gasUsed", "to", "input", "output", "error", "revertReason", "calls", "logs",
                "value", "type")


def _format_call(call: dict[str, Any]) -> dict[str, Any]:
    """geth's field order and encodings (gas as quantities, value omitted when nil)."""
    out: dict[str, Any] = {}
    for name in _CALL_FIELDS:
        if name not in call or call[name] is None:
            continue
        value = call[name]
        if name in ("gas", "gasUsed", "value"):
            value = hex(value)
        elif name == "calls":
            value = [_format_call(child) for child in value]
        out[name] = value
    return out


# --- prestateTracer ---------------------------------------------------------------------


@dataclass
class _Account:
    balance: int
    nonce: int
    code: bytes
    storage: dict[int, int]

    def exists(self) -> bool:
        return self.nonce > 0 or bool(self.code) or bool(self.storage) or self.balance != 0


class PrestateTracer(Tracer):
    """geth's native prestateTracer: every account the transaction touched as it
    was before, with the storage slots it read or wrote; in diff mode, `pre` and
    `post` of what changed only."""

    def __init__(self, diff_mode: bool = False, disable_code: bool = False, disable_storage: bool = False) -> None:
        self.diff_mode = diff_mode
        self.disable_code = disable_code
        self.disable_storage = disable_storage
        self.pre: dict[bytes, _Account] = {}
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self.top_create: bytes | None = None
        self.post: dict[bytes, dict[str, Any]] | None = None

    def _lookup(self, state: StateAPI, address: bytes) -> None:
        if address in self.pre:
            return
        account = Address(address)
        self.pre[address] = _Account(
            int(state.get_balance(account)), int(state.get_nonce(account)), bytes(state.get_code(account)), {}
        )

    def _lookup_slot(self, state: StateAPI, address: bytes, slot: int) -> None:
        self._lookup(state, address)
        storage = self.pre[address].storage
        if slot not in storage:
            storage[slot] = int(state.get_storage(Address(address), slot))

    def tx_start(self, state: StateAPI, sender: bytes, gas: int, extra: tuple[bytes, ...]) -> None:
        self._lookup(state, sender)
        for address in extra:
            self._lookup(state, address)

    def enter(self, state: StateAPI, frame: Frame) -> None:
        self._lookup(state, frame.to)
        if frame.kind in ("CREATE", "CREATE2"):
            self.created.add(frame.to)
            if frame.depth == 0:
                self.top_create = frame.to

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        if op not in (SLOAD, SSTORE) and op not in _ADDRESS_OPS and op not in _CALLS and op not in (0xF0, 0xF5):
            return None
        state = computation.state
        stack = _stack(computation)
        caller = bytes(computation.msg.storage_address)
        if op in (SLOAD, SSTORE) and stack:
            self._lookup_slot(state, caller, stack[-1])
        elif op in _ADDRESS_OPS and stack:
            self._lookup(state, _address(stack[-1]))
            if op == SELFDESTRUCT:
                self.deleted.add(caller)
        elif op in _CALLS and len(stack) >= 5:
            self._lookup(state, _address(stack[-2]))
        elif op == 0xF5 and len(stack) >= 4:
            offset, size, salt = stack[-2], stack[-3], stack[-4]
            memory = _memory(computation)
            init = memory[offset:offset + size].ljust(size, b"\0") if size < (1 << 32) else b""
            target = bytes(generate_safe_contract_address(Address(caller), salt, init))
            self._lookup(state, target)
        return None

    def tx_end(self, state: StateAPI, gas_used: int, output: bytes, error: str | None) -> None:
        if not self.diff_mode:
            top = self.top_create
            if top is not None and not self.pre[top].exists():
                del self.pre[top]
            return
        post: dict[bytes, dict[str, Any]] = {}
        for address, before in list(self.pre.items()):
            if address in self.deleted:
                continue
            account = Address(address)
            after: dict[str, Any] = {}
            balance = int(state.get_balance(account))
            nonce = int(state.get_nonce(account))
            code = bytes(state.get_code(account))
            if balance != before.balance:
                after["balance"] = balance
            if nonce != before.nonce:
                after["nonce"] = nonce
            if code != before.code:
                after["code"] = code
            modified = bool(after)
            changed: dict[int, int] = {}
            for slot, value in list(before.storage.items()):
                new = int(state.get_storage(account, slot))
                if value == 0 or new == value:  # geth leaves out empty and unchanged slots
                    del before.storage[slot]
                if new != value:
                    modified = True
                    if new != 0:
                        changed[slot] = new
            if changed:
                after["storage"] = changed
            if modified:
                post[address] = after
            else:
                del self.pre[address]
        for address in self.created:
            account_before = self.pre.get(address)
            if account_before is not None and not account_before.exists():
                del self.pre[address]
        self.post = post

    def result(self) -> dict[str, Any]:
        code, storage = not self.disable_code, not self.disable_storage
        pre = {
            _hex(a): _format_account(acc.balance, acc.nonce, acc.code if code else None,
                                     acc.storage if storage else None)
            for a, acc in sorted(self.pre.items())
        }
        if not self.diff_mode:
            return pre
        post = {
            _hex(a): _format_account(f.get("balance"), f.get("nonce"), f.get("code") if code else None,
                                     f.get("storage") if storage else None)
            for a, f in sorted((self.post or {}).items())
        }
        return {"post": post, "pre": pre}


def _format_account(balance: int | None, nonce: int | None, code: bytes | None,
                    storage: dict[int, int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if balance is not None:
        out["balance"] = hex(balance)
    if code:
        out["code"] = _hex(code)
    if nonce:
        out["nonce"] = nonce
    if storage:
        out["storage"] = {word(k): word(v) for k, v in sorted(storage.items())}
    return out


class FourByteTracer(Tracer):
    """geth's 4byteTracer: how often each function selector was called, with each
    argument size (`"0x12345678-64": 2`); creates and precompiles are left out."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def enter(self, state: StateAPI, frame: Frame) -> None:
        if frame.kind in ("CREATE", "CREATE2") or len(frame.input) < 4 or frame.code_address in PRECOMPILES:
            return
        key = f"{_hex(frame.input[:4])}-{len(frame.input) - 4}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def result(self) -> dict[str, int]:
        return dict(self.counts)


class MuxTracer(Tracer):
    """geth's muxTracer: several native tracers over one run, results by name."""

    def __init__(self, tracers: dict[str, Tracer]) -> None:
        self.tracers = tracers
        self._hooks: TraceHooks | None = None

    @property
    def hooks(self) -> TraceHooks | None:
        return self._hooks

    @hooks.setter
    def hooks(self, hooks: TraceHooks | None) -> None:
        self._hooks = hooks
        for tracer in self.tracers.values():
            tracer.hooks = hooks

    def tx_start(self, state: StateAPI, sender: bytes, gas: int, extra: tuple[bytes, ...]) -> None:
        for tracer in self.tracers.values():
            tracer.tx_start(state, sender, gas, extra)

    def enter(self, state: StateAPI, frame: Frame) -> None:
        for tracer in self.tracers.values():
            tracer.enter(state, frame)

    def exit(self, state: StateAPI, frame: Frame, computation: ComputationAPI) -> None:
        for tracer in self.tracers.values():
            tracer.exit(state, frame, computation)

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        for tracer in self.tracers.values():
            tracer.step(computation, frame, pc, op, gas)
        return None

    def log(self, frame: Frame, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        for tracer in self.tracers.values():
            tracer.log(frame, address, topics, data)

    def failed_frame(self, frame: Frame, error: str, gas_used: int) -> None:
        for tracer in self.tracers.values():
            tracer.failed_frame(frame, error, gas_used)

    def tx_end(self, state: StateAPI, gas_used: int, output: bytes, error: str | None) -> None:
        for tracer in self.tracers.values():
            tracer.tx_end(state, gas_used, output, error)

    def result(self) -> dict[str, Any]:
        return {name: tracer.result() for name, tracer in self.tracers.items()}


class NoopTracer(Tracer):
    """geth's noopTracer: runs the transaction, returns {}."""

    def result(self) -> dict[str, Any]:
        return {}


__all__ = [
    "CallTracer",
    "FourByteTracer",
    "MuxTracer",
    "NoopTracer",
    "PrestateTracer",
    "StructLogConfig",
    "StructLogger",
]
