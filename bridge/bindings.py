"""Contract bindings made from the committed ABIs (`contracts/artifacts`).

One generic `Binding` per contract, built when this module is imported, encodes
calldata for a function by name (checking the argument count, filling struct
parameters from dicts by component name), decodes return values, event logs
and custom errors. Decoded values are typed as the node types them: addresses
as 20-byte `Address`, `bytesN` and `bytes` as bytes, integers as int, structs as
dicts by component name, arrays as tuples.

    calldata = ROLLUP.encode("submitBatch", index, first, last, root, data)
    events = ROLLUP.decode_logs(receipt.logs)      # [DecodedEvent("BatchSubmitted", {...}, log)]
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_hash.auto import keccak

from contracts import load_artifact
from openledger_node.exceptions import OpenLedgerError
from openledger_node.primitives import Address, Hash32

__all__ = [
    "OPEN_TOKEN",
    "PORTAL",
    "ROLLUP",
    "AbiError",
    "Binding",
    "DecodedError",
    "DecodedEvent",
    "ErrorSpec",
    "EventSpec",
    "FunctionSpec",
    "Param",
    "binding",
]


class AbiError(OpenLedgerError):
    """Calldata or a log that does not fit the contract's ABI."""


class LogLike(Protocol):
    @property
    def topics(self) -> Sequence[bytes]: ...

    @property
    def data(self) -> bytes: ...


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # canonical ABI type, tuples written out: "(uint256,address)[]"
    components: tuple[Param, ...] = ()  # of a tuple (or tuple array) type
    indexed: bool = False

    @classmethod
    def from_abi(cls, item: Mapping[str, Any]) -> Param:
        components = tuple(cls.from_abi(c) for c in item.get("components", ()))
        kind = str(item["type"])
        if kind.startswith("tuple"):
            kind = "(" + ",".join(c.type for c in components) + ")" + kind[len("tuple"):]
        return cls(str(item.get("name", "")), kind, components, bool(item.get("indexed", False)))


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    state_mutability: str

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak(self.signature.encode())[:4]


@dataclass(frozen=True)
class EventSpec:
    name: str
    inputs: tuple[Param, ...]
    anonymous: bool

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def topic(self) -> Hash32:
        return Hash32(keccak(self.signature.encode()))


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    inputs: tuple[Param, ...]

    @property
    def selector(self) -> bytes:
        return keccak(f"{self.name}({','.join(p.type for p in self.inputs)})".encode())[:4]


@dataclass(frozen=True)
class DecodedEvent:
    name: str
    args: Mapping[str, Any]
    log: LogLike  # the log it came from (an `l1.Log` carries block and index)


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: Mapping[str, Any]


# Solidity's built-in errors, which any contract may revert with.
_BUILTIN_ERRORS = (
    ErrorSpec("Error", (Param("message", "string"),)),
    ErrorSpec("Panic", (Param("code", "uint256"),)),
)


@dataclass(frozen=True)
class Binding:
    """The ABI of one contract, with the codec for its functions, events and errors."""

    contract: str
    functions: Mapping[str, tuple[FunctionSpec, ...]]  # by name; more than one when overloaded
    events: Mapping[Hash32, EventSpec]  # by topic 0
    errors: Mapping[bytes, ErrorSpec]  # by selector
    constructor: tuple[Param, ...]
    bytecode: bytes

    @classmethod
    def from_abi(cls, contract: str, abi: Iterable[Mapping[str, Any]], bytecode: bytes = b"") -> Binding:
        functions: dict[str, list[FunctionSpec]] = {}
        events: dict[Hash32, EventSpec] = {}
        errors: dict[bytes, ErrorSpec] = {e.selector: e for e in _BUILTIN_ERRORS}
        constructor: tuple[Param, ...] = ()
        for item in abi:
            inputs = tuple(Param.from_abi(p) for p in item.get("inputs", ()))
            kind = item.get("type")
            if kind == "function":
                outputs = tuple(Param.from_abi(p) for p in item.get("outputs", ()))
                spec = FunctionSpec(str(item["name"]), inputs, outputs, str(item.get("stateMutability", "")))
                functions.setdefault(spec.name, []).append(spec)
            elif kind == "event":
                event = EventSpec(str(item["name"]), inputs, bool(item.get("anonymous", False)))
                if not event.anonymous:
                    events[event.topic] = event
            elif kind == "error":
                error = ErrorSpec(str(item["name"]), inputs)
                errors[error.selector] = error
            elif kind == "constructor":
                constructor = inputs
        return cls(contract, {k: tuple(v) for k, v in functions.items()}, events, errors, constructor, bytecode)

    # --- functions -------------------------------------------------------------------

    def function(self, name: str, arg_count: int | None = None) -> FunctionSpec:
        """The function `name` (the overload with `arg_count` inputs, when overloaded)."""
        overloads = self.functions.get(name)
        if not overloads:
            raise AbiError(f"{self.contract} has no function {name!r}")
        if arg_count is not None:
            matching = [f for f in overloads if len(f.inputs) == arg_count]
            if not matching:
                counts = sorted({len(f.inputs) for f in overloads})
                raise AbiError(
                    f"{self.contract}.{name} takes {' or '.join(map(str, counts))} arguments, got {arg_count}"
                )
            overloads = tuple(matching)
        if len(overloads) > 1:
            raise AbiError(f"{self.contract}.{name} is overloaded: " + ", ".join(f.signature for f in overloads))
        return overloads[0]

    def encode(self, name: str, *args: Any) -> bytes:
        """Calldata: the selector of `name` and its ABI-encoded arguments."""
        spec = self.function(name, len(args))
        return spec.selector + _encode(f"{self.contract}.{spec.name}", spec.inputs, args)

    def decode_result(self, name: str, data: bytes) -> Any:
        """The return value of `name` from eth_call's answer: the value itself for one
        output, a dict by output name for several named ones, else a tuple."""
        spec = self.function(name)
        values = _decode(f"{self.contract}.{name} result", spec.outputs, data)
        if len(spec.outputs) == 1:
            return values[0]
        if spec.outputs and all(p.name for p in spec.outputs):
            return {p.name: v for p, v in zip(spec.outputs, values, strict=True)}
        return tuple(values)

    def encode_deploy(self, *args: Any) -> bytes:
        """Creation code followed by the ABI-encoded constructor arguments."""
        if not self.bytecode:
            raise AbiError(f"{self.contract}: no creation code in the artifact")
        if len(args) != len(self.constructor):
            raise AbiError(f"{self.contract} constructor takes {len(self.constructor)} arguments, got {len(args)}")
        return self.bytecode + _encode(f"{self.contract} constructor", self.constructor, args)

    # --- events and errors -----------------------------------------------------------

    def event(self, name: str) -> EventSpec:
        for spec in self.events.values():
            if spec.name == name:
                return spec
        raise AbiError(f"{self.contract} has no event {name!r}")

    def decode_log(self, log: LogLike) -> DecodedEvent | None:
        """The event of `log`, or None when its first topic is none of this contract's
        events (the caller filters logs by address)."""
        if not log.topics:
            return None
        spec = self.events.get(Hash32(bytes(log.topics[0])))
        if spec is None:
            return None
        indexed = [p for p in spec.inputs if p.indexed]
        if len(log.topics) != 1 + len(indexed):
            raise AbiError(f"{self.contract}.{spec.name}: {len(log.topics)} topics, expected {1 + len(indexed)}")
        args: dict[str, Any] = {}
        for param, topic in zip(indexed, log.topics[1:], strict=True):
            # A dynamic indexed value (bytes, string, array, struct) is only its hash.
            args[param.name] = bytes(topic) if _is_dynamic(param.type) else _decode(
                f"{self.contract}.{spec.name}.{param.name}", (param,), bytes(topic))[0]
        plain = tuple(p for p in spec.inputs if not p.indexed)
        values = _decode(f"{self.contract}.{spec.name}", plain, log.data)
        args.update({p.name: v for p, v in zip(plain, values, strict=True)})
        return DecodedEvent(spec.name, {p.name: args[p.name] for p in spec.inputs}, log)

    def decode_logs(self, logs: Iterable[LogLike], name: str | None = None) -> list[DecodedEvent]:
        """The events among `logs` that this contract declares (only `name` if given)."""
        decoded = (self.decode_log(log) for log in logs)
        return [e for e in decoded if e is not None and (name is None or e.name == name)]

    def decode_error(self, data: bytes) -> DecodedError | None:
        """The custom (or Error/Panic) error of revert data; None if unknown."""
        spec = self.errors.get(bytes(data[:4]))
        if spec is None:
            return None
        values = _decode(f"{self.contract} error {spec.name}", spec.inputs, data[4:])
        return DecodedError(spec.name, {p.name: v for p, v in zip(spec.inputs, values, strict=True)})


# --- values ------------------------------------------------------------------------


def _encode(what: str, params: Sequence[Param], args: Sequence[Any]) -> bytes:
    if len(args) != len(params):
        raise AbiError(f"{what} takes {len(params)} arguments, got {len(args)}")
    try:
        values = [_to_abi(p, a, f"{what}.{p.name}") for p, a in zip(params, args, strict=True)]
        return abi_encode([p.type for p in params], values)
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise AbiError(f"{what}: {exc}") from exc


def _to_abi(param: Param, value: Any, where: str) -> Any:
    """Struct dicts to tuples (by component name), recursively."""
    if not param.components:
        return value
    if param.type.endswith("]"):
        element = Param(param.name, param.type[: param.type.rindex("[")], param.components)
        return [_to_abi(element, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        names = [c.name for c in param.components]
        missing, extra = set(names) - set(value), set(value) - set(names)
        if missing or extra:
            raise AbiError(f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}")
        value = [value[n] for n in names]
    if len(value) != len(param.components):
        raise AbiError(f"{where}: {len(param.components)} fields, got {len(value)}")
    return tuple(_to_abi(c, v, f"{where}.{c.name}") for c, v in zip(param.components, value, strict=True))


def _decode(what: str, params: Sequence[Param], data: bytes) -> list[Any]:
    try:
        values = abi_decode([p.type for p in params], bytes(data))
    except (DecodingError, ValueError, OverflowError) as exc:
        raise AbiError(f"{what}: cannot decode {len(data)} bytes: {exc}") from exc
    return [_from_abi(p, v) for p, v in zip(params, values, strict=True)]


def _from_abi(param: Param, value: Any) -> Any:
    if param.type.endswith("]"):
        element = Param(param.name, param.type[: param.type.rindex("[")], param.components)
        return tuple(_from_abi(element, v) for v in value)
    if param.components:
        return {c.name: _from_abi(c, v) for c, v in zip(param.components, value, strict=True)}
    if param.type == "address":
        return Address(bytes.fromhex(value[2:]))
    return value


def _is_dynamic(kind: str) -> bool:
    return kind in ("bytes", "string") or kind.endswith("]") or kind.startswith("(")


@functools.cache
def binding(contract: str) -> Binding:
    """The binding of a contract of `contracts/artifacts`."""
    artifact = load_artifact(contract)
    return Binding.from_abi(contract, artifact.abi, artifact.bytecode)


ROLLUP = binding("OpenLedgerRollup")
PORTAL = binding("OpenLedgerPortal")
OPEN_TOKEN = binding("OpenToken")
