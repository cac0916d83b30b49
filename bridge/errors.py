"""Errors of the L1 side: the L1 client's and the transaction manager's.

They hang under the node's severities (`openledger_node.exceptions`), so that a
loop running a step through `StepRunner` (the batcher, the validators) retries
an L1 that did not answer, and stops on an L1 of the wrong chain. An error here
without a severity (an answer the client has no type for, a reverted
transaction) counts as temporary in a loop; the caller that knows better
catches it by type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openledger_node.exceptions import CriticalError, OpenLedgerError, TemporaryError

if TYPE_CHECKING:
    from bridge.l1 import Receipt

# --- the L1 endpoint -------------------------------------------------------------


class L1Unavailable(TemporaryError):
    """The L1 endpoint did not answer `method`: refused connection, timeout, HTTP
    error, or a body that is not JSON-RPC."""

    def __init__(self, endpoint: str, method: str, reason: str) -> None:
        self.endpoint = endpoint
        self.method = method
        self.reason = reason
        super().__init__(f"L1 endpoint {endpoint}: {method}: {reason}")


class L1RateLimited(L1Unavailable):
    """The endpoint refused `method` for the request rate (HTTP 429 or JSON-RPC
    -32005)."""


class L1ChainIdMismatch(CriticalError):
    """The endpoint serves another chain than the one the node is configured for."""

    def __init__(self, endpoint: str, expected: int, actual: int) -> None:
        self.endpoint = endpoint
        self.expected = expected
        self.actual = actual
        super().__init__(f"L1 endpoint {endpoint} serves chain id {actual}, expected {expected}")


class L1RpcError(OpenLedgerError):
    """The endpoint answered `method` with a JSON-RPC error of no more specific type."""

    def __init__(self, endpoint: str, method: str, code: int, message: str) -> None:
        self.endpoint = endpoint
        self.method = method
        self.code = code
        self.message = message
        super().__init__(f"L1 endpoint {endpoint}: {method}: error {code}: {message}")


# --- eth_sendRawTransaction refusals (geth's txpool wording) ----------------------


class TxRejected(L1RpcError):
    """The endpoint refused a raw transaction."""


class L1NonceTooLow(TxRejected):
    """A transaction of the sender with this nonce is already in a block."""


class L1ReplacementUnderpriced(TxRejected):
    """The pool holds a transaction of this nonce that pays as much or nearly so."""


class L1AlreadyKnown(TxRejected):
    """The pool already holds this very transaction."""


class L1Underpriced(TxRejected):
    """The fee cap is under the next block's base fee or the pool's price floor."""


# --- the transaction manager -----------------------------------------------------


class FeeCapExceeded(TemporaryError):
    """The market asks for a fee cap above the configured limit; the fees may fall."""

    def __init__(self, fee_cap: int, limit: int) -> None:
        self.fee_cap = fee_cap
        self.limit = limit
        super().__init__(f"L1 fee cap {fee_cap} wei exceeds the configured limit {limit} wei")


class TxReverted(OpenLedgerError):
    """The transaction was mined (and confirmed) but reverted; not sent again."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self.tx_hash = receipt.transaction_hash
        super().__init__(
            f"L1 transaction 0x{receipt.transaction_hash.hex()} reverted in block "
            f"{receipt.block_number} (gas used {receipt.gas_used})"
        )


class TxSendTimeout(TemporaryError):
    """No transaction of `nonce` was confirmed before the send timeout. The last one
    may still be in the L1 pool: a new send takes the next nonce."""

    def __init__(self, nonce: int, tx_hashes: tuple[bytes, ...], timeout: float) -> None:
        self.nonce = nonce
        self.tx_hashes = tx_hashes
        self.timeout = timeout
        sent = ", ".join("0x" + h.hex() for h in tx_hashes) or "none"
        super().__init__(f"L1 transaction of nonce {nonce} not confirmed within {timeout}s (sent: {sent})")


class TxManagerClosed(TemporaryError):
    """The transaction manager was closed while a send waited."""

    def __init__(self) -> None:
        super().__init__("L1 transaction manager is closed")
