"""The one table from errors to JSON-RPC error objects.

Handlers raise domain errors (openledger_node.exceptions) or the protocol errors
below; only `to_error_object` builds error objects. Codes and messages follow
geth, because client libraries parse them: transaction errors are -32000 with
geth's message, a reverted call is code 3 with the revert data.
"""

from __future__ import annotations

from typing import Any

from openledger_node import exceptions as ex

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
RESOURCE_NOT_FOUND = -32001
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3


class RpcError(Exception):
    """A protocol-level error with its code (malformed request, limits, params)."""

    code = SERVER_ERROR

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    code = PARSE_ERROR


class InvalidRequest(RpcError):
    code = INVALID_REQUEST


class MethodNotFound(RpcError):
    code = METHOD_NOT_FOUND

    def __init__(self, method: str) -> None:
        super().__init__(f"the method {method} does not exist/is not available")


class InvalidParams(RpcError):
    code = INVALID_PARAMS


class LimitExceeded(RpcError):
    code = LIMIT_EXCEEDED


class ResourceNotFound(RpcError):
    code = RESOURCE_NOT_FOUND


class Unsupported(RpcError):
    code = METHOD_NOT_FOUND


# Domain errors: (class, code). Checked in order, so subclasses come first.
DOMAIN_ERRORS: tuple[tuple[type[ex.OpenLedgerError], int], ...] = (
    (ex.InvalidTransaction, SERVER_ERROR),
    (ex.PoolError, SERVER_ERROR),
    (ex.GasRequiredExceedsAllowance, SERVER_ERROR),
    (ex.ExecutionFailed, SERVER_ERROR),
    (ex.BlockNotFound, SERVER_ERROR),
    (ex.OpenLedgerError, SERVER_ERROR),
)


def to_error_object(exc: BaseException) -> dict[str, Any]:
    """The `error` member of a JSON-RPC response for `exc`."""
    if isinstance(exc, RpcError):
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        return error
    if isinstance(exc, ex.ExecutionReverted):
        return {"code": EXECUTION_REVERTED, "message": str(exc), "data": "0x" + exc.data.hex()}
    for cls, code in DOMAIN_ERRORS:
        if isinstance(exc, cls):
            return {"code": code, "message": str(exc)}
    return {"code": INTERNAL_ERROR, "message": "internal error"}
