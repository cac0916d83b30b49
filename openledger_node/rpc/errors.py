"""The one table from errors to JSON-RPC error objects.

Handlers raise domain errors (`openledger_node.exceptions`) or the protocol
errors below; only `to_error_object` builds error objects, and `ERROR_CODES` is
the only place a code is chosen. Codes and messages follow geth (and EIP-1474
where geth has no answer), because client libraries parse them: a reverted call
is code 3 with the revert data, a transaction the pool or the rules refuse is
-32000 with geth's message, a limit is -32005, a bad parameter -32602.
"""

from __future__ import annotations

from typing import Any

from openledger_node import exceptions as ex

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth's code for transaction, state and execution errors
RESOURCE_UNAVAILABLE = -32002  # EIP-1474: the node cannot serve it now; geth: request timed out
RESPONSE_TOO_LARGE = -32003  # geth: the answer is over the response size limit
LIMIT_EXCEEDED = -32005  # EIP-1474: a rate, range or size limit
EXECUTION_REVERTED = 3  # geth: the call reverted; `data` holds the revert data


class RpcError(Exception):
    """A protocol-level error: malformed request, limits, parameters, lookups."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    pass


class InvalidRequest(RpcError):
    pass


class MethodNotFound(RpcError):
    def __init__(self, method: str) -> None:
        super().__init__(f"the method {method} does not exist/is not available")


class DevModeOnly(RpcError):
    def __init__(self, method: str) -> None:
        super().__init__(
            f"the method {method} is only available when the node runs in dev mode "
            f"(chain.network = \"dev\" and rpc.dev_methods = true)"
        )


class NotificationsUnsupported(RpcError):
    """eth_subscribe over HTTP (geth's ErrNotificationsUnsupported)."""

    def __init__(self) -> None:
        super().__init__("notifications not supported")


class InvalidParams(RpcError):
    pass


class LimitExceeded(RpcError):
    pass


class HeaderNotFound(RpcError):
    """geth's answers when a state query names a block it does not have."""

    def __init__(self, by_hash: bool = False) -> None:
        super().__init__("header for hash not found" if by_hash else "header not found")


class NotCanonical(RpcError):
    """geth's answer for an EIP-1898 `requireCanonical` hash off the chain."""

    def __init__(self) -> None:
        super().__init__("hash is not currently canonical")


class UnknownBlock(RpcError):
    """geth's answer for logs of a block hash it does not have."""

    def __init__(self) -> None:
        super().__init__("unknown block")


class FilterNotFound(RpcError):
    def __init__(self) -> None:
        super().__init__("filter not found")


class Unavailable(RpcError):
    """The node kind does not offer this now (no sequencer behind it)."""


class UnknownAccount(RpcError):
    """geth's keystore error: a `from` the node holds no key for."""

    def __init__(self) -> None:
        super().__init__("unknown account")


class ResponseTooLarge(RpcError):
    def __init__(self) -> None:
        super().__init__("response too large")


class TransactionNotFound(RpcError):
    """geth's answer when debug_traceTransaction names no mined transaction."""

    def __init__(self) -> None:
        super().__init__("transaction not found")


class TracerNotFound(RpcError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"tracer not found: {name!r}; this node has {', '.join(known)} and the struct logger (no tracer)")


class JsTracerUnsupported(RpcError):
    def __init__(self, known: tuple[str, ...]) -> None:
        super().__init__(
            f"JavaScript tracers are not supported by this node: use {', '.join(known)} or the struct logger (no tracer)"
        )


class BlockNotTraceable(RpcError):
    """A block debug_trace* cannot replay: the genesis, or one the node does not have."""


class SimulateError(RpcError):
    """eth_simulateV1's own errors; each subclass has the execution-apis code."""


class SimNonceTooLow(SimulateError):
    pass


class SimNonceTooHigh(SimulateError):
    pass


class SimBaseFeeTooLow(SimulateError):
    pass


class SimIntrinsicGasTooLow(SimulateError):
    pass


class SimInsufficientFunds(SimulateError):
    pass


class SimBlockGasLimitReached(SimulateError):
    pass


class SimBlockNumberOrder(SimulateError):
    pass


class SimBlockTimestampOrder(SimulateError):
    pass


class SimTooManyBlocks(SimulateError):
    pass


class SimPrecompileSelfMove(SimulateError):
    pass


class SimPrecompileDuplicateMove(SimulateError):
    pass


class SimInitCodeTooLarge(SimulateError):
    pass


# Every code, by class; looked up along the class's MRO, so the most specific row
# wins. Domain errors that carry data (reverts) are shaped in `to_error_object`.
ERROR_CODES: dict[type[BaseException], int] = {
    # protocol
    ParseError: PARSE_ERROR,
    InvalidRequest: INVALID_REQUEST,
    MethodNotFound: METHOD_NOT_FOUND,
    DevModeOnly: METHOD_NOT_FOUND,
    NotificationsUnsupported: METHOD_NOT_FOUND,
    InvalidParams: INVALID_PARAMS,
    LimitExceeded: LIMIT_EXCEEDED,
    HeaderNotFound: SERVER_ERROR,
    NotCanonical: SERVER_ERROR,
    UnknownBlock: SERVER_ERROR,
    FilterNotFound: SERVER_ERROR,
    Unavailable: RESOURCE_UNAVAILABLE,
    UnknownAccount: SERVER_ERROR,
    ResponseTooLarge: RESPONSE_TOO_LARGE,
    TransactionNotFound: SERVER_ERROR,
    TracerNotFound: SERVER_ERROR,
    JsTracerUnsupported: SERVER_ERROR,
    BlockNotTraceable: SERVER_ERROR,
    SimulateError: SERVER_ERROR,
    SimNonceTooLow: -38010,
    SimNonceTooHigh: -38011,
    SimBaseFeeTooLow: -38012,
    SimIntrinsicGasTooLow: -38013,
    SimInsufficientFunds: -38014,
    SimBlockGasLimitReached: -38015,
    SimBlockNumberOrder: -38020,
    SimBlockTimestampOrder: -38021,
    SimPrecompileSelfMove: -38022,
    SimPrecompileDuplicateMove: -38023,
    SimInitCodeTooLarge: -38025,
    SimTooManyBlocks: -38026,
    RpcError: SERVER_ERROR,
    # domain
    ex.ExecutionReverted: EXECUTION_REVERTED,
    ex.InvalidTransaction: SERVER_ERROR,
    ex.PoolError: SERVER_ERROR,
    ex.ExecutionFailed: SERVER_ERROR,
    ex.ExecutionTimeout: SERVER_ERROR,  # geth: "execution aborted (timeout = 5s)"
    ex.GasRequiredExceedsAllowance: SERVER_ERROR,
    ex.BlockNotFound: SERVER_ERROR,
    ex.TemporaryError: RESOURCE_UNAVAILABLE,
    ex.OpenLedgerError: SERVER_ERROR,
}


def error_code(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        code = ERROR_CODES.get(cls)
        if code is not None:
            return code
    return INTERNAL_ERROR


def to_error_object(exc: BaseException) -> dict[str, Any]:
    """The `error` member of a JSON-RPC response for `exc`; anything outside the
    table is an internal error whose details stay in the node's log."""
    code = error_code(exc)
    if code == INTERNAL_ERROR:
        return {"code": INTERNAL_ERROR, "message": "internal error"}
    if isinstance(exc, RpcError):
        error: dict[str, Any] = {"code": code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        return error
    if isinstance(exc, ex.ExecutionReverted):
        return {"code": code, "message": str(exc), "data": "0x" + exc.data.hex()}
    if isinstance(exc, ex.ForwardedError):  # what the other node said, as it said it
        forwarded: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            forwarded["data"] = exc.data
        return forwarded
    return {"code": code, "message": str(exc)}
