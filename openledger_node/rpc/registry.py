"""Method registration: handlers declare their parameters next to their code.

An API class marks its handler methods with `@rpc(name, Param(...), ...)`;
`Registry.add` collects them from an instance. The dispatcher parses positional
parameters with each `Param`'s parser before calling the handler, so handlers
receive typed values and never see raw JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openledger_node.rpc.errors import DevModeOnly, InvalidParams, MethodNotFound
from openledger_node.rpc.params import ParamError

F = TypeVar("F", bound=Callable[..., Any])

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    parse: Callable[[Any], Any]
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: tuple[Param, ...]
    dev_only: bool = False
    # False: runs on the event loop (cheap); "evm": in the execution pool;
    # True or "scan": in the pool for scans (logs, filters, proofs).
    blocking: bool | str = False
    connection: bool = False  # receives the calling connection first (subscriptions)


@dataclass(frozen=True)
class Method:
    spec: MethodSpec
    func: Callable[..., Any]


def rpc(
    name: str, *params: Param, dev_only: bool = False, blocking: bool | str = False, connection: bool = False
) -> Callable[[F], F]:
    def mark(func: F) -> F:
        func.__rpc__ = MethodSpec(name, params, dev_only, blocking, connection)  # type: ignore[attr-defined]
        return func

    return mark


class Registry:
    def __init__(self, dev_mode: bool) -> None:
        self.dev_mode = dev_mode
        self._methods: dict[str, Method] = {}

    def add(self, api: object) -> None:
        for attr in dir(type(api)):
            spec = getattr(getattr(type(api), attr), "__rpc__", None)
            if isinstance(spec, MethodSpec):
                if spec.name in self._methods:
                    raise ValueError(f"RPC method {spec.name} registered twice")
                self._methods[spec.name] = Method(spec, getattr(api, attr))

    def names(self) -> list[str]:
        return sorted(self._methods)

    def lookup(self, name: str) -> Method:
        method = self._methods.get(name)
        if method is None:
            raise MethodNotFound(name)
        if method.spec.dev_only and not self.dev_mode:
            raise DevModeOnly(name)
        return method

    @staticmethod
    def parse_params(method: Method, params: Any) -> list[Any]:
        spec = method.spec.params
        if type(params) is list and len(params) == len(spec) and None not in params:
            # Every argument given: parse them in one pass; on an error the
            # general path below parses them again and names the argument.
            try:
                return [param.parse(value) for param, value in zip(spec, params)]
            except ParamError:
                pass
        if params is None:
            params = []
        if isinstance(params, dict):
            raise InvalidParams("named parameters are not supported; pass an array")
        if not isinstance(params, list):
            raise InvalidParams("params must be an array")
        if len(params) > len(spec):
            raise InvalidParams(f"too many arguments, want at most {len(spec)}")
        values: list[Any] = []
        for index, param in enumerate(spec):
            if index >= len(params) or params[index] is None:
                if param.required:
                    raise InvalidParams(f"missing value for required argument {index}")
                values.append(param.default)
                continue
            try:
                values.append(param.parse(params[index]))
            except ParamError as exc:
                raise InvalidParams(f"invalid argument {index}: {exc}") from None
        return values
